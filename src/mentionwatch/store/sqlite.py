"""The SQLite engine of the store: one file, WAL, a versioned schema with forward migrations, FTS5 search.

The SQL here is kept portable where callers could notice (upserts with ON CONFLICT, plain joins); what is
SQLite's own (FTS5, PRAGMAs, the lock file) stays inside this module, so a PostgreSQL engine can stand behind
the same interface.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import re
import shutil
import sqlite3
import statistics
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from mentionwatch.errors import StoreError
from mentionwatch.impact import absolute_impact, scored_weight
from mentionwatch.models import Mention, format_time, parse_time
from mentionwatch.store import (
    DIMENSIONS,
    SORTS,
    STATUSES,
    Citation,
    Delivery,
    Key,
    NotifyMark,
    Query,
    Recorded,
    ReplyRecord,
    ResponseStats,
    Said,
    SourceRun,
    SourceStatus,
    StoreBusy,
    Tally,
    TallyAsk,
    key_of,
    waiting_guard,
)
from mentionwatch.store.copies import stored_copies
from mentionwatch.urls import canonical_url, community, host_of, on_domain
from mentionwatch.vocabulary import terms_of

if TYPE_CHECKING:
    from mentionwatch.dedupe import ReplyGuard

log = logging.getLogger(__name__)


def connect(path: Path) -> sqlite3.Connection:
    """A connection that lets two processes share the file (two cron jobs at once): WAL, so readers never wait
    for a writer; autocommit, so no write lock is held between writes; and a busy timeout, so a writer waits its
    turn instead of failing with "database is locked". synchronous=NORMAL: a crash can lose the last commits,
    never corrupt the file (sqlite.org/wal.html)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None, check_same_thread=False)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


# SQLite's result codes (the low byte of an error's extended code) that say the file cannot be written now, not that
# the statement is wrong (sqlite.org/rescode.html).
_LOCKED_CODES = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
_UNWRITABLE_CODES = (sqlite3.SQLITE_FULL, sqlite3.SQLITE_IOERR, sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_PERM)


def unwritable(location: str, exc: sqlite3.Error) -> StoreError | None:
    """A write's driver error as the store's own (one line, exit 6): the file is read-only, another process held it
    past the busy timeout, the disk is full. None for any other error: that one is a bug, and reported as one."""
    code = (getattr(exc, "sqlite_errorcode", None) or 0) & 0xFF
    if code == sqlite3.SQLITE_READONLY:
        return StoreError(f"the store {location} is read-only: {exc}")
    if code in _LOCKED_CODES:
        return StoreError(f"the store {location} is locked by another process: {exc}")
    if code in _UNWRITABLE_CODES:
        return StoreError(f"the store {location} could not be written: {exc}")
    return None


# Each entry moves the schema one version forward; never edit one that has shipped, add the next.
MIGRATIONS: tuple[str, ...] = (
    # 1: mentions, their clusters' other members, tags, watermarks, source runs, first-seen times, search.
    """
    CREATE TABLE IF NOT EXISTS first_seen (source TEXT NOT NULL, id TEXT NOT NULL, at TEXT NOT NULL,
        PRIMARY KEY (source, id));
    CREATE TABLE mentions (
        rowid INTEGER PRIMARY KEY,
        brand TEXT NOT NULL, source_type TEXT NOT NULL, id TEXT NOT NULL,
        source TEXT NOT NULL, url TEXT NOT NULL, link TEXT, host TEXT NOT NULL,
        canon INTEGER NOT NULL, link_canon INTEGER,
        title TEXT NOT NULL, text TEXT NOT NULL, author TEXT NOT NULL, published_at TEXT NOT NULL,
        kind TEXT NOT NULL, lang TEXT, undated INTEGER NOT NULL,
        matched_terms TEXT NOT NULL, matched_query TEXT,
        sentiment REAL, sentiment_label TEXT, subjectivity REAL,
        impact REAL, impact_absolute REAL, impact_weight REAL, reach INTEGER, engagement INTEGER,
        needs_reply INTEGER NOT NULL,
        score INTEGER, comments INTEGER, likes INTEGER, reposts INTEGER, quotes INTEGER, views INTEGER,
        followers INTEGER,
        also_seen TEXT NOT NULL, cluster INTEGER,
        first_seen TEXT NOT NULL, last_seen TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'new', status_at TEXT,
        UNIQUE (brand, source_type, id)
    );
    CREATE INDEX mentions_by_brand_status_time ON mentions (brand, status, published_at);
    CREATE INDEX mentions_by_time ON mentions (published_at);
    CREATE INDEX mentions_by_canon ON mentions (brand, canon);
    CREATE INDEX mentions_by_link ON mentions (brand, link_canon) WHERE link_canon IS NOT NULL;
    CREATE INDEX mentions_by_cluster ON mentions (cluster);
    CREATE TABLE brands (name TEXT PRIMARY KEY);
    CREATE TABLE members (
        brand TEXT NOT NULL, source_type TEXT NOT NULL, id TEXT NOT NULL, cluster INTEGER NOT NULL,
        PRIMARY KEY (brand, source_type, id)
    );
    CREATE TABLE tags (
        mention INTEGER NOT NULL REFERENCES mentions (rowid) ON DELETE CASCADE, tag TEXT NOT NULL,
        PRIMARY KEY (mention, tag)
    );
    CREATE INDEX tags_by_tag ON tags (tag);
    CREATE TABLE watermarks (
        source TEXT NOT NULL, brand TEXT NOT NULL, newest TEXT NOT NULL, updated TEXT NOT NULL,
        PRIMARY KEY (source, brand)
    );
    CREATE TABLE source_runs (
        source TEXT PRIMARY KEY, name TEXT NOT NULL, last_run TEXT NOT NULL, last_state TEXT NOT NULL,
        last_success TEXT, failures INTEGER NOT NULL DEFAULT 0, failing_since TEXT, last_error TEXT
    );
    CREATE VIRTUAL TABLE mentions_search USING fts5 (
        title, text, author, content='mentions', content_rowid='rowid', tokenize='unicode61 remove_diacritics 2'
    );
    CREATE TRIGGER mentions_search_insert AFTER INSERT ON mentions BEGIN
        INSERT INTO mentions_search (rowid, title, text, author) VALUES (new.rowid, new.title, new.text, new.author);
    END;
    CREATE TRIGGER mentions_search_delete AFTER DELETE ON mentions BEGIN
        INSERT INTO mentions_search (mentions_search, rowid, title, text, author)
        VALUES ('delete', old.rowid, old.title, old.text, old.author);
    END;
    """,
    # 2: the outbox. One reply per platform item (source type + the service's id), whichever brands matched it:
    # `pending` is written before the request goes out, `sent` once the platform answered with the reply's id and
    # URL. The primary key is what makes a second, concurrent `reply` to the same item fail instead of posting.
    """
    CREATE TABLE replies (
        source_type TEXT NOT NULL, id TEXT NOT NULL,
        state TEXT NOT NULL CHECK (state IN ('pending', 'sent')),
        source TEXT NOT NULL, text TEXT NOT NULL, request TEXT NOT NULL, started_at TEXT NOT NULL,
        reply_id TEXT, reply_url TEXT, sent_at TEXT,
        PRIMARY KEY (source_type, id)
    );
    """,
    # 3: notifications: what each target has been sent (notify/). A target's mark is where its queuing stopped (a
    # scan's first-seen time, and the highest mention rowid then: first-seen times are whole seconds, and two
    # scans can share one); an item is queued once per target (its primary key); a delivery is written as
    # `sending` before a message goes out and completed after.
    """
    CREATE TABLE notify_marks (
        target TEXT PRIMARY KEY, through TEXT NOT NULL, position INTEGER NOT NULL, updated TEXT NOT NULL
    );
    CREATE TABLE notify_deliveries (
        rowid INTEGER PRIMARY KEY, token TEXT NOT NULL UNIQUE, target TEXT NOT NULL, event TEXT NOT NULL,
        state TEXT NOT NULL, started TEXT NOT NULL, finished TEXT, mentions INTEGER NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 0, error TEXT
    );
    CREATE INDEX notify_deliveries_by_state ON notify_deliveries (target, state);
    CREATE TABLE notify_items (
        target TEXT NOT NULL, brand TEXT NOT NULL, source_type TEXT NOT NULL, id TEXT NOT NULL,
        event TEXT NOT NULL, queued TEXT NOT NULL, state TEXT NOT NULL DEFAULT 'pending',
        delivery INTEGER REFERENCES notify_deliveries (rowid),
        PRIMARY KEY (target, brand, source_type, id)
    );
    CREATE INDEX notify_items_by_state ON notify_items (target, state);
    """,
    # 4: where each mention was said (`urls.community` of its URL: r/elm, HN, a domain), worked out once when it is
    # saved, so that reports group by it in SQL. Mentions saved before have none (see _DIMENSION_SQL).
    """
    ALTER TABLE mentions ADD COLUMN community TEXT;
    """,
    # 5: spikes told to each notification target, once: (target, brand, the spike's hour), claimed before the
    # message goes out (a run that dies while sending never sends it again), let go of when the delivery failed.
    """
    CREATE TABLE notify_spikes (
        target TEXT NOT NULL, brand TEXT NOT NULL, period TEXT NOT NULL, delivery INTEGER,
        PRIMARY KEY (target, brand, period)
    );
    """,
    # 6: search indexing off the save path. Indexing a mention's words for `--search` was half of what saving a
    # scan cost (58 us of 110 a new mention); a saved mention is now only queued (`mentions_search_pending`, by
    # `record` and `store copy` in one statement each: a trigger cost 13 us a row), and the first search after (or
    # `ignore --term`) indexes what is queued, once (`SqliteStore._index_for_search`). A deleted mention leaves the
    # index if it was in it, the queue if it was queued.
    """
    DROP TRIGGER mentions_search_insert;
    DROP TRIGGER mentions_search_delete;
    CREATE TABLE mentions_search_pending (mention INTEGER PRIMARY KEY);
    CREATE TRIGGER mentions_search_delete AFTER DELETE ON mentions BEGIN
        INSERT INTO mentions_search (mentions_search, rowid, title, text, author)
        SELECT 'delete', old.rowid, old.title, old.text, old.author
        WHERE NOT EXISTS (SELECT 1 FROM mentions_search_pending WHERE mention = old.rowid);
        DELETE FROM mentions_search_pending WHERE mention = old.rowid;
    END;
    """,
    # 7: each mention's terms (`vocabulary.terms_of`, sorted, space-separated), worked out once, when it is saved:
    # working them out from the texts was most of a report's time (30 days of a busy brand: 33,000 texts, 1 s).
    # Mentions saved before have none: `said` works theirs out as it reads them (and keeps nothing: a report
    # never writes). And the mentions that need a reply by brand, status and time: a report's response figures and
    # inbox, and `inbox`, read only those (5% of a store) instead of every mention of the period; and every mention
    # by impact, which `_walk_by_impact` walks backwards (impact, time and rowid all descending, `--sort impact`).
    """
    ALTER TABLE mentions ADD COLUMN terms TEXT;
    CREATE INDEX mentions_needing_reply ON mentions (brand, status, published_at) WHERE needs_reply = 1;
    CREATE INDEX mentions_by_impact ON mentions (impact, published_at);
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# The columns a mention is rebuilt from, in this order.
_COLUMNS = (
    "rowid, brand, source_type, id, source, url, link, title, text, author, published_at, kind, lang, undated, "
    "matched_terms, matched_query, sentiment, sentiment_label, subjectivity, impact, reach, engagement, "
    "needs_reply, score, comments, likes, reposts, quotes, views, followers, also_seen, first_seen, status"
)
_FIGURES = ("score", "comments", "likes", "reposts", "quotes", "views", "followers")
# The columns a Citation is made of, in its field order.
_CITED = (
    "brand, source, source_type, id, url, link, title, text, author, published_at, sentiment, sentiment_label,"
    " impact_absolute, needs_reply, status, matched_terms"
)

# Query.sort -> ORDER BY; the rowid last, so equal keys come out in one order every time.
_LOUDNESS = "COALESCE(m.sentiment, 0) * (1 + COALESCE(m.impact_absolute, 0))"
_ORDERS = {
    "newest": "m.published_at DESC, m.rowid DESC",
    "oldest": "m.published_at, m.rowid",
    "impact": "m.impact DESC, m.published_at DESC, m.rowid DESC",
    "loudest": "m.impact_absolute DESC, m.published_at DESC, m.rowid DESC",
    "most_negative": f"{_LOUDNESS}, m.published_at DESC, m.rowid DESC",
    "most_positive": f"{_LOUDNESS} DESC, m.published_at DESC, m.rowid DESC",
    # `inbox`: the highest impact first (a mention with none last), then whoever has waited longest.
    "urgent": "m.impact IS NULL, m.impact DESC, m.published_at ASC, m.rowid",
}
assert set(_ORDERS) == set(SORTS)

# tally's dimensions as SQL expressions. Times are stored as `YYYY-MM-DDTHH:MM:SSZ` (models.format_time), so a
# prefix is the UTC day or hour. A mention saved before schema 4 has no community: it is worked out as it is read,
# by `urls.community` registered on each connection (20-80 us a row, where the column costs nothing).
_DIMENSION_SQL = {
    "brand": "m.brand",
    "day": "substr(m.published_at, 1, 10)",
    "hour": "substr(m.published_at, 1, 13) || ':00:00Z'",
    "source": "m.source",
    "sentiment": "COALESCE(m.sentiment_label, 'neutral')",
    "author": "m.author",
    "community": "COALESCE(m.community, mentionwatch_community(m.url))",
    "linked_domain": "CASE WHEN m.link IS NULL THEN '' ELSE m.host END",
}
assert set(_DIMENSION_SQL) == set(DIMENSIONS)
# A scan that leaves this many mentions queued for search indexes them itself (`record`): the first search after a
# quiet month never has more than about a second of indexing to do.
_INDEX_AT = 20_000
# The most mentions indexed in one write transaction. FTS5 keeps what it indexes in memory until a transaction ends
# (or a segment fills), and ten million queued at once (a grown benchmark store) had not been indexed after 17 minutes
# where one million take 17 s.
_INDEX_BATCH = 100_000
# A `--search` with at least this many matches lists its newest few by walking the time index (`_walk_by_time`).
_WALK_FROM = 20_000
# What `SqliteStore._figures` gives, as stored.
_FIGURE_COLUMNS = "impact, impact_absolute, impact_weight, reach, engagement, " + ", ".join(_FIGURES)
# `stats`' two counts (either engine's; PostgreSQL reads `also_seen`, text, as json): the mentions shown (cluster
# heads), and the duplicates folded into them as `list` counts them (each head's `duplicates`): a duplicate found in
# the same scan as its head is no row of its own, only an entry in the head's `also_seen`.
_STATS_HEADS = "COUNT(CASE WHEN cluster = rowid THEN 1 END)"
_STATS_FOLDED = "COALESCE(SUM(CASE WHEN cluster = rowid THEN json_array_length(also_seen{cast}) END), 0)"
# And by brand and source: each head under its source, each duplicate its head lists under its own (`{each}`: the
# head's `also_seen` entries as rows `e`, `{named}`: an entry's source name).
_STATS_BY_SOURCE = (
    "SELECT brand, source, SUM(shown) AS mentions, SUM(folded) AS duplicates FROM ("
    "SELECT brand, source, 1 AS shown, 0 AS folded FROM mentions WHERE cluster = rowid UNION ALL"
    " SELECT m.brand, {named}, 0, 1 FROM mentions m, {each} WHERE m.cluster = m.rowid) AS counted"
    " GROUP BY brand, source"
)


_INSERTED = (
    "brand, source_type, id, source, url, link, host, canon, link_canon, title, text, author, published_at, kind,"
    " lang, undated, matched_terms, matched_query, sentiment, sentiment_label, subjectivity, impact,"
    " impact_absolute, impact_weight, reach, engagement, score, comments, likes, reposts, quotes, views,"
    " followers, needs_reply, also_seen, cluster, first_seen, last_seen, community, terms"
)


# An rss item's guid scoped by its feed (`sources.rss._entry_id`: `bb77f2cb/4519`), stored unscoped (`4519`) before.
_SCOPED_GUID = re.compile(r"[0-9a-f]{8}/(.+)\Z", re.DOTALL)
# (sql with `?` placeholders, params) -> its rows: either engine's connection.
Execute = Callable[[str, Sequence[Any]], Sequence[Sequence[Any]]]


def rescoped(mentions: Sequence[Mention]) -> dict[Key, tuple[Key, str]]:
    """The rss items of a scan (its mentions and their duplicates) with a feed-scoped id, by the key a store made
    before ids were scoped holds them under: (their key now, their canonical URL)."""
    found: dict[Key, tuple[Key, str]] = {}
    for m in mentions:
        items = [(m.source_type or m.source, m.id, m.url)]
        items.extend((*_seen_key(e), str(e.get("url") or "")) for e in m.also_seen)
        for source_type, item_id, url in items:
            if source_type == "rss" and (scoped := _SCOPED_GUID.match(item_id)):
                brand = m.brand or ""
                found.setdefault((brand, "rss", scoped.group(1)), ((brand, "rss", item_id), canonical_url(url)))
    return found


def rescope(execute: Execute, olds: Mapping[Key, tuple[Key, str]], stored: set[Key]) -> None:
    """Rename what a store made before rss ids were scoped holds of this scan's items (`rescoped`; `stored`: those of
    their keys now that are stored rows) to their ids now, so that each is its own item seen again, not a new one,
    nor a duplicate of itself. Under its old key, the same item is the row (or, found in the same scan as its head,
    the head's `also_seen` entry) with the same canonical URL (or none either): its id, its key in `members` and in
    `notify_items`, and its entry in its cluster's head's `also_seen` are renamed."""
    for old, (new, canon) in olds.items():
        if new in stored:
            continue
        row = execute("SELECT rowid, url, cluster FROM mentions WHERE brand = ? AND source_type = ? AND id = ?", old)
        if row:
            if canonical_url(row[0][1]) != canon:
                continue
            cluster = int(row[0][2])
            execute("UPDATE mentions SET id = ? WHERE rowid = ?", (new[2], row[0][0]))
        else:
            member = execute("SELECT cluster FROM members WHERE brand = ? AND source_type = ? AND id = ?", old)
            if not member:
                continue
            cluster = int(member[0][0])
        head = execute("SELECT also_seen, rowid FROM mentions WHERE rowid = ?", (cluster,))
        also = json.loads(head[0][0]) if head else []
        listed = [i for i, e in enumerate(also) if _seen_key(e) == old[1:]]
        if not row and not any(canonical_url(str(also[i].get("url") or "")) == canon for i in listed):
            continue  # another feed's item with the same guid
        if listed:
            renamed = [e for e in also if _seen_key(e) != new[1:]]  # listed under both ids: once
            for e in renamed:
                if _seen_key(e) == old[1:]:
                    e["id"] = new[2]
            execute("UPDATE mentions SET also_seen = ? WHERE rowid = ?", (_to_json(renamed), cluster))
        for table in ("members", "notify_items"):
            execute(
                f"UPDATE {table} SET id = ? WHERE brand = ? AND source_type = ? AND id = ? AND NOT EXISTS"
                f" (SELECT 1 FROM {table} n WHERE n.brand = ? AND n.source_type = ? AND n.id = ?"
                f"{' AND n.target = notify_items.target' if table == 'notify_items' else ''})",
                (new[2], *old, *new),
            )
            execute(f"DELETE FROM {table} WHERE brand = ? AND source_type = ? AND id = ?", old)


def _pages(m: Mention) -> tuple[int, int | None, str]:
    """A mention's page key, the key of the page it links to, and the host people see (the linked page's)."""
    page = canonical_url(m.url)
    linked = canonical_url(m.link) if m.link else None
    try:
        host = urlsplit(linked or page).hostname or ""
    except ValueError:  # a URL Python cannot split (`http://[::1/x`) names no host
        host = ""
    # A mention with no URL (a feed item without a link) is no page: its key is its own, so that it never joins,
    # nor gathers, every other link-less item of its brand as "the same page".
    own = page or f"\x00no-url\x00{m.source_type}\x00{m.id}"
    return _url_hash(own), _url_hash(linked) if linked else None, host


# `json.dumps(..., ensure_ascii=False)` makes a new encoder each call (only the default arguments share one):
# half of its time for a short list, twice a saved mention.
_to_json = json.JSONEncoder(ensure_ascii=False).encode


def _cluster_keys(m: Mention) -> list[Key]:
    """The keys a new mention may be stored under already: its own (as a member of a cluster), its duplicates'."""
    brand = m.brand or ""
    seen = [(brand, str(e.get("source_type") or e.get("source")), str(e.get("id"))) for e in m.also_seen]
    return [key_of(m), *seen]


def _url_hash(canonical: str) -> int:
    digest = hashlib.blake2b(canonical.encode("utf-8", "surrogatepass"), digest_size=8).digest()
    return int.from_bytes(digest, "big", signed=True)


# Each (brand, page) probed in the page and link indexes. `(brand, canon) IN (VALUES ...)` read like this was planned
# as a scan of the whole index, each batch: at a million stored mentions a 50,000-mention window took minutes.
_STORED_PAGES = (
    "WITH p(brand, page) AS (VALUES {values}) SELECT brand, page FROM p"
    " WHERE EXISTS (SELECT 1 FROM mentions m WHERE m.brand = p.brand AND m.canon = p.page)"
    " OR EXISTS (SELECT 1 FROM mentions m WHERE m.brand = p.brand AND m.link_canon = p.page)"
)


def url_on_domain(url: str, domain: str) -> bool:
    """Whether `url` is on `domain` or under it, as a brand's `exclude_domains` reads a mention's URL (matching)."""
    return on_domain(host_of(url), (domain.lower().removeprefix("www."),))


def seen_entry(m: Mention, match: str | None = None) -> dict[str, Any]:
    """How a mention is listed in the `also_seen` of the stored cluster it joins: as a scan lists a duplicate
    (`dedupe.seen_entry`: where it is, its kind, its figures), with how it joined when the store knows it (`match`:
    "url", "link" or "text"; None when it joined by a key, its own or a duplicate's)."""
    from mentionwatch.dedupe import seen_entry as scans_entry

    entry = scans_entry(m, match or "")
    if match is None:
        del entry["match"]
    return entry


def _seen_key(entry: Mapping[str, Any]) -> tuple[str, str]:
    return str(entry.get("source_type") or entry.get("source")), str(entry.get("id"))


def merged_seen(
    also: Sequence[Mapping[str, Any]], head: tuple[str, str], entries: Sequence[Mapping[str, Any]]
) -> list[dict[str, Any]] | None:
    """A stored cluster's `also_seen` with `entries` in it (either engine's), or None when that changes nothing: each
    entry not listed yet is added, and one listed already gets its figures as now seen (a share's score grows after
    the scan that first saw it), and what it lacks (how it joined, its kind: a store before them listed neither).
    `head`: the (source type, id) of the mention that shows the cluster, never listed in its own `also_seen`."""
    from mentionwatch.dedupe import SEEN_FIGURES

    merged = [dict(a) for a in also]
    where = {_seen_key(a): i for i, a in enumerate(merged)}
    changed = False
    for entry in entries:
        key = _seen_key(entry)
        if key == head:
            continue
        i = where.get(key)
        if i is None:
            where[key] = len(merged)
            merged.append(dict(entry))
            changed = True
            continue
        known = merged[i]
        news = {k: v for k, v in entry.items() if k not in known or (k in SEEN_FIGURES and known[k] != v)}
        if news:
            known.update(news)
            changed = True
    return merged if changed else None


def as_stored(m: Mention, stored: str) -> Mention:
    """A mention seen again, with the `also_seen` its row holds once this scan's duplicates are added (`stored`: the
    row's, as JSON): what its stored impact counts, every scan's shares and copies."""
    if stored == "[]":
        return m
    also = json.loads(stored)
    merged = merged_seen(also, key_of(m)[1:], m.also_seen)
    seen = also if merged is None else merged
    if m.impact is None or len(seen) <= len(m.also_seen):
        return replace(m, also_seen=seen)
    # This scan did not see the shares an earlier one found (a feed re-read over `since`, while the search APIs
    # are asked from their watermarks): its impact, made without them, must not sink the stored story's. It is at
    # least the absolute impact the story's every share makes (README, Impact).
    weight = scored_weight(replace(m, also_seen=seen))
    return replace(m, also_seen=seen, impact=max(m.impact, round(absolute_impact(weight), 2)))


def page_keys(m: Mention) -> set[int]:
    """The page keys a scan finds a mention's cluster by (`dedupe.DuplicateIndex`), as the store keeps pages
    (`_pages`): its own page, and the page it shares when it is a share (`dedupe.shared_page`). A comment carries
    its story's link but shares nothing."""
    from mentionwatch.dedupe import shared_page

    canon = canonical_url(m.url)
    return {_url_hash(page) for page in (canon, shared_page(m, canon)) if page}


def _reply_kinds() -> frozenset[str]:
    """The kinds of mention that answer another (`dedupe.REPLY_KINDS`): a comment carries its story's link, titled
    or not, and shares nothing. Of the stored mentions that link a page, only the others are read whole (the
    comments under a popular story's shares are thousands)."""
    from mentionwatch.dedupe import REPLY_KINDS

    return REPLY_KINDS


# (keys) -> the cluster of each one found in `members`, and of each one found in `mentions`.
KeysLookUp = Callable[[Sequence[Key]], tuple[Mapping[Key, int], Mapping[Key, int]]]
# ((brand, page key), ...) -> (rowid, cluster, mention) of each stored mention of that brand that is that page, or
# links to it and may share it: a titled post that answers nothing (`_reply_kinds`; `dedupe.shared_page` judges).
PagesLookUp = Callable[[set[tuple[str, int]]], Sequence[tuple[int, int, Mention]]]
# (clusters) -> the mention each one shows as (its head: the row named by the cluster).
HeadsLookUp = Callable[[set[int]], Mapping[int, Mention]]
# The stored cluster a new mention joins, and how (its `also_seen` entry's `match`: "url", "link", or None by a key).
Joined = tuple[int, str | None]


def stored_clusters(
    fresh: Mapping[Key, Mention], keys: KeysLookUp, pages: PagesLookUp, heads: HeadsLookUp
) -> dict[Key, Joined | None]:
    """The stored cluster each new mention joins, if any (either engine's, through its look-ups): a scan's rules
    across scans, so that a scan run as two keeps the rows one scan would (README, Duplicates).

    - Its own key is a member of a stored cluster: it was a duplicate in an earlier scan.
    - One of its duplicates (`also_seen`) is stored, or a member of a stored cluster.
    - By its page, under a scan's rules (`dedupe.DuplicateIndex`, among the stored mentions that hold one of its
      page keys): a stored mention is the same post ("url"), the page it shares, a share of it, or a share of the
      same page ("link"). A comment under a stored story, and a post with words of its own about a link, share
      nothing and stay mentions of their own.

    Not by a duplicate nor a link when that would hide a mention that needs a reply behind a head that does not
    wait for one (`waiting_guard`); the same post seen again hides nothing. Nor by its own key then: a stored
    duplicate that needs a reply as its scan scores it now (or as a store before the guard left it) is shown on its
    own (`leave` takes it out of that cluster)."""
    guard = waiting_guard()
    cluster_keys = {key: _cluster_keys(m) for key, m in fresh.items()}
    in_members, in_mentions = keys(list({k for ks in cluster_keys.values() for k in ks}))
    found: dict[Key, Joined | None] = dict.fromkeys(fresh)
    by_own: dict[Key, int] = {}
    by_duplicate: dict[Key, int] = {}
    for key, (own, *duplicates) in cluster_keys.items():
        # A key in `members` first, then in `mentions`.
        cluster = in_members.get(own, in_mentions.get(own))
        if cluster is not None:
            by_own[key] = cluster
            continue
        cluster = next((c for k in duplicates if (c := in_members.get(k, in_mentions.get(k))) is not None), None)
        if cluster is not None:
            by_duplicate[key] = cluster
    # Only a cluster that is shown (its head stored): one whose head is gone would hide what joins it from every view.
    alive = heads(set(by_own.values())) if by_own else {}
    for key, cluster in by_own.items():
        head = alive.get(cluster)
        if head is not None and guard.allows(fresh[key], head):
            found[key] = (cluster, None)
    probes = {key: {(key[0], h) for h in page_keys(m)} for key, m in fresh.items() if found[key] is None}
    wanted: set[tuple[str, int]] = set().union(*probes.values())
    # Every stored mention that links a page comes back (the comments under its stories too): only those that hold
    # one of the page keys asked for are ones a scan's index would compare.
    holding: dict[tuple[str, int], list[tuple[int, int, Mention]]] = {}
    for rowid, cluster, m in pages(wanted) if wanted else ():
        for page in {(m.brand or "", h) for h in page_keys(m)} & wanted:
            holding.setdefault(page, []).append((rowid, cluster, m))
    clusters = {cluster for held in holding.values() for _, cluster, _ in held}
    shown = {rowid: m for held in holding.values() for rowid, cluster, m in held if rowid == cluster}
    shown.update(alive)
    shown.update(heads((clusters | set(by_duplicate.values())) - shown.keys()))
    for key, cluster in by_duplicate.items():
        head = shown.get(cluster)
        if head is not None and guard.allows(fresh[key], head):
            found[key] = (cluster, None)
    for key, wants in probes.items():
        near = {rowid: (rowid, cluster, m) for page in wants for rowid, cluster, m in holding.get(page, ())}
        if found[key] is not None or not near:
            continue
        joined = _page_join(fresh[key], sorted(near.values(), key=lambda s: _in_time(s[2])), guard)
        if joined is None:
            continue
        head = shown.get(joined[0])
        if head is not None and (joined[1] == "url" or guard.allows(fresh[key], head)):
            found[key] = joined
    return found


def leave(execute: Execute, key: Key, cluster: int) -> bool:
    """Take `key` out of a stored cluster it was a duplicate in (either engine's `execute`), now that it is a mention
    of its own or in another cluster: out of `members`, and of its head's `also_seen`. True when that changed."""
    execute("DELETE FROM members WHERE brand = ? AND source_type = ? AND id = ? AND cluster = ?", (*key, cluster))
    head = execute("SELECT also_seen FROM mentions WHERE rowid = ?", (cluster,))
    also = json.loads(head[0][0]) if head else []
    kept = [e for e in also if _seen_key(e) != key[1:]]
    if len(kept) == len(also):
        return False
    execute("UPDATE mentions SET also_seen = ? WHERE rowid = ?", (_to_json(kept), cluster))
    return True


def _page_join(m: Mention, stored: Sequence[tuple[int, int, Mention]], guard: ReplyGuard) -> Joined | None:
    """The stored cluster a new mention joins by its page, and how ("url" or "link"), as a scan holding it and
    `stored` ((rowid, cluster, mention), in time order) would cluster it. One index a mention, of its own pages'
    stored mentions only: what else the scan brought was the scan's to cluster."""
    from mentionwatch.dedupe import DuplicateIndex

    index = DuplicateIndex()
    index.guard = guard
    for _, _, other in stored:
        index.add(other)
    root = index.add(m)
    match = index.joined_by.get(len(stored))
    # Only by its page: a copy by its text is `stored_copies`' to find (among cluster heads).
    if root is None or match not in ("url", "link"):
        return None
    return stored[root][1], match


def _in_time(m: Mention) -> tuple[datetime, str, str]:
    """The order a scan indexes its mentions in (`dedupe.dedupe`)."""
    return m.published_at, m.source, m.id


# A cluster as `regrouped` makes it: its head's rowid and mention, its other members' rowids, the head's `also_seen`.
Regrouped = tuple[int, Mention, list[int], list[dict[str, Any]]]


def regrouped(also: Sequence[Mapping[str, Any]], survivors: Sequence[tuple[int, Mention]]) -> list[Regrouped]:
    """What a cluster whose head is pruned becomes (either engine's), so that none of its members is left in a
    cluster no view shows: its earliest remaining member (`survivors`: (rowid, mention), in time order) is shown in
    its place, the others folded into it, each listed in its `also_seen` with what it brought when it was saved
    (its scan's duplicates) and the figures the pruned head's `also_seen` (`also`) last had for them. What the
    pruned mentions alone brought goes with them. A member that needs a reply is not hidden behind one that does
    not wait for one (`waiting_guard`): it is shown on its own."""
    guard = waiting_guard()
    listed = {_seen_key(e): e for e in also}

    def latest(entries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
        return [dict(listed.get(_seen_key(e), e)) for e in entries]

    groups: list[Regrouped] = []
    for rowid, m in survivors:
        group = next((g for g in groups if guard.allows(m, g[1])), None)
        if group is None:
            groups.append((rowid, m, [], latest(m.also_seen)))
            continue
        head, members, seen = group[1], group[2], group[3]
        entry = listed.get(key_of(m)[1:]) or seen_entry(m)
        merged = merged_seen(seen, key_of(head)[1:], [entry, *latest(m.also_seen)])
        if merged is not None:
            seen[:] = merged
        members.append(rowid)
    return groups


def pruned_sql(alias: str, mark: str, *, keep_tagged: bool, cast: str = "") -> str:
    """The condition (either engine's, `mark` its placeholder for the cut-off, twice; `cast`: what makes `also_seen`
    json) on the mention `alias` that a prune forgets it: published before the cut-off, and untagged unless tags are
    not kept; and not a cluster head that may hold a duplicate newer than the cut-off. A duplicate found in the same
    scan as its head is no row (its time is not kept), only an entry in the head's `also_seen` (which lists every
    member row too, hence the count), published before the last scan that saw the head: a head seen after the
    cut-off with such duplicates is kept, or the next scan would take them for new mentions. (What a member row's
    scan found with it is handed on with it: `regrouped`.)"""
    keep = f" AND NOT EXISTS (SELECT 1 FROM tags t WHERE t.mention = {alias}.rowid)" if keep_tagged else ""
    rows = f"(SELECT COUNT(*) FROM mentions s WHERE s.cluster = {alias}.rowid AND s.rowid <> {alias}.rowid)"
    undated = (
        f"{alias}.cluster = {alias}.rowid AND {alias}.last_seen >= {mark}"
        f" AND json_array_length({alias}.also_seen{cast}) > {rows}"
    )
    return f"{alias}.published_at < {mark}{keep} AND NOT ({undated})"


def orphans_sql(mark: str, *, keep_tagged: bool, cast: str = "") -> str:
    """(rowid, also_seen) of the cluster heads a prune forgets while members of theirs stay (either engine's; four
    cut-off placeholders)."""
    head = pruned_sql("h", mark, keep_tagged=keep_tagged, cast=cast)
    member = pruned_sql("m", mark, keep_tagged=keep_tagged, cast=cast)
    return (
        f"SELECT h.rowid, h.also_seen FROM mentions h WHERE h.cluster = h.rowid AND {head} AND EXISTS"
        f" (SELECT 1 FROM mentions m WHERE m.cluster = h.rowid AND m.rowid <> h.rowid AND NOT ({member}))"
    )


# The clusters with stored members and no head: what a prune before heads were handed on left (the next one mends it).
HEADLESS_SQL = (
    "SELECT DISTINCT m.cluster FROM mentions m WHERE m.cluster <> m.rowid"
    " AND NOT EXISTS (SELECT 1 FROM mentions h WHERE h.rowid = m.cluster)"
)


class SqliteStore:
    """The embedded engine. `open(None)` is an in-memory store that forgets at exit."""

    concurrent_reads = False  # one connection, made in (and checked to be used by) one thread

    def __init__(self, db: sqlite3.Connection, path: Path | None) -> None:
        self._db = db
        db.create_function("mentionwatch_community", 1, community, deterministic=True)
        db.create_function("mentionwatch_on_domain", 2, url_on_domain, deterministic=True)
        self.path = path
        self.location = str(path) if path is not None else ":memory:"
        self._wrote = False
        # A scratch store (`store.scratch_store`) deletes its file, and its folder, when closed.
        self._scratch = False
        # False once a first-seen time could not be saved (`first_seen`).
        self._first_seen_writable = True
        # The mentions queued for search that a read-only store searches in an index of its own (`_search_clause`).
        self._unindexed: str | None = None

    @classmethod
    def open(cls, path: Path | None, *, legacy: Path | None = None, scratch: bool = False) -> SqliteStore:
        if path is None:
            db = sqlite3.connect(":memory:", isolation_level=None, check_same_thread=False)
        else:
            path.parent.mkdir(parents=True, exist_ok=True)
            db = connect(path)
        store = cls(db, path)
        store._scratch = scratch
        store.migrate()
        if legacy is not None and legacy.exists():
            store._import_legacy_first_seen(legacy)
        return store

    # -- schema

    def schema_version(self) -> int:
        return int(self._db.execute("PRAGMA user_version").fetchone()[0])

    def migrate(self) -> None:
        """Apply the migrations this file has not had, in one transaction (none taken when there are none: a
        reader of an up-to-date store never waits for a writer)."""
        if self.schema_version() == SCHEMA_VERSION:
            return
        with self._write():
            version = self.schema_version()
            if version > SCHEMA_VERSION:
                raise sqlite3.DatabaseError(
                    f"{self.location} has schema version {version}, newer than this mentionwatch knows "
                    f"({SCHEMA_VERSION}): upgrade mentionwatch"
                )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                for statement in _statements(MIGRATIONS[number - 1]):
                    self._db.execute(statement)
                self._db.execute(f"PRAGMA user_version = {number}")

    def _import_legacy_first_seen(self, legacy: Path) -> None:
        try:
            old = sqlite3.connect(f"file:{legacy}?mode=ro", uri=True)
            rows = old.execute("SELECT source, id, at FROM first_seen").fetchall()
            old.close()
        except sqlite3.Error as exc:
            log.warning("could not import first-seen times from %s: %s", legacy, exc)
            return
        with self._write():
            self._db.executemany("INSERT OR IGNORE INTO first_seen VALUES (?, ?, ?)", rows)

    @contextlib.contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction, taken at once (BEGIN IMMEDIATE), so two writers queue instead of deadlocking. A
        store that cannot be written (read-only, locked past the busy timeout, a full disk) raises StoreError."""
        try:
            self._db.execute("BEGIN IMMEDIATE")
            self._wrote = True
            try:
                yield
            except BaseException:
                # SQLite has rolled some failures back itself (a full disk): there is then no transaction to end.
                if self._db.in_transaction:
                    self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.OperationalError as exc:
            error = unwritable(self.location, exc)
            if error is None:
                raise
            raise error from exc

    # -- the scan

    def first_seen(self, source_type: str, item_id: str, now: datetime) -> datetime:
        """When this undated item was first seen: now, unless an earlier run (or a concurrent one) saw it. Asked
        while sources are read: a store that cannot be written gives what it knows (or now), and says why when the
        scan is saved, after which the scan's mentions are still given (a source is not failed for it)."""
        if self._first_seen_writable:
            try:
                self._db.execute(
                    "INSERT OR IGNORE INTO first_seen VALUES (?, ?, ?)", (source_type, item_id, format_time(now))
                )
            except sqlite3.OperationalError as exc:
                if unwritable(self.location, exc) is None:
                    raise
                # Once: each try of a locked store waits out the busy timeout.
                self._first_seen_writable = False
                log.debug("first-seen times not saved: %s", exc)
        row = self._db.execute(
            "SELECT at FROM first_seen WHERE source = ? AND id = ?", (source_type, item_id)
        ).fetchone()
        return now if row is None else parse_time(row[0])

    @contextlib.contextmanager
    def scan_lock(self, timeout: float, scope: Sequence[str] | None = None) -> Iterator[None]:
        """Held for a whole scan: a second scan on the same store waits for the first (up to `timeout` seconds),
        so two cron runs never report the same new mention twice. A lock file beside the database (flock), so a
        killed scan releases it with its process. One machine, one file: the whole store, whatever the `scope`."""
        if self.path is None:
            yield
            return
        import fcntl

        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            deadline = time.monotonic() + timeout
            waiting = False
            while True:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    break
                except BlockingIOError:
                    if time.monotonic() >= deadline:
                        raise StoreBusy(
                            f"another scan is using {self.location} and did not finish within {timeout:g}s"
                        ) from None
                    if not waiting:  # a wait of minutes (the default 300 s) must not look like a hang
                        log.warning("another scan is using %s: waiting for it (up to %gs)", self.location, timeout)
                        waiting = True
                    time.sleep(0.1)
            yield
        finally:
            os.close(fd)  # closing the descriptor releases the lock

    def record(self, mentions: Sequence[Mention], now: datetime) -> Recorded:
        """Save a scan's mentions (the heads of its duplicate clusters, their duplicates in `also_seen`).

        A mention already stored is updated (engagement, impact, last_seen, the source name it came under, the
        duplicates found since, and the figures of those known) and keeps the rest; a new one is inserted, joining
        the stored cluster a scan holding both would have put it in (`stored_clusters`, `stored_copies`). A
        cluster's head counts what its shares and copies drew, over every scan, in its absolute impact and weight.
        Each mention gets its `first_seen`, `status` and `tags` from the store. `Recorded.new`: the ones that
        were neither stored nor joined a stored cluster."""
        result = Recorded()
        stamp = format_time(now)
        with self._write():
            if olds := rescoped(mentions):
                news = [new for new, _ in olds.values()]
                stored = {(r[0], r[1], r[2]) for r in self._rows_by_key("mentions", "rowid", news)}
                rescope(self._execute, olds, stored)
            found = self._find(mentions)
            updates: list[tuple[Any, ...]] = []
            # Stored with the same figures (most of a scan that found nothing new): only `last_seen` changes, in
            # one statement per few hundred rows rather than a full update each.
            unchanged: list[int] = []
            fresh: dict[Key, Mention] = {}
            for m in mentions:
                row = found.get(key_of(m))
                if row is not None:
                    update = (*self._figures(as_stored(m, row[5])), m.source)
                    if update == row[4]:
                        unchanged.append(row[0])
                    else:
                        updates.append((*update, stamp, row[0]))
                    m.first_seen, m.status = parse_time(row[1]), row[2]
                elif key_of(m) in fresh:  # two configured sources of one type brought the same item
                    updates.append((*self._figures(m), m.source, stamp, None))
                    m.first_seen, m.status = now, "new"
                else:
                    fresh[key_of(m)] = m
                    m.first_seen, m.status = now, "new"
            pages = {key: _pages(m) for key, m in fresh.items()}
            # The clusters whose `also_seen` changed: their heads' impact counts it (after the updates below).
            grown: set[int] = set()
            found_joins = self._clusters_of(fresh)
            joins = {key: None if joined is None else joined[0] for key, joined in found_joins.items()}
            how = {key: joined[1] for key, joined in found_joins.items() if joined is not None}
            # A scratch store (a scan worked in windows with --no-store) holds only this scan, judged window by
            # window (README, Resilience): no earlier scan's stories to join.
            copies = {} if self._scratch else stored_copies(fresh, joins, now, self._head_texts, self._mentions)
            for key, original in copies.items():
                joins[key] = self._cluster_by_key(key_of(original))
                how[key] = "text"
            # The stored duplicates that are mentions of their own now, or of another cluster (`stored_clusters`).
            execute = self._execute
            for key, cluster in self._clusters_by_key("members", list(fresh)).items():
                if joins[key] != cluster and leave(execute, key, cluster):
                    grown.add(cluster)
            # Rowids handed out here (this is the one writer): a cluster of its own is named by its first
            # mention's rowid, known before the insert, and the new rows are queued for search in one statement.
            last = int(self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM mentions").fetchone()[0])
            rows = []
            for rowid, (key, m) in enumerate(fresh.items(), start=last + 1):
                joined = joins[key]
                rows.append((rowid, *self._row(m, rowid if joined is None else joined, pages[key], stamp)))
            self._db.executemany(
                f"INSERT INTO mentions (rowid, {_INSERTED}) VALUES (?, {', '.join('?' * _INSERTED.count(','))}, ?)",
                rows,
            )
            queue = "INSERT INTO mentions_search_pending SELECT rowid FROM mentions WHERE rowid > ?"
            if rows:
                self._db.execute(queue, [last])
            self._db.executemany("INSERT INTO brands VALUES (?) ON CONFLICT DO NOTHING", {(k[0],) for k in fresh})
            for key, m in fresh.items():
                joined = joins[key]
                if joined is None:
                    result.new.add(key)
                elif self._join(joined, key[0], [seen_entry(m, how.get(key))]):
                    grown.add(joined)
            for m in mentions:
                row = found.get(key_of(m))
                if row is not None and row[3] != row[0] and self._join(row[3], m.brand or "", [seen_entry(m)]):
                    grown.add(row[3])  # a member seen again: its figures in its head's `also_seen`
                if m.also_seen:
                    cluster = self._cluster_by_key(key_of(m))
                    if self._join(cluster, m.brand or "", m.also_seen):
                        grown.add(cluster)
            self._db.executemany(
                "UPDATE mentions SET impact = ?, impact_absolute = ?, impact_weight = ?, reach = ?, engagement = ?,"
                " score = ?, comments = ?, likes = ?, reposts = ?, quotes = ?, views = ?, followers = ?,"
                " source = ?, last_seen = ? WHERE rowid = ?",
                [u for u in updates if u[-1] is not None],
            )
            for start in range(0, len(unchanged), 500):
                batch = unchanged[start : start + 500]
                self._db.execute(
                    f"UPDATE mentions SET last_seen = ? WHERE rowid IN ({', '.join('?' * len(batch))})", [stamp, *batch]
                )
            result.updated = len(updates) + len(unchanged)
            self._db.executemany(
                "UPDATE mentions SET impact_absolute = ?, impact_weight = ? WHERE rowid = ?",
                [(*self._figures(head)[1:3], cluster) for cluster, head in self._heads(grown).items()],
            )
            self._attach_tags([m for m in mentions if key_of(m) in found], found)
            if fresh and self._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0] >= _INDEX_AT:
                self._index_pending()
        return result

    def _execute(self, sql: str, params: Sequence[Any]) -> list[Any]:
        return self._db.execute(sql, params).fetchall()

    def _head_texts(self, brands: Sequence[str], since: datetime, limit: int) -> list[tuple[Key, str]]:
        """(key, title and text) of the cluster heads of `brands` published since `since`, newest first."""
        marks = ", ".join("?" * len(brands))
        rows = self._db.execute(
            f"SELECT brand, source_type, id, title, text FROM mentions WHERE brand IN ({marks}) AND cluster = rowid"
            " AND published_at >= ? ORDER BY published_at DESC LIMIT ?",
            [*brands, format_time(since), limit],
        )
        return [((brand, kind, id_), f"{title}\n{text}") for brand, kind, id_, title, text in rows]

    def _mentions(self, keys: Sequence[Key]) -> list[Mention]:
        return [m for m in map(self.mention, keys) if m is not None]

    def _cluster_by_key(self, key: Key) -> int:
        return int(
            self._db.execute(
                "SELECT cluster FROM mentions WHERE brand = ? AND source_type = ? AND id = ?", key
            ).fetchone()[0]
        )

    def _find(self, mentions: Sequence[Mention]) -> dict[Key, tuple[int, str, str, int, tuple[Any, ...], str]]:
        """The stored (rowid, first_seen, status, cluster, figures and source name as `_figures` gives them,
        also_seen) of each mention that is stored, looked up in batches."""
        found: dict[Key, tuple[int, str, str, int, tuple[Any, ...], str]] = {}
        columns = f"rowid, first_seen, status, cluster, {_FIGURE_COLUMNS}, source, also_seen"
        for row in self._rows_by_key("mentions", columns, list({key_of(m) for m in mentions})):
            found[(row[0], row[1], row[2])] = (row[3], row[4], row[5], row[6], tuple(row[7:-1]), row[-1])
        return found

    def _rows_by_key(self, table: str, columns: str, keys: Sequence[Key]) -> Iterator[tuple[Any, ...]]:
        """(brand, source_type, id, *columns) of the rows of `table` under these keys, looked up 300 at a time."""
        for start in range(0, len(keys), 300):
            batch = keys[start : start + 300]
            where = " OR ".join(["(brand = ? AND source_type = ? AND id = ?)"] * len(batch))
            params = [part for key in batch for part in key]
            yield from self._db.execute(f"SELECT brand, source_type, id, {columns} FROM {table} WHERE {where}", params)

    def _join(self, cluster: int, brand: str, entries: Sequence[Mapping[str, Any]]) -> bool:
        """Add duplicates to a stored cluster: as members (so a later scan knows them) and to the `also_seen` of
        the cluster's first mention (so `list` shows them), each once, with its figures as last seen. True when
        that `also_seen` changed."""
        entries = [e for e in entries if e.get("id") is not None]
        # One the store shows in another cluster (its own head, or another's member) stays there: a scan that folds
        # it into this one (a copy of a member here, seen together) must not make `list` show it twice.
        keys = [(brand, *_seen_key(e)) for e in entries]
        elsewhere = {(k, i) for _, k, i, at in self._rows_by_key("mentions", "cluster", keys) if int(at) != cluster}
        entries = [e for e in entries if _seen_key(e) not in elsewhere]
        if not entries:
            return False
        self._db.executemany(
            "INSERT INTO members VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(brand, *_seen_key(e), cluster) for e in entries],
        )
        row = self._db.execute("SELECT also_seen, source_type, id FROM mentions WHERE rowid = ?", (cluster,)).fetchone()
        if row is None:
            return False
        merged = merged_seen(json.loads(row[0]), (row[1], row[2]), entries)
        if merged is None:
            return False
        self._db.execute("UPDATE mentions SET also_seen = ? WHERE rowid = ?", (_to_json(merged), cluster))
        return True

    def _clusters_of(self, fresh: Mapping[Key, Mention]) -> dict[Key, Joined | None]:
        """`stored_clusters` for a scan's new mentions, with its thousands of look-ups made a few hundred at a time:
        the keys (its own, its duplicates') in `members` and `mentions` at once, each found at most once; and only
        the pages stored under their brand (`_stored_pages`) read whole, with the heads of their clusters."""
        return stored_clusters(
            fresh,
            lambda keys: (self._clusters_by_key("members", keys), self._clusters_by_key("mentions", keys)),
            self._stored_at,
            self._heads,
        )

    def _clusters_by_key(self, table: str, keys: Sequence[Key]) -> dict[Key, int]:
        rows = self._rows_by_key(table, "cluster", keys)
        return {(brand, kind, id_): int(cluster) for brand, kind, id_, cluster in rows}

    def _stored_pages(self, pages: set[tuple[str, int]]) -> set[tuple[str, int]]:
        """Which of these (brand, page key) are a stored mention's page or linked page."""
        found: set[tuple[str, int]] = set()
        listed = list(pages)
        for start in range(0, len(listed), 400):
            batch = listed[start : start + 400]
            values = ", ".join(["(?, ?)"] * len(batch))
            params = [part for pair in batch for part in pair]
            found.update(self._db.execute(_STORED_PAGES.format(values=values), params))
        return found

    def _stored_at(self, pages: set[tuple[str, int]]) -> list[tuple[int, int, Mention]]:
        """(rowid, cluster, mention) of the stored mentions of each (brand, page key) that are that page, or link to
        it and may share it (not a reply: `_reply_kinds`); only the pairs `_stored_pages` finds stored are read."""
        found: dict[int, tuple[int, int, Mention]] = {}
        kinds = sorted(_reply_kinds())
        shares = f"m.title <> '' AND m.kind NOT IN ({', '.join('?' * len(kinds))})"
        for brand, page in self._stored_pages(pages):
            for where, params in (("m.canon = ?", [page]), (f"m.link_canon = ? AND {shares}", [page, *kinds])):
                sql = f"SELECT m.cluster, {_SELECTED} WHERE m.brand = ? AND {where}"
                for row in self._db.execute(sql, [brand, *params]):
                    found.setdefault(int(row[1]), (int(row[1]), int(row[0]), _mention(row[1:])))
        return list(found.values())

    def _heads(self, clusters: set[int]) -> dict[int, Mention]:
        """The mention each of these clusters shows as (the row it is named by), by cluster."""
        listed = sorted(clusters)
        found: dict[int, Mention] = {}
        for start in range(0, len(listed), 500):
            batch = listed[start : start + 500]
            sql = f"SELECT {_SELECTED} WHERE m.rowid IN ({', '.join('?' * len(batch))})"
            found.update((int(row[0]), _mention(row)) for row in self._db.execute(sql, batch))
        return found

    @staticmethod
    def _figures(m: Mention) -> tuple[Any, ...]:
        # Impact depends on the scan it was made in (its percentile part); the absolute part and the weight do
        # not, so reports can compare like with like. Both count what the cluster's shares and copies drew and
        # its largest reach, as a scan's impact does (README, Impact): `also_seen` as the row holds it.
        weight = scored_weight(m)
        return (
            m.impact,
            round(absolute_impact(weight), 2),
            round(weight, 2),
            m.reach,
            m.engagement,
            *(getattr(m, name) for name in _FIGURES),
        )

    def _row(self, m: Mention, cluster: int | None, pages: tuple[int, int | None, str], stamp: str) -> tuple[Any, ...]:
        page, link, host = pages
        return (
            *key_of(m),
            m.source,
            m.url,
            m.link,
            host,
            page,
            link,
            m.title,
            m.text,
            m.author,
            format_time(m.published_at),
            m.kind,
            m.lang,
            int(m.undated),
            _to_json(m.matched_terms),
            m.matched_query,
            m.sentiment,
            m.sentiment_label,
            m.subjectivity,
            *self._figures(m),
            int(m.needs_reply),
            _to_json(m.also_seen) if m.also_seen else "[]",
            cluster,
            stamp,
            stamp,
            community(m.url),
            kept_terms(m.title, m.text),
        )

    def _attach_tags(self, mentions: Sequence[Mention], found: Mapping[Key, tuple[Any, ...]]) -> None:
        rowids = {found[key_of(m)][0]: m for m in mentions}
        if not rowids:
            return
        for start in range(0, len(rowids), 500):
            batch = list(rowids)[start : start + 500]
            marks = ", ".join("?" * len(batch))
            for rowid, tag in self._db.execute(
                f"SELECT mention, tag FROM tags WHERE mention IN ({marks}) ORDER BY tag", batch
            ):
                rowids[rowid].tags.append(tag)

    # -- watermarks and source runs

    def watermarks(self) -> dict[tuple[str, str], datetime]:
        return {(s, b): parse_time(t) for s, b, t in self._db.execute("SELECT source, brand, newest FROM watermarks")}

    def advance_watermarks(self, marks: Mapping[tuple[str, str], datetime], now: datetime) -> None:
        """Move each (source, brand) watermark forward to the given time; never back."""
        with self._write():
            self._db.executemany(
                "INSERT INTO watermarks VALUES (?, ?, ?, ?) ON CONFLICT (source, brand) DO UPDATE SET"
                " newest = MAX(newest, excluded.newest), updated = excluded.updated",
                [(s, b, format_time(t), format_time(now)) for (s, b), t in marks.items()],
            )

    def record_runs(self, runs: Sequence[SourceRun], now: datetime) -> None:
        stamp = format_time(now)
        with self._write():
            for run in runs:
                if run.ok:
                    self._db.execute(
                        "INSERT INTO source_runs (source, name, last_run, last_state, last_success, failures)"
                        " VALUES (?, ?, ?, ?, ?, 0) ON CONFLICT (source) DO UPDATE SET name = excluded.name,"
                        " last_run = excluded.last_run, last_state = excluded.last_state,"
                        " last_success = excluded.last_success, failures = 0, failing_since = NULL",
                        (run.identity, run.name, stamp, run.state, stamp),
                    )
                else:
                    self._db.execute(
                        "INSERT INTO source_runs (source, name, last_run, last_state, failures, failing_since,"
                        " last_error) VALUES (?, ?, ?, ?, 1, ?, ?) ON CONFLICT (source) DO UPDATE SET"
                        " name = excluded.name, last_run = excluded.last_run, last_state = excluded.last_state,"
                        " failures = source_runs.failures + 1,"
                        " failing_since = COALESCE(source_runs.failing_since, excluded.failing_since),"
                        " last_error = excluded.last_error",
                        (run.identity, run.name, stamp, run.state, stamp, run.error),
                    )

    def source_status(self) -> list[SourceStatus]:
        def when(value: str | None) -> datetime | None:
            return parse_time(value) if value else None

        return [
            SourceStatus(
                identity=row[0],
                name=row[1],
                last_run=when(row[2]),
                last_state=row[3],
                last_success=when(row[4]),
                failures=int(row[5]),
                failing_since=when(row[6]),
                last_error=row[7],
            )
            for row in self._db.execute(
                "SELECT source, name, last_run, last_state, last_success, failures, failing_since, last_error"
                " FROM source_runs ORDER BY name"
            )
        ]

    # -- notifications

    def notify_mark(self, target: str) -> NotifyMark | None:
        row = self._db.execute("SELECT through, position FROM notify_marks WHERE target = ?", (target,)).fetchone()
        return NotifyMark(parse_time(row[0]), int(row[1])) if row else None

    def forget_notify_mark(self, target: str) -> None:
        with self._write():
            self._db.execute("DELETE FROM notify_marks WHERE target = ?", (target,))

    def first_seen_after(self, mark: NotifyMark) -> list[Mention]:
        """The mentions (cluster heads, not ignored) first seen after `mark`: what scans since then found new,
        whether or not the scan that found them lived to notify anyone. Saved after the mark's position (rowids
        are in commit order: one scan at a time), as on PostgreSQL: a clock set back gives first-seen times
        before the mark's, and those mentions are new all the same. Or first seen after its time: a prune that
        deleted the newest rows lets SQLite give their rowids again (no AUTOINCREMENT)."""
        rows = self._db.execute(
            f"SELECT {_SELECTED} WHERE m.cluster = m.rowid AND m.status != 'ignored'"
            " AND (m.rowid > ? OR m.first_seen > ?) ORDER BY m.first_seen, m.rowid",
            (mark.position, format_time(mark.through)),
        )
        return [_mention(row) for row in rows]

    def notify_horizon(self) -> int:
        """The store's position now (its newest mention), read before choosing what to queue."""
        return int(self._db.execute("SELECT COALESCE(MAX(rowid), 0) FROM mentions").fetchone()[0])

    def enqueue_notifications(
        self,
        target: str,
        items: Sequence[tuple[Key, str]],
        through: datetime,
        now: datetime,
        position: int | None = None,
    ) -> int:
        """Queue (mention, event) items for `target`, each at most once ever, and move its mark to `through` (the
        scan's first-seen time) and `position` (`notify_horizon`; default: the newest mention stored now; call
        it under the scan lock)."""
        stamp = format_time(now)
        with self._write():
            cursor = self._db.executemany(
                "INSERT INTO notify_items (target, brand, source_type, id, event, queued) VALUES (?, ?, ?, ?, ?, ?)"
                " ON CONFLICT DO NOTHING",
                [(target, *key, event, stamp) for key, event in items],
            )
            if position is None:
                position = self.notify_horizon()
            self._db.execute(
                "INSERT INTO notify_marks VALUES (?, ?, ?, ?) ON CONFLICT (target) DO UPDATE SET"
                " through = excluded.through, position = excluded.position, updated = excluded.updated"
                " WHERE excluded.through >= notify_marks.through",  # a clock set back keeps the mark
                (target, format_time(through), position, stamp),
            )
            return int(cursor.rowcount)

    def pending_notifications(self, target: str) -> list[tuple[Mention, str]]:
        """What `target` is still to be sent, with the event each is sent for, in the order they were queued."""
        rows = self._db.execute(
            f"SELECT {_SELECTED_COLUMNS}, i.event {_FROM_MENTIONS} JOIN notify_items i ON m.brand = i.brand"
            " AND m.source_type = i.source_type AND m.id = i.id"
            " WHERE i.target = ? AND i.state = 'pending' ORDER BY i.queued, m.published_at, m.rowid",
            (target,),
        )
        return [(_mention(row[:-1]), str(row[-1])) for row in rows]

    def begin_delivery(self, target: str, event: str, token: str, keys: Sequence[Key], now: datetime) -> int:
        """The idempotency record, written (and committed) before a message goes out: the delivery is `sending`
        and so are its items, so a run killed while sending leaves a trace the next run finds."""
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO notify_deliveries (token, target, event, state, started, mentions)"
                " VALUES (?, ?, ?, 'sending', ?, ?)",
                (token, target, event, format_time(now), len(keys)),
            )
            delivery = int(cursor.lastrowid or 0)
            self._db.executemany(
                "UPDATE notify_items SET state = 'sending', delivery = ?"
                " WHERE target = ? AND brand = ? AND source_type = ? AND id = ?",
                [(delivery, target, *key) for key in keys],
            )
        return delivery

    def claim_spike(self, target: str, brand: str, period: datetime, delivery: int) -> bool:
        """Record that `target` is told of `brand`'s spike at `period`; False when it was told already."""
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO notify_spikes VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (target, brand, format_time(period), delivery),
            )
            return int(cursor.rowcount) == 1

    def release_spike(self, target: str, brand: str, period: datetime) -> None:
        """Forget a claim whose message was not delivered: the next run tells of the spike again."""
        with self._write():
            self._db.execute(
                "DELETE FROM notify_spikes WHERE target = ? AND brand = ? AND period = ?",
                (target, brand, format_time(period)),
            )

    def spike_told(self, target: str, brand: str, period: datetime) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM notify_spikes WHERE target = ? AND brand = ? AND period = ?",
            (target, brand, format_time(period)),
        ).fetchone()
        return row is not None

    def finish_delivery(self, delivery: int, *, ok: bool, attempts: int, error: str | None, now: datetime) -> None:
        """Complete the record: delivered items are `sent` for good; a failed delivery's items are pending again,
        for the next run."""
        with self._write():
            self._db.execute(
                "UPDATE notify_deliveries SET state = ?, finished = ?, attempts = ?, error = ? WHERE rowid = ?",
                ("sent" if ok else "failed", format_time(now), attempts, error, delivery),
            )
            if ok:
                self._db.execute("UPDATE notify_items SET state = 'sent' WHERE delivery = ?", (delivery,))
            else:
                self._db.execute(
                    "UPDATE notify_items SET state = 'pending', delivery = NULL WHERE delivery = ?", (delivery,)
                )

    def settle_interrupted_deliveries(self, target: str, now: datetime) -> list[Delivery]:
        """Deliveries left `sending` by a run that died between sending and recording: the message may or may
        not have arrived. They become `unknown` and are not sent again (never twice); returned to be reported."""
        with self._write():
            rows = self._db.execute(
                "SELECT rowid, token, target, event, started, mentions FROM notify_deliveries"
                " WHERE target = ? AND state = 'sending' ORDER BY rowid",
                (target,),
            ).fetchall()
            for row in rows:
                self._db.execute(
                    "UPDATE notify_deliveries SET state = 'unknown', finished = ? WHERE rowid = ?",
                    (format_time(now), row[0]),
                )
                self._db.execute("UPDATE notify_items SET state = 'unknown' WHERE delivery = ?", (row[0],))
        return [
            Delivery(id=r[0], token=r[1], target=r[2], event=r[3], state="unknown", started=parse_time(r[4]),
                     mentions=int(r[5]))
            for r in rows
        ]  # fmt: skip

    def deliveries(self, target: str | None = None) -> list[Delivery]:
        where, params = ("WHERE target = ?", (target,)) if target else ("", ())
        return [
            Delivery(id=r[0], token=r[1], target=r[2], event=r[3], state=r[4], started=parse_time(r[5]),
                     mentions=int(r[6]), attempts=int(r[7]), error=r[8])
            for r in self._db.execute(
                "SELECT rowid, token, target, event, state, started, mentions, attempts, error"
                f" FROM notify_deliveries {where} ORDER BY rowid",
                params,
            )
        ]  # fmt: skip

    # -- reading

    def _where(self, query: Query) -> tuple[str, list[Any]]:
        clauses = ["m.cluster = m.rowid"]  # a cluster shows as its first mention, the rest in its also_seen
        params: list[Any] = []

        def any_of(column: str, values: Sequence[Any]) -> None:
            clauses.append(f"{column} IN ({', '.join('?' * len(values))})")
            params.extend(values)

        if query.brands:
            any_of("m.brand", list(query.brands))
        if query.sources:
            clauses.append(
                f"(m.source IN ({', '.join('?' * len(query.sources))})"
                f" OR m.source_type IN ({', '.join('?' * len(query.sources))}))"
            )
            params.extend([*query.sources, *query.sources])
        if query.statuses or query.exclude_statuses:
            any_of("m.status", wanted_statuses(query))
        for clause, value in single_filters(query):
            clauses.append(f"{clause} ?")
            params.append(value)
        if query.needs_reply:
            clauses.append("m.needs_reply = 1")
        for tag in query.tags:
            clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.mention = m.rowid AND t.tag = ?)")
            params.append(tag)
        if query.search:
            clause, matches = self._search_clause(_fts_query(query.search))
            clauses.append(clause)
            params.extend(matches)
        return " AND ".join(clauses), params

    def _search_clause(self, match: str) -> tuple[str, list[str]]:
        """The clause that selects the mentions (`m`) whose words `match`, with its parameters; what scans queued is
        indexed first. A store that cannot be written (read-only, or held by another process) cannot index it: the
        queued mentions are then searched in a temporary index of this connection's own (the temp database is
        writable when the file is not), made once (a scan leaves at most `_INDEX_AT` of them queued)."""
        indexed = "m.rowid IN (SELECT rowid FROM mentions_search WHERE mentions_search MATCH ?)"
        if self._unindexed is None:
            try:
                self._index_for_search()
                return indexed, [match]
            except StoreError as exc:
                self._unindexed = self._index_apart(exc)
        apart = f"m.rowid IN (SELECT rowid FROM temp.{self._unindexed} WHERE {self._unindexed} MATCH ?)"
        return f"({indexed} OR {apart})", [match, match]

    def _index_apart(self, cause: StoreError) -> str:
        """Index the queued mentions in a temporary table (`_search_clause`); its name."""
        table = "mentions_unindexed"
        try:
            self._db.execute(
                f"CREATE VIRTUAL TABLE temp.{table} USING fts5 (title, text, author,"
                " tokenize='unicode61 remove_diacritics 2')"
            )
            self._db.execute(
                f"INSERT INTO temp.{table} (rowid, title, text, author) SELECT m.rowid, m.title, m.text, m.author"
                " FROM mentions_search_pending p CROSS JOIN mentions m ON m.rowid = p.mention"
            )
        except sqlite3.OperationalError as exc:
            raise StoreError(
                f"{cause}; the mentions saved since its last search cannot be searched until it can be written"
            ) from exc
        log.debug("%s: searching the mentions saved since the last search apart", cause)
        return table

    def _selected(self, select: str, query: Query) -> sqlite3.Cursor:
        """The rows `query` selects (`select`: the columns and the FROM clause, `m` the mentions), in its sort
        order, up to its limit."""
        where, params = self._where(query)
        if query.sort not in _ORDERS:
            raise ValueError(f"sort {query.sort!r}: use one of {', '.join(SORTS)}")
        limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
        if self._walk_by_time(query):
            select = select.replace("FROM mentions m", "FROM mentions m INDEXED BY mentions_by_time", 1)
        elif _walk_by_impact(query):
            select = select.replace("FROM mentions m", "FROM mentions m INDEXED BY mentions_by_impact", 1)
        return self._db.execute(f"SELECT {select} WHERE {where} ORDER BY {_ORDERS[query.sort]}{limit}", params)

    def _index_for_search(self) -> None:
        """Index the words of the mentions saved since the last search (migration 6: saving only queues them), at
        most `_INDEX_BATCH` in each write transaction (a scan saving meanwhile waits, or is waited for, a batch at a
        time; a store copied in with millions queued is indexed in steps that each end committed)."""
        while self._db.execute("SELECT 1 FROM mentions_search_pending LIMIT 1").fetchone() is not None:
            with self._write():
                self._index_pending(_INDEX_BATCH)

    def _index_pending(self, most: int | None = None) -> None:
        """Index the queued mentions (the `most` first by rowid), in the caller's write transaction."""
        last = None
        if most is not None:
            row = self._db.execute(
                "SELECT mention FROM mentions_search_pending ORDER BY mention LIMIT 1 OFFSET ?", (most - 1,)
            ).fetchone()
            last = None if row is None else int(row[0])
        up_to = "" if last is None else f" WHERE p.mention <= {last}"
        # CROSS JOIN: the queue drives (SQLite's planner, given `p.mention <= N`, read `mentions` from its first row
        # up to N instead, probing the queue for each: a batch took longer the further on it was, 50 s at 2.5M).
        self._db.execute(
            "INSERT INTO mentions_search (rowid, title, text, author) SELECT m.rowid, m.title, m.text, m.author"
            f" FROM mentions_search_pending p CROSS JOIN mentions m ON m.rowid = p.mention{up_to}"
        )
        self._db.execute(f"DELETE FROM mentions_search_pending AS p{up_to}")

    def _walk_by_time(self, query: Query) -> bool:
        """Whether a `--search` listing the newest (or oldest) few should walk the mentions in time order, testing
        each against the search's matches, instead of reading every match and sorting them. SQLite's planner does
        the latter, which is right for a rare word and slow for a common one: 86,000 matches of `people` in a
        million mentions took 0.12 s to sort for 100 of them, the walk 0.011 s, while a word matching none makes
        the walk read the whole time index (0.08 s). The count of matches (from the index alone, 3 ms for the
        common word) decides."""
        if not query.search or query.limit is None or query.sort not in ("newest", "oldest"):
            return False
        found = self._db.execute(
            "SELECT COUNT(*) FROM mentions_search WHERE mentions_search MATCH ?", (_fts_query(query.search),)
        ).fetchone()[0]
        return int(found) >= _WALK_FROM

    def iter_mentions(self, query: Query) -> Iterator[Mention]:
        cursor = self._selected(_SELECTED, query)
        while rows := cursor.fetchmany(500):
            mentions = {row[0]: _mention(row) for row in rows}
            marks = ", ".join("?" * len(mentions))
            for rowid, tag in self._db.execute(
                f"SELECT mention, tag FROM tags WHERE mention IN ({marks}) ORDER BY tag", list(mentions)
            ):
                mentions[rowid].tags.append(tag)
            yield from mentions.values()

    def query(self, query: Query) -> list[Mention]:
        return list(self.iter_mentions(query))

    def citations(self, query: Query) -> Iterator[Citation]:
        cursor = self._selected(f"{_m(_CITED)} FROM mentions m", query)
        while rows := cursor.fetchmany(500):
            yield from (citation(row) for row in rows)

    def said(self, query: Query) -> Iterator[Said]:
        where, params = self._where(query)
        cursor = self._db.execute(f"SELECT {_SAID} FROM mentions m WHERE {where}", params)
        while rows := cursor.fetchmany(1000):
            yield from (said(row) for row in rows)

    def tally(self, query: Query, by: Sequence[str], *, top: int | None = None, rank: str = "mentions") -> list[Tally]:
        return self.tallies(query, [TallyAsk(tuple(by), top=top, rank=rank)])[0]

    def tallies(self, query: Query, asks: Sequence[TallyAsk]) -> list[list[Tally]]:
        spanned, spans = tally_spans(query, asks)
        where, params = self._where(spanned)
        sql, more = tallies_sql(asks, spans, where, _DIMENSION_SQL, "?", "")
        return tallies_from(asks, self._db.execute(sql, [*params, *more]).fetchall())

    def count(self, query: Query) -> int:
        where, params = self._where(query)
        return int(self._db.execute(f"SELECT COUNT(*) FROM mentions m WHERE {where}", params).fetchone()[0])

    def mention(self, key: Key) -> Mention | None:
        """One stored mention by its identity, whether or not it heads its cluster."""
        rows = self._db.execute(
            f"SELECT {_SELECTED} WHERE m.brand = ? AND m.source_type = ? AND m.id = ?", key
        ).fetchall()
        if not rows:
            return None
        found = _mention(rows[0])
        found.tags = [
            t for (t,) in self._db.execute("SELECT tag FROM tags WHERE mention = ? ORDER BY tag", (rows[0][0],))
        ]
        return found

    # -- the outbox

    def reply_record(self, source_type: str, item_id: str) -> ReplyRecord | None:
        row = self._db.execute(
            f"SELECT {_REPLY_COLUMNS} FROM replies WHERE source_type = ? AND id = ?", (source_type, item_id)
        ).fetchone()
        return _reply(row) if row else None

    def begin_reply(self, record: ReplyRecord) -> bool:
        """Write a pending reply, before its request goes out. False when the item already has one (sent, or
        pending from another run): the insert is the lock, so two `reply` runs never both post."""
        with self._write():
            cursor = self._db.execute(
                "INSERT INTO replies (source_type, id, state, source, text, request, started_at)"
                " VALUES (?, ?, 'pending', ?, ?, ?, ?) ON CONFLICT DO NOTHING",
                (
                    record.source_type,
                    record.id,
                    record.source,
                    record.text,
                    record.request,
                    format_time(record.started_at),
                ),
            )
            return cursor.rowcount == 1

    def complete_reply(
        self, source_type: str, item_id: str, *, reply_id: str, url: str, at: datetime, keys: Sequence[Key]
    ) -> None:
        """The platform has the reply: the record is `sent`, with its id, URL and time, and the mentions it
        answers become `replied`, in one transaction."""
        stamp = format_time(at)
        with self._write():
            self._db.execute(
                "UPDATE replies SET state = 'sent', reply_id = ?, reply_url = ?, sent_at = ?"
                " WHERE source_type = ? AND id = ?",
                (reply_id, url, stamp, source_type, item_id),
            )
            self._db.executemany(
                "UPDATE mentions SET status = 'replied', status_at = ? WHERE brand = ? AND source_type = ? AND id = ?",
                [(stamp, *key) for key in keys],
            )

    def drop_reply(self, source_type: str, item_id: str) -> None:
        """Forget a pending reply the platform refused (nothing was posted); a sent one is never dropped."""
        with self._write():
            self._db.execute(
                "DELETE FROM replies WHERE source_type = ? AND id = ? AND state = 'pending'", (source_type, item_id)
            )

    def pending_replies(self) -> list[ReplyRecord]:
        return [
            _reply(row)
            for row in self._db.execute(
                f"SELECT {_REPLY_COLUMNS} FROM replies WHERE state = 'pending' ORDER BY started_at"
            )
        ]

    def response_stats(
        self, *, brands: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None
    ) -> ResponseStats:
        query = Query(brands=brands, since=since, until=until, needs_reply=True, exclude_statuses=("ignored",))
        where, params = self._where(query)
        counts = dict(
            self._db.execute(f"SELECT m.status, COUNT(*) FROM mentions m WHERE {where} GROUP BY m.status", params)
        )
        # Time to answer: from publication to the reply (a reply made elsewhere, or a `mark ... replied`, counts
        # from when it was recorded).
        waits = [
            (parse_time(answered) - parse_time(published)).total_seconds()
            for published, answered in self._db.execute(
                f"SELECT m.published_at, COALESCE(r.sent_at, m.status_at) FROM mentions m LEFT JOIN replies r"
                f" ON r.source_type = m.source_type AND r.id = m.id AND r.state = 'sent'"
                f" WHERE {where} AND m.status = 'replied' AND COALESCE(r.sent_at, m.status_at) IS NOT NULL",
                params,
            )
        ]
        oldest = self.query(
            Query(
                brands=brands,
                since=since,
                until=until,
                needs_reply=True,
                statuses=("new", "read"),
                sort="oldest",
                limit=1,
            )
        )
        return ResponseStats(
            needs_reply=sum(counts.values()),
            answered=counts.get("replied", 0),
            closed=counts.get("done", 0),
            waiting=counts.get("new", 0) + counts.get("read", 0),
            median_time_to_answer=timedelta(seconds=statistics.median(waits)) if waits else None,
            oldest_waiting=oldest[0] if oldest else None,
        )

    # -- triage

    def resolve(self, ref: str) -> list[Key]:
        """The stored mentions an id names: `ID`, or `SOURCE:ID` (a source's name or type) when two sources share
        an id. Every brand's mention of that item."""
        rows = self._db.execute(
            "SELECT brand, source_type, id FROM mentions WHERE id = ? ORDER BY brand, source_type", (ref,)
        ).fetchall()
        if not rows and ":" in ref:
            source, _, item = ref.partition(":")
            rows = self._db.execute(
                "SELECT brand, source_type, id FROM mentions WHERE id = ? AND (source = ? OR source_type = ?)"
                " ORDER BY brand, source_type",
                (item, source, source),
            ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def set_status(self, keys: Sequence[Key], status: str, now: datetime) -> int:
        with self._write():
            cursor = self._db.executemany(
                "UPDATE mentions SET status = ?, status_at = ? WHERE brand = ? AND source_type = ? AND id = ?",
                [(status, format_time(now), *key) for key in keys],
            )
            return int(cursor.rowcount)

    def set_tag(self, keys: Sequence[Key], tag: str, *, remove: bool = False) -> int:
        changed = 0
        with self._write():
            for key in keys:
                row = self._db.execute(
                    "SELECT rowid FROM mentions WHERE brand = ? AND source_type = ? AND id = ?", key
                ).fetchone()
                if row is None:
                    continue
                if remove:
                    cursor = self._db.execute("DELETE FROM tags WHERE mention = ? AND tag = ?", (row[0], tag))
                else:
                    cursor = self._db.execute("INSERT INTO tags VALUES (?, ?) ON CONFLICT DO NOTHING", (row[0], tag))
                changed += cursor.rowcount
        return changed

    def ignore_where(self, brand: str, *, author: str | None, domain: str | None, term: str | None) -> int:
        """Mark a brand's stored mentions ignored: those by this author, on this domain and holding this term (each
        given; `ignore` asks one rule at a time)."""
        clauses, params = ["brand = ?", "status != 'ignored'"], [brand]
        if author is not None:
            clauses.append("lower(author) = lower(?)")
            params.append(author.lstrip("@"))
        if domain is not None:
            # The mention's own URL, as the config's `exclude_domains` vetoes it (matching: the host of `url`).
            clauses.append("mentionwatch_on_domain(url, ?)")
            params.append(domain)
        if term is not None:
            self._index_for_search()
            clauses.append("rowid IN (SELECT rowid FROM mentions_search WHERE mentions_search MATCH ?)")
            params.append(_fts_query(f'"{term}"'))
        with self._write():
            cursor = self._db.execute(f"UPDATE mentions SET status = 'ignored' WHERE {' AND '.join(clauses)}", params)
            return int(cursor.rowcount)

    # -- upkeep

    def stats(self) -> dict[str, Any]:
        db = self._db

        def grouped(sql: str) -> list[dict[str, Any]]:
            cursor = db.execute(sql)
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor]

        size = 0
        if self.path is not None:
            size = sum(p.stat().st_size for p in self.path.parent.glob(self.path.name + "*") if p.is_file())
        # Mentions as `list`, `report` and `inbox` count them (cluster heads); the duplicates folded into them apart,
        # as `list` counts them (`_STATS_FOLDED`). A duplicate's status is its head's concern.
        folded_sql = _STATS_FOLDED.format(cast="")
        heads, folded = db.execute(f"SELECT {_STATS_HEADS}, {folded_sql} FROM mentions").fetchone()
        return {
            "store": self.location,
            "schema_version": self.schema_version(),
            "bytes": size,
            "mentions": int(heads or 0),
            "by_brand_and_source": grouped(
                _STATS_BY_SOURCE.format(each="json_each(m.also_seen) e", named="json_extract(e.value, '$.source')")
                + " ORDER BY brand, source"
            ),
            "by_status": grouped(
                "SELECT status, COUNT(*) AS mentions FROM mentions WHERE cluster = rowid"
                " GROUP BY status ORDER BY status"
            ),
            "duplicates": int(folded or 0),
        }

    def prune(self, before: datetime, *, keep_tagged: bool) -> int:
        """Forget mentions published before `before` (those with a tag are kept unless `keep_tagged` is False). A
        cluster whose head is forgotten while members of it stay is shown by the earliest of those (`regrouped`)."""
        cut = format_time(before)
        with self._write():
            orphaned = {
                int(rowid): json.loads(also)
                for rowid, also in self._db.execute(orphans_sql("?", keep_tagged=keep_tagged), (cut,) * 4)
            }
            orphaned.update((int(c), []) for (c,) in self._db.execute(HEADLESS_SQL).fetchall() if c not in orphaned)
            staying = f"m.cluster = ? AND m.rowid <> ? AND NOT ({pruned_sql('m', '?', keep_tagged=keep_tagged)})"
            for cluster, also in orphaned.items():
                rows = self._db.execute(
                    f"SELECT {_SELECTED} WHERE {staying} ORDER BY m.published_at, m.rowid", (cluster, cluster, cut, cut)
                ).fetchall()
                self._db.execute("DELETE FROM members WHERE cluster = ?", (cluster,))
                # Handed on: the head is forgotten below, whatever its `also_seen` held (`pruned_sql`).
                self._db.execute("UPDATE mentions SET also_seen = '[]' WHERE rowid = ?", (cluster,))
                for head, m, members, seen in regrouped(also, [(int(row[0]), _mention(row)) for row in rows]):
                    self._regroup(head, m, members, seen)
            cursor = self._db.execute(
                f"DELETE FROM mentions WHERE {pruned_sql('mentions', '?', keep_tagged=keep_tagged)}", (cut, cut)
            )
            self._db.execute("DELETE FROM members WHERE cluster NOT IN (SELECT rowid FROM mentions)")
            return int(cursor.rowcount)

    def _regroup(self, head: int, m: Mention, members: Sequence[int], seen: list[dict[str, Any]]) -> None:
        """Make `head` (the mention `m`) show a cluster of `members` that lists `seen` (`regrouped`)."""
        rowids = [head, *members]
        marks = ", ".join("?" * len(rowids))
        self._db.execute(f"UPDATE mentions SET cluster = ? WHERE rowid IN ({marks})", [head, *rowids])
        figures = self._figures(replace(m, also_seen=seen))[1:3]
        self._db.execute(
            "UPDATE mentions SET also_seen = ?, impact_absolute = ?, impact_weight = ? WHERE rowid = ?",
            (_to_json(seen), *figures, head),
        )
        self._db.executemany(
            "INSERT INTO members VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [(m.brand or "", *_seen_key(e), head) for e in seen],
        )

    def brands(self) -> list[str]:
        return [row[0] for row in self._db.execute("SELECT name FROM brands ORDER BY name")]

    def close(self) -> None:
        if self._scratch and self.path is not None:
            self._db.close()
            shutil.rmtree(self.path.parent, ignore_errors=True)
            return
        if self._wrote:
            # Keeps the query planner's statistics fresh; cheap, and a no-op most of the time (sqlite.org/pragma).
            with contextlib.suppress(sqlite3.Error):
                self._db.execute("PRAGMA optimize")
        self._db.close()


def _statements(script: str) -> list[str]:
    """A migration's statements, one by one (executescript would commit on its own, outside our transaction)."""
    statements: list[str] = []
    current: list[str] = []
    for line in script.strip().splitlines():
        current.append(line)
        joined = "\n".join(current)
        if sqlite3.complete_statement(joined):
            statements.append(joined.strip())
            current = []
    return statements


def _m(columns: str) -> str:
    return ", ".join(f"m.{c.strip()}" for c in columns.split(","))


# A mention's columns, and its reply's URL and time when one was sent (every brand's mention of an item shares it).
_SELECTED_COLUMNS = f"{_m(_COLUMNS)}, r.reply_url, r.sent_at"
_FROM_MENTIONS = (
    "FROM mentions m LEFT JOIN replies r ON r.source_type = m.source_type AND r.id = m.id AND r.state = 'sent'"
)
_SELECTED = f"{_SELECTED_COLUMNS} {_FROM_MENTIONS}"
def wanted_statuses(query: Query) -> list[str]:
    """The statuses `query` lets through, as a list to match: the statuses are a closed set (`STATUSES`, all `mark`
    sets), and `status IN (...)` lets SQLite walk the (brand, status, time) index where `NOT IN` made it scan a
    period's mentions of every brand (a brand's needs-reply counts: 0.52 s on a million stored mentions)."""
    wanted = list(query.statuses) if query.statuses else list(STATUSES)
    return [s for s in wanted if s not in query.exclude_statuses]


def _whole_second_up(at: datetime | None) -> datetime | None:
    if at is None or not at.microsecond:
        return at
    return at.replace(microsecond=0) + timedelta(seconds=1)


def single_filters(query: Query) -> list[tuple[str, Any]]:
    """The filters of `query` that compare a column with one value, as (`column operator`, value) for either
    engine to add its placeholder to: times (stored in the house format), and the sentiment label."""
    # Stored times are whole seconds: a bound with a fraction (`--until 10:00:00.5`) is the next whole second,
    # or truncated it would leave out the mention at 10:00:00.
    times = [
        ("m.published_at >=", _whole_second_up(query.since)),
        ("m.published_at <", _whole_second_up(query.until)),
        ("m.last_seen =", query.seen_at),
        ("m.first_seen =", query.first_seen_at),
    ]
    found: list[tuple[str, Any]] = [(clause, format_time(at)) for clause, at in times if at is not None]
    if query.sentiment:
        found.append(("m.sentiment_label =", query.sentiment))
    return found


def citation(row: Sequence[Any]) -> Citation:
    """A Citation from a row of `_CITED` columns (either engine's)."""
    brand, source, source_type, item_id, url, link, title, text, author = row[:9]
    published, sentiment, label, impact, needs_reply, status, terms = row[9:]
    return Citation(
        brand=brand,
        source=source,
        source_type=source_type,
        id=item_id,
        url=url,
        link=link,
        title=title,
        text=text,
        author=author,
        published_at=parse_time(published),
        sentiment=sentiment,
        sentiment_label=label,
        impact_absolute=impact or 0.0,
        needs_reply=bool(needs_reply),
        status=status,
        matched_terms=tuple(json.loads(terms)),
    )


def _walk_by_impact(query: Query) -> bool:
    """Whether a listing of the loudest few of the whole store (`--sort impact --limit N`, with at most broad
    filters: needs a reply, statuses, sentiment) should walk the impact index from its top and stop at N. SQLite's
    planner reads every mention that passes the filters and sorts them: `--needs-reply --sort impact` on ten
    million mentions took 1.3 s (half a million that need a reply, by their partial index), the walk 0.01 s. A
    brand, a time, a source, a tag or a search can select few enough that the walk would read most of the index:
    those are left to the planner."""
    narrow = query.brands or query.sources or query.tags or query.search or query.since or query.until
    narrow = narrow or query.seen_at or query.first_seen_at
    return query.sort == "impact" and query.limit is not None and not narrow


def tally_spans(query: Query, asks: Sequence[TallyAsk]) -> tuple[Query, list[tuple[str | None, str | None]]]:
    """The query that selects the mentions of every ask's span, and each ask's span as stored times (None: open)."""
    spans = [(a.since or query.since, a.until or query.until) for a in asks]
    since = None if any(s is None for s, _ in spans) else min(s for s, _ in spans if s is not None)
    until = None if any(u is None for _, u in spans) else max(u for _, u in spans if u is not None)
    kept = [(None if s is None else format_time(s), None if u is None else format_time(u)) for s, u in spans]
    return replace(query, since=since, until=until), kept


def tallies_sql(
    asks: Sequence[TallyAsk],
    spans: Sequence[tuple[str | None, str | None]],
    where: str,
    dimensions: Mapping[str, str],
    mark: str,
    collate: str,
) -> tuple[str, list[Any]]:
    """`tallies` in one statement (either engine's: its dimensions' SQL, its placeholder, the collation that orders
    text byte by byte): the mentions `where` selects are read once into `sel` (a materialized CTE, with only the
    columns the asks need), and each ask groups the rows of its span there, its groups ranked within each value of
    the other dimensions when it keeps a `top`. Rows: the ask's number, its keys (NULL past the ask's own), the
    four measures, the rank (0 without `top`)."""
    for ask in asks:
        if not ask.by or any(d not in dimensions for d in ask.by) or ask.rank not in _SEL_RANKS:
            raise ValueError(
                f"tally by {list(ask.by)} ranked by {ask.rank!r}: use {', '.join(DIMENSIONS)}; mentions, impact"
            )
    used = sorted({d for ask in asks for d in ask.by})
    columns = ", ".join(f"{dimensions[d]} AS d_{d}" for d in used)
    width = max(len(ask.by) for ask in asks)
    params: list[Any] = []
    branches = []
    for number, (ask, (since, until)) in enumerate(zip(asks, spans, strict=True)):
        keys = [f"d_{d}" for d in ask.by]
        bounds = []
        for clause, value in (("t >=", since), ("t <", until)):
            if value is not None:
                bounds.append(f"{clause} {mark}")
                params.append(value)
        place = "0"
        if ask.top is not None:
            partition = f"PARTITION BY {', '.join(keys[:-1])} " if len(keys) > 1 else ""
            place = f"ROW_NUMBER() OVER ({partition}ORDER BY {_SEL_RANKS[ask.rank]}, {keys[-1]}{collate})"
        spanned = f" WHERE {' AND '.join(bounds)}" if bounds else ""
        grouped = (
            f"SELECT {', '.join(keys)}, COUNT(*) AS n, SUM(ia) AS imp, SUM(se) AS sen, SUM(se * ia) AS sxi,"
            f" {place} AS place FROM sel{spanned} GROUP BY {', '.join(keys)}"
        )
        padded = [*keys, *(["NULL"] * (width - len(keys)))]
        kept = f" WHERE place <= {int(ask.top)}" if ask.top is not None else ""
        branches.append(
            f"SELECT {number} AS ask, {', '.join(padded)}, n, imp, sen, sxi, place FROM ({grouped}) AS g{number}{kept}"
        )
    sql = (
        f"WITH sel AS MATERIALIZED (SELECT m.published_at AS t, {columns}, COALESCE(m.impact_absolute, 0) AS ia,"
        f" COALESCE(m.sentiment, 0) AS se FROM mentions m WHERE {where}) {' UNION ALL '.join(branches)}"
    )
    return sql, params


# tallies' ranks, over `sel`'s columns: the most mentions (or impact) first, the other as the tie-break.
_SEL_RANKS = {"mentions": "COUNT(*) DESC, SUM(ia) DESC", "impact": "SUM(ia) DESC, COUNT(*) DESC"}


def tallies_from(asks: Sequence[TallyAsk], rows: Sequence[Sequence[Any]]) -> list[list[Tally]]:
    """The rows of `tallies_sql` as each ask's tallies, ordered as `tally` orders them: by key, or with `top`, by
    the other keys and then rank. Keys are text, and Python orders text by code point, as SQLite and PostgreSQL's
    "C" collation order UTF-8."""
    found: list[list[tuple[Any, Tally]]] = [[] for _ in asks]
    for row in rows:
        ask = asks[row[0]]
        width = len(ask.by)
        key = tuple(row[1 : 1 + width])
        n, imp, sen, sxi, place = row[-5:]
        tally = Tally(key=key, mentions=int(n), impact=float(imp), sentiment=float(sen), sentiment_x_impact=float(sxi))
        found[row[0]].append(((*key[:-1], place) if ask.top is not None else key, tally))
    return [[t for _, t in sorted(each, key=lambda pair: pair[0])] for each in found]


def kept_terms(title: str, text: str) -> str:
    """A mention's terms as the `terms` column keeps them (either engine's): sorted, space-separated."""
    return " ".join(sorted(terms_of(title, text)))


# What `said` reads: the title and text only of a mention saved without its terms (before schema 7).
_SAID = (
    "m.brand, m.published_at, m.matched_terms, m.terms,"
    " CASE WHEN m.terms IS NULL THEN m.title END, CASE WHEN m.terms IS NULL THEN m.text END"
)


def said(row: Sequence[Any]) -> Said:
    """A Said from a row of `_SAID` (either engine's)."""
    brand, published, matched, terms, title, text = row
    found = tuple(terms.split()) if terms is not None else tuple(sorted(terms_of(title, text)))
    return Said(brand, _stored_time(published), found, _matched(matched))


@functools.lru_cache(maxsize=4096)
def _matched(stored: str) -> tuple[str, ...]:
    """A matched_terms column as a tuple: a store holds few distinct ones (a report reads tens of thousands)."""
    return tuple(json.loads(stored))


def _stored_time(text: str) -> datetime:
    """A time as both engines store it (`2026-12-01T12:00:00Z`, models.format_time): `fromisoformat` reads that
    form as UTC (Python 3.11), in a tenth of parse_time's time; anything else goes through parse_time."""
    return datetime.fromisoformat(text) if len(text) == 20 and text[-1] == "Z" else parse_time(text)


_REPLY_COLUMNS = "source_type, id, state, source, text, request, started_at, reply_id, reply_url, sent_at"


def _reply(row: Sequence[Any]) -> ReplyRecord:
    source_type, item_id, state, source, text, request, started_at, reply_id, reply_url, sent_at = row
    return ReplyRecord(
        source_type=source_type,
        id=item_id,
        state=state,
        source=source,
        text=text,
        request=request,
        started_at=parse_time(started_at),
        reply_id=reply_id,
        reply_url=reply_url,
        sent_at=parse_time(sent_at) if sent_at else None,
    )


def _fts_query(text: str) -> str:
    """The user's words as an FTS5 query of quoted terms, all required: no FTS syntax error from a stray `-` or
    `"`, and no operator injection. A "quoted phrase" stays a phrase."""
    words: list[str] = []
    for i, part in enumerate(text.split('"')):
        if i % 2:
            if part.strip():
                words.append('"' + part.strip().replace('"', "") + '"')
        else:
            words.extend('"' + w + '"' for w in part.split() if w.strip('"'))
    return " ".join(words) or '""'


def _mention(row: Sequence[Any]) -> Mention:
    (
        _rowid, brand, source_type, item_id, source, url, link, title, text, author, published_at, kind, lang,
        undated, matched_terms, matched_query, sentiment, sentiment_label, subjectivity, impact, reach, engagement,
        needs_reply, score, comments, likes, reposts, quotes, views, followers, also_seen, first_seen, status,
        reply_url, replied_at,
    ) = row  # fmt: skip
    also = json.loads(also_seen)
    return Mention(
        source=source,
        id=item_id,
        url=url,
        link=link,
        title=title,
        text=text,
        author=author,
        published_at=parse_time(published_at),
        brand=brand,
        matched_terms=json.loads(matched_terms),
        sentiment=sentiment,
        sentiment_label=sentiment_label,
        subjectivity=subjectivity,
        impact=impact,
        reach=reach,
        engagement=engagement,
        needs_reply=bool(needs_reply),
        score=score,
        comments=comments,
        likes=likes,
        reposts=reposts,
        quotes=quotes,
        views=views,
        followers=followers,
        duplicates=len(also),
        also_seen=also,
        kind=kind,
        lang=lang,
        undated=bool(undated),
        source_type=source_type,
        matched_query=matched_query,
        first_seen=parse_time(first_seen),
        status=status,
        reply_url=reply_url,
        replied_at=parse_time(replied_at) if replied_at else None,
    )

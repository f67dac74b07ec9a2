"""The PostgreSQL engine of the store: one database that several scanners, on several machines, share.

The same interface, behaviour and schema as `sqlite.SqliteStore` (its own `MIGRATIONS`, version for version in
step with SQLite's), through psycopg 3 and its connection pool. What is PostgreSQL's own: full-text search is a
`tsvector` column the database generates from the title, text and author (unaccented, lower-cased, not stemmed,
as SQLite's `unicode61 remove_diacritics 2` tokenizer), behind a GIN index; upserts are `ON CONFLICT`; times are
`timestamptz`, read back in the house format (`models.format_time`), so a row reads the same from either engine.

## Several scanners at once

SQLite's answer to two scans of one store is a lock file held for the whole scan: one machine, one scan at a
time. Here scans run on several machines, and take locks only on what they work on:

- **A scan locks its (source, brand) pairs** (`scan_lock(scope=...)`): a session-level advisory lock per pair,
  taken in one global order (sorted by name, so two scans never wait on each other in a cycle), with a shared
  lock on the whole store. Two scans of the same pairs take turns (the second waits up to `store.lock_timeout`,
  then exits 6), so a pair's watermark is read and moved by one scan at a time and the second sees everything
  the first stored; scans of other pairs (`scan --shard K/N`, `--brand`, `--source`) run at the same time. The
  locks belong to the scan's own connection: a killed scan's connection closes and the server releases them.
- **Saving is one writer at a time**, as in SQLite: `record` takes a transaction-level advisory lock on the
  store, so the short write that ends a scan is serialised while the fetching, matching and scoring (nearly all
  of a scan's time) run in parallel. This keeps what SQLite guarantees: a mention is new to exactly one scan
  (the unique key (brand, source type, id) makes a second insert impossible, and the lock makes the second scan
  see the first's row and update it); a share and the article it links, saved by two shards at once, still join
  one cluster; and mention rowids are handed out in commit order, which the notification marks rely on.
- **Watermarks only move forward**: `GREATEST(stored, new)` in one `INSERT ... ON CONFLICT DO UPDATE`, so two
  scans finishing in either order never rewind one, and a failed source never moves its own.
- **A notification target is one sender at a time** (`scan_lock(scope=[target_scope(name)])` around a run's
  notifications): the run settles deliveries an earlier run left `sending`, queues, and sends, and no other run
  can send the same target meanwhile, so nothing is sent twice and nothing left `sending` by a live run is
  mistaken for a dead one. Items are queued at most once per target (their primary key), and a target's mark is
  the store's position read before the run looked (`notify_horizon`), so what another shard saves while this one
  sends is left for the next run, never skipped.
- **A reply is sent at most once**: `begin_reply` is an `INSERT ... ON CONFLICT DO NOTHING` on the item's
  primary key; of two concurrent `reply` runs the second waits for the first's insert and finds it there.

A store is created on first use; a newer mentionwatch never migrates a shared database on its own (other hosts
may still run the older one): `mentionwatch store migrate` does, once, under an advisory lock.
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import re
import statistics
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import psycopg
from psycopg.adapt import Buffer, Loader
from psycopg_pool import ConnectionPool

from mentionwatch.errors import StoreError
from mentionwatch.models import Mention, format_time, parse_time
from mentionwatch.redaction import Redactor
from mentionwatch.store import (
    DIMENSIONS,
    SORTS,
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
    shown_location,
)
from mentionwatch.store.copies import stored_copies
from mentionwatch.store.sqlite import (
    _CITED,
    _COLUMNS,
    _INSERTED,
    _LOUDNESS,
    _REPLY_COLUMNS,
    _SAID,
    _STATS_BY_SOURCE,
    _STATS_FOLDED,
    _STATS_HEADS,
    HEADLESS_SQL,
    Joined,
    _m,
    _mention,
    _pages,
    _reply,
    _reply_kinds,
    _seen_key,
    as_stored,
    citation,
    kept_terms,
    leave,
    merged_seen,
    orphans_sql,
    pruned_sql,
    regrouped,
    rescope,
    rescoped,
    said,
    seen_entry,
    single_filters,
    stored_clusters,
    tallies_from,
    tallies_sql,
    tally_spans,
    url_on_domain,
    wanted_statuses,
)
from mentionwatch.store.sqlite import SqliteStore as _Sqlite
from mentionwatch.urls import community

log = logging.getLogger(__name__)

# The text search configuration the `search` column and queries use: `simple` (no stemming, no stop words, as
# SQLite's unicode61) with accents removed first (the unaccent extension, in PostgreSQL's contrib).
SEARCH_CONFIG = "mentionwatch_search"

# Each entry moves the schema one version forward, in step with sqlite.MIGRATIONS (the same tables and columns,
# version for version: tests/test_store_engines.py compares them); never edit one that has shipped.
MIGRATIONS: tuple[str, ...] = (
    # 1: mentions, their clusters' other members, tags, watermarks, source runs, first-seen times, search.
    f"""
    CREATE EXTENSION IF NOT EXISTS unaccent;
    CREATE TEXT SEARCH CONFIGURATION {SEARCH_CONFIG} (COPY = simple);
    ALTER TEXT SEARCH CONFIGURATION {SEARCH_CONFIG}
        ALTER MAPPING FOR asciiword, asciihword, hword_asciipart, word, hword, hword_part WITH unaccent, simple;
    CREATE TABLE first_seen (source text NOT NULL, id text NOT NULL, at timestamptz NOT NULL,
        PRIMARY KEY (source, id));
    CREATE TABLE mentions (
        rowid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY,
        brand text NOT NULL, source_type text NOT NULL, id text NOT NULL,
        source text NOT NULL, url text NOT NULL, link text, host text NOT NULL,
        canon bigint NOT NULL, link_canon bigint,
        title text NOT NULL, text text NOT NULL, author text NOT NULL, published_at timestamptz NOT NULL,
        kind text NOT NULL, lang text, undated boolean NOT NULL,
        matched_terms text NOT NULL, matched_query text,
        sentiment double precision, sentiment_label text, subjectivity double precision,
        impact double precision, impact_absolute double precision, impact_weight double precision, reach bigint,
        engagement bigint,
        needs_reply boolean NOT NULL,
        score bigint, comments bigint, likes bigint, reposts bigint, quotes bigint, views bigint,
        followers bigint,
        also_seen text NOT NULL, cluster bigint,
        first_seen timestamptz NOT NULL, last_seen timestamptz NOT NULL,
        status text NOT NULL DEFAULT 'new', status_at timestamptz,
        search tsvector GENERATED ALWAYS AS
            (to_tsvector('{SEARCH_CONFIG}'::regconfig, title || ' ' || text || ' ' || author)) STORED,
        UNIQUE (brand, source_type, id)
    );
    CREATE INDEX mentions_by_brand_status_time ON mentions (brand, status, published_at);
    CREATE INDEX mentions_by_time ON mentions (published_at);
    CREATE INDEX mentions_by_canon ON mentions (brand, canon);
    CREATE INDEX mentions_by_link ON mentions (brand, link_canon) WHERE link_canon IS NOT NULL;
    CREATE INDEX mentions_by_cluster ON mentions (cluster);
    CREATE INDEX mentions_search ON mentions USING gin (search);
    CREATE INDEX mentions_by_impact ON mentions (impact DESC NULLS LAST, published_at DESC, rowid DESC);
    CREATE TABLE brands (name text PRIMARY KEY);
    CREATE TABLE members (
        brand text NOT NULL, source_type text NOT NULL, id text NOT NULL, cluster bigint NOT NULL,
        PRIMARY KEY (brand, source_type, id)
    );
    CREATE INDEX members_by_cluster ON members (cluster);
    CREATE TABLE tags (
        mention bigint NOT NULL REFERENCES mentions (rowid) ON DELETE CASCADE, tag text NOT NULL,
        PRIMARY KEY (mention, tag)
    );
    CREATE INDEX tags_by_tag ON tags (tag);
    CREATE TABLE watermarks (
        source text NOT NULL, brand text NOT NULL, newest timestamptz NOT NULL, updated timestamptz NOT NULL,
        PRIMARY KEY (source, brand)
    );
    CREATE TABLE source_runs (
        source text PRIMARY KEY, name text NOT NULL, last_run timestamptz NOT NULL, last_state text NOT NULL,
        last_success timestamptz, failures integer NOT NULL DEFAULT 0, failing_since timestamptz, last_error text
    );
    """,
    # 2: the outbox (sqlite.MIGRATIONS[1]): the primary key is what makes a second, concurrent `reply` to the same
    # item find the first's record instead of posting.
    """
    CREATE TABLE replies (
        source_type text NOT NULL, id text NOT NULL,
        state text NOT NULL CHECK (state IN ('pending', 'sent')),
        source text NOT NULL, text text NOT NULL, request text NOT NULL, started_at timestamptz NOT NULL,
        reply_id text, reply_url text, sent_at timestamptz,
        PRIMARY KEY (source_type, id)
    );
    """,
    # 3: notifications (sqlite.MIGRATIONS[2]): marks, deliveries and queued items per target.
    """
    CREATE TABLE notify_marks (
        target text PRIMARY KEY, through timestamptz NOT NULL, position bigint NOT NULL, updated timestamptz NOT NULL
    );
    CREATE TABLE notify_deliveries (
        rowid bigint GENERATED BY DEFAULT AS IDENTITY PRIMARY KEY, token text NOT NULL UNIQUE, target text NOT NULL,
        event text NOT NULL, state text NOT NULL, started timestamptz NOT NULL, finished timestamptz,
        mentions integer NOT NULL, attempts integer NOT NULL DEFAULT 0, error text
    );
    CREATE INDEX notify_deliveries_by_state ON notify_deliveries (target, state);
    CREATE TABLE notify_items (
        target text NOT NULL, brand text NOT NULL, source_type text NOT NULL, id text NOT NULL,
        event text NOT NULL, queued timestamptz NOT NULL, state text NOT NULL DEFAULT 'pending',
        delivery bigint REFERENCES notify_deliveries (rowid),
        PRIMARY KEY (target, brand, source_type, id)
    );
    CREATE INDEX notify_items_by_state ON notify_items (target, state);
    CREATE INDEX notify_items_by_delivery ON notify_items (delivery);
    """,
    # 4: where each mention was said (sqlite.MIGRATIONS[3]). SQLite works out a missing one as it is read, with
    # a Python function; here the rows without one are filled in by `_fill_communities` (after this migration,
    # and before a report groups by it: a store copied from SQLite may bring some), found by a partial index.
    """
    ALTER TABLE mentions ADD COLUMN community text;
    CREATE INDEX mentions_without_community ON mentions (rowid) WHERE community IS NULL;
    """,
    # 5: spikes told to each notification target, once (sqlite.MIGRATIONS[4]).
    """
    CREATE TABLE notify_spikes (
        target text NOT NULL, brand text NOT NULL, period timestamptz NOT NULL, delivery bigint,
        PRIMARY KEY (target, brand, period)
    );
    """,
    # 6: SQLite's search index filled at the first search rather than on saving (sqlite.MIGRATIONS[5]). Here the
    # `search` column is generated with the row, as PostgreSQL indexes it: nothing changes.
    """
    SELECT 1;
    """,
    # 7: each mention's terms, worked out when it is saved, and the mentions that need a reply by brand, status and
    # time (sqlite.MIGRATIONS[6]).
    """
    ALTER TABLE mentions ADD COLUMN terms text;
    CREATE INDEX mentions_needing_reply ON mentions (brand, status, published_at) WHERE needs_reply;
    """,
)
SCHEMA_VERSION = len(MIGRATIONS)

# Which migrations a database has had: one row per version (the version table is the engine's, not the schema's).
_VERSIONS = "mentionwatch_schema"

# Advisory lock names are hashed to a 64-bit key by the server (hashtextextended), with the schema's name in them:
# two stores in two schemas of one database never wait for each other.
_LOCK_KEY = "hashtextextended('mentionwatch ' || current_schema() || ' ' || %s, 0)"
_STORE_LOCK = "store"
_RECORD_LOCK = "record"
_MIGRATE_LOCK = "migrate"

# -- the URL and its password


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")


@dataclass(frozen=True)
class Location:
    """A PostgreSQL URL as given (`${ENV}` references expanded), the same URL with its password masked (what
    every message shows), and the password itself (for the redactor)."""

    conninfo: str
    shown: str
    password: str | None


def parse_location(url: str, environ: Mapping[str, str] | None = None) -> Location:
    """Expand `${VAR}` in the URL from the environment (a password is best kept there, or in ~/.pgpass, which
    libpq reads itself); an unset variable is a ValueError naming it, never the URL."""
    env = os.environ if environ is None else environ
    missing = [name for name in _ENV_REF.findall(url) if name not in env]
    if missing:
        raise ValueError(f"environment variable ${{{missing[0]}}} is not set")
    expanded = _ENV_REF.sub(lambda m: env[m.group(1)], url)
    password = urlsplit(expanded).password
    return Location(expanded, shown_location(expanded), unquote(password) if password else None)


# -- reading times back in the house format


class _TimeLoader(Loader):
    """timestamptz as the house's text form (`2026-12-01T12:00:00Z`, models.format_time): rows then read alike
    from both engines, and decode with the same code. The session's time zone is UTC (see `_configure`)."""

    def load(self, data: Buffer) -> str:
        text = bytes(data).decode()
        if text.endswith("+00") and "." not in text:
            return text[:-3].replace(" ", "T", 1) + "Z"
        return format_time(datetime.fromisoformat(text))


def _configure(conn: psycopg.Connection[Any]) -> None:
    conn.execute("SET TIME ZONE 'UTC'")
    conn.adapters.register_loader("timestamptz", _TimeLoader)


class PostgresStore:
    """The shared engine: a pool of connections to one database (and schema)."""

    concurrent_reads = True  # each call takes a connection of the pool (at most 4)

    def __init__(self, pool: ConnectionPool, location: Location) -> None:
        self._pool = pool
        self._location = location
        self.location = location.shown
        self._redact = Redactor([location.password] if location.password else [])
        # The schema version found on opening (before a migration `open(migrate=True)` applied).
        self.migrated_from = SCHEMA_VERSION
        # False once a first-seen time could not be saved (`first_seen`).
        self._first_seen_writable = True

    @classmethod
    def open(cls, url: str, *, migrate: bool = False) -> PostgresStore:
        """Connect, and create the schema in a database that has none. A store at an older schema version is
        refused (`StoreError`, naming `store migrate`) unless `migrate`: other hosts may still run the older one."""
        location = parse_location(url)
        # One direct connection first: a wrong host or password is one clear error, not a pool retrying in the
        # background while it logs.
        with psycopg.connect(location.conninfo, autocommit=True, connect_timeout=15):
            pass
        pool = ConnectionPool(
            location.conninfo,
            min_size=1,
            max_size=4,
            kwargs={"autocommit": True},
            configure=_configure,
            name="mentionwatch",
            open=True,
        )
        store = cls(pool, location)
        try:
            store._prepare(migrate=migrate)
        except BaseException:
            store.close()
            raise
        return store

    def redact(self, text: str) -> str:
        return self._redact(text)

    @contextlib.contextmanager
    def _writes(self) -> Iterator[None]:
        """Around a write: a database that cannot be written now (a read-only session or server, a user who may only
        read, a lock the server gave up waiting for, a full disk, a lost connection) raises StoreError, one line and
        exit 6, as SQLite's `_write` does. Any other error is a bug, and left to say so."""
        try:
            yield
        except psycopg.Error as exc:
            error = self._unwritable(exc)
            if error is None:
                raise
            raise error from exc

    def _unwritable(self, exc: psycopg.Error) -> StoreError | None:
        said = " ".join(self.redact(str(exc).strip()).split())
        if isinstance(exc, psycopg.errors.ReadOnlySqlTransaction):
            return StoreError(f"the store {self.location} is read-only: {said}")
        if isinstance(exc, psycopg.errors.InsufficientPrivilege):
            return StoreError(f"the store {self.location} may not be written by this user: {said}")
        if isinstance(exc, psycopg.errors.LockNotAvailable):
            return StoreError(f"the store {self.location} is locked by another process: {said}")
        if isinstance(exc, psycopg.OperationalError):
            return StoreError(f"the store {self.location} could not be written: {said}")
        return None

    # -- schema

    def schema_version(self) -> int:
        with self._pool.connection() as conn:
            # In this schema only: another schema on the search_path may hold a store of its own.
            exists = conn.execute(
                "SELECT to_regclass(quote_ident(current_schema()) || '.' || %s) IS NOT NULL", [_VERSIONS]
            ).fetchone()
            if not exists or not exists[0]:
                return 0
            row = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {_VERSIONS}").fetchone()
            return int(row[0]) if row else 0

    def _prepare(self, *, migrate: bool) -> None:
        version = self.migrated_from = self.schema_version()
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise psycopg.DataError(
                f"{self.location} has schema version {version}, newer than this mentionwatch knows "
                f"({SCHEMA_VERSION}): upgrade mentionwatch"
            )
        if version and not migrate:
            raise psycopg.DataError(
                f"{self.location} has schema version {version}, older than this mentionwatch's "
                f"({SCHEMA_VERSION}): run `mentionwatch store migrate` once, when every host runs this version"
            )
        self.migrate()

    def migrate(self) -> int:
        """Apply the migrations the database has not had, in one transaction, under an advisory lock (two hosts
        migrating at once take turns; the second finds nothing to do). Returns the version it was at."""
        with self._pool.connection() as conn, conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})", [_MIGRATE_LOCK])
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {_VERSIONS}"
                " (version integer PRIMARY KEY, applied timestamptz NOT NULL DEFAULT now())"
            )
            row = conn.execute(f"SELECT COALESCE(MAX(version), 0) FROM {_VERSIONS}").fetchone()
            version = int(row[0]) if row else 0
            if version > SCHEMA_VERSION:
                raise psycopg.DataError(
                    f"{self.location} has schema version {version}, newer than this mentionwatch knows "
                    f"({SCHEMA_VERSION}): upgrade mentionwatch"
                )
            for number in range(version + 1, SCHEMA_VERSION + 1):
                conn.execute(MIGRATIONS[number - 1].encode())
                conn.execute(f"INSERT INTO {_VERSIONS} (version) VALUES (%s)", [number])
            if version < 4 <= SCHEMA_VERSION:
                _fill_communities(conn)
        return version

    # -- locks

    @contextlib.contextmanager
    def scan_lock(self, timeout: float, scope: Sequence[str] | None = None) -> Iterator[None]:
        """Held while a scan (or a run's notifications) works on `scope` (`pair_scope`, `target_scope` names):
        an advisory lock per name, taken in sorted order after a shared lock on the whole store; `None` locks the
        whole store. A holder of any of the same names makes this wait, up to `timeout` seconds in all, then
        StoreBusy. The locks are this scan's own session's: closing it (or the process dying) releases them."""
        names = sorted(set(scope)) if scope is not None else []
        steps = [("pg_advisory_lock_shared" if scope is not None else "pg_advisory_lock", _STORE_LOCK)]
        steps += [("pg_advisory_lock", name) for name in names]
        deadline = time.monotonic() + timeout
        try:
            conn = psycopg.connect(self._location.conninfo, autocommit=True)
        except psycopg.Error as exc:
            said = self.redact(" ".join(str(exc).split()))
            raise StoreError(f"cannot lock the store {self.location}: {said}") from None
        try:
            waiting = False
            for function, name in steps:
                while True:
                    left = max(1, int((deadline - time.monotonic()) * 1000))
                    # A first short try, so that a wait of minutes (the default 300 s) is said, not a silent hang.
                    conn.execute(f"SET lock_timeout = {left if waiting else min(left, 1000)}")
                    try:
                        conn.execute(f"SELECT {function}({_LOCK_KEY})", [name])
                        break
                    except psycopg.errors.LockNotAvailable:
                        if waiting or left <= 1000:
                            raise StoreBusy(
                                f"another scan is using {self._describe(scope)} in {self.location} and did not "
                                f"finish within {timeout:g}s"
                            ) from None
                        log.warning(
                            "another scan is using %s in %s: waiting for it (up to %gs)",
                            self._describe(scope),
                            self.location,
                            timeout,
                        )
                        waiting = True
            conn.execute("SET lock_timeout = 0")
            yield
        finally:
            conn.close()

    @staticmethod
    def _describe(scope: Sequence[str] | None) -> str:
        if scope is None:
            return "the store"
        shown = ", ".join(sorted(set(scope))[:3])
        return shown + (f" (and {len(set(scope)) - 3} more)" if len(set(scope)) > 3 else "")

    # -- the scan

    def first_seen(self, source_type: str, item_id: str, now: datetime) -> datetime:
        """As SqliteStore's: a store that cannot be written gives what it knows, or now (the scan's save says why)."""
        with self._pool.connection() as conn:
            if self._first_seen_writable:
                try:
                    conn.execute(
                        "INSERT INTO first_seen VALUES (%s, %s, %s) ON CONFLICT DO NOTHING",
                        (source_type, item_id, format_time(now)),
                    )
                except psycopg.Error as exc:
                    if self._unwritable(exc) is None:
                        raise
                    self._first_seen_writable = False
                    log.debug("first-seen times not saved: %s", self.redact(str(exc)))
            row = conn.execute(
                "SELECT at FROM first_seen WHERE source = %s AND id = %s", (source_type, item_id)
            ).fetchone()
            return now if row is None else parse_time(row[0])

    def record(self, mentions: Sequence[Mention], now: datetime) -> Recorded:
        """Save a scan's mentions: as `SqliteStore.record` (see there), one writer at a time (module docstring)."""
        result = Recorded()
        stamp = format_time(now)
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})", [_RECORD_LOCK])

            def execute(sql: str, params: Sequence[Any], conn: psycopg.Connection[Any] = conn) -> list[Any]:
                return _rows(conn, sql.replace("?", "%s"), params)

            if olds := rescoped(mentions):
                rescope(execute, olds, set(_find(conn, [new for new, _ in olds.values()])))
            found = _find(conn, [key_of(m) for m in mentions])
            updates: list[tuple[Any, ...]] = []
            fresh: dict[Key, Mention] = {}
            for m in mentions:
                row = found.get(key_of(m))
                if row is not None:
                    updates.append((*_Sqlite._figures(as_stored(m, row[4])), m.source, stamp, row[0]))
                    m.first_seen, m.status = parse_time(row[1]), row[2]
                elif key_of(m) in fresh:  # two configured sources of one type brought the same item
                    m.first_seen, m.status = now, "new"
                    updates.append(())
                else:
                    fresh[key_of(m)] = m
                    m.first_seen, m.status = now, "new"
            pages = {key: _pages(m) for key, m in fresh.items()}
            # The clusters whose `also_seen` changed: their heads' impact counts it (after the updates below).
            grown: set[int] = set()
            found_joins = _clusters_of(conn, fresh)
            joins = {key: None if joined is None else joined[0] for key, joined in found_joins.items()}
            how = {key: joined[1] for key, joined in found_joins.items() if joined is not None}

            def texts(
                brands: Sequence[str], since: datetime, limit: int, conn: psycopg.Connection[Any] = conn
            ) -> list[tuple[Key, str]]:
                rows = conn.execute(
                    "SELECT brand, source_type, id, title, text FROM mentions WHERE brand = ANY(%s)"
                    " AND cluster = rowid AND published_at >= %s ORDER BY published_at DESC LIMIT %s",
                    [list(brands), since, limit],
                )
                return [((brand, kind, id_), f"{title}\n{text}") for brand, kind, id_, title, text in rows]

            def whole(keys: Sequence[Key], conn: psycopg.Connection[Any] = conn) -> list[Mention]:
                sql = f"SELECT {_SELECTED} WHERE m.brand = %s AND m.source_type = %s AND m.id = %s"
                return [_mention(row) for key in keys for row in conn.execute(sql, key)]

            copies = stored_copies(fresh, joins, now, texts, whole)
            for key, original in copies.items():
                joins[key] = _cluster_by_key(conn, key_of(original))
                how[key] = "text"
            # The stored duplicates that are mentions of their own now, or of another cluster (`stored_clusters`).
            for key, cluster in _clusters_by_key(conn, list(fresh))[0].items():
                if joins[key] != cluster and leave(execute, key, cluster):
                    grown.add(cluster)
            rowids = _insert(conn, [_row(m, joins[key], pages[key], stamp) for key, m in fresh.items()])
            # A cluster of its own is named by its first mention's rowid.
            alone = [rowid for key, rowid in zip(fresh, rowids, strict=True) if joins[key] is None]
            if alone:
                conn.execute("UPDATE mentions SET cluster = rowid WHERE rowid = ANY(%s)", [alone])
            if fresh:
                conn.execute(
                    "INSERT INTO brands SELECT DISTINCT unnest(%s::text[]) ON CONFLICT DO NOTHING",
                    [sorted({k[0] for k in fresh})],
                )
            for key, m in fresh.items():
                joined = joins[key]
                if joined is None:
                    result.new.add(key)
                elif _join(conn, joined, key[0], [seen_entry(m, how.get(key))]):
                    grown.add(joined)
            for m in mentions:
                row = found.get(key_of(m))
                head = row[3] if row is not None and row[3] != row[0] else 0  # a member seen again: its figures
                if head and _join(conn, head, m.brand or "", [seen_entry(m)]):  # in its head's `also_seen`
                    grown.add(head)
                if m.also_seen:
                    cluster = _cluster_by_key(conn, key_of(m))
                    if _join(conn, cluster, m.brand or "", m.also_seen):
                        grown.add(cluster)
            # One row order for every writer (no two transactions lock the same rows in opposite orders).
            changed = sorted((u for u in updates if u), key=lambda update: int(update[-1]))
            if changed:
                with conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE mentions SET impact = %s, impact_absolute = %s, impact_weight = %s, reach = %s,"
                        " engagement = %s, score = %s, comments = %s, likes = %s, reposts = %s, quotes = %s,"
                        " views = %s, followers = %s, source = %s, last_seen = %s WHERE rowid = %s",
                        changed,
                    )
            result.updated = len(updates)
            refigured = [(*_Sqlite._figures(head)[1:3], c) for c, head in sorted(_heads(conn, grown).items())]
            if refigured:
                with conn.cursor() as cur:
                    cur.executemany(
                        "UPDATE mentions SET impact_absolute = %s, impact_weight = %s WHERE rowid = %s", refigured
                    )
            _attach_tags(conn, {found[key_of(m)][0]: m for m in mentions if key_of(m) in found})
        return result

    # -- watermarks and source runs

    def watermarks(self) -> dict[tuple[str, str], datetime]:
        with self._pool.connection() as conn:
            rows = conn.execute("SELECT source, brand, newest FROM watermarks").fetchall()
        return {(s, b): parse_time(t) for s, b, t in rows}

    def advance_watermarks(self, marks: Mapping[tuple[str, str], datetime], now: datetime) -> None:
        """Move each (source, brand) watermark forward to the given time; never back, whichever scan ends first."""
        with self._writes(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO watermarks VALUES (%s, %s, %s, %s) ON CONFLICT (source, brand) DO UPDATE SET"
                " newest = GREATEST(watermarks.newest, excluded.newest), updated = excluded.updated",
                sorted((s, b, format_time(t), format_time(now)) for (s, b), t in marks.items()),
            )

    def record_runs(self, runs: Sequence[SourceRun], now: datetime) -> None:
        stamp = format_time(now)
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            for run in sorted(runs, key=lambda r: r.identity):
                if run.ok:
                    conn.execute(
                        "INSERT INTO source_runs (source, name, last_run, last_state, last_success, failures)"
                        " VALUES (%s, %s, %s, %s, %s, 0) ON CONFLICT (source) DO UPDATE SET name = excluded.name,"
                        " last_run = excluded.last_run, last_state = excluded.last_state,"
                        " last_success = excluded.last_success, failures = 0, failing_since = NULL",
                        (run.identity, run.name, stamp, run.state, stamp),
                    )
                else:
                    conn.execute(
                        "INSERT INTO source_runs (source, name, last_run, last_state, failures, failing_since,"
                        " last_error) VALUES (%s, %s, %s, %s, 1, %s, %s) ON CONFLICT (source) DO UPDATE SET"
                        " name = excluded.name, last_run = excluded.last_run, last_state = excluded.last_state,"
                        " failures = source_runs.failures + 1,"
                        " failing_since = COALESCE(source_runs.failing_since, excluded.failing_since),"
                        " last_error = excluded.last_error",
                        (run.identity, run.name, stamp, run.state, stamp, run.error),
                    )

    def source_status(self) -> list[SourceStatus]:
        def when(value: str | None) -> datetime | None:
            return parse_time(value) if value else None

        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT source, name, last_run, last_state, last_success, failures, failing_since, last_error"
                ' FROM source_runs ORDER BY name COLLATE "C"'
            ).fetchall()
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
            for row in rows
        ]

    # -- notifications

    def notify_mark(self, target: str) -> NotifyMark | None:
        with self._pool.connection() as conn:
            row = conn.execute("SELECT through, position FROM notify_marks WHERE target = %s", [target]).fetchone()
        return NotifyMark(parse_time(row[0]), int(row[1])) if row else None

    def forget_notify_mark(self, target: str) -> None:
        with self._writes(), self._pool.connection() as conn:
            conn.execute("DELETE FROM notify_marks WHERE target = %s", [target])

    def notify_horizon(self) -> int:
        """The store's position now: every mention at or below it is committed (rowids are handed out in commit
        order, module docstring)."""
        with self._pool.connection() as conn:
            return int(_one(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM mentions"))[0])

    def first_seen_after(self, mark: NotifyMark) -> list[Mention]:
        """The mentions (cluster heads, not ignored) saved after `mark`: by position alone, since rowids are in
        commit order here, while a scan's first-seen time is when it started (a scan that started earlier can
        save later)."""
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_SELECTED} WHERE m.cluster = m.rowid AND m.status != 'ignored' AND m.rowid > %s"
                " ORDER BY m.first_seen, m.rowid",
                [mark.position],
            ).fetchall()
        return [_mention(row) for row in rows]

    def enqueue_notifications(
        self,
        target: str,
        items: Sequence[tuple[Key, str]],
        through: datetime,
        now: datetime,
        position: int | None = None,
    ) -> int:
        """Queue (mention, event) items for `target`, each at most once ever, and move its mark to `through` and
        `position` (`notify_horizon` read before the items were chosen; default: the newest mention now)."""
        stamp = format_time(now)
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            added = 0
            with conn.cursor() as cur:
                for key, event in items:
                    cur.execute(
                        "INSERT INTO notify_items (target, brand, source_type, id, event, queued)"
                        " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
                        (target, *key, event, stamp),
                    )
                    added += cur.rowcount
            if position is None:
                position = int(_one(conn.execute("SELECT COALESCE(MAX(rowid), 0) FROM mentions"))[0])
            conn.execute(
                "INSERT INTO notify_marks VALUES (%s, %s, %s, %s) ON CONFLICT (target) DO UPDATE SET"
                " through = excluded.through, position = GREATEST(notify_marks.position, excluded.position),"
                " updated = excluded.updated WHERE excluded.through >= notify_marks.through",
                (target, format_time(through), position, stamp),
            )
            return added

    def pending_notifications(self, target: str) -> list[tuple[Mention, str]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_SELECTED_COLUMNS}, i.event {_FROM_MENTIONS} JOIN notify_items i ON m.brand = i.brand"
                " AND m.source_type = i.source_type AND m.id = i.id"
                " WHERE i.target = %s AND i.state = 'pending' ORDER BY i.queued, m.published_at, m.rowid",
                [target],
            ).fetchall()
        return [(_mention(row[:-1]), str(row[-1])) for row in rows]

    def begin_delivery(self, target: str, event: str, token: str, keys: Sequence[Key], now: datetime) -> int:
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            delivery = int(
                _one(
                    conn.execute(
                        "INSERT INTO notify_deliveries (token, target, event, state, started, mentions)"
                        " VALUES (%s, %s, %s, 'sending', %s, %s) RETURNING rowid",
                        (token, target, event, format_time(now), len(keys)),
                    )
                )[0]
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE notify_items SET state = 'sending', delivery = %s"
                    " WHERE target = %s AND brand = %s AND source_type = %s AND id = %s",
                    [(delivery, target, *key) for key in keys],
                )
        return delivery

    def claim_spike(self, target: str, brand: str, period: datetime, delivery: int) -> bool:
        """As SqliteStore's: the primary key lets one of two runs claiming the same spike at once win."""
        with self._writes(), self._pool.connection() as conn:
            cursor = conn.execute(
                "INSERT INTO notify_spikes VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                (target, brand, format_time(period), delivery),
            )
            return int(cursor.rowcount) == 1

    def release_spike(self, target: str, brand: str, period: datetime) -> None:
        with self._writes(), self._pool.connection() as conn:
            conn.execute(
                "DELETE FROM notify_spikes WHERE target = %s AND brand = %s AND period = %s",
                (target, brand, format_time(period)),
            )

    def spike_told(self, target: str, brand: str, period: datetime) -> bool:
        with self._pool.connection() as conn:
            row = conn.execute(
                "SELECT 1 FROM notify_spikes WHERE target = %s AND brand = %s AND period = %s",
                (target, brand, format_time(period)),
            ).fetchone()
        return row is not None

    def finish_delivery(self, delivery: int, *, ok: bool, attempts: int, error: str | None, now: datetime) -> None:
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE notify_deliveries SET state = %s, finished = %s, attempts = %s, error = %s WHERE rowid = %s",
                ("sent" if ok else "failed", format_time(now), attempts, error, delivery),
            )
            if ok:
                conn.execute("UPDATE notify_items SET state = 'sent' WHERE delivery = %s", [delivery])
            else:
                conn.execute(
                    "UPDATE notify_items SET state = 'pending', delivery = NULL WHERE delivery = %s", [delivery]
                )

    def settle_interrupted_deliveries(self, target: str, now: datetime) -> list[Delivery]:
        """As SqliteStore's; call it under the target's lock (`target_scope`), or a live run's delivery would be
        taken for a dead one's."""
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            rows = conn.execute(
                "UPDATE notify_deliveries SET state = 'unknown', finished = %s WHERE target = %s AND state = 'sending'"
                " RETURNING rowid, token, target, event, started, mentions",
                (format_time(now), target),
            ).fetchall()
            conn.execute(
                "UPDATE notify_items SET state = 'unknown' WHERE delivery = ANY(%s)", [[int(r[0]) for r in rows]]
            )
        return [
            Delivery(id=int(r[0]), token=r[1], target=r[2], event=r[3], state="unknown", started=parse_time(r[4]),
                     mentions=int(r[5]))
            for r in sorted(rows, key=lambda r: int(r[0]))
        ]  # fmt: skip

    def deliveries(self, target: str | None = None) -> list[Delivery]:
        where, params = ("WHERE target = %s", [target]) if target else ("", [])
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT rowid, token, target, event, state, started, mentions, attempts, error"
                f" FROM notify_deliveries {where} ORDER BY rowid",
                params,
            ).fetchall()
        return [
            Delivery(id=int(r[0]), token=r[1], target=r[2], event=r[3], state=r[4], started=parse_time(r[5]),
                     mentions=int(r[6]), attempts=int(r[7]), error=r[8])
            for r in rows
        ]  # fmt: skip

    # -- reading

    def iter_mentions(self, query: Query) -> Iterator[Mention]:
        """The mentions `query` selects, through a server-side cursor: an export of millions is read in
        batches, never held whole."""
        sql, params = _selected(_SELECTED, query)
        with self._pool.connection() as conn, conn.transaction(), conn.cursor(name="mentionwatch_list") as cur:
            cur.itersize = 500
            cur.execute(sql, params)
            while rows := cur.fetchmany(500):
                mentions = {int(row[0]): _mention(row) for row in rows}
                for rowid, tag in conn.execute(
                    "SELECT mention, tag FROM tags WHERE mention = ANY(%s) ORDER BY tag COLLATE \"C\"",
                    [list(mentions)],
                ):
                    mentions[int(rowid)].tags.append(tag)
                yield from mentions.values()

    def query(self, query: Query) -> list[Mention]:
        return list(self.iter_mentions(query))

    def citations(self, query: Query) -> Iterator[Citation]:
        sql, params = _selected(f"{_m(_CITED)} FROM mentions m", query)
        with self._pool.connection() as conn, conn.transaction(), conn.cursor(name="mentionwatch_cite") as cur:
            cur.itersize = 500
            cur.execute(sql, params)
            while rows := cur.fetchmany(500):
                yield from (citation(row) for row in rows)

    def said(self, query: Query) -> Iterator[Said]:
        where, params = _where(query)
        with self._pool.connection() as conn, conn.transaction(), conn.cursor(name="mentionwatch_said") as cur:
            cur.itersize = 2000
            cur.execute(f"SELECT {_SAID} FROM mentions m WHERE {where}", params)
            while rows := cur.fetchmany(2000):
                yield from (said(row) for row in rows)

    def tally(self, query: Query, by: Sequence[str], *, top: int | None = None, rank: str = "mentions") -> list[Tally]:
        return self.tallies(query, [TallyAsk(tuple(by), top=top, rank=rank)])[0]

    def tallies(self, query: Query, asks: Sequence[TallyAsk]) -> list[list[Tally]]:
        """As SqliteStore.tallies (the same SQL), with PostgreSQL's expressions for the dimensions, and text keys
        ranked byte by byte (`COLLATE "C"`), as SQLite orders them, whatever the database's collation."""
        spanned, spans = tally_spans(query, asks)
        where, params = _where(spanned)
        sql, more = tallies_sql(asks, spans, where, _DIMENSION_SQL, "%s", ' COLLATE "C"')
        with self._pool.connection() as conn:
            if any("community" in ask.by for ask in asks):
                try:
                    with conn.transaction():
                        _fill_communities(conn)
                except psycopg.Error as exc:
                    if self._unwritable(exc) is None:
                        raise
                    # A store that cannot be written is read as it is: a mention saved without its community (before
                    # schema 4, or copied from such a SQLite store) counts under none.
                    log.debug("communities not filled in: %s", self.redact(str(exc)))
            rows = conn.execute(sql, [*params, *more]).fetchall()
        return tallies_from(asks, rows)

    def count(self, query: Query) -> int:
        where, params = _where(query)
        with self._pool.connection() as conn:
            return int(_one(conn.execute(f"SELECT COUNT(*) FROM mentions m WHERE {where}", params))[0])

    def mention(self, key: Key) -> Mention | None:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_SELECTED} WHERE m.brand = %s AND m.source_type = %s AND m.id = %s", key
            ).fetchall()
            if not rows:
                return None
            found = _mention(rows[0])
            found.tags = [
                t
                for (t,) in conn.execute(
                    'SELECT tag FROM tags WHERE mention = %s ORDER BY tag COLLATE "C"', [rows[0][0]]
                )
            ]
        return found

    # -- the outbox

    def reply_record(self, source_type: str, item_id: str) -> ReplyRecord | None:
        with self._pool.connection() as conn:
            row = conn.execute(
                f"SELECT {_REPLY_COLUMNS} FROM replies WHERE source_type = %s AND id = %s", (source_type, item_id)
            ).fetchone()
        return _reply(row) if row else None

    def begin_reply(self, record: ReplyRecord) -> bool:
        """Write a pending reply before its request goes out; False when the item already has one. The insert is
        the lock: a concurrent second insert waits for the first, then finds the conflict."""
        with self._writes(), self._pool.connection() as conn:
            cursor = conn.execute(
                "INSERT INTO replies (source_type, id, state, source, text, request, started_at)"
                " VALUES (%s, %s, 'pending', %s, %s, %s, %s) ON CONFLICT DO NOTHING",
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
        stamp = format_time(at)
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            conn.execute(
                "UPDATE replies SET state = 'sent', reply_id = %s, reply_url = %s, sent_at = %s"
                " WHERE source_type = %s AND id = %s",
                (reply_id, url, stamp, source_type, item_id),
            )
            with conn.cursor() as cur:
                cur.executemany(
                    "UPDATE mentions SET status = 'replied', status_at = %s"
                    " WHERE brand = %s AND source_type = %s AND id = %s",
                    [(stamp, *key) for key in sorted(keys)],
                )

    def drop_reply(self, source_type: str, item_id: str) -> None:
        with self._writes(), self._pool.connection() as conn:
            conn.execute(
                "DELETE FROM replies WHERE source_type = %s AND id = %s AND state = 'pending'", (source_type, item_id)
            )

    def pending_replies(self) -> list[ReplyRecord]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                f"SELECT {_REPLY_COLUMNS} FROM replies WHERE state = 'pending' ORDER BY started_at"
            ).fetchall()
        return [_reply(row) for row in rows]

    def response_stats(
        self, *, brands: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None
    ) -> ResponseStats:
        query = Query(brands=brands, since=since, until=until, needs_reply=True, exclude_statuses=("ignored",))
        where, params = _where(query)
        with self._pool.connection() as conn:
            counts = {
                str(status): int(n)
                for status, n in conn.execute(
                    f"SELECT m.status, COUNT(*) FROM mentions m WHERE {where} GROUP BY m.status", params
                )
            }
            waits = [
                (parse_time(answered) - parse_time(published)).total_seconds()
                for published, answered in conn.execute(
                    f"SELECT m.published_at, COALESCE(r.sent_at, m.status_at) FROM mentions m LEFT JOIN replies r"
                    f" ON r.source_type = m.source_type AND r.id = m.id AND r.state = 'sent'"
                    f" WHERE {where} AND m.status = 'replied' AND COALESCE(r.sent_at, m.status_at) IS NOT NULL",
                    params,
                )
            ]
        oldest = self.query(
            Query(brands=brands, since=since, until=until, needs_reply=True, statuses=("new", "read"),
                  sort="oldest", limit=1)
        )  # fmt: skip
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
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT brand, source_type, id FROM mentions WHERE id = %s"
                ' ORDER BY brand COLLATE "C", source_type COLLATE "C"',
                [ref],
            ).fetchall()
            if not rows and ":" in ref:
                source, _, item = ref.partition(":")
                rows = conn.execute(
                    "SELECT brand, source_type, id FROM mentions WHERE id = %s AND (source = %s OR source_type = %s)"
                    ' ORDER BY brand COLLATE "C", source_type COLLATE "C"',
                    (item, source, source),
                ).fetchall()
        return [(r[0], r[1], r[2]) for r in rows]

    def set_status(self, keys: Sequence[Key], status: str, now: datetime) -> int:
        changed = 0
        with self._writes(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for key in sorted(keys):
                cur.execute(
                    "UPDATE mentions SET status = %s, status_at = %s WHERE brand = %s AND source_type = %s AND id = %s",
                    (status, format_time(now), *key),
                )
                changed += cur.rowcount
        return changed

    def set_tag(self, keys: Sequence[Key], tag: str, *, remove: bool = False) -> int:
        changed = 0
        with self._writes(), self._pool.connection() as conn, conn.transaction(), conn.cursor() as cur:
            for key in keys:
                row = cur.execute(
                    "SELECT rowid FROM mentions WHERE brand = %s AND source_type = %s AND id = %s", key
                ).fetchone()
                if row is None:
                    continue
                if remove:
                    cur.execute("DELETE FROM tags WHERE mention = %s AND tag = %s", (row[0], tag))
                else:
                    cur.execute("INSERT INTO tags VALUES (%s, %s) ON CONFLICT DO NOTHING", (row[0], tag))
                changed += cur.rowcount
        return changed

    def ignore_where(self, brand: str, *, author: str | None, domain: str | None, term: str | None) -> int:
        clauses, params = ["brand = %s", "status != 'ignored'"], [brand]
        if author is not None:
            clauses.append("lower(author) = lower(%s)")
            params.append(author.lstrip("@"))
        if term is not None:
            phrase, said = _phrase(term)
            clauses.append(f"search @@ ({phrase})")
            params += said
        with self._writes(), self._pool.connection() as conn:
            if domain is None:
                cursor = conn.execute(f"UPDATE mentions SET status = 'ignored' WHERE {' AND '.join(clauses)}", params)
                return int(cursor.rowcount)
            # The mention's own URL, as the config's `exclude_domains` vetoes it (`sqlite.url_on_domain`): read here, as
            # SQL's patterns cannot keep a match to the host.
            rows = conn.execute(f"SELECT rowid, url FROM mentions WHERE {' AND '.join(clauses)}", params)
            chosen = [rowid for rowid, url in rows if url_on_domain(url, domain)]
            if not chosen:
                return 0
            cursor = conn.execute("UPDATE mentions SET status = 'ignored' WHERE rowid = ANY(%s)", [chosen])
            return int(cursor.rowcount)

    # -- upkeep

    def stats(self) -> dict[str, Any]:
        with self._pool.connection() as conn:

            def grouped(sql: str) -> list[dict[str, Any]]:
                cursor = conn.execute(sql)
                names = [d.name for d in cursor.description or ()]
                return [dict(zip(names, row, strict=True)) for row in cursor]

            size = _one(
                conn.execute(
                    "SELECT COALESCE(SUM(pg_total_relation_size(c.oid)), 0) FROM pg_class c"
                    " JOIN pg_namespace n ON n.oid = c.relnamespace"
                    " WHERE n.nspname = current_schema() AND c.relkind = 'r'"
                )
            )[0]
            # As SqliteStore.stats: the mentions shown (cluster heads), the duplicates folded into them apart.
            folded_sql = _STATS_FOLDED.format(cast="::json")
            heads, folded = _one(conn.execute(f"SELECT {_STATS_HEADS}, {folded_sql} FROM mentions"))
            return {
                "store": self.location,
                "schema_version": self.schema_version(),
                "bytes": int(size),
                "mentions": int(heads),
                "by_brand_and_source": grouped(
                    _STATS_BY_SOURCE.format(each="json_array_elements(m.also_seen::json) e", named="e ->> 'source'")
                    + ' ORDER BY brand COLLATE "C", source COLLATE "C"'
                ),
                "by_status": grouped(
                    "SELECT status, COUNT(*) AS mentions FROM mentions WHERE cluster = rowid GROUP BY status"
                    ' ORDER BY status COLLATE "C"'
                ),
                "duplicates": int(folded),
            }

    def prune(self, before: datetime, *, keep_tagged: bool) -> int:
        """As SqliteStore.prune: a cluster whose head is forgotten is shown by the earliest of what stays of it."""
        cut = format_time(before)
        with self._writes(), self._pool.connection() as conn, conn.transaction():
            conn.execute(f"SELECT pg_advisory_xact_lock({_LOCK_KEY})", [_RECORD_LOCK])
            orphaned = {
                int(rowid): json.loads(also)
                for rowid, also in conn.execute(orphans_sql("%s", keep_tagged=keep_tagged, cast="::json"), [cut] * 4)
            }
            orphaned.update((int(c), []) for (c,) in conn.execute(HEADLESS_SQL).fetchall() if c not in orphaned)
            pruned = functools.partial(pruned_sql, mark="%s", keep_tagged=keep_tagged, cast="::json")
            staying = f"m.cluster = %s AND m.rowid <> %s AND NOT ({pruned('m')})"
            for cluster, also in sorted(orphaned.items()):
                rows = conn.execute(
                    f"SELECT {_SELECTED} WHERE {staying} ORDER BY m.published_at, m.rowid", [cluster, cluster, cut, cut]
                ).fetchall()
                conn.execute("DELETE FROM members WHERE cluster = %s", [cluster])
                # Handed on: the head is forgotten below, whatever its `also_seen` held (`pruned_sql`).
                conn.execute("UPDATE mentions SET also_seen = '[]' WHERE rowid = %s", [cluster])
                for head, m, members, seen in regrouped(also, [(int(row[0]), _mention(row)) for row in rows]):
                    _regroup(conn, head, m, members, seen)
            cursor = conn.execute(f"DELETE FROM mentions WHERE {pruned('mentions')}", [cut, cut])
            removed = int(cursor.rowcount)
            conn.execute(
                "DELETE FROM members b WHERE NOT EXISTS (SELECT 1 FROM mentions m WHERE m.rowid = b.cluster)"
            )
            return removed

    def brands(self) -> list[str]:
        with self._pool.connection() as conn:
            return [row[0] for row in conn.execute('SELECT name FROM brands ORDER BY name COLLATE "C"')]

    def close(self) -> None:
        self._pool.close()


# -- the SQL a mention is read and written with


# A mention's columns, and its reply's URL and time when one was sent (every brand's mention of an item shares it).
_SELECTED_COLUMNS = f"{_m(_COLUMNS)}, r.reply_url, r.sent_at"
_FROM_MENTIONS = (
    "FROM mentions m LEFT JOIN replies r ON r.source_type = m.source_type AND r.id = m.id AND r.state = 'sent'"
)
_SELECTED = f"{_SELECTED_COLUMNS} {_FROM_MENTIONS}"
# As SQLite orders: a missing impact sorts below every other (PostgreSQL puts NULL first when descending), and
# equal keys newest-saved first.
_ORDERS = {
    "newest": "m.published_at DESC, m.rowid DESC",
    "oldest": "m.published_at ASC, m.rowid",
    "impact": "m.impact DESC NULLS LAST, m.published_at DESC, m.rowid DESC",
    "loudest": "m.impact_absolute DESC NULLS LAST, m.published_at DESC, m.rowid DESC",
    "most_negative": f"{_LOUDNESS}, m.published_at DESC, m.rowid DESC",
    "most_positive": f"{_LOUDNESS} DESC, m.published_at DESC, m.rowid DESC",
    "urgent": "m.impact IS NULL, m.impact DESC NULLS LAST, m.published_at ASC, m.rowid",
}
assert set(_ORDERS) == set(SORTS)

# tally's dimensions (sqlite._DIMENSION_SQL's, in PostgreSQL): the session's time zone is UTC (`_configure`).
_DIMENSION_SQL = {
    "brand": "m.brand",
    "day": "to_char(m.published_at, 'YYYY-MM-DD')",
    "hour": "to_char(m.published_at, 'YYYY-MM-DD\"T\"HH24\":00:00Z\"')",
    "source": "m.source",
    "sentiment": "COALESCE(m.sentiment_label, 'neutral')",
    "author": "m.author",
    "community": "COALESCE(m.community, '')",
    "linked_domain": "CASE WHEN m.link IS NULL THEN '' ELSE m.host END",
}
assert set(_DIMENSION_SQL) == set(DIMENSIONS)
_INSERT_SQL = (
    f"INSERT INTO mentions ({_INSERTED}) VALUES ({', '.join(['%s'] * (_INSERTED.count(',') + 1))}) RETURNING rowid"
)


def _one(cursor: psycopg.Cursor[Any]) -> tuple[Any, ...]:
    row = cursor.fetchone()
    if row is None:  # pragma: no cover - every caller's query returns a row
        raise psycopg.DataError("expected a row")
    return tuple(row)


def _selected(select: str, query: Query) -> tuple[str, list[Any]]:
    """The SQL of the rows `query` selects (`select`: the columns and the FROM clause, `m` the mentions), in its
    sort order, up to its limit."""
    if query.sort not in _ORDERS:
        raise ValueError(f"sort {query.sort!r}: use one of {', '.join(SORTS)}")
    where, params = _where(query)
    limit = f" LIMIT {int(query.limit)}" if query.limit is not None else ""
    return f"SELECT {select} WHERE {where} ORDER BY {_ORDERS[query.sort]}{limit}", params


def _fill_communities(conn: psycopg.Connection[Any]) -> None:
    """Work out the community of the mentions saved without one (before schema 4, or copied from a SQLite store
    that had such rows), a batch at a time; nothing to do costs one probe of a partial index."""
    while rows := conn.execute(
        "SELECT rowid, url FROM mentions WHERE community IS NULL ORDER BY rowid LIMIT 5000"
    ).fetchall():
        with conn.cursor() as cur:
            cur.executemany(
                "UPDATE mentions SET community = %s WHERE rowid = %s", [(community(url), rowid) for rowid, url in rows]
            )


def _where(query: Query) -> tuple[str, list[Any]]:
    clauses = ["m.cluster = m.rowid"]  # a cluster shows as its first mention, the rest in its also_seen
    params: list[Any] = []
    if query.brands:
        clauses.append("m.brand = ANY(%s)")
        params.append(list(query.brands))
    if query.sources:
        clauses.append("(m.source = ANY(%s) OR m.source_type = ANY(%s))")
        params += [list(query.sources), list(query.sources)]
    if query.statuses or query.exclude_statuses:
        clauses.append("m.status = ANY(%s)")
        params.append(wanted_statuses(query))
    for clause, value in single_filters(query):
        clauses.append(f"{clause} %s")
        params.append(value)
    if query.needs_reply:
        clauses.append("m.needs_reply")
    for tag in query.tags:
        clauses.append("EXISTS (SELECT 1 FROM tags t WHERE t.mention = m.rowid AND t.tag = %s)")
        params.append(tag)
    if query.search:
        sql, words = _tsquery(query.search)
        clauses.append(f"m.search @@ ({sql})")
        params += words
    return " AND ".join(clauses), params


def _tsquery(text: str) -> tuple[str, list[str]]:
    """The user's words as a tsquery, all required, as SQLite's `_fts_query`: a "quoted phrase" stays a phrase, a
    word with an apostrophe or a hyphen is a phrase of its parts (`_phrase`: SQLite's tokenizer splits it so), and no
    operator the user types is one (plainto/phraseto_tsquery read words, never syntax)."""
    parts: list[str] = []
    params: list[str] = []
    for i, part in enumerate(text.split('"')):
        if not part.strip():
            continue
        if i % 2:
            phrase, said = _phrase(part.strip())
            parts.append(phrase)
            params += said
            continue
        words = part.split()
        plain = " ".join(w for w in words if not _JOINERS.search(w))
        if plain:
            parts.append(f"plainto_tsquery('{SEARCH_CONFIG}', %s)")
            params.append(plain)
        for word in (w for w in words if _JOINERS.search(w)):
            phrase, said = _phrase(word)
            parts.append(phrase)
            params += said
    if not parts:
        return "''::tsquery", []
    return " && ".join(parts), params


# Apostrophes and hyphens (ASCII and typographic): SQLite's tokenizer splits a word at them, PostgreSQL's parser at
# an apostrophe, and a hyphenated word it reads as the whole (`love-hate`) followed by its parts (`love`, `hate`).
_JOINERS = re.compile("['\u2018\u2019\u2010\u2011-]")


def _phrase(text: str) -> tuple[str, list[str]]:
    """A phrase as a tsquery that finds what SQLite's phrase of the same words finds: its words adjacent and in order,
    a hyphenated one as its parts (`e-mail` finds "e-mail" and "e mail", as in SQLite) or as PostgreSQL reads it
    (so that a phrase with a word before the hyphenated one still finds the text written with the hyphen)."""
    function = f"phraseto_tsquery('{SEARCH_CONFIG}', %s)"
    split = _JOINERS.sub(" ", text)
    if split == text:
        return function, [text]
    return f"({function} || {function})", [split, text]


def _row(m: Mention, cluster: int | None, pages: tuple[int, int | None, str], stamp: str) -> tuple[Any, ...]:
    """A new mention's columns, in `_INSERTED` order (SqliteStore._row's, with booleans as booleans)."""
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
        m.undated,
        json.dumps(m.matched_terms, ensure_ascii=False),
        m.matched_query,
        m.sentiment,
        m.sentiment_label,
        m.subjectivity,
        *_Sqlite._figures(m),
        m.needs_reply,
        json.dumps(m.also_seen, ensure_ascii=False),
        cluster,
        stamp,
        stamp,
        community(m.url),
        kept_terms(m.title, m.text),
    )


def _insert(conn: psycopg.Connection[Any], rows: Sequence[tuple[Any, ...]]) -> list[int]:
    """Insert new mentions in one pipelined batch; their rowids, in order."""
    if not rows:
        return []
    rowids: list[int] = []
    with conn.cursor() as cur:
        cur.executemany(_INSERT_SQL, rows, returning=True)
        while True:
            row = cur.fetchone()
            rowids.append(int(row[0]) if row else 0)
            if not cur.nextset():
                break
    return rowids


def _rows(conn: psycopg.Connection[Any], sql: str, params: Sequence[Any]) -> list[tuple[Any, ...]]:
    """The rows of a statement (none for one that returns none)."""
    cursor = conn.execute(sql, params)
    return cursor.fetchall() if cursor.description else []


def _keys(keys: Sequence[Key]) -> list[list[str]]:
    """Keys as three parallel arrays, for `unnest(%s::text[], %s::text[], %s::text[])`."""
    return [[k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]]


_UNNEST_KEYS = "unnest(%s::text[], %s::text[], %s::text[]) AS k (brand, source_type, id)"


def _find(conn: psycopg.Connection[Any], keys: Sequence[Key]) -> dict[Key, tuple[int, str, str, int, str]]:
    """The stored (rowid, first_seen, status, cluster, also_seen) of each key that is stored, in one query."""
    unique = list(dict.fromkeys(keys))
    if not unique:
        return {}
    rows = conn.execute(
        "SELECT m.brand, m.source_type, m.id, m.rowid, m.first_seen, m.status, m.cluster, m.also_seen"
        f" FROM {_UNNEST_KEYS} JOIN mentions m ON m.brand = k.brand AND m.source_type = k.source_type AND m.id = k.id",
        _keys(unique),
    ).fetchall()
    return {(r[0], r[1], r[2]): (int(r[3]), r[4], r[5], int(r[6]) if r[6] is not None else 0, r[7]) for r in rows}


def _clusters_of(conn: psycopg.Connection[Any], fresh: Mapping[Key, Mention]) -> dict[Key, Joined | None]:
    """`sqlite.stored_clusters` for a scan's new mentions, each look-up one query for the whole scan: the keys (its
    own, its duplicates') in `members` and in `mentions`, the stored mentions of the pages, their clusters' heads."""
    return stored_clusters(
        fresh,
        lambda keys: _clusters_by_key(conn, keys),
        lambda pages: _stored_at(conn, pages),
        lambda clusters: _heads(conn, clusters),
    )


def _clusters_by_key(conn: psycopg.Connection[Any], keys: Sequence[Key]) -> tuple[dict[Key, int], dict[Key, int]]:
    """The cluster of each of these keys found in `members`, and of each found in `mentions`."""
    if not keys:
        return {}, {}
    params = _keys(keys)
    as_member = {
        (r[0], r[1], r[2]): int(r[3])
        for r in conn.execute(
            f"SELECT b.brand, b.source_type, b.id, b.cluster FROM {_UNNEST_KEYS}"
            " JOIN members b ON b.brand = k.brand AND b.source_type = k.source_type AND b.id = k.id",
            params,
        )
    }
    as_mention = {
        (r[0], r[1], r[2]): int(r[3])
        for r in conn.execute(
            f"SELECT m.brand, m.source_type, m.id, m.cluster FROM {_UNNEST_KEYS}"
            " JOIN mentions m ON m.brand = k.brand AND m.source_type = k.source_type AND m.id = k.id",
            params,
        )
        if r[3] is not None
    }
    return as_member, as_mention


def _stored_at(conn: psycopg.Connection[Any], pages: set[tuple[str, int]]) -> list[tuple[int, int, Mention]]:
    """(rowid, cluster, mention) of the stored mentions of each (brand, page key) that are that page, or link to it
    and may share it (as `SqliteStore._stored_at`)."""
    brands, values = [p[0] for p in pages], [p[1] for p in pages]
    found: dict[int, tuple[int, int, Mention]] = {}
    shares = "AND m.title <> '' AND NOT m.kind = ANY(%s)"
    for column, more, params in (("canon", "", []), ("link_canon", shares, [sorted(_reply_kinds())])):
        rows = conn.execute(
            f"SELECT m.cluster, {_SELECTED} JOIN unnest(%s::text[], %s::bigint[]) AS p (brand, value)"
            f" ON m.brand = p.brand AND m.{column} = p.value WHERE m.cluster IS NOT NULL {more}",
            [brands, values, *params],
        )
        for row in rows:
            found.setdefault(int(row[1]), (int(row[1]), int(row[0]), _mention(row[1:])))
    return list(found.values())


def _heads(conn: psycopg.Connection[Any], clusters: set[int]) -> dict[int, Mention]:
    """The mention each of these clusters shows as (the row it is named by), by cluster."""
    if not clusters:
        return {}
    rows = conn.execute(f"SELECT {_SELECTED} WHERE m.rowid = ANY(%s)", [sorted(clusters)])
    return {int(row[0]): _mention(row) for row in rows}


def _cluster_by_key(conn: psycopg.Connection[Any], key: Key) -> int:
    """The cluster of the stored mention under `key`."""
    row = conn.execute("SELECT cluster FROM mentions WHERE brand = %s AND source_type = %s AND id = %s", key)
    return int(_one(row)[0])


def _join(conn: psycopg.Connection[Any], cluster: int, brand: str, entries: Sequence[Mapping[str, Any]]) -> bool:
    """As SqliteStore._join: add duplicates to a stored cluster, as members and in its head's `also_seen` (with their
    figures as last seen); True when that `also_seen` changed."""
    entries = [e for e in entries if e.get("id") is not None]
    # One the store shows in another cluster stays there (as SqliteStore._join).
    stored = _find(conn, [(brand, *_seen_key(e)) for e in entries])
    elsewhere = {(k, i) for (_, k, i), row in stored.items() if row[3] != cluster}
    entries = [e for e in entries if _seen_key(e) not in elsewhere]
    if not entries:
        return False
    with conn.cursor() as cur:
        cur.executemany(
            "INSERT INTO members VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
            [(brand, *_seen_key(e), cluster) for e in entries],
        )
    row = conn.execute("SELECT also_seen, source_type, id FROM mentions WHERE rowid = %s", [cluster]).fetchone()
    if row is None:
        return False
    merged = merged_seen(json.loads(row[0]), (row[1], row[2]), entries)
    if merged is None:
        return False
    conn.execute(
        "UPDATE mentions SET also_seen = %s WHERE rowid = %s", (json.dumps(merged, ensure_ascii=False), cluster)
    )
    return True


def _regroup(
    conn: psycopg.Connection[Any], head: int, m: Mention, members: Sequence[int], seen: list[dict[str, Any]]
) -> None:
    """As SqliteStore._regroup: make `head` (the mention `m`) show a cluster of `members` that lists `seen`."""
    conn.execute("UPDATE mentions SET cluster = %s WHERE rowid = ANY(%s)", [head, [head, *members]])
    figures = _Sqlite._figures(replace(m, also_seen=seen))[1:3]
    conn.execute(
        "UPDATE mentions SET also_seen = %s, impact_absolute = %s, impact_weight = %s WHERE rowid = %s",
        (json.dumps(seen, ensure_ascii=False), *figures, head),
    )
    if seen:
        with conn.cursor() as cur:
            cur.executemany(
                "INSERT INTO members VALUES (%s, %s, %s, %s) ON CONFLICT DO NOTHING",
                [(m.brand or "", *_seen_key(e), head) for e in seen],
            )


def _attach_tags(conn: psycopg.Connection[Any], rowids: Mapping[int, Mention]) -> None:
    if not rowids:
        return
    for rowid, tag in conn.execute(
        'SELECT mention, tag FROM tags WHERE mention = ANY(%s) ORDER BY tag COLLATE "C"', [list(rowids)]
    ):
        rowids[int(rowid)].tags.append(tag)

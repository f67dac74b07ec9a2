"""What mentionwatch remembers between runs: every mention it found, its triage, and each source's progress.

One interface (`MentionStore`) that the scan, `list`, triage and reports all go through; no SQL anywhere else.
`sqlite` is the embedded engine (one file in the user data dir, nothing to install); `postgres` the shared one
(`postgresql://user@host/db`: several scanners on several machines, one history). `open_store` picks the engine
from the location.

A mention's identity in the store is (brand, source type, the service's own id): never the name the user gave
the source in config, so renaming a source or moving a feed to another list keeps its history. Seen again, a
mention keeps its `first_seen`, its text and its triage; its engagement and `last_seen` are updated.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple, Protocol

from mentionwatch.errors import StoreError, UsageError
from mentionwatch.models import Mention

if TYPE_CHECKING:
    from mentionwatch.dedupe import ReplyGuard

STATUSES = ("new", "read", "done", "replied", "ignored")
# A needs-reply mention in one of these is no longer waiting: `inbox` leaves it out.
CLOSED_STATUSES = ("done", "replied", "ignored")
DB_ENV = "MENTIONWATCH_DB"

# (brand, source type, id): a mention's identity in the store.
Key = tuple[str, str, str]


def key_of(mention: Mention) -> Key:
    return (mention.brand or "", mention.source_type or mention.source, mention.id)


# How `Query.sort` orders mentions. `impact` is the stored impact (its percentile part depends on the scan that
# made it); `loudest` is the absolute impact, the same scale in every scan. `most_negative` / `most_positive`:
# sentiment x (1 + absolute impact), lowest / highest first: how negative (or positive), and how loud.
SORTS = ("newest", "oldest", "impact", "loudest", "most_negative", "most_positive", "urgent")

# What `tally` groups by: the brand, the UTC day (`2026-11-01`) or hour (`2026-11-01T08:00:00Z`) of publication,
# the source's configured name, the sentiment label (none counts as neutral), the author, the community
# (`urls.community` of the mention's own URL: r/elm, HN, a domain), and the domain a mention links to ("" when it
# links nowhere).
DIMENSIONS = ("brand", "day", "hour", "source", "sentiment", "author", "community", "linked_domain")


@dataclass(frozen=True)
class Query:
    """What `list` (and reports) ask the store for. Empty sequences mean "any"."""

    brands: Sequence[str] = ()
    # Source names as configured, or source types.
    sources: Sequence[str] = ()
    since: datetime | None = None
    until: datetime | None = None
    sentiment: str | None = None
    needs_reply: bool = False
    statuses: Sequence[str] = ()
    tags: Sequence[str] = ()
    search: str | None = None
    # newest, impact, or urgent (`inbox`: highest impact first, then the longest waiting).
    sort: str = "newest"
    limit: int | None = None
    exclude_statuses: Sequence[str] = ()
    # One scan's mentions: those it saw (`last_seen`), or those it found first (`first_seen`): a scan too big to
    # hold whole reads its output back from the store.
    seen_at: datetime | None = None
    first_seen_at: datetime | None = None


@dataclass(frozen=True)
class SourceRun:
    """How one configured source did in one scan, for the broken-source call-out and `stats`."""

    identity: str
    name: str
    state: str
    error: str | None
    ok: bool


@dataclass(frozen=True)
class SourceStatus:
    identity: str
    name: str
    last_run: datetime | None
    last_state: str | None
    last_success: datetime | None
    # Failed scans in a row (0 when the last one answered), since when, and the last error.
    failures: int
    failing_since: datetime | None
    last_error: str | None


@dataclass(frozen=True)
class Tally:
    """One group of `MentionStore.tally`: its key (a value per dimension asked for, in order) and the sums a
    report's figures are made from. `impact` sums the absolute impact (scan-independent); a mention with no
    sentiment adds 0 to both sentiment sums."""

    key: tuple[str, ...]
    mentions: int
    impact: float
    sentiment: float  # the sum of sentiment
    sentiment_x_impact: float  # the sum of sentiment x absolute impact


@dataclass(frozen=True)
class TallyAsk:
    """One tally of `MentionStore.tallies`: group by `by` (names from DIMENSIONS) the mentions published in
    [since, until) (None: the query's own bound); `top` and `rank` as in `MentionStore.tally`."""

    by: tuple[str, ...]
    since: datetime | None = None
    until: datetime | None = None
    top: int | None = None
    rank: str = "mentions"


@dataclass(frozen=True)
class Citation:
    """A stored mention as a report cites it: where it is, who said what, and how loud (the absolute impact, the
    same scale across scans)."""

    brand: str
    source: str
    source_type: str
    id: str
    url: str
    link: str | None
    title: str
    text: str
    author: str
    published_at: datetime
    sentiment: float | None
    sentiment_label: str | None
    impact_absolute: float
    needs_reply: bool
    status: str
    matched_terms: tuple[str, ...]


class Said(NamedTuple):
    """What a stored mention says, as a report counts it: its brand and time, its terms (`vocabulary.terms_of`,
    sorted, with no brand's own words left out: the caller leaves out those it knows) and the terms it matched.
    A named tuple: a report reads tens of thousands (a frozen dataclass costs four times as much to make)."""

    brand: str
    published_at: datetime
    terms: tuple[str, ...]
    matched_terms: tuple[str, ...]


@dataclass
class Recorded:
    """What saving a scan's mentions found: which were new to the store (and not joining a known cluster)."""

    new: set[Key] = field(default_factory=set)
    updated: int = 0


@dataclass(frozen=True)
class ReplyRecord:
    """The outbox's record of one reply to one platform item (source type + the service's id; every brand's
    mention of that item shares it). Written `pending` before the request goes out and made `sent` once the
    platform answered, so a crash in between is found on the next run and settled by asking the platform."""

    source_type: str
    id: str
    state: str  # pending | sent
    source: str  # the configured source it went through ("" for a reply made elsewhere, `reply --url`)
    text: str
    # The request as sent, secrets masked, and what finding the reply on the platform takes (JSON).
    request: str
    started_at: datetime
    reply_id: str | None = None
    reply_url: str | None = None
    sent_at: datetime | None = None


@dataclass(frozen=True)
class ResponseStats:
    """How a brand answers the people waiting for it (the report's response section): of the needs-reply
    mentions published in the window (ignored ones left out), how many got a reply, how many were closed without
    one, how many still wait; the median time from a mention's publication to its reply; the oldest waiting."""

    needs_reply: int
    answered: int
    closed: int
    waiting: int
    median_time_to_answer: timedelta | None
    oldest_waiting: Mention | None

    @property
    def share_answered(self) -> float | None:
        return self.answered / self.needs_reply if self.needs_reply else None


@dataclass(frozen=True)
class Delivery:
    """One notification message to one target: written `sending` before it goes out, then `sent` or `failed`;
    `unknown` when a run died in between (it may have arrived, and is never sent again)."""

    id: int
    token: str
    target: str
    event: str
    state: str
    started: datetime
    mentions: int
    attempts: int = 0
    error: str | None = None


@dataclass(frozen=True)
class NotifyMark:
    """Where queuing stopped for a notification target: a scan's first-seen time, and the store's position then
    (first-seen times are whole seconds, and two scans can share one)."""

    through: datetime
    position: int


class StoreBusy(StoreError):
    """Another scan holds the store and did not let go in time."""


class MentionStore(Protocol):
    """The storage interface; engines implement it (`sqlite.SqliteStore`)."""

    location: str
    # True when reads may run in several threads at once, each call on a connection of its own (PostgreSQL's
    # pool); then a report reads two things at a time. False: one connection, used by one thread (SQLite).
    concurrent_reads: bool

    def first_seen(self, source_type: str, item_id: str, now: datetime) -> datetime: ...

    def scan_lock(self, timeout: float, scope: Sequence[str] | None = None) -> AbstractContextManager[None]:
        """Held while a scan (or a run's notifications) works on `scope`: names made by `pair_scope` (the
        (source, brand) pairs a scan reads and moves the watermarks of) or `target_scope` (a notification
        target); None: the whole store. A second holder of any of the same names waits, up to `timeout` seconds,
        then StoreBusy. An engine may lock more than it is asked (SQLite: the whole store, always)."""
        ...

    def record(self, mentions: Sequence[Mention], now: datetime) -> Recorded: ...

    def watermarks(self) -> dict[tuple[str, str], datetime]: ...

    def advance_watermarks(self, marks: Mapping[tuple[str, str], datetime], now: datetime) -> None: ...

    def record_runs(self, runs: Sequence[SourceRun], now: datetime) -> None: ...

    def source_status(self) -> list[SourceStatus]: ...

    def query(self, query: Query) -> list[Mention]: ...

    def count(self, query: Query) -> int: ...

    def iter_mentions(self, query: Query) -> Iterator[Mention]: ...

    def tally(self, query: Query, by: Sequence[str], *, top: int | None = None, rank: str = "mentions") -> list[Tally]:
        """The mentions `query` selects, grouped by `by` (names from DIMENSIONS) and summed, ordered by key.
        `top`: keep only the first `top` groups, by `rank` ("mentions" or "impact"), for each value of the other
        dimensions (`by=("brand", "author"), top=5`: each brand's five biggest authors), ordered by rank."""
        ...

    def tallies(self, query: Query, asks: Sequence[TallyAsk]) -> list[list[Tally]]:
        """Several tallies of the mentions `query` selects, each over its own span of time, as `tally` gives them
        (one list per ask, in order), from one reading of the mentions of all the spans."""
        ...

    def citations(self, query: Query) -> Iterator[Citation]:
        """The mentions `query` selects, in its `sort` order, up to its `limit`, as reports cite them."""
        ...

    def said(self, query: Query) -> Iterator[Said]:
        """The mentions `query` selects (sort and limit aside, in no set order) as a report counts their words.
        A mention's terms are worked out the first time they are asked for, and kept."""
        ...

    def resolve(self, ref: str) -> list[Key]: ...

    def set_status(self, keys: Sequence[Key], status: str, now: datetime) -> int: ...

    def set_tag(self, keys: Sequence[Key], tag: str, *, remove: bool = False) -> int: ...

    def ignore_where(self, brand: str, *, author: str | None, domain: str | None, term: str | None) -> int: ...

    def brands(self) -> list[str]: ...

    def mention(self, key: Key) -> Mention | None: ...

    def reply_record(self, source_type: str, item_id: str) -> ReplyRecord | None: ...

    def begin_reply(self, record: ReplyRecord) -> bool: ...

    def complete_reply(
        self, source_type: str, item_id: str, *, reply_id: str, url: str, at: datetime, keys: Sequence[Key]
    ) -> None: ...

    def drop_reply(self, source_type: str, item_id: str) -> None: ...

    def pending_replies(self) -> list[ReplyRecord]: ...

    def response_stats(
        self, *, brands: Sequence[str] = (), since: datetime | None = None, until: datetime | None = None
    ) -> ResponseStats: ...

    def stats(self) -> dict[str, Any]: ...

    def prune(self, before: datetime, *, keep_tagged: bool) -> int: ...

    # Notifications (notify/): what each target has been sent, so that nothing is sent twice or lost.
    def notify_mark(self, target: str) -> NotifyMark | None: ...

    def forget_notify_mark(self, target: str) -> None:
        """Drop `target`'s mark (a `scan --new` output that was owed mentions has been given them)."""
        ...

    def notify_horizon(self) -> int:
        """The store's position now: read before a run chooses what to queue, it becomes the target's mark, so
        what another scan saves meanwhile is left for the next run rather than skipped."""
        ...

    def first_seen_after(self, mark: NotifyMark) -> list[Mention]: ...

    def enqueue_notifications(
        self,
        target: str,
        items: Sequence[tuple[Key, str]],
        through: datetime,
        now: datetime,
        position: int | None = None,
    ) -> int: ...

    def pending_notifications(self, target: str) -> list[tuple[Mention, str]]: ...

    def begin_delivery(self, target: str, event: str, token: str, keys: Sequence[Key], now: datetime) -> int: ...

    def claim_spike(self, target: str, brand: str, period: datetime, delivery: int) -> bool: ...

    def release_spike(self, target: str, brand: str, period: datetime) -> None: ...

    def spike_told(self, target: str, brand: str, period: datetime) -> bool: ...

    def finish_delivery(self, delivery: int, *, ok: bool, attempts: int, error: str | None, now: datetime) -> None: ...

    def settle_interrupted_deliveries(self, target: str, now: datetime) -> list[Delivery]: ...

    def deliveries(self, target: str | None = None) -> list[Delivery]: ...

    def close(self) -> None: ...


def default_db_path() -> Path:
    from platformdirs import user_data_path

    return user_data_path("mentionwatch") / "mentions.sqlite3"


def legacy_state_path() -> Path:
    """Where scans before the store kept first-seen times of undated items (imported once into a new store)."""
    from platformdirs import user_state_path

    return user_state_path("mentionwatch") / "state.sqlite3"


def resolve_location(explicit: str | None, configured: str | None) -> str:
    """--db, else $MENTIONWATCH_DB, else the config's `store`, else the user data dir."""
    for candidate in (explicit, os.environ.get(DB_ENV), configured):
        if candidate:
            return candidate
    return str(default_db_path())


def pair_scope(source_identity: str, brand: str) -> str:
    """The lock name of one (source, brand) pair: what a scan reads and moves the watermark of."""
    return f"pair {source_identity} {brand}"


def target_scope(target: str) -> str:
    """The lock name of one notification target: what a run sends it."""
    return f"notify {target}"


def is_url(location: str) -> bool:
    """Whether a store location names a server (PostgreSQL) rather than a file."""
    return location.lower().startswith(("postgresql://", "postgres://"))


# `scheme:` opens a URL, never a file name: a file is named by its path (or `sqlite:///path`). `mysql:/x` and
# `postgresql:db` are no file names either; a scheme has two letters at least (`C:\path` is a Windows drive).
_SCHEME = re.compile(r"([A-Za-z][A-Za-z0-9+.-]+):(?![\\])")
_SQLITE_URL = "sqlite:///"


def store_path(location: str) -> Path | None:
    """The SQLite file a store location names, None when it names a server (`is_url`).

    A path, or a `sqlite:///` URL as SQLAlchemy writes one (`sqlite:///rel.sqlite3` is relative,
    `sqlite:////var/db/m.sqlite3` absolute). Any other `scheme:` is a UsageError: taken as a path, `mysql://x/y`
    would quietly make a SQLite file at ./mysql:/x/y."""
    if is_url(location):
        return None
    scheme = _SCHEME.match(location)
    if scheme is None:
        return Path(location)
    if location[: len(_SQLITE_URL)].lower() == _SQLITE_URL and len(location) > len(_SQLITE_URL):
        return Path(location[len(_SQLITE_URL) :])
    # Only the scheme is shown (with its `//`, as written): the rest may hold a password.
    shown = location[: scheme.end()] + ("//" if location[scheme.end() :].startswith("//") else "")
    if scheme.group(1).lower() == "sqlite":
        raise UsageError(
            f"store {shown}...: a sqlite URL names a file: sqlite:///relative/path or sqlite:////absolute/path"
        )
    raise UsageError(
        f"store {shown}...: unknown scheme {scheme.group(1)!r}: a store is a SQLite file (a path, or "
        "sqlite:///path) or a PostgreSQL database (postgresql://user@host/db or postgres://...)"
    )


def shown_location(location: str) -> str:
    """The location as messages may show it: a URL's password masked."""
    if not is_url(location):
        return location
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(location)
        if parts.password is None:
            return location
        host = parts.netloc.rpartition("@")[2]
        return urlunsplit(parts._replace(netloc=f"{parts.username or ''}:****@{host}"))
    except ValueError:
        return location.split("://", 1)[0] + "://****"


def open_store(location: str, *, migrate: bool = False) -> MentionStore:
    """The store at `location`: a path or `sqlite:///` URL (SQLite, created and migrated), or a `postgresql://` URL
    (created on first use; an older schema only with `migrate`, see `store migrate`). Another scheme is a
    UsageError (`store_path`)."""
    file = store_path(location)
    if file is None:
        return _open_postgres(location, migrate=migrate)
    import sqlite3

    from mentionwatch.store.sqlite import SqliteStore

    path = file.expanduser()
    try:
        return SqliteStore.open(path, legacy=legacy_state_path() if not path.exists() else None)
    except (OSError, sqlite3.Error) as exc:
        raise StoreError(f"cannot open the store {location}: {exc}") from None


def scratch_store() -> MentionStore:
    """A store in a temporary file, deleted when it is closed: where a scan that keeps nothing (`--no-store`) but
    is too big to hold whole puts its mentions while it works (pipeline.Windows)."""
    import tempfile

    from mentionwatch.store.sqlite import SqliteStore

    folder = Path(tempfile.mkdtemp(prefix="mentionwatch-"))
    return SqliteStore.open(folder / "scan.sqlite3", scratch=True)


def _open_postgres(location: str, *, migrate: bool) -> MentionStore:
    shown = shown_location(location)
    try:
        import psycopg

        from mentionwatch.store.postgres import PostgresStore, parse_location
    except ImportError as exc:
        raise StoreError(
            f"cannot open the store {shown}: the PostgreSQL engine needs psycopg ({exc.name} is not installed):"
            " pip install 'mentionwatch[postgres]'"
        ) from None
    try:
        secret = parse_location(location).password
    except ValueError as exc:
        raise StoreError(f"cannot open the store {shown}: {exc}") from None
    from mentionwatch.redaction import Redactor

    redact = Redactor([secret] if secret else [])
    try:
        return PostgresStore.open(location, migrate=migrate)
    except psycopg.Error as exc:
        message = redact(str(exc).strip()).replace("\n", " ")
        raise StoreError(f"cannot open the store {shown}: {' '.join(message.split())}") from None


def memory_store() -> MentionStore:
    """A store that forgets at exit: `--no-store` and `--replay` (undated items still get one first-seen time)."""
    from mentionwatch.store.sqlite import SqliteStore

    return SqliteStore.open(None)


def waiting_guard() -> ReplyGuard:
    """A scan's reply guard (`dedupe.ReplyGuard`), judged on what the store knows of the one kept: a saved mention is
    scored already (its `needs_reply` was worked out under its brand's `reply_reach`, which the store is not told),
    and one that has been answered or closed (`CLOSED_STATUSES`) waits for nothing: `inbox` no longer shows it, so
    nothing that waits may be hidden behind it."""
    from mentionwatch.dedupe import ReplyGuard

    class WaitingGuard(ReplyGuard):
        def needs(self, mention: Mention) -> bool:
            return mention.needs_reply and mention.status not in CLOSED_STATUSES

    return WaitingGuard()


__all__ = [
    "CLOSED_STATUSES",
    "DB_ENV",
    "DIMENSIONS",
    "SORTS",
    "STATUSES",
    "Citation",
    "Delivery",
    "Key",
    "MentionStore",
    "NotifyMark",
    "Query",
    "Recorded",
    "ReplyRecord",
    "ResponseStats",
    "Said",
    "SourceRun",
    "SourceStatus",
    "StoreBusy",
    "Tally",
    "TallyAsk",
    "default_db_path",
    "is_url",
    "key_of",
    "legacy_state_path",
    "memory_store",
    "open_store",
    "pair_scope",
    "resolve_location",
    "scratch_store",
    "shown_location",
    "store_path",
    "target_scope",
    "waiting_guard",
]

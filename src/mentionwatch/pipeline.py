"""Runs the configured sources concurrently, then matches, scores and dedupes what they return."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import functools
import hashlib
import importlib
import itertools
import json
import logging
import os
import signal
import time
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mentionwatch import __version__
from mentionwatch.ahead import Ahead
from mentionwatch.config import BrandConfig, Config, ConfiguredSource, owned_brands
from mentionwatch.dedupe import TextKeys, dedupe, keys_ahead
from mentionwatch.errors import ExitCode, FetchError, StoreError
from mentionwatch.http import HttpSettings, Limits, SourceHttp, came_back_on_time, until_idle
from mentionwatch.impact import OUTLET_KIND, replies_ahead, score_impact
from mentionwatch.matching import BrandMatcher, Haystack, detect_language, search_terms_of
from mentionwatch.models import FIELDS, SOURCE_FIELDS, Mention
from mentionwatch.outlets import outlet_of
from mentionwatch.redaction import Redactor
from mentionwatch.sentiment import (
    DEFAULT_SCORER,
    SentimentMemo,
    SentimentScorer,
    load_scorer,
    score_sentiment,
    scorer_identity,
    sentiment_text,
)
from mentionwatch.source import Source, SourceContext
from mentionwatch.store import MentionStore, Query, SourceRun, key_of, scratch_store
from mentionwatch.workers import CHUNK as SHARED_CHUNK
from mentionwatch.workers import IN_FLIGHT, START_AT, HandOver, SentimentWorkers

if TYPE_CHECKING:
    from mentionwatch.cache import HttpCache
    from mentionwatch.prefetch import Prefetch
    from mentionwatch.replay import Recorder, Replayer

log = logging.getLogger(__name__)

OK_STATES = frozenset({"ok", "empty", "not modified"})


@dataclass
class SourceHealth:
    """How one source did in one scan, so "blocked" is never mistaken for "a quiet day"."""

    name: str
    type: str
    state: str = "ok"
    items: int = 0
    mentions: int = 0
    requests: int = 0
    seconds: float = 0.0
    error: str | None = None
    # Items the source sent that could not be read (a broken field, a date out of range, a non-web URL): each
    # is skipped on its own, and counted here. A new key, so it comes last: health JSON keeps its order.
    skipped: int = 0
    # Items it sent that were published before the scan's `since` (a feed's older entries): not mentions of this
    # scan, but proof the source answered with something (a source that sent only those is not "empty").
    older: int = 0
    # What the source could not do while the rest of it carried on (an edge its token may not read): the source
    # still answered, so its state is unchanged; said once each in its health line.
    warnings: list[str] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.state not in OK_STATES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ScanResult:
    mentions: list[Mention]
    health: list[SourceHealth] = field(default_factory=list)
    # The signal that stopped the fetch (SIGINT or SIGTERM), if one did: what was gathered is still output.
    stopped_by: int | None = None
    # How many mentions the scan found, before `--new` and `--limit` (none: every source failed, or found nothing).
    total: int = 0
    # A scan worked in windows (pipeline.Windows): its output, read back from the store when called (`mentions`
    # is then empty); and the scratch store to close once it is written (`--no-store`).
    stream: Callable[[], Iterator[Mention]] | None = None
    scratch: MentionStore | None = None
    # How many mentions `--limit` left out of the output (after `--new`): with `--new` they are stored and will not
    # be new again, which the command says rather than lose them silently.
    left_out: int = 0
    # The store could not save the scan (read-only, locked past its wait): the mentions are still output, as a scan
    # with no store gives them, and the command then ends with the store's exit code (6).
    store_error: StoreError | None = None
    # SIGINT and SIGTERM, held by the scan until `close` (its output is written meanwhile): a signal that comes
    # after the fetch is noted there, and ends the run as one during the fetch does, once the output is written.
    interrupts: Interrupts | None = None

    def output(self) -> Iterable[Mention]:
        """What the scan prints: `mentions`, or what a scan worked in windows reads back."""
        return self.stream() if self.stream is not None else self.mentions

    def close(self) -> None:
        try:
            if self.scratch is not None:
                self.scratch.close()
        finally:
            if self.interrupts is not None:
                self.interrupts.release()

    @property
    def signalled(self) -> int | None:
        """The first SIGINT or SIGTERM the scan got: while it fetched (`stopped_by`), or after, up to `close`."""
        if self.stopped_by is not None or self.interrupts is None:
            return self.stopped_by
        return self.interrupts.first

    @property
    def interrupted(self) -> bool:
        return self.signalled is not None

    @property
    def exit_code(self) -> ExitCode:
        """What the scan's exit status says (the table is `errors.ExitCode`)."""
        if self.signalled == signal.SIGTERM:
            return ExitCode.TERMINATED
        if self.interrupted:
            return ExitCode.INTERRUPTED
        failed = sum(h.failed for h in self.health)
        if not failed:
            return ExitCode.OK
        return ExitCode.ALL_FAILED if failed == len(self.health) else ExitCode.SOME_FAILED


@dataclass
class Fetched:
    """Everything the sources returned, their health, and which configured source gave each item."""

    # What arrived, in order; an item is let go of (None) once it has been matched.
    mentions: list[Mention | None] = field(default_factory=list)
    health: list[SourceHealth] = field(default_factory=list)
    # Several configured sources can deliver the same item (a jsonl re-read of an export beside the live
    # source it came from): each is credited.
    origin: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    # Set whenever items arrive, so work on them can start before the fetch ends.
    arrived: asyncio.Event = field(default_factory=asyncio.Event)
    # The newest publication time each source returned (for its watermark).
    newest: dict[str, datetime] = field(default_factory=dict)
    # Sources that could not read a part of what they give (`SourceContext.incomplete`): their watermarks stay.
    incomplete: set[str] = field(default_factory=set)
    # Mentions taken as they were from documents unchanged since an earlier scan: matched and scored already.
    given: list[Mention] = field(default_factory=list)
    # Each source's intake and HTTP client, as `fetch_all` made them.
    intakes: list[Intake] = field(default_factory=list)
    clients: list[SourceHttp] = field(default_factory=list)
    # Called every RELIEVE_EVERY items: matches what has arrived (and saves a full window), so a source that
    # delivers faster than the work ahead keeps up (a million-line JSON Lines file) is never held whole.
    relieve: Callable[[], None] | None = None
    # The sources' running deadlines: the time the scan spends relieving them is its own, not theirs.
    deadlines: set[asyncio.Timeout] = field(default_factory=set)

    def relieve_now(self) -> None:
        if self.relieve is None:
            return
        started = time.monotonic()
        self.relieve()
        self.credit(time.monotonic() - started)

    def credit(self, spent: float) -> None:
        """Give the sources back `spent` seconds of their deadlines: the event loop was the scan's own work's
        (matching, scoring, saving a window), and no source could run meanwhile."""
        for limit in self.deadlines:
            when = limit.when()
            if when is not None:
                limit.reschedule(when + spent)


RELIEVE_EVERY = 1_000


def search_terms(brands: Sequence[BrandConfig]) -> list[str]:
    """The terms to ask searchable services for: every brand's terms and its query's positive words
    (a prefix without its `*`), each once."""
    seen: dict[str, str] = {}
    for brand in brands:
        for term in search_terms_of(brand):
            seen.setdefault(term.casefold(), term)
    return list(seen.values())


@dataclass
class ScanEnv:
    """What a scan runs with, all passed in (nothing global): tests control time, storage and the network."""

    now: Callable[[], datetime]
    # Where mentions are saved; `store.memory_store()` for a scan that keeps nothing (`--no-store`).
    store: MentionStore
    cache: HttpCache | None = None
    transport: httpx.AsyncBaseTransport | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    cache_dir: Path | None = None
    recorder: Recorder | None = None
    replayer: Replayer | None = None
    # Called once with the live health records when fetching starts (a progress display reads them).
    on_start: Callable[[list[SourceHealth]], None] | None = None
    # The requests the command sent while it started up (`prefetch`), whose answers the fetch takes.
    prefetched: Prefetch | None = None


def http_settings(config: Config) -> HttpSettings:
    return HttpSettings(
        connect_timeout=config.http.connect_timeout,
        read_timeout=config.http.timeout,
        max_bytes=config.http.max_bytes,
        concurrency=config.http.concurrency,
        per_host=config.http.per_host,
        retries=config.http.retries,
        max_retry_wait=config.http.max_retry_wait,
    )


async def fetch_all(
    sources: Sequence[ConfiguredSource],
    terms: Sequence[str],
    *,
    since: datetime,
    client: httpx.AsyncClient,
    config: Config,
    env: ScanEnv,
    fetched: Fetched,
    request_since: Mapping[str, datetime] | None = None,
    given: GivenDocuments | None = None,
    source_terms: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Fetch from every source at once into `fetched`, item by item, so that neither a failing source nor
    an interrupt loses what the others returned. `request_since`: a source's own `since` (its watermark),
    by name; `since` for the others. `given`: what unchanged documents gave earlier scans. `source_terms`: a
    source's own search terms (its shard's brands'), by name; `terms` for the others."""
    settings = http_settings(config)
    limits = Limits(settings.concurrency, settings.per_host)
    # Health records leave the process (stderr, `--health FILE`): an error that quotes a service's answer
    # may quote a secret the service echoed.
    redact = Redactor(config.secrets)
    runs = []
    for configured in sources:
        http = SourceHttp(
            client,
            settings,
            limits=limits,
            cache=env.cache,
            service=configured.cls.type,
            requests_per_minute=configured.cls.requests_per_minute,
            sleep=env.sleep,
            wall_clock=lambda: env.now().timestamp(),
            source=configured.name,
            recorder=env.recorder,
            replayer=env.replayer,
        )
        context = SourceContext(
            http=http,
            now=env.now,
            base_dir=config.base_dir,
            first_seen=_first_seen_by_type(env.store, configured.cls.type),
            sleep=env.sleep,
            cache_dir=env.cache_dir,
        )
        source = configured.cls(configured.config, context)
        http.requests_per_minute = source.rate_per_minute()
        health = SourceHealth(name=source.name, type=source.type, state="fetching")
        fetched.health.append(health)
        since_here = request_since.get(configured.name, since) if request_since else since
        terms_here = source_terms.get(configured.name, terms) if source_terms else terms
        intake = Intake(source, health, since_here, fetched, now=env.now, given=given)
        context.documents = intake
        fetched.intakes.append(intake)
        fetched.clients.append(http)
        runs.append(_run_source(source, http, health, terms_here, intake, config.http.deadline, redact=redact))
    if env.on_start is not None:
        env.on_start(fetched.health)
    await asyncio.gather(*runs)


def _first_seen_by_type(store: MentionStore, source_type: str) -> Callable[[str, str, datetime], datetime]:
    """A source's first-seen look-up, keyed by its type, not its name: renaming a source keeps the first-seen
    times of its undated items."""

    def first_seen(_name: str, item_id: str, now: datetime) -> datetime:
        return store.first_seen(source_type, item_id, now)

    return first_seen


async def _run_source(
    source: Source[Any],
    http: SourceHttp,
    health: SourceHealth,
    terms: Sequence[str],
    intake: Intake,
    deadline: float,
    *,
    redact: Callable[[str], str],
) -> None:
    started = time.monotonic()
    queries: list[str | None] = list(terms) if source.searchable else [None]
    skipped = source.context.skipped

    def count_requests() -> None:
        health.requests = http.requests

    http.observer = count_requests

    async def one(term: str | None) -> None:
        async for mention in source.fetch(term, intake.since):
            intake.admit(mention)

    errors: list[BaseException] = []
    try:
        async with asyncio.timeout(deadline) as limit:
            intake.fetched.deadlines.add(limit)
            try:
                outcomes = await asyncio.gather(*(one(q) for q in queries), return_exceptions=True)
            finally:
                intake.fetched.deadlines.discard(limit)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
    except TimeoutError:
        errors = [TimeoutError(f"gave up after the {deadline:g}s source deadline")]
    finally:
        health.items = intake.items
        health.older = len(intake.older)
        health.requests = http.requests
        health.seconds = round(time.monotonic() - started, 3)
        # The same unreadable item can come back for several terms: counted once.
        health.skipped = len(set(skipped))
        health.warnings = list(dict.fromkeys(source.context.warnings))
        if source.context.incomplete:
            intake.fetched.incomplete.add(source.name)
        for reason in dict.fromkeys(skipped):
            log.debug("%s: skipped an unreadable item: %a", source.name, reason)
    for err in errors:
        if isinstance(err, asyncio.CancelledError):
            raise err
        if not isinstance(err, (FetchError, TimeoutError)):
            # A bug in an adapter is that source's failure, not the scan's; -v shows the traceback.
            log.debug("source %s crashed", source.name, exc_info=err)
    if errors:
        err = errors[0]
        health.state = getattr(err, "state", "timed out" if isinstance(err, TimeoutError) else "failed")
        message = str(err) if isinstance(err, (FetchError, TimeoutError)) else f"{type(err).__name__}: {err}"
        health.error = redact(message)
    elif http.requests and http.not_modified == http.requests:
        health.state = "not modified"
    elif not intake.seen and not intake.older and health.skipped:
        # It answered, and nothing it sent could be read: an API that changed its shape, not a quiet day.
        health.state = "failed"
        health.error = redact(f"none of the {health.skipped} items it sent could be read (has its API changed?)")
    elif not intake.seen and not intake.older:
        health.state = "empty"
    else:
        health.state = "ok"


class Intake:
    """One source's items on their way into the scan: only those with a web URL (or none), each id once, none published
    before the source's `since`. It is also the source's `Documents`: it notes what each document the source
    read gave (`read`, then `given_entries`), and hands in what an unchanged one gave as it was (`reuse`)."""

    def __init__(
        self,
        source: Source[Any],
        health: SourceHealth,
        since: datetime,
        fetched: Fetched,
        *,
        now: Callable[[], datetime],
        given: GivenDocuments | None = None,
    ) -> None:
        self.source = source
        self.health = health
        self.since = since
        self.fetched = fetched
        self.now = now
        # Past this, a date is the source's error (flagged, sorted last); past `started`, no measure of how far the
        # source has been read (a watermark past it would skip what is indexed late).
        self.started = now()
        self.future = self.started + FUTURE_SLACK
        self.given = given
        self.seen: set[str] = set()
        self.older: set[str] = set()
        self._docs: list[_Document] = []
        # Each item of a document read, by object, until it comes in: (the item, its document, its place there).
        self._pending: dict[int, tuple[Mention, _Document, int]] = {}

    @property
    def items(self) -> int:
        return len(self.seen) + len(self.older)

    def admit(self, mention: Mention) -> None:
        """Take one item the source yielded (or leave it out, and say why)."""
        placed = self._pending.pop(id(mention), None)
        if mention.url and not is_web_url(mention.url):
            # A `javascript:`, `data:` or `file:` URL is no permalink, and must never reach a clickable cell. No URL
            # at all is allowed: a feed item without a link of its own (guid-only podcast and blog items).
            reason = f"{mention.id!s:.100}: url is not an http(s) address"
            self.source.context.skipped.append(reason)
            if placed is not None:
                placed[1].skip(placed[2], reason)
            return
        if mention.link is not None and not is_web_url(mention.link):
            mention.link = None
        named = mention.source
        # Adapters may keep an upstream source name (the jsonl reader keeps the exported one).
        mention.source = mention.source or self.source.name
        mention.source_type = mention.source_type or self.source.type
        mention.future_dated = mention.published_at > self.future
        taken = self._take(mention.key, mention.published_at, undated=mention.undated)
        if placed is not None:
            placed[1].note(placed[2], mention, named, taken)
        if taken == "new":
            self.fetched.mentions.append(mention)
            self.fetched.arrived.set()
            if len(self.fetched.mentions) % RELIEVE_EVERY == 0:
                self.fetched.relieve_now()

    def _take(self, key: tuple[str, str], published_at: datetime, *, undated: bool = False) -> str:
        """What became of an item: `new`, `again` (an id this source gave before) or `older` (before `since`)."""
        item_id = key[1]
        if item_id in self.seen or item_id in self.older:
            return "again"
        if published_at < self.since:
            self.older.add(item_id)
            self.health.items = self.items
            return "older"
        self.seen.add(item_id)
        self.fetched.origin.setdefault(key, []).append(self.source.name)
        # A post dated in the future (a wrong clock, a time zone labelled wrong, a scheduled post) is no measure of
        # how far the source has been read: taken as the newest, even capped at now, it would start the next window
        # after posts indexed late. Nor is an undated item's time (when this machine first saw it): a dated post
        # that the feed publishes a little late would fall before the next window.
        if published_at <= self.started and not undated:
            newest = self.fetched.newest.get(self.source.name)
            if newest is None or published_at > newest:
                self.fetched.newest[self.source.name] = published_at
        self.health.items = self.items
        return "new"

    # -- Documents

    def read(self, url: str, validator: str, items: Sequence[Mention], skipped: Sequence[str]) -> None:
        if self.given is None:
            return
        document = _Document(url, validator, list(skipped), [None] * len(items))
        self._docs.append(document)
        for i, item in enumerate(items):
            self._pending[id(item)] = (item, document, i)

    def reuse(self, url: str, validator: str) -> bool:
        if self.given is None:
            return False
        kept = self.given.recall(url, validator, self.source)
        if kept is None or kept.since > self.since:
            # Kept for a later `since` than this scan's: items it left out as older would now be in.
            return False
        context = self.source.context
        context.skipped.extend(kept.skipped)
        # `_take`, item by item, on what was kept: ids and dates as numbers, no Mention made for an item that
        # made none. Thousands of items come back unchanged in a scan of many feeds.
        since = _micros(self.since)
        seen, older = self.seen, self.older
        name = self.source.name
        newest: int | None = None
        started = _micros(self.started)
        for i, (item_id, micros) in enumerate(zip(kept.ids, kept.published, strict=True)):
            if item_id in seen or item_id in older:
                continue
            dated = micros is not None
            if micros is None:  # undated: when it was first seen, as the source says (rss, instagram_account)
                now = self.now()
                micros = _micros(context.first_seen(name, item_id, now) if context.first_seen else now)
            if micros < since:
                older.add(item_id)
                continue
            seen.add(item_id)
            # As in `_take`: not a future date, nor an undated item's first-seen time.
            if dated and micros <= started and (newest is None or micros > newest):
                newest = micros
            made = kept.mentions.get(i)
            if not made:
                continue
            key = (kept.named[i] or name, item_id)
            self.fetched.origin.setdefault(key, []).append(name)
            published_at = _when(micros)
            for mention in made:
                mention.source, mention.published_at = key[0], published_at
                mention.source_type = mention.source_type or self.source.type
                mention.future_dated = published_at > self.future
                self.fetched.given.append(mention)
        if newest is not None:
            known = self.fetched.newest.get(name)
            if known is None or _when(newest) > known:
                self.fetched.newest[name] = _when(newest)
        self.health.items = self.items
        self.fetched.arrived.set()  # what impact will need of them can be readied while the network waits
        return True

    def given_entries(self, matched: Mapping[tuple[str, str], list[Mention]]) -> list[tuple[str, str, Kept]]:
        """What each document read in this scan gave (url, validator, what to keep): those whose every item
        came in, and none of whose items was left out for an id another document gave first (what that one would
        have given is not known)."""
        out = []
        for document in self._docs:
            if not document.whole or any(item is None for item in document.items):
                continue
            items = [item for item in document.items if isinstance(item, _Item)]
            mentions = {}
            for i, item in enumerate(items):
                made = matched.get((item.named or self.source.name, item.id)) if item.taken == "new" else None
                if made:
                    mentions[i] = made
            kept = Kept(
                self.since,
                document.skipped,
                [item.id for item in items],
                [None if item.published_at is None else _micros(item.published_at) for item in items],
                [item.named for item in items],
                mentions,
            )
            out.append((document.url, document.validator, kept))
        return out


@dataclass
class _Item:
    """An item of a document, as it came in."""

    id: str
    published_at: datetime | None  # None: undated
    named: str  # the source name the adapter gave it ("" for most)
    taken: str  # what `Intake._take` said


@dataclass
class _Document:
    """A version of a document a source read in this scan, and how each of its items came in (None: not yet)."""

    url: str
    validator: str
    skipped: list[str]
    items: list[_Item | str | None]  # a str: skipped, and why
    whole: bool = True
    ids: set[str] = field(default_factory=set)

    def skip(self, index: int, reason: str) -> None:
        self.items[index] = reason
        self.skipped.append(reason)

    def note(self, index: int, mention: Mention, named: str, taken: str) -> None:
        self.items[index] = _Item(mention.id, None if mention.undated else mention.published_at, named, taken)
        if taken == "again" and mention.id not in self.ids:
            self.whole = False  # another document gave this id first: what this one gives for it is unknown
        self.ids.add(mention.id)


class Matching:
    """Brand matching over a growing list of items: `catch_up` matches the items it has not seen yet, so a
    scan can match what has arrived while the network is still busy, and finish the rest at the end."""

    def __init__(
        self,
        brands: Sequence[BrandConfig],
        *,
        since: datetime,
        owners: Mapping[str, str] | None = None,
        owns_items: bool = False,
    ) -> None:
        self._matchers = [BrandMatcher(b) for b in brands]
        self._since = since
        # Items of a source that reads one brand's own page or account belong to that brand whatever they say
        # (by source name: `owned_brands`); they are not matched on its terms, only vetted by its filters.
        by_name = {m.brand: m for m in self._matchers}
        self._owned = {source: by_name[brand] for source, brand in (owners or {}).items() if brand in by_name}
        # A scan owns what it fetched: an item is then made the mention of the first brand it matches (not
        # copied), and let go of once matched, so a million fetched posts are not held twice.
        self._owns = owns_items
        self.matched: list[Mention] = []
        self.done = 0  # items[:done] are matched

    def catch_up(self, items: Sequence[Mention | None], limit: int | None = None) -> int:
        """Match `items[done:]` (at most `limit` of them, in order); returns how many were matched."""
        start = self.done
        end = len(items) if limit is None else min(len(items), start + limit)
        for i in range(start, end):
            item = items[i]
            if item is not None:
                self._match(item)
            if self._owns and isinstance(items, list):
                items[i] = None
            self.done += 1  # one at a time: if an item raises, it is tried again, not skipped
        return end - start

    def _match(self, item: Mention) -> None:
        if item.published_at < self._since:
            return
        hay = Haystack(item.title, item.text)
        first = True
        owner = self._owned.get(item.source)
        for matcher in self._matchers:
            hit = matcher.match_haystack(hay, author=item.author, url=item.url, lang=item.lang)
            if hit is None and matcher is owner:
                hit = matcher.match_owned(hay, author=item.author, url=item.url, lang=item.lang)
            if hit is None:
                continue
            mention = item if first and self._owns else dataclasses.replace(item, also_seen=[], duplicates=0)
            mention.brand = hit.brand
            mention.matched_terms = hit.terms
            mention.matched_query = hit.clause
            mention.lang = item.lang or detect_language(item.title, item.text)
            self.matched.append(mention)
            first = False


def match_mentions(raw: Iterable[Mention], brands: Sequence[BrandConfig], *, since: datetime) -> list[Mention]:
    """Every item since `since` that a brand matches, as a copy carrying that brand, the words found and the
    language (detected when the source gave none); an item two brands match is two mentions.

    Matching sees the clean title and text, the author, the item's own URL and its language."""
    matching = Matching(brands, since=since)
    matching.catch_up(list(raw))
    return matching.matched


def score_mentions(
    mentions: Sequence[Mention], scorer: SentimentScorer, *, reply_reach: Mapping[str, int] | None = None
) -> None:
    """Set sentiment, subjectivity, reach, engagement, impact and needs_reply on every mention, sentiment
    first (a negative mention from a loud author needs a reply). `reply_reach` is each brand's threshold
    (default 1,000)."""
    score_sentiment(mentions, scorer)
    score_impact(mentions, reply_reach=reply_reach)


# Items `process` matches between two looks at whether sentiment workers are worth starting.
_SHARE_CHECK = 5000


def process(
    raw: Iterable[Mention | None],
    brands: Sequence[BrandConfig],
    *,
    since: datetime,
    scorer: SentimentScorer | None = None,
    matching: Matching | None = None,
    owners: Mapping[str, str] | None = None,
    given: Sequence[Mention] = (),
    keep: Callable[[Mention], bool] | None = None,
    workers: int | None = None,
    shared: SentimentWorkers | None = None,
    keys: Ahead[TextKeys] | None = None,
    replies: Ahead[str | None] | None = None,
) -> list[Mention]:
    """Match every item against every brand, score the sentiment of what matched, dedupe, then score the impact
    of what survived (an unmatched item is never scored). Sentiment comes before dedupe: a merge must never hide
    a mention that needs a reply (a complaint) behind one that does not, and a complaint is known by its
    sentiment. The default scorer is VADER.

    `matching`: one that already matched a first part of `raw` (the same list, in the same order). `owners`:
    source name -> brand, for sources that read a brand's own page or account (`owned_brands`). `given`:
    mentions matched and scored in an earlier scan (what unchanged documents gave), deduped with the rest.
    `keep`: which mentions the scan is for (a shard's (source, brand) pairs); all by default. `workers`: how many
    processes may share the scoring of a large batch (`scoring.workers`; None: one per other core), started and
    ended here unless the caller's are `shared`. `keys`, `replies`: dedupe keys of some mentions, and what their
    words say (`reply_reason`), worked out earlier."""
    matching = matching or Matching(brands, since=since, owners=owners)
    items = raw if isinstance(raw, Sequence) else list(raw)
    ours = SentimentWorkers.for_scorer(scorer, workers) if shared is None else None  # ended here
    shared = shared or ours
    memo = SentimentMemo()
    hand = HandOver(shared, memo) if shared is not None else None
    with ours or contextlib.nullcontext():
        # Matched a slice at a time: once START_AT mentions have matched, the workers start (0.2-0.5 s), and from
        # then on score what has matched while the rest is matched.
        texts: list[str] = []  # of the mentions matched so far, as far as they were handed over
        while matching.catch_up(items, limit=_SHARE_CHECK):
            if hand is not None and len(matching.matched) >= START_AT:
                hand.shared.start()
                if hand.shared.ready():
                    more = [sentiment_text(m) for m in matching.matched[len(texts) :]]
                    texts += more[: hand.offer(more)]
        matched = matching.matched if keep is None else [m for m in matching.matched if keep(m)]
        if matched:  # nothing to score, nothing to load the scorer for
            scorer = scorer or load_scorer(DEFAULT_SCORER)
            if hand is not None and texts:
                hand.settle()
                scorer = memo.wrap(scorer)
            score_sentiment(matched, scorer, shared, texts if keep is None else ())
    reply_reach = {b.name: b.reply_reach for b in brands}
    if keep is not None:
        given = [m for m in given if keep(m)]
    kept = dedupe([*matched, *given] if given else matched, reply_reach=reply_reach, ahead=keys)
    score_impact(kept, reply_reach=reply_reach, ahead=replies, brands=brands)
    return kept


class WorkAhead:
    """Matching and scoring done while the sources wait on the network.

    Run as a task beside the fetch, it matches what has arrived and scores what matched in slices of about
    a millisecond, so a response that comes in is never kept waiting long, and is cancelled when the fetch
    ends; `process` then does whatever is left. The result is the same as doing it all at the end.

    The scorer (VADER's lexicon, TextBlob's) is loaded here too, once the requests are out and the loop is idle,
    unless every request asked whether its document changed (a scan whose documents come back unchanged scores
    nothing); loading it in a thread instead made every I/O call of the event loop wait up to a GIL switch
    interval (5 ms) for it. `given`: what unchanged documents gave, whose look-ups are readied then too."""

    def __init__(
        self,
        brands: Sequence[BrandConfig],
        *,
        since: datetime,
        scorer_name: str,
        owners: Mapping[str, str] | None = None,
        given: GivenDocuments | None = None,
        shared: SentimentWorkers | None = None,
    ) -> None:
        self.matching = Matching(brands, since=since, owners=owners, owns_items=True)
        self.memo = SentimentMemo()
        # Texts handed to worker processes scoring beside this one (a CPU-bound scan: a large file, a fast network).
        self._hand = HandOver(shared, self.memo) if shared is not None else None
        self._scorer_name = scorer_name
        self._scorer: SentimentScorer | None = None
        self._scored = 0
        # Set by run_scan: where a window of matched mentions goes once WINDOW of them are held.
        self.windows: Windows | None = None
        self._given = given
        self.keys = keys_ahead()
        self.replies = replies_ahead(brands=brands)
        # How far each step of the work done only early (`_early_slice`) has gone along the mentions it works on.
        self._along = dict.fromkeys(("outlets given", "outlets matched", "keys given", "keys matched"), 0)
        # How far into each source's conditional requests (`SourceHttp.asked`) kept results were read ahead.
        self._asked: dict[int, int] = {}
        # Whether this loop has requests of its own under way, whose answers the early work must not hold up (set by
        # `_scan`: not those sent ahead, on their own thread, by `prefetch`).
        self.network_waits: Callable[[], bool] = lambda: True

    def scorer(self) -> SentimentScorer:
        """The scan's scorer, remembering what was scored ahead."""
        if self._scorer is None:
            self._scorer = load_scorer(self._scorer_name)
        return self.memo.wrap(self._scorer)

    def flush_window(self, fetched: Fetched, *, given: Sequence[Mention] = ()) -> None:
        """Hand the matched mentions held to the scan's windows, and let go of them and of their sentiment."""
        assert self.windows is not None
        matched = self.matching.matched
        self.settle()
        self.windows.flush(list(matched), fetched, given=given)
        matched.clear()
        self._scored = 0
        self._along["outlets matched"] = self._along["keys matched"] = 0
        self.memo.clear()
        # A scan in windows dedupes them without keys (nor replies) worked out ahead: none are kept from now on.
        self.keys.stop()
        self.replies.stop()

    def _hand_over(self, matched: Sequence[Mention]) -> bool:
        """Hand the next texts to score to the workers, when a worker is free: from the scan's START_AT-th
        mention on."""
        hand = self._hand
        if hand is None or len(matched) < START_AT or len(matched) - self._scored < _HAND_OVER_AT_LEAST:
            return False
        hand.shared.start()
        hand.collect()
        if not hand.shared.ready() or hand.held >= IN_FLIGHT * SHARED_CHUNK * hand.shared.workers:
            return False
        end = min(len(matched), self._scored + SHARED_CHUNK)
        handed = hand.offer([sentiment_text(m) for m in matched[self._scored : end]])
        self._scored += handed
        return handed > 0

    def settle(self) -> None:
        """Put every answer of the workers in the memo (what no worker has started is left to `process`)."""
        if self._hand is not None:
            self._hand.settle()

    def relieve(self, fetched: Fetched) -> None:
        """Match everything that has arrived, saving each window as it fills (Fetched.relieve)."""
        matching = self.matching
        while matching.done < len(fetched.mentions):
            matching.catch_up(fetched.mentions, limit=_WINDOW_SLICE)
            if self.windows is not None and len(matching.matched) >= WINDOW:
                self.flush_window(fetched)

    def _early_slice(self, fetched: Fetched) -> Callable[[], None] | None:
        """The next slice of the work that is only done early (nothing before `process` needs it), or None when none
        is left: what unchanged documents gave, read ahead of their answers; the outlets of what has arrived, then
        its dedupe keys."""
        if self._given is not None:
            for intake in fetched.intakes:
                if self._asked.get(id(intake), 0) < len(intake.source.context.http.asked):
                    return functools.partial(self._read_ahead, intake)
        matched = self.matching.matched
        keys = functools.partial(_key_ahead, self.keys)
        for name, mentions, step in (
            ("outlets given", fetched.given, _look_up_outlets),
            ("outlets matched", matched, _look_up_outlets),
            ("keys given", fetched.given, keys),
            ("keys matched", matched, keys),
        ):
            if self._along[name] < len(mentions):
                return functools.partial(self._advance, name, mentions, step)
        return None

    def _advance(self, name: str, mentions: Sequence[Mention], step: Callable[[Sequence[Mention], int], int]) -> None:
        self._along[name] = step(mentions, self._along[name])

    def _read_ahead(self, intake: Intake) -> None:
        """Read ahead what the next unchanged documents of a source gave (`GivenDocuments.read_ahead`)."""
        assert self._given is not None
        asked = intake.source.context.http.asked
        start = self._asked.get(id(intake), 0)
        end = min(len(asked), start + _READ_AHEAD_SLICE)
        for url in asked[start:end]:
            kept = self._given.read_ahead(url, intake.source)
            # Its mentions' dedupe keys and what their words say too: the mentions a 304 takes are these very
            # objects. (The last round of answers comes in a burst that leaves no time for it.)
            for made in kept.mentions.values() if kept is not None else ():
                for mention in made:
                    self.keys.add(mention)
                    self.replies.add(mention)
        self._asked[id(intake)] = end

    async def run(self, fetched: Fetched) -> None:
        await asyncio.sleep(0)  # let every source send its first requests
        await until_idle(_IDLE_WITHIN, tick=_TICK, done=fetched.arrived.is_set)
        if not fetched.mentions:
            # Nothing in yet: the requests are out, and the loop idle. Ready now what the answers will need.
            if self._given is not None:
                self._given.ready()
            if any(client.requests > client.conditional for client in fetched.clients):
                self.scorer()
        matched = self.matching.matched
        while True:
            # Each step's time is credited to the sources' deadlines (Fetched.credit): a million-line file once
            # timed out at 446,000 items, its deadline spent by the windows saved here while it waited to run.
            started = time.monotonic()
            if self.windows is not None and len(matched) >= WINDOW:
                self.flush_window(fetched)
            elif self.matching.done < len(fetched.mentions):
                self.matching.catch_up(fetched.mentions, limit=_MATCH_SLICE)
            elif self._scored < len(matched):
                if not self._hand_over(matched):
                    end = min(len(matched), self._scored + _SCORE_SLICE)
                    self.memo.prime(self.scorer(), (sentiment_text(m) for m in matched[self._scored : end]))
                    self._scored = end
            elif (early := self._early_slice(fetched)) is not None:
                # Done only while no answer is waiting, or it holds each of a burst of answers up by a slice
                # (measured: the first round of 100 answers to a second scan seen to over 90 ms instead of 60, the
                # next round's requests waiting for it).
                if self.network_waits() and not await _quiet():
                    continue
                started = time.monotonic()
                early()
            else:
                fetched.arrived.clear()
                await fetched.arrived.wait()
                continue
            fetched.credit(time.monotonic() - started)
            await asyncio.sleep(0)  # let the network callbacks in


class Windows:
    """A scan too big to hold whole, worked a window at a time (issue #12: a million fetched posts in bounded
    memory). Once WINDOW mentions have matched, they are scored, deduped, given their impact and saved in the
    store, and let go of; the scan's output is then read back from the store (`Query.seen_at`).

    What differs from a scan held whole, and only above WINDOW mentions: near-duplicate texts are clustered within
    a window (the same page, the page a share links to and known duplicates still across the whole store, as
    between scans), and impact's within-source percentile is taken within a window. A scan that keeps nothing
    (`--no-store`) works in a scratch store in a temporary file, deleted at the end."""

    def __init__(
        self,
        request: ScanRequest,
        env: ScanEnv,
        scorer: Callable[[], SentimentScorer],
        shared: SentimentWorkers | None = None,
    ) -> None:
        self._request = request
        self._env = env
        self._scorer = scorer
        self._shared = shared  # the scan's sentiment workers
        self._reply_reach = {b.name: b.reply_reach for b in request.brands}
        self.store: MentionStore | None = None
        self.stamp: datetime | None = None
        self.total = 0

    @property
    def used(self) -> bool:
        return self.store is not None

    def flush(self, window: list[Mention], fetched: Fetched, *, given: Sequence[Mention] = ()) -> None:
        """Score, dedupe and save one window of matched mentions (the caller then lets go of them); `given`:
        mentions matched and scored in an earlier scan, deduped with them."""
        if self.store is None:
            self.store = self._env.store if self._request.save else scratch_store()
            self.stamp = self._request.started or self._env.now()
            # The output is read back by this stamp, and times are whole seconds: a scan that ended within the
            # same second (cron jobs back to back) must not lend this one its mentions.
            while self.store.count(Query(seen_at=self.stamp)):
                self.stamp += timedelta(seconds=1)
        assert self.stamp is not None
        keep = self._request.keeper(fetched)
        mine = window if keep is None else [m for m in window if keep(m)]
        theirs = given if keep is None else [m for m in given if keep(m)]
        if mine:
            score_sentiment(mine, self._scorer(), self._shared)
        kept = dedupe([*mine, *theirs], reply_reach=self._reply_reach)
        score_impact(kept, reply_reach=self._reply_reach, brands=self._request.brands)
        count_mentions(fetched.health, kept, fetched.origin, add=True)
        for m in itertools.chain(window, given):
            fetched.origin.pop(m.key, None)
        self.store.record(kept, self.stamp)
        self.total += len(kept)

    def read_back(self) -> Callable[[], Iterator[Mention]]:
        """The scan's output, from the store: what it saw, or (`--new`) what it found first."""
        assert self.store is not None and self.stamp is not None
        request, store, stamp = self._request, self.store, self.stamp
        if request.quiet_seed:
            return lambda: iter(())
        query = Query(
            brands=[b.name for b in request.brands],
            seen_at=None if request.new_only else stamp,
            first_seen_at=stamp if request.new_only else None,
            sort="impact" if request.sort == "impact" else "newest",
        )
        # As sort_mentions orders them: a post dated past the scan's clock comes after every other (the store
        # keeps no future_dated: it is the scan's judgement, made again here with the scan's clock).
        cut = stamp + FUTURE_SLACK

        def mentions() -> Iterator[Mention]:
            yield from store.iter_mentions(dataclasses.replace(query, until=cut))
            for m in store.iter_mentions(dataclasses.replace(query, since=cut)):
                m.future_dated = m.published_at > cut
                yield m

        if request.limit is None:
            return mentions
        limit = request.limit
        return lambda: itertools.islice(mentions(), limit)

    def left_out(self) -> int:
        """How many of the mentions `read_back` would give `--limit` leaves out."""
        request = self._request
        if request.limit is None or request.quiet_seed or self.store is None or self.stamp is None:
            return 0
        query = Query(
            brands=[b.name for b in request.brands],
            seen_at=None if request.new_only else self.stamp,
            first_seen_at=self.stamp if request.new_only else None,
        )
        return max(0, self.store.count(query) - request.limit)


# Matched mentions held at once before a scan works in windows (about 2.5 KB each while held).
WINDOW = 50_000
# Items matched at a time at the end of a scan, between checks for a full window.
_WINDOW_SLICE = 1_000


def _look_up_outlets(mentions: Sequence[Mention], start: int) -> int:
    """Look up the outlets of the articles among the next mentions from `start` (as their impact will, and
    remembered there): the outlet ranking is read on first use (~8 ms), and a subdomain of a ranked site needs
    the public suffix list (~50 ms). Returns where to go on from."""
    end = min(len(mentions), start + _MATCH_SLICE)
    for mention in mentions[start:end]:
        if mention.kind == OUTLET_KIND:
            outlet_of(mention.url)
    return end


def _key_ahead(keys: Ahead[TextKeys], mentions: Sequence[Mention], start: int) -> int:
    """Work out the dedupe keys of the next mentions from `start`; return where to go on from (the end once
    `keys` is full)."""
    end = min(len(mentions), start + _KEYS_SLICE)
    for i in range(start, end):
        if not keys.add(mentions[i]):
            return len(mentions)
    return end


async def _quiet() -> bool:
    """True when the event loop has nothing waiting to run (no answer waiting to be seen to)."""
    return await came_back_on_time(_QUIET_TICK)


_IDLE_WITHIN = 0.25
_QUIET_TICK = 0.001
# About a millisecond of work: a mention's dedupe keys take ~100 µs (words, pairs and trigrams hashed), what a
# document gave ~100 µs to read (SQLite, zlib, JSON), and as much again for each mention it made (its dedupe keys,
# what its words say).
_KEYS_SLICE = 10
_READ_AHEAD_SLICE = 4
_TICK = 0.002
# About a millisecond of work each: 200 items at ~5 µs to match, 5 texts at ~200 µs to score.
_MATCH_SLICE = 200
_SCORE_SLICE = 5
# Texts handed to the sentiment workers at a time, at least (a few milliseconds of their work, against about
# 0.1 ms to hand them over) and at most SHARED_CHUNK.
_HAND_OVER_AT_LEAST = 50


def sort_mentions(mentions: list[Mention], order: str) -> list[Mention]:
    """Newest (or most impactful) first; a mention dated in the future comes after every other, whatever
    its date or impact: a wrong clock must not pin it above real news."""
    if order == "impact":
        return sorted(mentions, key=lambda m: (not m.future_dated, m.impact or 0.0, m.published_at), reverse=True)
    return sorted(mentions, key=lambda m: (not m.future_dated, m.published_at), reverse=True)


# How far past the scan's clock a date may be before it is taken for a wrong one: time zones and clock skew
# account for hours, not days.
FUTURE_SLACK = timedelta(days=1)


def is_web_url(url: object) -> bool:
    """Whether `url` is an http(s) address with a host: what a mention's permalink and link must be."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an unclosed IPv6 bracket: still an http URL, just not one Python can split
        return url.lstrip().lower().startswith(("http://", "https://"))
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def count_mentions(
    health: list[SourceHealth], mentions: list[Mention], origin: dict[tuple[str, str], list[str]], *, add: bool = False
) -> None:
    """Credit each kept mention (and each duplicate folded into one) to the configured sources it came from
    (`add`: on top of what earlier windows credited)."""
    per_source: dict[str, int] = {}
    for m in mentions:
        keys = [m.key, *((o["source"], o["id"]) for o in m.also_seen)]
        for key in keys:
            for name in origin.get(key, ()):
                per_source[name] = per_source.get(name, 0) + 1
    for h in health:
        h.mentions = (h.mentions if add else 0) + per_source.get(h.name, 0)


@dataclass(frozen=True)
class ScanRequest:
    """What one `scan` asks for, already resolved from flags and config."""

    since: datetime
    brands: Sequence[BrandConfig]
    sources: Sequence[ConfiguredSource]
    sort: str = "newest"
    limit: int | None = None
    # Each source's own `since` by name (`--since last`: its watermark less the overlap); `since` for the rest.
    source_since: Mapping[str, datetime] = field(default_factory=dict)
    # Save what was found in the store.
    save: bool = True
    # When the scan began (what the store records as first seen); None: the clock at the end of the scan.
    started: datetime | None = None
    # Output only what the store had never seen (`--new`, `--backfill`); nothing at all (`--seed`).
    new_only: bool = False
    quiet_seed: bool = False
    # The (source name, brand name) pairs this scan covers (`scan --shard K/N`); None: every source and brand.
    pairs: frozenset[tuple[str, str]] | None = None

    def covers(self, source: str, brand: str) -> bool:
        return self.pairs is None or (source, brand) in self.pairs

    def terms_by_source(self) -> dict[str, list[str]] | None:
        """Each source's search terms: its own pairs' brands' (a shard searches only for what it scans)."""
        if self.pairs is None:
            return None
        return {s.name: search_terms([b for b in self.brands if self.covers(s.name, b.name)]) for s in self.sources}

    def keeper(self, fetched: Fetched) -> Callable[[Mention], bool] | None:
        """Which mentions a shard keeps: those of its pairs, by the configured sources that brought the item (a
        jsonl source may name another); None when the scan covers every pair."""
        if self.pairs is None:
            return None

        def keep(m: Mention) -> bool:
            return any(self.covers(name, m.brand or "") for name in fetched.origin.get(m.key, ()))

        return keep


class Interrupts:
    """SIGINT (Ctrl-C) and SIGTERM (what cron daemons, systemd and `timeout` send) while a scan runs and its output
    is written: the first stops the fetch if it is still running, and is noted either way; the scan goes on to output
    what it gathered (the work after the fetch is bounded), then ends with the signal's exit code. A second ends the
    process at once, unwinding (KeyboardInterrupt, or SystemExit with TERMINATED), so that what cleans up on the way
    out runs: a temp file is removed, the store is closed.

    Python's own handlers, not the event loop's: those run only when the loop gets a turn, never during the work
    after the fetch. Held in the main thread only (where Python runs handlers); elsewhere the signals act as usual."""

    STOPPERS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.first: int | None = None
        # What the first signal stops: the fetch, while it runs. Called from the signal handler.
        self.stop: Callable[[], object] | None = None
        self._previous: dict[int, Any] = {}

    def hold(self) -> None:
        for signum in self.STOPPERS:
            try:
                previous = signal.signal(signum, self._handle)
            except ValueError:  # not the main thread
                return
            # asyncio.run's own Ctrl-C handler (it cancels the run's task) is for its run only, which is over when
            # the result is closed; kept, it would keep that task, and so the result, alive.
            if isinstance(previous, functools.partial) and isinstance(
                getattr(previous.func, "__self__", None), asyncio.Runner
            ):
                previous = signal.default_int_handler
            self._previous[signum] = previous

    def release(self) -> None:
        """Give the signals back to the handlers they had before (unless someone has taken them since)."""
        while self._previous:
            signum, previous = self._previous.popitem()
            with contextlib.suppress(ValueError, TypeError):  # not the main thread; a handler not set from Python
                if signal.getsignal(signum) == self._handle:
                    signal.signal(signum, previous)

    def _handle(self, signum: int, _frame: object) -> None:
        if self.first is None:
            self.first = signum
            if self.stop is not None:
                self.stop()
            return
        self.release()
        if signum == signal.SIGINT:
            raise KeyboardInterrupt
        raise SystemExit(ExitCode.TERMINATED)


async def run_scan(config: Config, request: ScanRequest, env: ScanEnv) -> ScanResult:
    """Fetch, match, score, dedupe, sort: the whole scan. Ctrl-C (or SIGTERM) stops fetching and keeps what was
    gathered; after the fetch, it lets the scan finish. The result holds both signals until it is closed, so that one
    that comes while its output is written lets that finish too (`Interrupts`)."""
    interrupts = Interrupts()
    interrupts.hold()
    try:
        # Processes that may score sentiment beside this one, started only if the scan has enough to score.
        shared = SentimentWorkers.for_name(config.scoring.sentiment, config.scoring.workers)
        with shared or contextlib.nullcontext():
            result = await _scan(config, request, env, shared, interrupts)
    except BaseException:
        interrupts.release()
        raise
    result.interrupts = interrupts
    # A caller that never closes the result (a library's, a test's) gets the signals back when it lets go of it.
    weakref.finalize(result, interrupts.release)
    return result


async def _scan(
    config: Config, request: ScanRequest, env: ScanEnv, shared: SentimentWorkers | None, interrupts: Interrupts
) -> ScanResult:
    from mentionwatch.http import AnsweredAhead, build_client, network_transport

    fetched = Fetched()
    stopped_by: int | None = None
    owners = owned_brands(request.sources)
    given = None
    if env.cache is not None:
        given = GivenDocuments(env.cache, request.brands, scorer_name=config.scoring.sentiment, owners=owners)
    work = WorkAhead(
        request.brands,
        since=request.since,
        scorer_name=config.scoring.sentiment,
        owners=owners,
        given=given,
        shared=shared,
    )
    windows = work.windows = Windows(request, env, work.scorer, shared)
    fetched.relieve = lambda: work.relieve(fetched)
    ahead = asyncio.ensure_future(work.run(fetched))
    settings = http_settings(config)
    transport = env.transport
    if env.prefetched is not None:
        transport = answered = AnsweredAhead(transport or network_transport(settings), env.prefetched, settings)
        work.network_waits = lambda: answered.own > 0
    async with build_client(settings, transport=transport) as client:
        task = asyncio.create_task(
            fetch_all(
                request.sources,
                search_terms(request.brands),
                since=request.since,
                client=client,
                config=config,
                env=env,
                fetched=fetched,
                request_since=request.source_since,
                given=given,
                source_terms=request.terms_by_source(),
            )
        )

        loop = asyncio.get_running_loop()
        # Ctrl-C, and SIGTERM, stop the fetch and keep what was gathered. From a signal handler, which may run while
        # the loop waits on the network: the cancel is handed to the loop, which it wakes.
        interrupts.stop = functools.partial(loop.call_soon_threadsafe, task.cancel)
        if interrupts.first is not None:  # one came before the fetch began: it has nothing to gather
            task.cancel()
        try:
            await task
        except asyncio.CancelledError:
            if interrupts.first is None:
                raise
            stopped_by = interrupts.first
        finally:
            interrupts.stop = None
            ahead.cancel()
    if env.prefetched is not None:
        log.debug("%d requests were sent ahead, %d of them the scan's own", env.prefetched.sent, env.prefetched.taken)
    await asyncio.wait([ahead])  # cancelled with the fetch: let it stop (its own error is not this scan's)
    if not ahead.cancelled() and ahead.exception() is not None:
        # A bug there is met again, and reported, where `process` redoes that work.
        log.debug("work ahead of the fetch failed", exc_info=ahead.exception())
    for health in fetched.health:
        if health.state == "fetching":
            health.state = "interrupted"
    work.relieve(fetched)  # what is left to match, a window at a time
    work.settle()
    if windows.used or len(work.matching.matched) + len(fetched.given) >= WINDOW:
        return _finish_in_windows(work, windows, fetched, request, env, stopped_by)
    matched = work.matching.matched
    keep = request.keeper(fetched)
    mentions = process(
        fetched.mentions,
        request.brands,
        since=request.since,
        # Loaded only when something is to be scored: what unchanged documents gave was scored before.
        scorer=work.scorer() if matched else None,
        matching=work.matching,
        given=fetched.given,
        keep=keep,
        shared=shared,
        keys=work.keys,
        replies=work.replies,
    )
    # A shard scores only its own pairs' mentions, so what a document gave (every brand's, scored) is kept by
    # unsharded scans only; a shard with the same brands takes what they kept, and keeps its own pairs' part.
    if given is not None and stopped_by is None and request.pairs is None:
        given.keep(fetched.intakes, matched)
    count_mentions(fetched.health, mentions, fetched.origin)
    total = len(mentions)
    now = request.started or env.now()
    store_error = None
    if request.save:
        try:
            mentions = remember(env.store, request, mentions, fetched, now, interrupted=stopped_by is not None)
        except StoreError as exc:
            if request.new_only:
                raise  # what is new cannot be told; nothing is lost: saved by no run, they are new to the next
            store_error = exc
            for m in mentions:
                m.first_seen, m.status = now, "new"
    else:
        # Nothing kept: the store fields read as a fresh store would give them (a replay prints what the
        # recorded scan printed), at none of a store's cost.
        for m in mentions:
            m.first_seen, m.status = now, "new"
    if request.quiet_seed:
        mentions = []
    mentions = sort_mentions(mentions, request.sort)
    left_out = 0
    if request.limit is not None:
        left_out = max(0, len(mentions) - request.limit)
        mentions = mentions[: request.limit]
    return ScanResult(
        mentions=mentions,
        health=fetched.health,
        stopped_by=stopped_by,
        total=total,
        left_out=left_out,
        store_error=store_error,
    )


def _finish_in_windows(
    work: WorkAhead, windows: Windows, fetched: Fetched, request: ScanRequest, env: ScanEnv, stopped_by: int | None
) -> ScanResult:
    """The end of a scan worked in windows: the last window saved (with what unchanged documents gave), the
    sources' runs and watermarks recorded, and the output read back from the store. What documents gave is not
    kept for the next scan (GivenDocuments.keep): the mentions it is made of were let go of window by window."""
    if work.matching.matched or fetched.given:
        work.flush_window(fetched, given=fetched.given)
    assert windows.store is not None and windows.stamp is not None
    if request.save:
        remember(windows.store, request, [], fetched, windows.stamp, interrupted=stopped_by is not None)
    return ScanResult(
        mentions=[],
        health=fetched.health,
        stopped_by=stopped_by,
        total=windows.total,
        stream=windows.read_back(),
        scratch=None if request.save else windows.store,
        left_out=windows.left_out(),
    )


# --------------------------------------------------------------------------------------------------------
# What documents gave


@dataclass
class Kept:
    """What a version of a document gave a scan whose source started at `since`: its items with a web URL (or none), in
    order (older ones too: a later scan with a later `since` leaves them out again), each as its id, its date in
    microseconds since 1970 (None: undated, dated when first seen) and the source name its adapter gave it
    ("" for most); the mentions each made (matched and scored; by the item's place, none when no brand
    matched it), and why the document's other items were skipped."""

    since: datetime
    skipped: list[str]
    ids: list[str]
    published: list[int | None]
    named: list[str]
    mentions: dict[int, list[Mention]]


# The fields a kept mention is rebuilt from: what its source gave, what matching and sentiment made of it. The
# rest is the scan's own (its source's name and the date, set when it is taken; dedupe, impact, the store).
_MATCHED = ("brand", "matched_terms", "matched_query", "sentiment", "sentiment_label", "subjectivity")
_KEPT_FIELDS = tuple(n for n in FIELDS if (n in SOURCE_FIELDS and n not in ("source", "published_at")) or n in _MATCHED)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
# Bumped when what is kept changes shape.
_KEPT_FORMAT = 1
# The modules whose code makes what a document gives, beside the source's own: their files' times are part of
# the context, as Python's bytecode cache does, so an edited checkout (an editable install keeps its version)
# never takes what older code made.
_MAKERS = (
    "mentionwatch.models",
    "mentionwatch.text",
    "mentionwatch.urls",
    "mentionwatch.query",
    "mentionwatch.matching",
    "mentionwatch.sentiment",
    "mentionwatch.pipeline",
)


def _micros(when: datetime) -> int:
    return (when - _EPOCH) // _MICROSECOND


def _when(micros: int) -> datetime:
    return _EPOCH + micros * _MICROSECOND


def encode_kept(kept: Kept) -> bytes:
    mentions = {str(i): [[getattr(m, name) for name in _KEPT_FIELDS] for m in ms] for i, ms in kept.mentions.items()}
    named = kept.named if any(kept.named) else None
    row = [_micros(kept.since), kept.skipped, kept.ids, kept.published, named, mentions]
    return json.dumps(row, ensure_ascii=False).encode()


def decode_kept(data: bytes) -> Kept:
    """What `encode_kept` wrote; a ValueError, TypeError or KeyError when it is not that."""
    since, skipped, ids, published, named, rows = json.loads(data)
    if len(ids) != len(published) or (named is not None and len(named) != len(ids)):
        raise ValueError("items do not line up")
    mentions = {}
    for place, made in rows.items():
        i = int(place)
        # Dated when taken (an undated item when it was first seen), and named after the source then.
        mentions[i] = [Mention(source="", published_at=_EPOCH, **dict(zip(_KEPT_FIELDS, m, strict=True))) for m in made]
    return Kept(_when(since), [str(s) for s in skipped], ids, published, named or [""] * len(ids), mentions)


def _decoded(data: bytes) -> Kept | None:
    try:
        return decode_kept(data)
    except (ValueError, TypeError, KeyError):  # kept by some other version, or damaged: read it again
        return None


# Documents whose kept results a scan reads ahead of their answers, at most (each a few KB).
AHEAD = 2000


def _written_at(module: str) -> int:
    """When the file of an imported module was written (0 when it has none: frozen, or in a zip)."""
    try:
        return os.stat(importlib.import_module(module).__file__ or "").st_mtime_ns
    except OSError:
        return 0


class GivenDocuments:
    """What documents gave earlier scans (kept in the HTTP cache, by their URL and validator), for the brands,
    scorer and code of this one: a document that comes back unchanged costs no parsing, matching or scoring.

    What a document gives depends on more than its bytes: the brands' rules (terms, exclusions, queries,
    languages, case), the scorer and the versions of its libraries, whether the source reads a brand's own
    page, and the code that does it. All of it is the `context` of what is kept; a scan in another context
    reads the document again. The scan's `since` is checked when it is taken (`Intake.reuse`)."""

    def __init__(
        self,
        cache: HttpCache,
        brands: Sequence[BrandConfig],
        *,
        scorer_name: str,
        owners: Mapping[str, str] | None = None,
    ) -> None:
        self._cache = cache
        self._brands = brands
        self._scorer_name = scorer_name
        self._owners = owners or {}
        self._common: str | None = None
        self._contexts: dict[str, str] = {}
        # Read ahead, while the network waited: url -> (the validator kept, the context, what it gave).
        self._ahead: dict[str, tuple[str, str, Kept]] = {}

    def ready(self) -> None:
        """Work out what is common to every source's context (the scorer's versions take milliseconds to find)."""
        if self._common is not None:
            return
        made_by = [_written_at(name) for name in _MAKERS]
        self._common = json.dumps(
            [
                _KEPT_FORMAT,
                __version__,
                made_by,
                scorer_identity(self._scorer_name),
                [b.model_dump(mode="json") for b in self._brands],
            ],
            sort_keys=True,
        )

    def context(self, source: Source[Any]) -> str:
        found = self._contexts.get(source.name)
        if found is None:
            self.ready()
            made_by = _written_at(type(source).__module__)
            own = [self._common, source.type, type(source).__qualname__, made_by, self._owners.get(source.name)]
            found = self._contexts[source.name] = hashlib.sha256(json.dumps(own).encode()).hexdigest()
        return found

    def recall(self, url: str, validator: str, source: Source[Any]) -> Kept | None:
        context = self.context(source)
        ahead = self._ahead.pop(url, None)
        if ahead is not None and ahead[1] == context:
            return ahead[2] if ahead[0] == validator else None
        data = self._cache.get_given(url, validator, context)
        return _decoded(data) if data is not None else None

    def read_ahead(self, url: str, source: Source[Any]) -> Kept | None:
        """Read and decode now what the version of `url` kept gave, for the `recall` of a 304 still on its way:
        the wait for the answer, not the answer's turn, pays for it. At most `AHEAD` are held (an answer that
        is not a 304 leaves its document's here until the scan ends). Returns what was read, if anything."""
        if len(self._ahead) >= AHEAD or url in self._ahead:
            return None
        context = self.context(source)
        found = self._cache.given_for(url, context)
        kept = _decoded(found[1]) if found is not None else None
        if found is not None and kept is not None:
            self._ahead[url] = (found[0], context, kept)
        return kept

    def keep(self, intakes: Sequence[Intake], matched: Sequence[Mention]) -> None:
        """Keep what each document read in this scan gave (`matched`: the scan's fresh mentions, matched and
        scored)."""
        by_key: dict[tuple[str, str], list[Mention]] = {}
        for m in matched:
            by_key.setdefault(m.key, []).append(m)
        entries = []
        for intake in intakes:
            entries += [
                (url, validator, self.context(intake.source), encode_kept(kept))
                for url, validator, kept in intake.given_entries(by_key)
            ]
        self._cache.put_given(entries)


def remember(
    store: MentionStore,
    request: ScanRequest,
    mentions: list[Mention],
    fetched: Fetched,
    now: datetime,
    *,
    interrupted: bool,
) -> list[Mention]:
    """Save the scan in the store and return what to output: every mention, or only the new ones.

    Each source that answered moves its (source, brand) watermarks to the newest time it returned (never past
    `now`: a post dated next year must not make the next scan skip a year); a source that failed, or could not read
    a part of itself (an edge refused), or a scan that was interrupted, leaves them where they were, so the next run
    catches up."""
    recorded = store.record(mentions, now)
    by_name = {s.name: s for s in request.sources}
    runs = []
    marks: dict[tuple[str, str], datetime] = {}
    for health in fetched.health:
        configured = by_name.get(health.name)
        if configured is None:
            continue
        identity = configured.config.identity()
        if health.state != "interrupted":  # cut short by the user (Ctrl-C, a cron timeout): nothing said of its health
            runs.append(SourceRun(identity, health.name, health.state, health.error, ok=not health.failed))
        newest = fetched.newest.get(health.name)
        if health.failed or interrupted or newest is None or health.name in fetched.incomplete:
            continue
        for brand in request.brands:
            if request.covers(health.name, brand.name):
                marks[(identity, brand.name)] = min(newest, now)
    store.record_runs(runs, now)
    if marks:
        store.advance_watermarks(marks, now)
    if request.new_only:
        return [m for m in mentions if key_of(m) in recorded.new]
    return mentions


def plan_since(
    store: MentionStore,
    sources: Sequence[ConfiguredSource],
    brands: Sequence[BrandConfig],
    default: datetime,
    overlap: timedelta,
    pairs: frozenset[tuple[str, str]] | None = None,
) -> tuple[datetime, dict[str, datetime]]:
    """`--since last`: each source starts from the oldest watermark of its brands (those it is paired with in
    `pairs`, when given) less the overlap (posts indexed late are not missed, and the store knows the ones seen
    before). A source or brand without one starts from `default` (the configured `since`), and so does a source
    that reads whole documents (`Source.reads_whole`: a feed): its window saves no request, and would lose an item
    a feed publishes later than its own date. Returns the earliest of them (what matching filters on) and each
    source's own."""
    marks = store.watermarks()
    own: dict[str, datetime] = {}
    for configured in sources:
        if configured.cls.reads_whole:
            own[configured.name] = default
            continue
        identity = configured.config.identity()
        found = [marks.get((identity, b.name)) for b in brands if pairs is None or (configured.name, b.name) in pairs]
        known = [m for m in found if m is not None]
        own[configured.name] = min(known) - overlap if known and len(known) == len(found) else default
    return (min(own.values(), default=default), own)


def shard_of(source_identity: str, brand: str, count: int) -> int:
    """Which of `count` shards (0-based) scans this (source, brand) pair: a stable hash of the source's identity
    (`SourceConfig.identity`: its type and options, not the name it is given) and the brand's name, the same on
    every host and in every run (never Python's `hash`, which is salted per process)."""
    digest = hashlib.sha256(f"{source_identity}\n{brand}".encode()).digest()
    return int.from_bytes(digest[:8], "big") % count


def shard_pairs(
    sources: Sequence[ConfiguredSource], brands: Sequence[BrandConfig], shard: int, count: int
) -> list[tuple[ConfiguredSource, BrandConfig]]:
    """The (source, brand) pairs shard `shard` of `count` (1-based, as `scan --shard 2/4` says) scans: every
    pair falls to exactly one shard, so N hosts with the same config share the work without overlap."""
    return [(s, b) for s in sources for b in brands if shard_of(s.config.identity(), b.name, count) == shard - 1]

"""Runs the configured sources concurrently, then matches, scores and dedupes what they return."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import hashlib
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import httpx

from mentionwatch.config import BrandConfig, Config, ConfiguredSource, owned_brands
from mentionwatch.dedupe import dedupe
from mentionwatch.errors import ExitCode, FetchError
from mentionwatch.http import HttpSettings, Limits, SourceHttp
from mentionwatch.impact import score_impact
from mentionwatch.matching import BrandMatcher, Haystack, detect_language, search_terms_of
from mentionwatch.models import Mention
from mentionwatch.redaction import Redactor
from mentionwatch.sentiment import (
    DEFAULT_SCORER,
    SentimentMemo,
    SentimentScorer,
    load_scorer,
    score_sentiment,
    sentiment_text,
)
from mentionwatch.source import Source, SourceContext
from mentionwatch.store import MentionStore, SourceRun, key_of

if TYPE_CHECKING:
    from mentionwatch.cache import HttpCache
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
    # How many mentions the scan found, before `--new` and `--limit` (the table says "3 of 7").
    total: int = 0

    @property
    def interrupted(self) -> bool:
        return self.stopped_by is not None

    @property
    def exit_code(self) -> ExitCode:
        """What the scan's exit status says (the table is `errors.ExitCode`)."""
        if self.stopped_by == signal.SIGTERM:
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
    source_terms: Mapping[str, Sequence[str]] | None = None,
) -> None:
    """Fetch from every source at once into `fetched`, item by item, so that neither a failing source nor
    an interrupt loses what the others returned. `request_since`: a source's own `since` (its watermark),
    by name; `since` for the others. `source_terms`: a source's own search terms (its shard's brands'), by
    name; `terms` for the others."""
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
        runs.append(
            _run_source(
                source, http, health, terms_here, since_here, config.http.deadline, fetched, now=env.now,
                redact=redact,
            )
        )  # fmt: skip
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
    since: datetime,
    deadline: float,
    fetched: Fetched,
    *,
    now: Callable[[], datetime],
    redact: Callable[[str], str],
) -> None:
    seen: set[str] = set()
    older: set[str] = set()
    started = time.monotonic()
    queries: list[str | None] = list(terms) if source.searchable else [None]
    skipped = source.context.skipped
    future = now() + FUTURE_SLACK

    def count_requests() -> None:
        health.requests = http.requests

    http.observer = count_requests

    async def one(term: str | None) -> None:
        async for mention in source.fetch(term, since):
            if not is_web_url(mention.url):
                # A `javascript:`, `data:` or `file:` URL is no permalink, and must never reach a clickable cell.
                skipped.append(f"{mention.id!s:.100}: url is not an http(s) address")
                continue
            if mention.link is not None and not is_web_url(mention.link):
                mention.link = None
            # Adapters may keep an upstream source name (the jsonl reader keeps the exported one).
            mention.source = mention.source or source.name
            mention.source_type = mention.source_type or source.type
            mention.future_dated = mention.published_at > future
            if mention.id in seen or mention.id in older:
                continue
            if mention.published_at < since:
                older.add(mention.id)
                continue
            seen.add(mention.id)
            fetched.mentions.append(mention)
            fetched.origin.setdefault(mention.key, []).append(source.name)
            newest = fetched.newest.get(source.name)
            if newest is None or mention.published_at > newest:
                fetched.newest[source.name] = mention.published_at
            fetched.arrived.set()
            health.items = len(seen) + len(older)

    errors: list[BaseException] = []
    try:
        async with asyncio.timeout(deadline):
            outcomes = await asyncio.gather(*(one(q) for q in queries), return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
    except TimeoutError:
        errors = [TimeoutError(f"gave up after the {deadline:g}s source deadline")]
    finally:
        health.items = len(seen) + len(older)
        health.older = len(older)
        health.requests = http.requests
        health.seconds = round(time.monotonic() - started, 3)
        # The same unreadable item can come back for several terms: counted once.
        health.skipped = len(set(skipped))
        health.warnings = list(dict.fromkeys(source.context.warnings))
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
    elif not seen and not older:
        health.state = "empty"
    else:
        health.state = "ok"


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


def process(
    raw: Iterable[Mention | None],
    brands: Sequence[BrandConfig],
    *,
    since: datetime,
    scorer: SentimentScorer | None = None,
    matching: Matching | None = None,
    owners: Mapping[str, str] | None = None,
    keep: Callable[[Mention], bool] | None = None,
) -> list[Mention]:
    """Match every item against every brand, score the sentiment of what matched, dedupe, then score the impact
    of what survived (an unmatched item is never scored). Sentiment comes before dedupe: a merge must never hide
    a mention that needs a reply (a complaint) behind one that does not, and a complaint is known by its
    sentiment. The default scorer is VADER.

    `matching`: one that already matched a first part of `raw` (the same list, in the same order). `owners`:
    source name -> brand, for sources that read a brand's own page or account (`owned_brands`). `keep`: which
    matched mentions the scan is for (a shard's (source, brand) pairs); all by default."""
    matching = matching or Matching(brands, since=since, owners=owners)
    matching.catch_up(raw if isinstance(raw, Sequence) else list(raw))
    matched = matching.matched if keep is None else [m for m in matching.matched if keep(m)]
    reply_reach = {b.name: b.reply_reach for b in brands}
    score_sentiment(matched, scorer or load_scorer(DEFAULT_SCORER))
    kept = dedupe(matched, reply_reach=reply_reach)
    score_impact(kept, reply_reach=reply_reach)
    return kept


class WorkAhead:
    """Matching and scoring done while the sources wait on the network.

    Run as a task beside the fetch, it matches what has arrived and scores what matched in slices of about
    a millisecond, so a response that comes in is never kept waiting long, and is cancelled when the fetch
    ends; `process` then does whatever is left. The result is the same as doing it all at the end.

    The scorer (VADER's lexicon, TextBlob's) is loaded here too, once the requests are out: loading it in a
    thread instead made every I/O call of the event loop wait up to a GIL switch interval (5 ms) for it."""

    def __init__(
        self,
        brands: Sequence[BrandConfig],
        *,
        since: datetime,
        scorer_name: str,
        owners: Mapping[str, str] | None = None,
    ) -> None:
        self.matching = Matching(brands, since=since, owners=owners, owns_items=True)
        self.memo = SentimentMemo()
        self._scorer_name = scorer_name
        self._scorer: SentimentScorer | None = None
        self._scored = 0

    def scorer(self) -> SentimentScorer:
        """The scan's scorer, remembering what was scored ahead."""
        if self._scorer is None:
            self._scorer = load_scorer(self._scorer_name)
        return self.memo.wrap(self._scorer)

    async def run(self, fetched: Fetched) -> None:
        await asyncio.sleep(0)  # let every source send its first requests
        # Nothing in yet: the network is slow, and the loop idle. Load the scorer now rather than in the
        # middle of the answers.
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(fetched.arrived.wait(), _IDLE)
        if not fetched.mentions:
            self.scorer()
        matched = self.matching.matched
        while True:
            if self.matching.done < len(fetched.mentions):
                self.matching.catch_up(fetched.mentions, limit=_MATCH_SLICE)
            elif self._scored < len(matched):
                end = min(len(matched), self._scored + _SCORE_SLICE)
                self.memo.prime(self.scorer(), (sentiment_text(m) for m in matched[self._scored : end]))
                self._scored = end
            else:
                fetched.arrived.clear()
                await fetched.arrived.wait()
                continue
            await asyncio.sleep(0)  # let the network callbacks in


_IDLE = 0.02
# About a millisecond of work each: 200 items at ~5 µs to match, 5 texts at ~200 µs to score.
_MATCH_SLICE = 200
_SCORE_SLICE = 5


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
    health: list[SourceHealth], mentions: list[Mention], origin: dict[tuple[str, str], list[str]]
) -> None:
    """Credit each kept mention (and each duplicate folded into one) to the configured sources it came from."""
    per_source: dict[str, int] = {}
    for m in mentions:
        keys = [m.key, *((o["source"], o["id"]) for o in m.also_seen)]
        for key in keys:
            for name in origin.get(key, ()):
                per_source[name] = per_source.get(name, 0) + 1
    for h in health:
        h.mentions = per_source.get(h.name, 0)


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


async def run_scan(config: Config, request: ScanRequest, env: ScanEnv) -> ScanResult:
    """Fetch, match, score, dedupe, sort: the whole scan. Ctrl-C stops fetching and keeps what was gathered."""
    from mentionwatch.http import build_client

    fetched = Fetched()
    stopped_by: int | None = None
    work = WorkAhead(
        request.brands,
        since=request.since,
        scorer_name=config.scoring.sentiment,
        owners=owned_brands(request.sources),
    )
    ahead = asyncio.ensure_future(work.run(fetched))
    async with build_client(http_settings(config), transport=env.transport) as client:
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
                source_terms=request.terms_by_source(),
            )
        )

        def stop(signum: int) -> None:
            nonlocal stopped_by
            stopped_by = signum
            task.cancel()

        loop = asyncio.get_running_loop()
        # Ctrl-C, and SIGTERM (what cron daemons, systemd and `timeout` send), stop the fetch and keep what was
        # gathered. Not the main thread, or a platform without loop signal handlers: they end the run as usual.
        stoppers = (signal.SIGINT, signal.SIGTERM)
        for signum in stoppers:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.add_signal_handler(signum, stop, signum)
        try:
            await task
        except asyncio.CancelledError:
            if stopped_by is None:
                raise
        finally:
            ahead.cancel()
            for signum in stoppers:
                with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                    loop.remove_signal_handler(signum)
    await asyncio.wait([ahead])  # cancelled with the fetch: let it stop (its own error is not this scan's)
    if not ahead.cancelled() and ahead.exception() is not None:
        # A bug there is met again, and reported, where `process` redoes that work.
        log.debug("work ahead of the fetch failed", exc_info=ahead.exception())
    for health in fetched.health:
        if health.state == "fetching":
            health.state = "interrupted"
    keep = None
    if request.pairs is not None:

        def keep(m: Mention) -> bool:
            # By the configured sources that brought the item: a jsonl source may name another.
            return any(request.covers(name, m.brand or "") for name in fetched.origin.get(m.key, ()))

    mentions = process(
        fetched.mentions, request.brands, since=request.since, scorer=work.scorer(), matching=work.matching, keep=keep
    )
    count_mentions(fetched.health, mentions, fetched.origin)
    total = len(mentions)
    now = request.started or env.now()
    if request.save:
        mentions = remember(env.store, request, mentions, fetched, now, interrupted=stopped_by is not None)
    else:
        # Nothing kept: the store fields read as a fresh store would give them (a replay prints what the
        # recorded scan printed), at none of a store's cost.
        for m in mentions:
            m.first_seen, m.status = now, "new"
    if request.quiet_seed:
        mentions = []
    mentions = sort_mentions(mentions, request.sort)
    if request.limit is not None:
        mentions = mentions[: request.limit]
    return ScanResult(mentions=mentions, health=fetched.health, stopped_by=stopped_by, total=total)


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
    `now`: a post dated next year must not make the next scan skip a year); a source that failed, or a scan
    that was interrupted, leaves them where they were, so the next run catches up."""
    recorded = store.record(mentions, now)
    by_name = {s.name: s for s in request.sources}
    runs = []
    marks: dict[tuple[str, str], datetime] = {}
    for health in fetched.health:
        configured = by_name.get(health.name)
        if configured is None:
            continue
        identity = configured.config.identity()
        runs.append(SourceRun(identity, health.name, health.state, health.error, ok=not health.failed))
        newest = fetched.newest.get(health.name)
        if health.failed or interrupted or newest is None:
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
    before). A source or brand without one starts from `default`. Returns the earliest of them (what matching
    filters on) and each source's own."""
    marks = store.watermarks()
    own: dict[str, datetime] = {}
    for configured in sources:
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

"""Runs the configured sources concurrently, then matches, scores and dedupes what they return."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import signal
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from mentionwatch.config import BrandConfig, Config, ConfiguredSource
from mentionwatch.dedupe import dedupe
from mentionwatch.errors import FetchError
from mentionwatch.http import HttpSettings, Limits, SourceHttp
from mentionwatch.matching import BrandMatcher, Haystack, detect_language, search_terms_of
from mentionwatch.models import Mention
from mentionwatch.scoring import DEFAULT_SCORER, SentimentScorer, load_scorer, score_mentions
from mentionwatch.source import Source, SourceContext
from mentionwatch.store import Store

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

    @property
    def failed(self) -> bool:
        return self.state not in OK_STATES

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclass
class ScanResult:
    mentions: list[Mention]
    health: list[SourceHealth] = field(default_factory=list)
    interrupted: bool = False

    @property
    def exit_code(self) -> int:
        """0 every source answered; 3 some failed (the rest is still output); 4 every source failed;
        130 interrupted (what was gathered is still output)."""
        if self.interrupted:
            return 130
        failed = sum(h.failed for h in self.health)
        if not failed:
            return 0
        return 4 if failed == len(self.health) else 3


@dataclass
class Fetched:
    """Everything the sources returned, their health, and which configured source gave each item."""

    mentions: list[Mention] = field(default_factory=list)
    health: list[SourceHealth] = field(default_factory=list)
    # Several configured sources can deliver the same item (a jsonl re-read of an export beside the live
    # source it came from): each is credited.
    origin: dict[tuple[str, str], list[str]] = field(default_factory=dict)


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
    store: Store
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
) -> None:
    """Fetch from every source at once into `fetched`, item by item, so that neither a failing source nor
    an interrupt loses what the others returned."""
    settings = http_settings(config)
    limits = Limits(settings.concurrency, settings.per_host)
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
            first_seen=env.store.first_seen,
            sleep=env.sleep,
            cache_dir=env.cache_dir,
        )
        source = configured.cls(configured.config, context)
        http.requests_per_minute = source.rate_per_minute()
        health = SourceHealth(name=source.name, type=source.type, state="fetching")
        fetched.health.append(health)
        runs.append(_run_source(source, http, health, terms, since, config.http.deadline, fetched))
    if env.on_start is not None:
        env.on_start(fetched.health)
    await asyncio.gather(*runs)


async def _run_source(
    source: Source,
    http: SourceHttp,
    health: SourceHealth,
    terms: Sequence[str],
    since: datetime,
    deadline: float,
    fetched: Fetched,
) -> None:
    seen: set[str] = set()
    started = time.monotonic()
    queries: list[str | None] = list(terms) if source.searchable else [None]

    def count_requests() -> None:
        health.requests = http.requests

    http.observer = count_requests

    async def one(term: str | None) -> None:
        async for mention in source.fetch(term, since):
            # Adapters may keep an upstream source name (the jsonl reader keeps the exported one).
            mention.source = mention.source or source.name
            mention.source_type = mention.source_type or source.type
            if mention.id in seen:
                continue
            seen.add(mention.id)
            fetched.mentions.append(mention)
            fetched.origin.setdefault(mention.key, []).append(source.name)
            health.items = len(seen)

    errors: list[BaseException] = []
    try:
        async with asyncio.timeout(deadline):
            outcomes = await asyncio.gather(*(one(q) for q in queries), return_exceptions=True)
        errors = [o for o in outcomes if isinstance(o, BaseException)]
    except TimeoutError:
        errors = [TimeoutError(f"gave up after the {deadline:g}s source deadline")]
    finally:
        health.items = len(seen)
        health.requests = http.requests
        health.seconds = round(time.monotonic() - started, 3)
    for err in errors:
        if isinstance(err, asyncio.CancelledError):
            raise err
        if not isinstance(err, (FetchError, TimeoutError)):
            # A bug in an adapter is that source's failure, not the scan's; -v shows the traceback.
            log.debug("source %s crashed", source.name, exc_info=err)
    if errors:
        err = errors[0]
        health.state = getattr(err, "state", "timed out" if isinstance(err, TimeoutError) else "failed")
        health.error = str(err) if isinstance(err, (FetchError, TimeoutError)) else f"{type(err).__name__}: {err}"
    elif http.requests and http.not_modified == http.requests:
        health.state = "not modified"
    elif not seen:
        health.state = "empty"
    else:
        health.state = "ok"


def match_mentions(raw: Iterable[Mention], brands: Sequence[BrandConfig], *, since: datetime) -> list[Mention]:
    """Every item since `since` that a brand matches, as a copy carrying that brand, the words found and the
    language (detected when the source gave none); an item two brands match is two mentions.

    Matching sees the clean title and text, the author, the item's own URL and its language."""
    matchers = [BrandMatcher(b) for b in brands]
    matched: list[Mention] = []
    for item in raw:
        if item.published_at < since:
            continue
        hay = Haystack(item.title, item.text)
        for matcher in matchers:
            hit = matcher.match_haystack(hay, author=item.author, url=item.url, lang=item.lang)
            if hit is None:
                continue
            matched.append(
                dataclasses.replace(
                    item,
                    brand=hit.brand,
                    matched_terms=hit.terms,
                    matched_query=hit.clause,
                    lang=item.lang or detect_language(item.title, item.text),
                    also_seen=[],
                    duplicates=0,
                )
            )
    return matched


def process(
    raw: Iterable[Mention],
    brands: Sequence[BrandConfig],
    *,
    since: datetime,
    scorer: SentimentScorer | None = None,
) -> list[Mention]:
    """Match every item against every brand, then dedupe, then score only what survived (so neither an
    unmatched item nor a duplicate is ever scored). The default scorer is VADER."""
    kept = dedupe(match_mentions(raw, brands, since=since))
    reply_reach = {b.name: b.reply_reach for b in brands}
    score_mentions(kept, scorer or load_scorer(DEFAULT_SCORER), reply_reach=reply_reach)
    return kept


def sort_mentions(mentions: list[Mention], order: str) -> list[Mention]:
    if order == "impact":
        return sorted(mentions, key=lambda m: (m.impact or 0.0, m.published_at), reverse=True)
    return sorted(mentions, key=lambda m: m.published_at, reverse=True)


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


async def run_scan(config: Config, request: ScanRequest, env: ScanEnv) -> ScanResult:
    """Fetch, match, score, dedupe, sort: the whole scan. Ctrl-C stops fetching and keeps what was gathered."""
    from mentionwatch.http import build_client

    fetched = Fetched()
    interrupted = False
    # Loading the scorer (VADER's lexicon, TextBlob) takes a few hundred milliseconds of imports: done in a
    # thread while the network is slow anyway, not after it.
    scorer_ready = asyncio.ensure_future(asyncio.to_thread(load_scorer, config.scoring.sentiment))
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
            )
        )

        def interrupt() -> None:
            nonlocal interrupted
            interrupted = True
            task.cancel()

        loop = asyncio.get_running_loop()
        # Not the main thread, or a platform without loop signal handlers: Ctrl-C then ends the run as usual.
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(signal.SIGINT, interrupt)
        try:
            await task
        except asyncio.CancelledError:
            if not interrupted:
                raise
        finally:
            with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
                loop.remove_signal_handler(signal.SIGINT)
    for health in fetched.health:
        if health.state == "fetching":
            health.state = "interrupted"
    scorer = await scorer_ready
    mentions = process(fetched.mentions, request.brands, since=request.since, scorer=scorer)
    count_mentions(fetched.health, mentions, fetched.origin)
    mentions = sort_mentions(mentions, request.sort)
    if request.limit is not None:
        mentions = mentions[: request.limit]
    return ScanResult(mentions=mentions, health=fetched.health, interrupted=interrupted)

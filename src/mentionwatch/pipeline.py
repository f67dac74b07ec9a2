"""Runs the configured sources concurrently, then matches, scores and dedupes what they return."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import httpx

from mentionwatch.config import BrandConfig, Config, ConfiguredSource
from mentionwatch.dedupe import dedupe
from mentionwatch.errors import FetchError
from mentionwatch.http import HttpSettings, SourceHttp
from mentionwatch.matching import BrandMatcher
from mentionwatch.models import Mention
from mentionwatch.scoring import TextBlobScorer, score_mentions
from mentionwatch.source import Source, SourceContext
from mentionwatch.store import Store

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

    @property
    def exit_code(self) -> int:
        """0 every source answered; 3 some failed (the rest is still output); 4 every source failed."""
        failed = sum(h.failed for h in self.health)
        if not failed:
            return 0
        return 4 if failed == len(self.health) else 3


@dataclass
class Fetched:
    """Everything the sources returned, their health, and which configured source gave each item."""

    mentions: list[Mention] = field(default_factory=list)
    health: list[SourceHealth] = field(default_factory=list)
    origin: dict[tuple[str, str], str] = field(default_factory=dict)


def search_terms(brands: Sequence[BrandConfig]) -> list[str]:
    """The terms to ask searchable services for: every brand's terms, each once."""
    seen: dict[str, str] = {}
    for brand in brands:
        for term in brand.terms:
            seen.setdefault(term.casefold(), term)
    return list(seen.values())


async def fetch_all(
    sources: Sequence[ConfiguredSource],
    terms: Sequence[str],
    *,
    since: datetime,
    client: httpx.AsyncClient,
    config: Config,
    now: Callable[[], datetime],
    store: Store,
) -> Fetched:
    """Fetch from every source at once; one source's failure never loses another's mentions."""
    settings = HttpSettings(
        connect_timeout=config.http.connect_timeout,
        read_timeout=config.http.timeout,
        max_bytes=config.http.max_bytes,
    )
    limiter = asyncio.Semaphore(config.http.concurrency)
    runs = []
    for configured in sources:
        http = SourceHttp(client, settings, limiter=limiter)
        context = SourceContext(http=http, now=now, base_dir=config.base_dir, first_seen=store.first_seen)
        source = configured.cls(configured.config, context)
        runs.append(_run_source(source, http, terms, since, config.http.deadline))
    results = await asyncio.gather(*runs)
    fetched = Fetched()
    for items, health in results:
        fetched.health.append(health)
        for m in items:
            fetched.mentions.append(m)
            fetched.origin[m.key] = health.name
    return fetched


async def _run_source(
    source: Source, http: SourceHttp, terms: Sequence[str], since: datetime, deadline: float
) -> tuple[list[Mention], SourceHealth]:
    health = SourceHealth(name=source.name, type=source.type)
    items: dict[str, Mention] = {}
    started = time.monotonic()
    queries: list[str | None] = list(terms) if source.searchable else [None]

    async def one(term: str | None) -> None:
        async for mention in source.fetch(term, since):
            # Adapters may keep an upstream source name (the jsonl reader keeps the exported one).
            mention.source = mention.source or source.name
            mention.source_type = mention.source_type or source.type
            items.setdefault(mention.id, mention)

    outcomes: list[BaseException | None]
    try:
        async with asyncio.timeout(deadline):
            outcomes = list(await asyncio.gather(*(one(q) for q in queries), return_exceptions=True))
    except TimeoutError:
        outcomes = [TimeoutError(f"gave up after the {deadline:g}s source deadline")]
    errors = [o for o in outcomes if isinstance(o, BaseException)]
    for err in errors:
        if isinstance(err, asyncio.CancelledError):
            raise err
        if not isinstance(err, (FetchError, TimeoutError)):
            log.debug("source %s crashed", source.name, exc_info=err)
    health.items = len(items)
    health.requests = http.requests
    health.seconds = round(time.monotonic() - started, 3)
    if errors:
        err = errors[0]
        health.state = getattr(err, "state", "timed out" if isinstance(err, TimeoutError) else "failed")
        health.error = str(err) if isinstance(err, (FetchError, TimeoutError)) else f"{type(err).__name__}: {err}"
    elif not items:
        health.state = "empty"
    return list(items.values()), health


def process(
    raw: Iterable[Mention],
    brands: Sequence[BrandConfig],
    *,
    since: datetime,
    scorer: TextBlobScorer | None = None,
) -> list[Mention]:
    """Match every item against every brand, then dedupe, then score only what survived."""
    matchers = [BrandMatcher(b) for b in brands]
    matched: list[Mention] = []
    for item in raw:
        if item.published_at < since:
            continue
        for matcher in matchers:
            hit = matcher.match(item.title, item.text)
            if hit is None:
                continue
            matched.append(
                dataclasses.replace(item, brand=hit.brand, matched_terms=hit.terms, also_seen=[], duplicates=0)
            )
    kept = dedupe(matched)
    score_mentions(kept, scorer or TextBlobScorer())
    return kept


def sort_mentions(mentions: list[Mention], order: str) -> list[Mention]:
    if order == "impact":
        return sorted(mentions, key=lambda m: (m.impact or 0.0, m.published_at), reverse=True)
    return sorted(mentions, key=lambda m: m.published_at, reverse=True)


def count_mentions(health: list[SourceHealth], mentions: list[Mention], origin: dict[tuple[str, str], str]) -> None:
    """Credit each kept mention (and each duplicate folded into one) to the configured source it came from."""
    per_source: dict[str, int] = {}
    for m in mentions:
        keys = [m.key, *((o["source"], o["id"]) for o in m.also_seen)]
        for key in keys:
            name = origin.get(key)
            if name is not None:
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


async def run_scan(
    config: Config,
    request: ScanRequest,
    *,
    now: Callable[[], datetime],
    store: Store,
    transport: httpx.AsyncBaseTransport | None = None,
) -> ScanResult:
    """Fetch, match, score, dedupe, sort: the whole scan."""
    from mentionwatch.http import build_client

    settings = HttpSettings(connect_timeout=config.http.connect_timeout, read_timeout=config.http.timeout)
    async with build_client(settings, transport=transport) as client:
        fetched = await fetch_all(
            request.sources,
            search_terms(request.brands),
            since=request.since,
            client=client,
            config=config,
            now=now,
            store=store,
        )
    mentions = process(fetched.mentions, request.brands, since=request.since)
    count_mentions(fetched.health, mentions, fetched.origin)
    mentions = sort_mentions(mentions, request.sort)
    if request.limit is not None:
        mentions = mentions[: request.limit]
    return ScanResult(mentions=mentions, health=fetched.health)

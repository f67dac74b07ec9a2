"""The pipeline with fake sources: health states, exit codes, credit, deadlines — no network at all."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
from pydantic import Field

from mentionwatch.config import BrandConfig, Config, ConfiguredSource, HttpConfig, ScoringConfig
from mentionwatch.errors import FetchError, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.pipeline import ScanEnv, ScanRequest, ScanResult, SourceHealth, run_scan
from mentionwatch.source import Source, SourceConfig
from mentionwatch.store import Store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class FakeConfig(SourceConfig):
    base_url: str = "https://fake.test"
    items: list[str] = Field(default_factory=list)
    fail: str = ""
    hang: bool = False
    keep_source: str = ""


class FakeSource(Source):
    """Yields the configured items as mentions, then fails or hangs if told to."""

    type = "fake"
    Config = FakeConfig
    searchable: ClassVar[bool] = False

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        assert isinstance(self.config, FakeConfig)
        for i, text in enumerate(self.config.items):
            yield Mention(
                source=self.config.keep_source,
                id=f"{i}",
                url=f"https://fake.test/{self.config.keep_source or self.name}/{i}",
                published_at=NOW,
                text=text,
            )
        if self.config.fail == "unauthorized":
            raise Unauthorized("login wall")
        if self.config.fail:
            raise FetchError(self.config.fail)
        if self.config.hang:
            await asyncio.sleep(3600)


def scan(*sources: FakeConfig, deadline: float = 30) -> ScanResult:
    config = Config(
        path=Path("x.yaml"),
        since=None,
        brands=[BrandConfig(name="Acme", terms=["Acme"])],
        sources=[ConfiguredSource(FakeSource, s) for s in sources],
        http=HttpConfig(deadline=deadline),
        scoring=ScoringConfig(),
    )
    request = ScanRequest(since=datetime(2026, 1, 1, tzinfo=UTC), brands=config.brands, sources=config.sources)
    env = ScanEnv(now=lambda: NOW, store=Store(None), transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    return asyncio.run(run_scan(config, request, env))


def states(result: ScanResult) -> dict[str, str]:
    return {h.name: h.state for h in result.health}


def test_all_answering_exits_0_and_empty_is_not_a_failure() -> None:
    result = scan(FakeConfig(type="fake", name="a", items=["Acme rocks"]), FakeConfig(type="fake", name="b"))
    assert states(result) == {"a": "ok", "b": "empty"}
    assert result.exit_code == 0
    assert [m.text for m in result.mentions] == ["Acme rocks"]


def test_a_failing_source_keeps_what_it_yielded_and_exits_3() -> None:
    result = scan(
        FakeConfig(type="fake", name="a", items=["Acme one"]),
        FakeConfig(type="fake", name="b", items=["Acme two"], fail="HTTP 500"),
    )
    assert states(result) == {"a": "ok", "b": "failed"}
    assert result.exit_code == 3
    assert sorted(m.text for m in result.mentions) == ["Acme one", "Acme two"]
    failed = next(h for h in result.health if h.name == "b")
    assert failed.error == "HTTP 500" and failed.items == 1


def test_every_source_failing_exits_4() -> None:
    result = scan(FakeConfig(type="fake", name="a", fail="unauthorized"), FakeConfig(type="fake", name="b", fail="x"))
    assert states(result) == {"a": "unauthorized", "b": "failed"}
    assert result.exit_code == 4


def test_a_source_past_its_deadline_is_abandoned_with_what_it_had() -> None:
    result = scan(
        FakeConfig(type="fake", name="slow", items=["Acme early"], hang=True),
        FakeConfig(type="fake", name="fast", items=["Acme fast"]),
        deadline=0.2,
    )
    assert states(result) == {"slow": "timed out", "fast": "ok"}
    assert sorted(m.text for m in result.mentions) == ["Acme early", "Acme fast"]


def test_the_same_item_from_two_configured_sources_credits_both() -> None:
    # A jsonl re-read of an export keeps the exported `source`, so its items share keys with the live source.
    result = scan(
        FakeConfig(type="fake", name="live", items=["Acme same"], keep_source="hn"),
        FakeConfig(type="fake", name="export", items=["Acme same"], keep_source="hn"),
    )
    assert len(result.mentions) == 1
    assert {h.name: h.mentions for h in result.health} == {"live": 1, "export": 1}


def test_health_failed_property() -> None:
    assert not SourceHealth("a", "t", state="not modified").failed
    assert SourceHealth("a", "t", state="rate-limited").failed

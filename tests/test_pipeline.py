"""The pipeline with fake sources: health states, exit codes, credit, deadlines — no network at all."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import ClassVar

import httpx
import pytest
from pydantic import Field

from mentionwatch.config import (
    BrandConfig,
    Config,
    ConfiguredSource,
    HttpConfig,
    ScoringConfig,
    load_config,
    owned_brands,
)
from mentionwatch.errors import ConfigError, FetchError, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.pipeline import (
    Fetched,
    ScanEnv,
    ScanRequest,
    ScanResult,
    SourceHealth,
    WorkAhead,
    _quiet,
    match_mentions,
    process,
    run_scan,
)
from mentionwatch.registry import Registry
from mentionwatch.sentiment import sentiment_text
from mentionwatch.source import OwnedSourceConfig, Source, SourceConfig
from mentionwatch.store import memory_store

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


class FakeConfig(SourceConfig):
    base_url: str = "https://fake.test"
    items: list[str] = Field(default_factory=list)
    fail: str = ""
    hang: bool = False
    keep_source: str = ""
    pause: float = 0.0  # seconds between items (the event loop runs other work meanwhile)


class FakeSource(Source[FakeConfig]):
    """Yields the configured items as mentions, then fails or hangs if told to."""

    type = "fake"
    searchable: ClassVar[bool] = False

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        for i, text in enumerate(self.config.items):
            if self.config.pause:
                await asyncio.sleep(self.config.pause)
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
    env = ScanEnv(now=lambda: NOW, store=memory_store(), transport=httpx.MockTransport(lambda r: httpx.Response(500)))
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


def test_the_scans_own_work_between_a_sources_items_is_not_charged_to_its_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Windows of 2 mentions, each taking 0.15 s to save, saved by the work ahead while the source waits between
    # its items: 8 items are 4 windows, 0.6 s of the loop's time against a deadline of 0.4 s. Credited back, the
    # source ends `ok` with every mention.
    import time

    from mentionwatch import pipeline

    flush = pipeline.Windows.flush
    by_work_ahead: list[int] = []

    def slow_flush(self: pipeline.Windows, window: list[Mention], fetched: Fetched, **given: object) -> None:
        time.sleep(0.15)
        by_work_ahead.append(len(window))
        flush(self, window, fetched, **given)  # type: ignore[arg-type]

    monkeypatch.setattr(pipeline, "WINDOW", 2)
    monkeypatch.setattr(pipeline, "RELIEVE_EVERY", 10**9)  # the intake never relieves: only the work ahead saves
    monkeypatch.setattr(pipeline.Windows, "flush", slow_flush)
    items = [f"Acme {i}" for i in range(8)]
    result = scan(FakeConfig(type="fake", name="slow", items=items, pause=0.02), deadline=0.4)
    assert states(result) == {"slow": "ok"}
    assert len(by_work_ahead) >= 3
    assert result.stream is not None and sorted(m.text for m in result.stream()) == sorted(items)


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


TEXTS = [
    "Acme support answered in five minutes, great job",
    "Is Acme down for anyone else?",
    "nothing to see here",
    "I hate how slow the Acme dashboard got :(",
    "Acme, Acme, Acme: all I hear about today",
    "unrelated post about the weather",
]


@pytest.mark.parametrize("idle", [True, False])
def test_work_done_ahead_of_the_fetch_gives_the_same_mentions(idle: bool) -> None:
    brands = [BrandConfig(name="Acme", terms=["Acme"])]
    since = datetime(2026, 1, 1, tzinfo=UTC)
    items = [
        Mention(source="s", id=str(i), url=f"https://x.test/{i}", published_at=NOW, text=f"{TEXTS[i % 6]} #{i % 40}")
        for i in range(600)
    ]

    async def go() -> tuple[list[Mention], int, int, int]:
        fetched = Fetched()
        work = WorkAhead(brands, since=since, scorer_name="vader")
        task = asyncio.ensure_future(work.run(fetched))
        for i, item in enumerate(items):
            fetched.mentions.append(item)
            fetched.arrived.set()
            if idle and i % 50 == 0:
                await asyncio.sleep(0.01)  # the network is slow: time to work
        if idle:
            await asyncio.sleep(0.2)
        else:  # the fetch ended with part of the work done: the part a busy loop left time for
            work.matching.catch_up(fetched.mentions, limit=250)
            work.memo.prime(work.scorer(), [sentiment_text(m) for m in work.matching.matched[:20]])
        done, primed, keyed = work.matching.done, len(work.memo), len(work.keys)
        task.cancel()
        out = process(
            fetched.mentions, brands, since=since, scorer=work.scorer(), matching=work.matching, keys=work.keys
        )
        assert len(work.keys) == 0  # every key worked out ahead was used
        return out, done, primed, keyed

    ahead, done, primed, keyed = asyncio.run(go())
    fresh = process(list(items), brands, since=since)
    assert [m.to_dict() for m in ahead] == [m.to_dict() for m in fresh] and len(fresh) > 100
    matched = match_mentions(items, brands, since=since)
    if idle:  # everything was matched, scored and made ready for dedupe before the fetch ended
        assert done == len(items)
        assert primed == len({sentiment_text(m) for m in matched})
        assert keyed == len(matched)
    else:  # some of it, and `process` did the rest
        assert done == 250 and 0 < primed < len(fresh) and keyed == 0


def test_work_ahead_of_its_time_waits_while_answers_are_waiting() -> None:
    """`_quiet`: an idle loop comes back from a short sleep on time; one with callbacks queued (answers to read)
    comes back late, and the work that is only early waits."""

    async def go() -> tuple[bool, bool]:
        # On a busy machine an idle loop may come back late once: asked a few times, it is seen idle.
        idle = any([await _quiet() for _ in range(20)])
        loop = asyncio.get_running_loop()
        for _ in range(3):
            loop.call_soon(time.sleep, 0.005)  # three answers' worth of work queued on the loop
        busy = await _quiet()
        return idle, busy

    assert asyncio.run(go()) == (True, False)


# --- sources on a brand's own ground: their items are the brand's whatever they say ---------------------------------


class OwnedConfig(OwnedSourceConfig):
    base_url: str = "https://owned.test"
    items: list[str] = Field(default_factory=list)
    note: str = ""


class OwnedSource(Source[OwnedConfig]):
    """Yields `author: text` items, as said on a brand's own page; notes what it could not read."""

    type = "owned"
    searchable: ClassVar[bool] = False

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        for i, line in enumerate(self.config.items):
            author, _, text = line.partition(": ")
            yield Mention(source="", id=str(i), url=f"https://owned.test/{i}", published_at=NOW, author=author, text=text)
        if self.config.note:
            self.context.warnings.append(self.config.note)
            self.context.warnings.append(self.config.note)


OWN_BRANDS = [
    BrandConfig(name="Acme", terms=["Acme"], exclude=["coyote"], exclude_authors=["acme_bot"]),
    BrandConfig(name="Globex", terms=["Globex"]),
]


def owned_scan(config: OwnedConfig, brands: list[BrandConfig] = OWN_BRANDS) -> ScanResult:
    full = Config(
        path=Path("x.yaml"),
        since=None,
        brands=brands,
        sources=[ConfiguredSource(OwnedSource, config)],
        http=HttpConfig(),
        scoring=ScoringConfig(),
    )
    request = ScanRequest(since=datetime(2026, 1, 1, tzinfo=UTC), brands=full.brands, sources=full.sources)
    env = ScanEnv(now=lambda: NOW, store=memory_store(), transport=httpx.MockTransport(lambda r: httpx.Response(500)))
    return asyncio.run(run_scan(full, request, env))


def test_an_owned_sources_items_belong_to_its_brand_and_obey_its_filters_only() -> None:
    items = [
        "ana: the delivery took three weeks",  # no brand word: Acme's all the same
        "bo: where is my coyote order",  # Acme's exclusion still vetoes it
        "acme_bot: new post is up",  # so does its author filter
        "cy: switching to Globex tomorrow",  # Acme's (its page), and Globex's by its terms
        "di: love Acme",  # the brand's words found are still reported
    ]
    result = owned_scan(OwnedConfig(type="owned", brand="Acme", items=items))
    got = sorted((m.brand or "", m.author, tuple(m.matched_terms)) for m in result.mentions)
    assert got == [
        ("Acme", "ana", ()),
        ("Acme", "cy", ()),
        ("Acme", "di", ("Acme",)),
        ("Globex", "cy", ("Globex",)),
    ]


def test_without_an_owner_the_same_items_are_matched_on_terms_alone() -> None:
    result = owned_scan(OwnedConfig(type="owned", items=["ana: the delivery took three weeks", "di: love Acme"]))
    assert [(m.brand, m.author) for m in result.mentions] == [("Acme", "di")]


def test_an_owner_left_out_of_the_scan_falls_back_to_terms() -> None:
    # `scan --brand Globex`: the Page's items are matched on Globex's terms only.
    result = owned_scan(
        OwnedConfig(type="owned", brand="Acme", items=["ana: nice", "cy: Globex"]), brands=[OWN_BRANDS[1]]
    )
    assert [(m.brand, m.author) for m in result.mentions] == [("Globex", "cy")]


def test_a_sources_warnings_reach_its_health_once_each_without_failing_it(capsys: pytest.CaptureFixture[str]) -> None:
    from mentionwatch.output import print_health

    result = owned_scan(OwnedConfig(type="owned", brand="Acme", items=["ana: hi"], note="ratings not read: no"))
    [health] = result.health
    assert (health.state, health.warnings) == ("ok", ["ratings not read: no"])
    assert list(health.to_dict())[-1] == "warnings"  # a new key comes last in the health JSON
    print_health(result, quiet=False, redact=lambda s: s)
    assert "ok" in capsys.readouterr().err.split("ratings not read: no")[0]


def _load(tmp_path: Path, text: str) -> Config:
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return load_config(path, Registry({"owned": OwnedSource}), environ={})


def test_an_owned_source_belongs_to_the_only_brand_by_default(tmp_path: Path) -> None:
    config = _load(tmp_path, "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: owned\n")
    [source] = config.sources
    assert isinstance(source.config, OwnedConfig) and source.config.brand == "Acme"
    assert owned_brands(config.sources) == {"owned": "Acme"}


def test_an_owned_source_must_say_whose_when_there_are_several_brands(tmp_path: Path) -> None:
    text = "brands:\n  - name: Acme\n    terms: [Acme]\n  - name: Globex\n    terms: [Globex]\nsources:\n  - type: owned\n"
    with pytest.raises(ConfigError, match=r"mentionwatch.yaml:7: sources\[0\]: type owned .*`brand:` \(one of Acme, Globex\)"):
        _load(tmp_path, text)


def test_an_owned_sources_brand_must_be_one_of_the_configs(tmp_path: Path) -> None:
    text = "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: owned\n    brand: acme\n  - type: owned\n"
    text += "    name: typo\n    brand: Acmee\n"
    with pytest.raises(ConfigError) as caught:
        _load(tmp_path, text)
    assert str(caught.value) == (
        f"{tmp_path / 'mentionwatch.yaml'}:9: sources[1].brand: no brand is named 'Acmee' (brands: Acme); "
        "did you mean 'Acme'?"
    )


def test_explain_says_an_owned_item_matched_by_where_it_was_said() -> None:
    from mentionwatch.explain import explain
    from mentionwatch.sentiment import load_scorer

    result = owned_scan(OwnedConfig(type="owned", brand="Acme", items=["ana: the delivery took three weeks"]))
    records = [m.to_dict() for m in result.mentions]
    scorer = load_scorer("vader")
    full = Config(
        path=Path("x.yaml"),
        since=None,
        brands=OWN_BRANDS,
        sources=[ConfiguredSource(OwnedSource, OwnedConfig(type="owned", brand="Acme"))],
        http=HttpConfig(),
        scoring=ScoringConfig(),
    )
    for config in (None, full):  # from the scan's own record, and from the config's sources
        [match] = explain(records, 0, config, scorer)["match"]
        assert match["matched"] is True and "own page or account" in match["reason"]
    # An item the same brand's terms match elsewhere is explained by its terms, as before.
    plain = owned_scan(OwnedConfig(type="owned", items=["di: love Acme"]))
    [match] = explain([m.to_dict() for m in plain.mentions], 0, None, scorer)["match"]
    assert match["reason"] == "terms found: Acme"

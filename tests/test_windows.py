"""A scan too big to hold whole is worked in windows (pipeline.Windows, issue #12's memory budget): each window of
matched mentions is scored, deduped and saved in the store, and the output is read back from it. These tests make
the window a few mentions wide and compare with the same scan held whole, on the offline example's real data."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from mentionwatch import pipeline
from test_unchanged_feeds import BOTH, Feeds, write_config

from conftest import LoopbackServer, Run

EXAMPLE = Path(__file__).resolve().parent.parent / "examples"
# What a window changes, and only above its width: impact's within-source percentile is taken per window, and
# near-duplicate texts cluster within a window (the example has none across windows; the equality below says so).
PER_WINDOW = {"impact"}
# The scan's clock: two scans a second apart differ there.
CLOCK = {"first_seen"}


def use_windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Windows 4 mentions wide; the sizes of those flushed, so a test knows the scan was worked in windows."""
    flushed: list[int] = []
    flush = pipeline.Windows.flush

    def spy(self: pipeline.Windows, window: list[Any], fetched: Any, **given: Any) -> None:
        flushed.append(len(window))
        flush(self, window, fetched, **given)

    monkeypatch.setattr(pipeline.Windows, "flush", spy)
    monkeypatch.setattr(pipeline, "WINDOW", 4)
    return flushed


@pytest.fixture
def windows(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    return use_windows(monkeypatch)


@pytest.fixture
def example(tmp_path: Path) -> Path:
    shutil.copytree(EXAMPLE, tmp_path / "examples")
    return tmp_path / "examples" / "mentionwatch.yaml"


def scan(cli: Callable[..., Run], config: Path, *args: str, env: dict[str, str] | None = None) -> Run:
    run = cli("scan", "-c", str(config), "-q", *args, env=env)
    assert run.code == 0, run.stderr
    return run


def rows(text: str) -> list[dict[str, Any]]:
    return [{k: v for k, v in m.items() if k not in PER_WINDOW | CLOCK} for m in json.loads(text)]


def key(m: dict[str, Any]) -> tuple[str, str, str]:
    return (m["brand"], m["source"], m["id"])


@pytest.mark.parametrize("kept", ["--no-store", "sqlite", "postgres"])
def test_windowed_scan_prints_what_a_whole_one_does(
    cli: Callable[..., Run], example: Path, monkeypatch: pytest.MonkeyPatch, kept: str, request: pytest.FixtureRequest
) -> None:
    store = {
        "--no-store": lambda: ["--no-store"],
        "sqlite": lambda: ["--db", "scan.sqlite3"],
        # The output is read back from the store by this scan's time: the same on the shared engine.
        "postgres": lambda: ["--db", request.getfixturevalue("postgres_url")],
    }[kept]()
    whole = rows(scan(cli, example, "-f", "json", "--no-store").stdout)
    flushed = use_windows(monkeypatch)
    windowed = rows(scan(cli, example, "-f", "json", *store).stdout)
    assert len(flushed) >= 2  # 4 mentions or more (the items matched in one slice, each up to three brands)
    # Same mentions, same fields, in the same order (newest first; ties by the store's order, so compared by key
    # where dates tie).
    assert sorted(windowed, key=key) == sorted(whole, key=key)
    assert [m["published_at"] for m in windowed] == [m["published_at"] for m in whole]


def test_windowed_scan_keeps_its_order_limit_and_count(
    cli: Callable[..., Run], example: Path, windows: list[int]
) -> None:
    impact = json.loads(scan(cli, example, "-f", "json", "--no-store", "--sort", "impact").stdout)
    figures = [m["impact"] or 0 for m in impact]
    assert figures == sorted(figures, reverse=True)
    limited = scan(cli, example, "-f", "jsonl", "--no-store", "--limit", "3").stdout.splitlines()
    assert len(limited) == 3
    table = scan(cli, example, "-f", "table", "--no-store", "--limit", "3", env={"COLUMNS": "200"}).stdout
    assert f"3 of {len(impact)}" in table


def test_windowed_new_only_prints_each_mention_once(
    cli: Callable[..., Run], example: Path, windows: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    first = scan(cli, example, "-f", "jsonl", "--new").stdout.splitlines()
    assert len(first) > 12
    assert all(json.loads(line)["status"] == "new" for line in first)
    again = scan(cli, example, "-f", "jsonl", "--new").stdout
    assert again == ""
    # The store holds each mention once, and a whole scan now finds them all seen before.
    monkeypatch.setattr(pipeline, "WINDOW", 50_000)
    assert scan(cli, example, "-f", "jsonl", "--new").stdout == ""
    assert len(scan(cli, example, "-f", "jsonl").stdout.splitlines()) == len(first)


def test_windowed_scan_counts_every_source_and_leaves_no_scratch(
    cli: Callable[..., Run], example: Path, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    whole = scan(cli, example, "--no-store", "--health", "whole.json", "-f", "json")
    flushed = use_windows(monkeypatch)
    scratch = tmp_path / "tmp"
    scratch.mkdir()
    monkeypatch.setenv("TMPDIR", str(scratch))
    import tempfile

    monkeypatch.setattr(tempfile, "tempdir", None)  # TMPDIR read again
    windowed = scan(cli, example, "--no-store", "--health", "windowed.json", "-f", "json")
    assert flushed
    assert len(json.loads(windowed.stdout)) == len(json.loads(whole.stdout))

    def counts(name: str) -> dict[str, int]:
        report = json.loads((tmp_path / name).read_text())
        return {s["name"]: s["mentions"] for s in report["sources"]}

    assert counts("windowed.json") == counts("whole.json")
    assert list(scratch.iterdir()) == []  # the scratch store, deleted
    assert not (tmp_path / "home").exists() or not list((tmp_path / "home").rglob("*.sqlite3"))


def test_what_unchanged_feeds_gave_joins_a_windowed_scan(
    cli: Callable[..., Run], server: LoopbackServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two real feeds answering 304 the second time (tests/test_unchanged_feeds.py): the first scan keeps what they
    # gave; a windowed second scan takes it as it was, with nothing to match, and prints the same mentions.
    Feeds(server)
    cfg = write_config(tmp_path / "c.yaml", server, BOTH)
    first = rows(scan(cli, cfg, "-f", "json", "--db", "one.sqlite3").stdout)
    flushed = use_windows(monkeypatch)
    second = rows(scan(cli, cfg, "-f", "json", "--db", "two.sqlite3").stdout)
    assert flushed == [0]  # one window: nothing matched this time, the 21 given mentions deduped and saved
    assert len(first) == 21
    assert sorted(second, key=key) == sorted(first, key=key)

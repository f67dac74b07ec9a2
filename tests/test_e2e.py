"""The installed `mentionwatch` command itself, run in a subprocess: the console script, the README's quick
start, and what only a real process shows."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import Run

pytestmark = pytest.mark.e2e


def test_offline_example_runs(run_cli: Callable[..., Run]) -> None:
    example = Path(__file__).parent.parent / "examples" / "mentionwatch.yaml"
    run = run_cli("scan", "-c", str(example), "-f", "jsonl")
    assert run.code == 0, run.stderr
    brands = {json.loads(line)["brand"] for line in run.stdout.splitlines()}
    assert brands == {"Slack", "Node.js", "Belgium"}


def test_check_sources_init_version_help(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    assert run_cli("--version").stdout.startswith("mentionwatch ")
    helptext = run_cli("scan", "-h").stdout
    assert "Exit codes" in helptext and "--since" in helptext
    target = tmp_path / "new.yaml"
    assert run_cli("init", str(target)).code == 0
    assert run_cli("init", str(target)).code == 2, "never overwrites without --force"
    assert run_cli("init", str(target), "--force").code == 0
    check = run_cli("check", "-c", str(target))
    assert check.code == 0 and "hackernews" in check.stdout
    listing = run_cli("sources", "--json")
    types = {row["type"] for row in json.loads(listing.stdout)}
    assert {"hackernews", "rss", "jsonl"} <= types

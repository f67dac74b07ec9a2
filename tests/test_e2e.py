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


def test_the_ids_in_the_readme_and_help_examples_exist_in_the_shipped_example(run_cli: Callable[..., Run]) -> None:
    import re

    root = Path(__file__).parent.parent
    texts = [root / "README.md", *sorted((root / "src" / "mentionwatch" / "cli").glob("*.py"))]
    used = {
        item
        for path in texts
        for args in re.findall(r"mentionwatch (?:explain|mark|tag) ([^|&#\n]+)", path.read_text(encoding="utf-8"))
        for item in re.findall(r"(?:^|\s)(?:hackernews:)?(\d{6,})(?=\s|$)", args)
    }
    assert used, "the examples name ids"
    example = root / "examples" / "mentionwatch.yaml"
    scan = run_cli("scan", "-c", str(example), "-f", "jsonl", "--no-store")
    ids = {json.loads(line)["id"] for line in scan.stdout.splitlines()}
    assert used <= ids, f"not in the example's output: {sorted(used - ids)}"


def test_the_readme_rescore_recipe_runs_as_written(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    import csv
    import io
    import re
    import shutil

    root = Path(__file__).parent.parent
    readme = (root / "README.md").read_text(encoding="utf-8")
    export, rescore = re.findall(r"^(mentionwatch scan -c examples/\S+ .*)$", readme, re.M)[:2]
    shutil.copytree(root / "examples", tmp_path / "examples")
    assert run_cli(*export.split()[1:]).code == 0
    args = rescore.split()[1:]
    source = args.index("<")
    run = run_cli(*args[:source], stdin=(tmp_path / args[source + 1]).read_text(encoding="utf-8"))
    assert run.code == 0, run.stderr
    rows = list(csv.DictReader(io.StringIO(run.stdout)))
    assert rows and {r["brand"] for r in rows} == {"Slack", "Node.js"}
    assert not any("Sells" in r["title"] for r in rows), "the rescore config's exclusions applied"

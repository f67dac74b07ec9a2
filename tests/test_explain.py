"""`mentionwatch explain`, end to end through the installed command."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mentionwatch.config import BrandConfig
from mentionwatch.explain import read_records
from mentionwatch.models import Mention
from mentionwatch.output import write_jsonl
from mentionwatch.pipeline import process
from mentionwatch.sources.jsonl import parse_lines

from conftest import Run, fixture_path

pytestmark = pytest.mark.e2e

CONFIG = """\
brands:
  - name: Node
    terms: [nodejs]
    query: '"node.js" OR (node NEAR/3 (vespa OR ethereum))'
    exclude: [deno]
    exclude_authors: [spambot]
    languages: [en]
sources:
  - type: jsonl
    path: {path}
"""
SINCE = datetime(2017, 1, 1, tzinfo=UTC)


@pytest.fixture
def scan_file(tmp_path: Path) -> tuple[Path, Path, list[Mention]]:
    """A scan's JSONL output over the real HN recording, made by the pipeline itself, and its config."""
    fixture = fixture_path("jsonl", "hackernews-nodejs.jsonl")
    config = tmp_path / "mentionwatch.yaml"
    config.write_text(CONFIG.format(path=fixture), encoding="utf-8")
    items, _ = parse_lines(fixture.read_text(encoding="utf-8").splitlines(), default_source="hn", where="f")
    brand = BrandConfig(
        name="Node",
        terms=["nodejs"],
        query='"node.js" OR (node NEAR/3 (vespa OR ethereum))',
        exclude=["deno"],
        exclude_authors=["spambot"],
        languages=["en"],
    )
    mentions = process(items, [brand], since=SINCE)
    out = tmp_path / "scan.jsonl"
    with out.open("w", encoding="utf-8") as fh:
        write_jsonl(mentions, fh)
    return config, out, mentions


def test_explain_by_id_says_why_it_matched_and_shows_each_figure(
    run_cli: Callable[..., Run], scan_file: tuple[Path, Path, list[Mention]]
) -> None:
    config, scan, mentions = scan_file
    target = next(m for m in mentions if m.matched_query)
    run = run_cli("explain", target.id, "-c", str(config), "-i", str(scan))
    assert run.code == 0, run.stderr
    out = run.stdout
    assert "Why it matched brand Node: matched" in out
    assert f"query alternative holds: {target.matched_query}" in out
    assert "exclude: deno  ->  did not fire" in out
    assert "exclude_authors: author" in out
    assert "scorer: vader" in out and "compound" in out
    assert "impact: (1 - " in out and f"(in the scan: {target.impact})" in out
    assert "canonical URL: https://news.ycombinator.com/item?id=" in out


def test_explain_reads_a_scan_piped_on_stdin_and_finds_a_mention_by_url(
    run_cli: Callable[..., Run], scan_file: tuple[Path, Path, list[Mention]]
) -> None:
    config, scan, mentions = scan_file
    url = mentions[0].url.replace("https://", "http://") + "&utm_source=x"  # canonically the same
    run = run_cli("explain", url, "-c", str(config), "--json", stdin=scan.read_text(encoding="utf-8"))
    assert run.code == 0, run.stderr
    data = json.loads(run.stdout)
    assert data["mention"]["id"] == mentions[0].id
    assert data["match"][0]["matched"] is True
    assert data["sentiment"]["polarity"] == mentions[0].sentiment
    assert data["impact"]["impact"] == mentions[0].impact
    assert set(data["impact"]) >= {"engagement", "reach", "weight", "absolute", "percentile", "percentile_share"}
    assert data["duplicates"]["also_seen"] == []


def test_explain_shows_the_duplicate_cluster(run_cli: Callable[..., Run], tmp_path: Path) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("brands:\n  - name: Acme\n    terms: [acme]\nsources:\n  - type: hackernews\n", encoding="utf-8")
    text = "Acme announced rocket-powered roller skates today, twice as fast and half as many cliff accidents"
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    items = [
        Mention(source="rss", id="a", url="https://news.example/a", published_at=t0, text=text),
        Mention(source="reddit", id="b", url="https://reddit.com/r/x/b", published_at=t0.replace(hour=2), text=text),
    ]
    mentions = process(items, [BrandConfig(name="Acme", terms=["acme"])], since=t0)
    scan = tmp_path / "scan.jsonl"
    with scan.open("w", encoding="utf-8") as fh:
        write_jsonl(mentions, fh)
    run = run_cli("explain", "a", "-c", str(config), "-i", str(scan))
    assert run.code == 0, run.stderr
    assert "also seen: 1 other(s)" in run.stdout
    assert "- reddit b (text)  https://reddit.com/r/x/b" in run.stdout, "how it joined the cluster"


def test_an_unknown_id_exits_2(run_cli: Callable[..., Run], scan_file: tuple[Path, Path, list[Mention]]) -> None:
    config, scan, _ = scan_file
    run = run_cli("explain", "no-such-id", "-c", str(config), "-i", str(scan))
    assert run.code == 2
    assert "no mention with id or URL 'no-such-id'" in run.stderr
    assert run.stdout == ""


def test_text_from_the_internet_cannot_drive_the_terminal_or_rich_markup(
    run_cli: Callable[..., Run], tmp_path: Path
) -> None:
    config = tmp_path / "c.yaml"
    config.write_text("brands:\n  - name: Acme\n    terms: [acme]\nsources:\n  - type: hackernews\n", encoding="utf-8")
    record = {
        "source": "hackernews",
        "id": "1",
        "url": "https://news.ycombinator.com/item?id=1",
        "published_at": "2026-11-01T00:00:00Z",
        "title": "[bold red]acme[/bold red] \x1b]0;pwned\x07 title",
        "text": "acme \x1b[31mred\x1b[0m \u202eevil",
        "author": "[link=https://evil.example]me[/link]",
        "brand": "Acme",
    }
    run = run_cli("explain", "1", "-c", str(config), stdin=json.dumps(record) + "\n")
    assert run.code == 0, run.stderr
    assert "\x1b" not in run.stdout and "\u202e" not in run.stdout and "pwned" not in run.stdout
    assert "[bold red]acme[/bold red]" in run.stdout
    assert "[link=https://evil.example]me[/link]" in run.stdout


def test_explain_help_has_examples(run_cli: Callable[..., Run]) -> None:
    run = run_cli("explain", "--help")
    assert run.code == 0
    assert "mentionwatch explain 15348473 -i scan.jsonl" in run.stdout


def test_the_scan_command_output_can_be_explained(
    run_cli: Callable[..., Run], scan_file: tuple[Path, Path, list[Mention]]
) -> None:
    config, _, _ = scan_file
    scan = run_cli("scan", "-c", str(config), "--since", "2017-01-01", "-f", "jsonl")
    assert scan.code == 0, scan.stderr
    first = json.loads(scan.stdout.splitlines()[0])
    run = run_cli("explain", first["id"], "-c", str(config), "--json", stdin=scan.stdout)
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["impact"]["impact"] == first["impact"]


def test_explain_needs_no_config_when_given_a_scans_output(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    example = Path(__file__).parent.parent / "examples" / "mentionwatch.yaml"
    scan = run_cli("scan", "-c", str(example), "-f", "jsonl", "--no-store")
    assert scan.code == 0, scan.stderr
    out = tmp_path / "scan.jsonl"
    out.write_text(scan.stdout, encoding="utf-8")
    first = json.loads(scan.stdout.splitlines()[0])
    run = run_cli("explain", first["id"], "-i", str(out))  # no -c, and no mentionwatch.yaml here
    assert run.code == 0, run.stderr
    assert f"brand {first['brand']}" in run.stdout.replace(":", "")
    assert run_cli("explain", first["id"], "-i", str(out), "-c", str(tmp_path / "missing.yaml")).code == 2


def test_a_record_that_cannot_be_read_is_an_error_naming_file_and_line_not_a_traceback(
    run_cli: Callable[..., Run], tmp_path: Path
) -> None:
    path = tmp_path / "r.jsonl"
    record = '{"id":"a","url":"http://x/a","published_at":"2020-01-01T00:00:00Z","text":"Acme"'
    shapes = {
        ',"also_seen":7': "also_seen is a number, not a list of entries",
        ',"also_seen":[{"url":5}]': "also_seen[0] has no source, id",
    }
    for extra, problem in shapes.items():
        path.write_text(record + extra + "}\n", encoding="utf-8")
        run = run_cli("explain", "a", "-i", str(path))
        assert (run.code, run.stdout) == (2, "")
        assert run.stderr == f"mentionwatch: error: {path}:1: mention 'a': cannot read it: {problem}\n"


def test_records_with_a_byte_order_mark_or_a_line_separator_in_a_string_are_read() -> None:
    record = {"id": "a", "url": "https://x.test/a", "published_at": "2026-11-01T00:00:00Z", "text": "one\u2028two"}
    text = "\ufeff" + json.dumps(record, ensure_ascii=False) + "\n"
    [read] = read_records(text, "bom.jsonl")
    assert read["id"] == "a" and read["text"] == "one\u2028two"


def _scan_of(tmp_path: Path, items: list[Mention]) -> tuple[Path, Path, list[Mention]]:
    """A scan's JSONL output of `items` for brand Acme (the pipeline dedupes them), and its config."""
    config = tmp_path / "c.yaml"
    config.write_text("brands:\n  - name: Acme\n    terms: [acme]\nsources:\n  - type: hackernews\n", encoding="utf-8")
    mentions = process(items, [BrandConfig(name="Acme", terms=["acme"])], since=datetime(2026, 1, 1, tzinfo=UTC))
    scan = tmp_path / "scan.jsonl"
    with scan.open("w", encoding="utf-8") as fh:
        write_jsonl(mentions, fh)
    return config, scan, mentions


SPAM = "https://marketnewswire24.us/acme-cut-prices"  # an outlet not in the ranking
FT = "https://www.ft.com/content/acme-cut-prices"  # ft.com: #185, 45,142 referring subnets


def test_explain_shows_the_reach_its_cluster_lends_and_the_terms_add_up_to_the_weight(
    run_cli: Callable[..., Run], tmp_path: Path
) -> None:
    body = (
        "Acme Corporation said on Tuesday it would cut prices for its rocket skates by a fifth from January, as the"
        " company tries to win back customers who left for cheaper rivals."
    )
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    syndicated = [
        Mention(source="rss", id=url, url=url, published_at=t0.replace(hour=h), title="Acme cuts prices", text=body)
        for h, url in ((1, SPAM), (2, FT))
    ]
    for m in syndicated:
        m.kind = "article"
    config, scan, mentions = _scan_of(tmp_path, syndicated)
    [farm] = mentions
    assert farm.url == SPAM and farm.reach is None and farm.also_seen[0]["url"] == FT  # the copy on the FT joined it
    run = run_cli("explain", SPAM, "-c", str(config), "-i", str(scan))
    assert run.code == 0, run.stderr
    assert "reach: unknown" in run.stdout
    assert f"cluster reach: 45142, the largest in its cluster: its copy on ft.com, rss {FT}: ft.com in the outlet" in (
        run.stdout
    )
    assert "weight: engagement + reach / 100 = 0 + 45142 / 100 = 451.42 (reach: its cluster's" in run.stdout
    impact = json.loads(run_cli("explain", SPAM, "-c", str(config), "-i", str(scan), "--json").stdout)["impact"]
    assert (impact["reach"], impact["weight_reach"], impact["cluster_reach"], impact["weight"]) == (
        None,
        45142,
        45142,
        451.42,
    )
    assert impact["cluster_reach_from"] == {
        "source": "rss",
        "id": FT,
        "url": FT,
        "match": "text",
        "reach_source": "outlet ranking",
        "outlet": "ft.com",
        "outlet_rank": 185,
    }
    assert list(impact)[-3:] == ["cluster_reach", "cluster_reach_from", "weight_reach"], "new fields go last"


def test_a_duplicates_id_explains_the_mention_whose_cluster_holds_it(run_cli: Callable[..., Run], tmp_path: Path) -> None:
    text = "Acme announced rocket-powered roller skates today, twice as fast and half as many cliff accidents"
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    items = [
        Mention(source="rss", id="a", url="https://news.example/a", published_at=t0, text=text),
        Mention(source="reddit", id="b", url="https://reddit.com/r/x/b", published_at=t0.replace(hour=2), text=text),
    ]
    config, scan, mentions = _scan_of(tmp_path, items)
    assert [m.id for m in mentions] == ["a"]
    for asked in ("b", "https://www.reddit.com/r/x/b/?utm_source=share"):
        run = run_cli("explain", asked, "-c", str(config), "-i", str(scan))
        assert run.code == 0, run.stderr
        assert run.stdout.startswith("rss a  https://news.example/a")
        assert (
            "asked for: reddit b, a duplicate folded into this mention's cluster (joined by text): the mention kept"
            " for it is explained"
        ) in run.stdout
    data = json.loads(run_cli("explain", "b", "-c", str(config), "-i", str(scan), "--json").stdout)
    assert data["mention"]["id"] == "a"
    assert (data["found_in_cluster"]["id"], data["found_in_cluster"]["match"]) == ("b", "text")
    assert "found_in_cluster" not in json.loads(run_cli("explain", "a", "-i", str(scan), "--json").stdout)

"""The `mentionwatch` command against a loopback HTTP server, run in-process (Typer's CliRunner): flags, exit
codes, formats and messages. tests/test_e2e.py runs the installed command itself."""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Callable
from pathlib import Path

import pytest

from conftest import LoopbackServer, Reply, Run, fixture_path

HN = fixture_path("hackernews", "search_by_date_query_nodejs_2017.json").read_bytes()
ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()
GNEWS = fixture_path("rss", "google_news_rss_topstories_fr_BE_2020_prof18.xml").read_bytes()

HOSTILE_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Hostile</title>
<item><guid>h1</guid>
<title>Slack [bold red]pwned[/] \x1b]8;;http://evil.test\x07click\x1b]8;;\x07 \x1b[31mred\x1b[0m</title>
<link>https://hostile.test/1</link><pubDate>Wed, 10 Jul 2019 12:00:00 GMT</pubDate>
<description>Slack is great</description></item>
<item><guid>h2</guid><title>=HYPERLINK("http://evil.test","Slack")</title>
<link>https://hostile.test/2</link><pubDate>Wed, 10 Jul 2019 12:01:00 GMT</pubDate>
<description>-2+3 Slack formula</description></item>
</channel></rss>
""".replace("\x1b", "&#27;").replace("\x07", "&#7;")


def config(tmp_path: Path, server: LoopbackServer, *, extra_sources: str = "") -> Path:
    path = tmp_path / "mw.yaml"
    path.write_text(
        f"""
since: 2017-01-01
brands:
  - name: Slack
    terms: [Slack]
    exclude: [slack water]
  - name: Node.js
    terms: [Node.js, NodeJS]
sources:
  - type: hackernews
    base_url: {server.url}/api/v1
    max_pages: 2
  - type: rss
    urls:
      - {server.url}/alerts.xml
      - {server.url}/gnews.xml
{extra_sources}
""",
        encoding="utf-8",
    )
    return path


def serve_fixtures(server: LoopbackServer) -> None:
    server.route("/api/v1/search_by_date", Reply(200, HN, {"content-type": "application/json"}))
    server.route("/alerts.xml", Reply(200, ALERTS, {"content-type": "application/atom+xml"}))
    server.route("/gnews.xml", Reply(200, GNEWS, {"content-type": "application/rss+xml"}))


def jsonl(run: Run) -> list[dict[str, object]]:
    return [json.loads(line) for line in run.stdout.splitlines()]


def test_scan_prints_the_right_mentions_once_each(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    serve_fixtures(server)
    run = cli("scan", "-c", str(config(tmp_path, server)), "-f", "jsonl")
    assert run.code == 0, run.stderr
    rows = jsonl(run)
    keys = [(r["brand"], r["source"], r["id"]) for r in rows]
    assert len(keys) == len(set(keys)), "every mention appears once"
    slack = [r for r in rows if r["brand"] == "Slack"]
    assert len(slack) == 20 and {r["source"] for r in slack} == {"rss"}
    node = [r for r in rows if r["brand"] == "Node.js"]
    assert node and {r["source"] for r in node} == {"hackernews"}
    assert all(
        "node.js" in f"{r['title']} {r['text']}".lower() or "nodejs" in f"{r['title']} {r['text']}".lower()
        for r in node
    )
    story = next(r for r in node if r["title"] == "Show HN: Direct IO for Node.js")
    assert story["url"].startswith("https://news.ycombinator.com/item?id=")  # type: ignore[union-attr]
    assert story["matched_terms"] == ["Node.js"]
    assert story["sentiment_label"] in ("positive", "neutral", "negative")
    assert "published_at" in story and str(story["published_at"]).endswith("Z")
    # The Algolia recording says nbPages=50; max_pages bounds the walk at 2 requests per term.
    hn_requests = [r for r in server.requests if r.path == "/api/v1/search_by_date"]
    assert len(hn_requests) == 2 * 3  # terms: Slack, Node.js, NodeJS
    assert all(r.headers["user-agent"].startswith("mentionwatch/") for r in server.requests)
    assert "ok" in run.stderr and "hackernews" in run.stderr


def test_same_url_from_two_sources_is_one_mention_with_also_seen(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    serve_fixtures(server)
    server.route("/alerts-copy.xml", Reply(200, ALERTS))
    extra = f"""  - type: rss
    name: alerts-copy
    urls: [{server.url}/alerts-copy.xml]
"""
    run = cli("scan", "-c", str(config(tmp_path, server, extra_sources=extra)), "-f", "json", "--brand", "Slack")
    assert run.code == 0, run.stderr
    rows = json.loads(run.stdout)
    assert len(rows) == 20
    assert all(r["duplicates"] == 1 and len(r["also_seen"]) == 1 for r in rows)
    assert {r["also_seen"][0]["source"] for r in rows} | {r["source"] for r in rows} == {"rss", "alerts-copy"}


def serve_hostile_feed(server: LoopbackServer) -> str:
    """The fixtures plus a feed of hostile text; returns the config lines of a source reading that feed."""
    serve_fixtures(server)
    server.route("/hostile.xml", Reply(200, HOSTILE_FEED.encode()))
    return f"""  - type: rss
    name: hostile
    urls: [{server.url}/hostile.xml]
"""


def test_csv_has_a_stable_header_and_defuses_formulas(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    extra = serve_hostile_feed(server)
    out = tmp_path / "mentions.csv"
    run = cli("scan", "-c", str(config(tmp_path, server, extra_sources=extra)), "-o", str(out), "-q")
    assert run.code == 0, run.stderr
    assert run.stdout == ""
    text = out.read_text(encoding="utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:8] == ["source", "id", "url", "link", "title", "text", "author", "published_at"]
    # Keyed by the guid (the feed's own short ids are scoped to it: `3fa9c2d1/h2`).
    titles = {r[1].rpartition("/")[2]: r[4] for r in rows[1:]}
    assert titles["h2"] == '\'=HYPERLINK("http://evil.test","Slack")'
    texts = {r[1].rpartition("/")[2]: r[5] for r in rows[1:]}
    assert texts["h2"] == "'-2+3 Slack formula"
    assert not any(cell.startswith(("=", "+", "-", "@")) and not is_number(cell) for r in rows[1:] for cell in r)
    # Numbers stay numbers, negative ones included, so a spreadsheet can sort them.
    sentiment = rows[0].index("sentiment")
    assert all(is_number(r[sentiment]) for r in rows[1:])
    assert any(r[sentiment].startswith("-") for r in rows[1:])
    assert "\x1b" not in text


def is_number(cell: str) -> bool:
    try:
        float(cell)
    except ValueError:
        return False
    return True


def test_table_prints_markup_literally_and_strips_escapes(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    extra = serve_hostile_feed(server)
    run = cli(
        "scan", "-c", str(config(tmp_path, server, extra_sources=extra)), "-f", "table", "--source", "hostile"
    )
    assert run.code == 0, run.stderr
    assert "[bold red]pwned[/]" in run.stdout
    assert "\x1b" not in run.stdout and "\x07" not in run.stdout
    assert "evil.test" in run.stdout  # the text stays, only the escape is gone


def test_a_failing_source_exits_3_and_the_rest_is_still_printed(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    serve_fixtures(server)
    server.route("/api/v1/search_by_date", Reply(503, b"down"))
    run = cli("scan", "-c", str(config(tmp_path, server)), "-f", "jsonl")
    assert run.code == 3
    rows = jsonl(run)
    assert len([r for r in rows if r["brand"] == "Slack"]) == 20
    assert "failed" in run.stderr and "HTTP 503" in run.stderr


def test_every_source_failing_exits_4(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    server.route("/api/v1/search_by_date", Reply(500, b"oops"))
    run = cli("scan", "-c", str(config(tmp_path, server)), "-f", "jsonl")
    assert run.code == 4
    assert run.stdout == ""


def test_health_file_reports_each_source(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    serve_fixtures(server)
    server.route("/api/v1/search_by_date", Reply(401, b"{}"))
    health = tmp_path / "health.json"
    run = cli("scan", "-c", str(config(tmp_path, server)), "-f", "jsonl", "--health", str(health))
    assert run.code == 3
    data = json.loads(health.read_text())
    states = {s["name"]: s["state"] for s in data["sources"]}
    assert states == {"hackernews": "unauthorized", "rss": "ok"}
    assert data["exit_code"] == 3


def test_bad_config_exits_2_with_file_line_and_key(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("brands:\n  - name: A\n    terms: [a]\nsources:\n  - type: rss\n    urlz: [x]\n")
    run = cli("scan", "-c", str(path))
    assert run.code == 2
    assert f"{path}:6: sources[0].urlz: unknown key" in run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr


def test_bad_usage_exits_2(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    cfg = config(tmp_path, server)
    assert cli("scan", "-c", str(cfg), "--since", "yesterday").code == 2
    assert cli("scan", "-c", str(cfg), "--brand", "Nope").code == 2
    assert cli("scan", "-c", str(cfg), "--format", "xml").code == 2
    assert cli("scan", "-c", str(tmp_path / "missing.yaml")).code == 2


def test_source_filter_and_limit_and_sort(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    serve_fixtures(server)
    run = cli("scan", "-c", str(config(tmp_path, server)), "--source", "rss", "--limit", "3", "-f", "jsonl")
    assert run.code == 0
    rows = jsonl(run)
    assert len(rows) == 3 and {r["source"] for r in rows} == {"rss"}
    times = [r["published_at"] for r in rows]
    assert times == sorted(times, reverse=True)
    assert not any(r.path.startswith("/api/") for r in server.requests)


def test_secrets_from_the_environment_are_never_printed(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = tmp_path / "mw.yaml"
    path.write_text(
        'brands:\n  - name: A\n    terms: [a]\nsources:\n  - type: rss\n    urls: ["http://127.0.0.1:9/f.xml?key=${FEED_KEY}"]\n'
    )
    env = {"FEED_KEY": "sup3r-s3cret-token"}
    for args in (("check", "-c", str(path)), ("scan", "-c", str(path), "-f", "jsonl", "-v")):
        run = cli(*args, env=env)
        assert "sup3r-s3cret-token" not in run.stdout + run.stderr
    assert run.code == 4


def test_jsonl_source_reads_stdin(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = tmp_path / "mw.yaml"
    path.write_text(
        "since: 2017-01-01\nbrands:\n  - name: Node.js\n    terms: [Node.js, NodeJS]\nsources:\n"
        "  - type: jsonl\n    path: '-'\n"
    )
    data = fixture_path("jsonl", "hackernews-nodejs.jsonl").read_text()
    run = cli("scan", "-c", str(path), "-f", "jsonl", stdin=data)
    assert run.code == 0, run.stderr
    rows = jsonl(run)
    assert rows and all(r["source"] == "hackernews" for r in rows)
    assert all(r["brand"] == "Node.js" for r in rows)


def test_a_world_readable_config_with_a_literal_secret_gets_a_warning(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    path = tmp_path / "mw.yaml"
    path.write_text(
        "brands:\n  - name: A\n    terms: [a]\nsources:\n  - type: github\n    token: ghp_literalSecretInTheFile123\n"
    )
    path.chmod(0o644)
    run = cli("check", "-c", str(path))
    assert run.code == 0
    assert "other users can read it" in run.stderr
    assert "ghp_literalSecretInTheFile123" not in run.stdout + run.stderr
    path.chmod(0o600)
    assert "other users can read it" not in cli("check", "-c", str(path)).stderr
    # From the environment instead of the file: nothing to warn about, whatever the mode.
    path.write_text("brands:\n  - name: A\n    terms: [a]\nsources:\n  - type: github\n    token: ${GH_TOKEN}\n")
    path.chmod(0o644)
    run = cli("check", "-c", str(path), env={"GH_TOKEN": "ghp_fromTheEnvironment456"})
    assert "other users can read it" not in run.stderr
    assert "ghp_fromTheEnvironment456" not in run.stdout + run.stderr


def test_the_readme_exit_code_table_is_the_exit_code_enum() -> None:
    from mentionwatch.errors import ExitCode

    readme = (Path(__file__).parent.parent / "README.md").read_text(encoding="utf-8")
    table = readme[readme.index("## Exit codes") : readme.index("## stdout is data")]
    codes = {int(line.split("|")[1]) for line in table.splitlines() if line.startswith("| ") and line[2].isdigit()}
    assert codes == {code.value for code in ExitCode}


def test_help_lists_every_exit_code(cli: Callable[..., Run]) -> None:
    from mentionwatch.errors import ExitCode

    helptext = " ".join(cli("scan", "--help").stdout.split())
    for code in ExitCode:
        if code is not ExitCode.INTERNAL:
            assert f"{code.value} {code.meaning}" in helptext


def test_brand_names_are_case_insensitive_and_unknown_extensions_refused(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    serve_fixtures(server)
    cfg = str(config(tmp_path, server))
    run = cli("scan", "-c", cfg, "--brand", "sLACK", "-f", "jsonl")
    assert run.code == 0 and {r["brand"] for r in jsonl(run)} == {"Slack"}
    bad = cli("scan", "-c", cfg, "-o", str(tmp_path / "out.xlsx"))
    assert bad.code == 2 and "no format writes .xlsx files" in bad.stderr
    assert cli("scan", "-c", cfg, "-o", str(tmp_path / "out.xlsx"), "-f", "csv", "-q").code == 0
    wrote = cli("scan", "-c", cfg, "-o", str(tmp_path / "out.csv"))
    assert re.search(r"wrote \d+ mentions to .*out\.csv", wrote.stderr)


def test_items_older_than_since_are_counted_not_called_empty(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    serve_fixtures(server)
    run = cli("scan", "-c", str(config(tmp_path, server)), "--source", "rss", "--since", "2020-01-01", "-f", "jsonl")
    assert run.code == 0 and run.stdout == ""
    line = next(line for line in run.stderr.splitlines() if " rss " in line)
    assert line.startswith("ok ") and "20 older than 2020-01-01" in line  # the Google News item is newer
    health = tmp_path / "h.json"
    cli("scan", "-c", str(config(tmp_path, server)), "--source", "rss", "--since", "2020-01-01", "--health", str(health))
    [rss] = json.loads(health.read_text())["sources"]
    assert (rss["state"], rss["older"]) == ("ok", 20)
    assert json.loads(health.read_text())["scanned_at"].endswith("Z")


# --- the command named is made alone (typer makes every command's parameters on each run otherwise) -----------


def _command_names() -> list[str]:
    from mentionwatch.cli import _name, app

    names = [n for n in (_name(info) for info in app.registered_commands) if n]
    assert {"scan", "list", "report", "explain", "check", "init"} <= set(names)
    return names


@pytest.mark.parametrize("name", _command_names())
@pytest.mark.parametrize("args", [["--help"], ["--no-such-option"]])
def test_a_command_made_alone_answers_as_in_the_whole_app(name: str, args: list[str]) -> None:
    from typer.testing import CliRunner

    from mentionwatch.cli import app, app_for

    narrow = app_for([name, *args])
    assert narrow is not app and len(narrow.registered_commands) == 1 and not narrow.registered_groups
    whole = CliRunner().invoke(app, [name, *args])
    alone = CliRunner().invoke(narrow, [name, *args])
    assert (alone.exit_code, alone.stdout, alone.stderr) == (whole.exit_code, whole.stdout, whole.stderr)
    assert name in whole.stdout + whole.stderr


@pytest.mark.parametrize("args", [[], ["--help"], ["--version"], ["store", "--help"], ["notify", "--help"], ["scna"]])
def test_anything_but_a_command_runs_the_whole_app(args: list[str]) -> None:
    from mentionwatch.cli import app, app_for

    assert app_for(args) is app

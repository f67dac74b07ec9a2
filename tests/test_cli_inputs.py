"""Input the commands must refuse, or read right, each through the command itself: a config error that would
quote a `${ENV}` value, `sources` beside a broken config, store locations of another scheme, `--source` names
and `--search` words that match nothing by mistake, and `explain` on records it cannot read or without the
config. The records are the offline example's scan (examples/mentionwatch.yaml)."""

from __future__ import annotations

import json
import re
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import LoopbackServer, Reply, Run, cli_command, cli_env, fixture_path

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
EXAMPLE_CONFIG = str(EXAMPLES / "mentionwatch.yaml")
BRANDS = "brands:\n  - name: Acme\n    terms: [Acme]\n"


def scan_of(cli: Callable[..., Run], tmp_path: Path, *args: str) -> tuple[Path, list[dict[str, Any]]]:
    """A scan's JSONL output in a file (default: the offline example's, kept nowhere) and its records."""
    run = cli("scan", *(args or ("-c", EXAMPLE_CONFIG, "--no-store")), "-f", "jsonl", "-q")
    assert run.code == 0, run.stderr
    path = tmp_path / "scan.jsonl"
    path.write_text(run.stdout, encoding="utf-8")
    return path, [json.loads(line) for line in run.stdout.splitlines()]


# -- secrets in config errors


@pytest.mark.e2e
def test_check_and_scan_mask_env_values_that_a_validation_error_quotes(
    tmp_path: Path, run_cli: Callable[..., Run]
) -> None:
    path = tmp_path / "mw.yaml"
    path.write_text(
        BRANDS + "sources:\n  - type: rss\n"
        '    urls: ["https://feeds.example.com:0/u/${FEED_KEY}/alerts.xml"]\n'
        '  - type: mastodon\n    base_url: "${MASTODON_TOKEN}"\n',
        encoding="utf-8",
    )
    env = {"FEED_KEY": "fkey_e2eSecret789", "MASTODON_TOKEN": "mtok_e2eToken321"}
    for args in (("check",), ("scan", "-v"), ("sources",)):
        run = run_cli(*args, "-c", str(path), env=env)
        assert run.code == 2, args
        assert (
            f"{path}:6: sources[0].urls[0]: 'https://feeds.example.com:0/u/****/alerts.xml': port 0 cannot be "
            "connected to (ports are 1-65535)"
        ) in run.stderr
        assert f"{path}:8: sources[1].base_url: '****' has no scheme" in run.stderr
        assert not any(secret in run.stdout + run.stderr for secret in env.values()), args


# -- an unset ${VAR} in a part the command does not use


def test_commands_that_do_not_send_run_without_the_slack_url_and_one_that_sends_says_it_is_not_set(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    server.route("/feed.xml", Reply(200, fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()))
    config = tmp_path / "mw.yaml"
    config.write_text(
        f"since: 2017-01-01\nstore: mentions.sqlite3\nbrands:\n  - name: Slack\n    terms: [Slack]\n"
        f"sources:\n  - type: rss\n    urls: ['{server.url}/feed.xml']\n"
        "notify:\n  targets: [{type: slack, url: '${SLACK_URL}'}]\n",  # the README's own, with SLACK_URL unset
        encoding="utf-8",
    )
    c = ("-c", str(config))
    recorded = cli("scan", *c, "-f", "jsonl", "--record", "bundle", env={"SLACK_URL": "http://127.0.0.1:9/hook"})
    assert recorded.code == 0 and recorded.stdout, recorded.stderr
    replayed = cli("scan", *c, "-f", "jsonl", "--replay", "bundle")
    assert (replayed.code, replayed.stdout) == (0, recorded.stdout), replayed.stderr
    unset = f"mentionwatch: error: {config}:10: notify.targets[0].url: environment variable ${{SLACK_URL}} is not set"
    for args in (("check",), ("scan", "--replay", "bundle", "--db", "replayed.sqlite3", "--new", "--notify")):
        run = cli(*args, *c)
        assert (run.code, run.stderr.strip()) == (2, unset), args
    for args in (("report",), ("stats",), ("list",), ("ignore", "--brand", "Slack", "--term", "slack wax")):
        run = cli(*args, *c)
        assert run.code == 0, (args, run.stderr)
        assert "URL" not in run.stderr and "SLACK_URL" not in run.stderr, args
    assert "slack wax" in config.read_text(encoding="utf-8")


# -- `sources` beside a config it cannot read


@pytest.mark.parametrize(
    ("text", "why"),
    [
        (BRANDS.replace("    terms", "\tterms") + "sources:\n  - type: rss\n", ":3: found character '\\t'"),
        (
            BRANDS + 'sources:\n  - type: rss\n    urls: ["https://example.com/${NOT_SET_HERE}"]\n',
            ":6: sources[0].urls[0]: environment variable ${NOT_SET_HERE} is not set",
        ),
    ],
    ids=["tab", "unset variable"],
)
def test_sources_beside_a_broken_config_lists_the_adapters_and_says_why_not_which_are_configured(
    tmp_path: Path, cli: Callable[..., Run], text: str, why: str
) -> None:
    (tmp_path / "mentionwatch.yaml").write_text(text, encoding="utf-8")
    run = cli("sources", "--json")
    assert run.code == 0
    rows = {row["type"]: row for row in json.loads(run.stdout)}
    assert {"rss", "hackernews", "facebook_page"} <= set(rows)
    assert all(row["configured"] is None for row in rows.values()), "unknown, not 'none'"
    assert "cannot read the config mentionwatch.yaml" in run.stderr
    assert f"mentionwatch.yaml{why}" in run.stderr
    table = cli("sources")
    assert table.code == 0 and f"mentionwatch.yaml{why}" in table.stderr
    assert re.search(r"│ rss\s+│ \w+\s+│ \?\s+│", table.stdout), table.stdout


def test_sources_beside_a_good_config_says_which_are_configured_and_warns_of_nothing(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    config = BRANDS + "sources:\n  - type: rss\n    name: news\n    urls: [https://example.com/feed.xml]\n"
    (tmp_path / "mentionwatch.yaml").write_text(config, encoding="utf-8")
    run = cli("sources", "--json")
    rows = {row["type"]: row for row in json.loads(run.stdout)}
    assert (rows["rss"]["configured"], rows["hackernews"]["configured"], run.stderr) == (["news"], [], "")


def test_sources_about_is_each_adapters_first_paragraph_whole(cli: Callable[..., Run]) -> None:
    rows = {row["type"]: row for row in json.loads(cli("sources", "--json").stdout)}
    assert "comments and replies under its latest posts" in rows["facebook_page"]["about"]
    assert "(Instagram API with Facebook Login)" in rows["instagram_account"]["about"]
    assert all(row["about"].endswith(".") and "\n" not in row["about"] for row in rows.values())


# -- store locations


@pytest.mark.parametrize(
    ("db", "said"),
    [
        (
            "mysql://mw:hunter2pw@db.example/m",
            "store mysql://...: unknown scheme 'mysql': a store is a SQLite file (a "
            "path, or sqlite:///path) or a PostgreSQL database (postgresql://user@host/db or postgres://...)",
        ),
        (
            "sqlite://",
            "store sqlite://...: a sqlite URL names a file: sqlite:///relative/path or sqlite:////absolute/path",
        ),
        ("sqlite://host/m.sqlite3", "store sqlite://...: a sqlite URL names a file: sqlite:///relative/path or"),
        # A scheme without its `//` is no file name either.
        ("postgresql:m4", "store postgresql:...: unknown scheme 'postgresql'"),
        ("mysql:/abs/path", "store mysql:...: unknown scheme 'mysql'"),
        ("sqlite:rel2.sqlite3", "store sqlite:...: a sqlite URL names a file"),
    ],
)
def test_a_store_location_of_another_scheme_is_a_usage_error_that_creates_no_file(
    tmp_path: Path, cli: Callable[..., Run], db: str, said: str
) -> None:
    for args in (("scan", "-c", EXAMPLE_CONFIG, "-f", "jsonl"), ("list",), ("inbox",)):
        run = cli(*args, "--db", db)
        assert (run.code, run.stdout) == (2, ""), args
        assert run.stderr.startswith(f"mentionwatch: error: {said}"), args
        assert "hunter2pw" not in run.stderr
    assert not any(":" in p.name or p.name in ("mysql", "sqlite") for p in tmp_path.rglob("*"))


def test_a_sqlite_url_names_the_file_at_its_path(tmp_path: Path, cli: Callable[..., Run]) -> None:
    _, records = scan_of(cli, tmp_path, "-c", EXAMPLE_CONFIG, "--db", "sqlite:///relative.sqlite3")
    assert (tmp_path / "relative.sqlite3").is_file()
    absolute = tmp_path / "sub" / "absolute.sqlite3"
    absolute.parent.mkdir()
    assert cli("scan", "-c", EXAMPLE_CONFIG, "--db", f"sqlite:///{absolute}", "-q", "-f", "jsonl").code == 0
    assert absolute.is_file()
    listed = cli("list", "--db", "sqlite:///relative.sqlite3", "-f", "jsonl")
    assert listed.code == 0 and len(listed.stdout.splitlines()) == len(records)


# -- --source and --search


def test_an_unknown_source_name_is_an_error_for_list_and_inbox_as_an_unknown_brand_is(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    db = str(tmp_path / "m.sqlite3")
    scan_of(cli, tmp_path, "-c", EXAMPLE_CONFIG, "--db", db)
    for command in ("list", "inbox"):
        run = cli(command, "--db", db, "--source", "nosuch", "-f", "jsonl")
        assert run.code == 2 and run.stdout == ""
        assert run.stderr == (
            "mentionwatch: error: --source nosuch: no source of that name or type in the config or the store "
            "(sources: alerts, hackernews, news)\n"
        )
        # A stored source's name or type, and an installed type with nothing stored, are filters.
        for name in ("alerts", "rss", "reddit"):
            assert cli(command, "--db", db, "--source", name, "-f", "jsonl").code == 0, (command, name)
    sources = {json.loads(line)["source"] for line in cli("list", "--db", db, "--source", "rss").stdout.splitlines()}
    assert sources == {"alerts", "news"}


def test_a_source_of_the_config_with_nothing_stored_yet_is_a_filter_not_an_error(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    db = tmp_path / "m.sqlite3"
    scan_of(cli, tmp_path, "-c", EXAMPLE_CONFIG, "--db", str(db))
    config = tmp_path / "mentionwatch.yaml"
    config.write_text(f"store: {db}\n" + BRANDS + "sources:\n  - type: rss\n    name: later\n    urls: [x.xml]\n")
    run = cli("list", "--source", "later", "-f", "jsonl")
    assert (run.code, run.stdout) == (0, "")
    assert "(sources: alerts, hackernews, later, news)" in cli("list", "--source", "nosuch").stderr


@pytest.mark.parametrize("words", ["", "   "])
def test_a_blank_search_is_a_usage_error_not_every_mention(tmp_path: Path, cli: Callable[..., Run], words: str) -> None:
    db = str(tmp_path / "m.sqlite3")
    scan_of(cli, tmp_path, "-c", EXAMPLE_CONFIG, "--db", db)
    run = cli("list", "--db", db, "--search", words, "-f", "jsonl")
    assert (run.code, run.stdout) == (2, "")
    assert "--search is empty" in run.stderr


# -- explain


RECORD = {"id": "a", "url": "http://x/a", "published_at": "2020-01-01T00:00:00Z", "text": "Acme", "brand": "Acme"}


@pytest.mark.parametrize(
    ("fields", "problem"),
    [
        ({"also_seen": 7}, "also_seen is a number, not a list of entries"),
        ({"also_seen": [{"url": 5}]}, "also_seen[0] has no source, id"),
        ({"also_seen": [None]}, "also_seen[0] is null, not an entry (an object with source, id and url)"),
        ({"also_seen": [{"source": "rss", "id": "b", "url": 5}]}, "also_seen[0].url is a number, not text"),
        ({"also_seen": [{"source": "rss", "id": "b", "url": "u", "likes": "x"}]}, "also_seen[0].likes is text"),
        ({"matched_terms": 5}, "matched_terms is a number, not a list of terms"),
        ({"matched_terms": ["Acme", None]}, "matched_terms holds null, not text"),
        ({"brand": 7}, "brand is a number, not text"),
        ({"author": {"name": "x"}}, "author is an object, not text"),
        ({"published_at": None}, "missing field(s): published_at"),
        ({"published_at": "yesterday"}, "published_at 'yesterday' is not a time"),
        ({"likes": "many"}, "likes is text ('many'), not a count"),
        ({"impact": "high"}, "impact is text, not a number"),
        ({"needs_reply": "yes"}, "needs_reply is text, not true or false"),
        ({"duplicates": 1.5}, "duplicates is a number, not a whole number"),
    ],
)
def test_explain_refuses_a_record_it_cannot_read_naming_file_and_line(
    tmp_path: Path, cli: Callable[..., Run], fields: dict[str, Any], problem: str
) -> None:
    path = tmp_path / "r.jsonl"
    lines = [json.dumps({**RECORD, "id": "fine"}), "", json.dumps({**RECORD, **fields})]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    run = cli("explain", "fine", "-i", str(path))  # every record is read: the others make its percentile
    assert (run.code, run.stdout) == (2, "")
    assert run.stderr.startswith(f"mentionwatch: error: {path}:3: mention 'a': cannot read it: {problem}")
    assert len(run.stderr.splitlines()) == 1


def test_explain_refuses_what_is_not_a_mention_in_a_line_or_an_array(tmp_path: Path, cli: Callable[..., Run]) -> None:
    lines = tmp_path / "r.jsonl"
    lines.write_text(json.dumps(RECORD) + "\n[1, 2]\n", encoding="utf-8")
    run = cli("explain", "a", "-i", str(lines))
    assert (run.code, run.stderr) == (
        2,
        f"mentionwatch: error: {lines}:2: not a JSON object (a scan's output has one mention a line): an array\n",
    )
    array = tmp_path / "r.json"
    array.write_text(json.dumps([RECORD, "x"]), encoding="utf-8")
    run = cli("explain", "a", "-i", str(array))
    assert run.code == 2 and f"{array}: mention 2 of the array: not a JSON object" in run.stderr


def test_explain_reads_nulls_where_a_scan_may_write_them(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = tmp_path / "r.jsonl"
    nulls = dict.fromkeys(("title", "lang", "link", "likes", "matched_terms", "matched_query", "impact", "also_seen"))
    path.write_text(json.dumps({**RECORD, **nulls}) + "\n", encoding="utf-8")
    run = cli("explain", "a", "-i", str(path), "--json")
    assert run.code == 0, run.stderr
    assert json.loads(run.stdout)["duplicates"]["also_seen"] == []


def test_explain_without_a_config_says_the_brands_rules_are_unknown_not_none(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    scan, records = scan_of(cli, tmp_path)
    slack = next(r for r in records if r["brand"] == "Slack")
    without = cli("explain", slack["id"], "-i", str(scan))
    assert without.code == 0, without.stderr
    assert "exclusions: none configured" not in without.stdout
    assert "rules: unknown without -c" in without.stdout
    assert "reply_reach: 1,000 is the default: the brand's own is unknown without -c" in without.stdout
    data = json.loads(cli("explain", slack["id"], "-i", str(scan), "--json").stdout)
    [match] = data["match"]
    assert (match["rules_known"], match["checks"], match["reason"]) == (False, [], "terms found: Slack")
    assert data["needs_reply"]["reply_reach_known"] is False
    # With the config, its three exclusions are each tested.
    full = cli("explain", slack["id"], "-c", EXAMPLE_CONFIG, "-i", str(scan))
    assert full.stdout.count("  ->  did not fire") == 3 and "exclude: slack wax" in full.stdout
    assert "unknown without -c" not in full.stdout


def test_explain_without_a_config_gives_the_query_clause_the_scan_recorded(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    config = tmp_path / "q.yaml"
    feed = EXAMPLES / "data" / "google-alerts-slack.xml"
    config.write_text(
        f"since: 2017-01-01\nbrands:\n  - name: Slack\n    query: 'Slack AND (stock OR shares)'\n"
        f"sources:\n  - type: rss\n    urls: ['{feed}']\n",
        encoding="utf-8",
    )
    scan, records = scan_of(cli, tmp_path, "-c", str(config), "--no-store")
    record = next(r for r in records if r["matched_query"])
    run = cli("explain", record["id"], "-i", str(scan))
    assert run.code == 0, run.stderr
    assert "reason: query alternative holds: Slack AND (stock OR shares)" in run.stdout
    assert "reason: terms found" not in run.stdout


@pytest.mark.e2e
def test_check_to_a_full_disk_is_a_write_error_not_a_traceback(tmp_path: Path) -> None:
    with open("/dev/full", "w") as full:
        done = subprocess.run(
            cli_command("check", "-c", EXAMPLE_CONFIG), env=cli_env(tmp_path), stdout=full, stderr=subprocess.PIPE,
            text=True, timeout=60,
        )  # fmt: skip
    assert done.returncode == 5 and "Traceback" not in done.stderr and "cannot write to stdout" in done.stderr

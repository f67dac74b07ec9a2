"""From scanner to monitor (issue #13): the store behind `scan`, new-only scans, watermarks, history, triage.

The Hacker News source is served by a small emulation of Algolia's `search_by_date` that honours its
`numericFilters=created_at_i>=N`, `page` and `hitsPerPage`, newest first. Its hits are copies of a real recorded
hit (tests/fixtures/hackernews/) with ids, times, links and points set to the test's clock.

Every test runs once per engine: the store is named by $MENTIONWATCH_DB, a SQLite file or a PostgreSQL URL."""

from __future__ import annotations

import copy
import csv
import io
import json
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from conftest import LoopbackServer, Reply, Request, Run, cli_command, cli_env, load_json

RECORDED = load_json("hackernews", "search_by_date_query_nodejs_2017.json")
STORY = next(h for h in RECORDED["hits"] if h.get("title") == "Node v8.6.0")
NOW = datetime.now(UTC).replace(microsecond=0)


def hit(n: int, at: datetime, *, points: int = 10, title: str = "Node v8.6.0") -> dict[str, Any]:
    item = copy.deepcopy(STORY)
    item.update(
        objectID=str(900000 + n),
        created_at=at.strftime("%Y-%m-%dT%H:%M:%S.000Z"),
        created_at_i=int(at.timestamp()),
        url=f"https://nodejs.org/en/blog/release/v8.6.{n}/",
        points=points,
        title=title,
    )
    return item


class Algolia:
    """hn.algolia.com's search_by_date, as far as the adapter uses it."""

    def __init__(self) -> None:
        self.hits: list[dict[str, Any]] = []
        self.failing = False
        self.filters: list[int] = []

    def __call__(self, request: Request) -> Reply:
        if self.failing:
            return Reply(503, b"down")
        params = {k: v[0] for k, v in parse_qs(request.query).items()}
        floor = int(re.fullmatch(r"created_at_i>=(\d+)", params["numericFilters"]).group(1))  # type: ignore[union-attr]
        self.filters.append(floor)
        found = sorted((h for h in self.hits if h["created_at_i"] >= floor), key=lambda h: -h["created_at_i"])
        per_page, page = int(params.get("hitsPerPage", 100)), int(params.get("page", 0))
        body = {
            "hits": found[page * per_page : (page + 1) * per_page],
            "nbHits": len(found),
            "page": page,
            "nbPages": max(1, -(-len(found) // per_page)),
            "hitsPerPage": per_page,
        }
        return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})


@pytest.fixture
def cli_store_env(store_location: str) -> dict[str, str]:
    """Each CLI call's store: a SQLite file or a PostgreSQL schema of this test's own ($MENTIONWATCH_DB)."""
    return {"MENTIONWATCH_DB": store_location}


@pytest.fixture
def algolia(server: LoopbackServer) -> Algolia:
    emulation = Algolia()
    server.route("/api/v1/search_by_date", emulation)
    return emulation


def config(tmp_path: Path, server: LoopbackServer, *, name: str = "hn", extra: str = "") -> Path:
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(
        "# my brands\nbrands:\n  - name: Node.js\n    terms: [Node]   # the runtime\n"
        f"sources:\n  - type: hackernews\n    name: {name}\n    base_url: {server.url}/api/v1\n{extra}",
        encoding="utf-8",
    )
    return path


def rows(run: Run) -> list[dict[str, Any]]:
    assert run.code == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def ids(run: Run) -> list[str]:
    return sorted(r["id"] for r in rows(run))


def guids(run: Run) -> list[str]:
    """The feed items' guids: their ids less the feed's key (`3fa9c2d1/d2`), which scopes a short guid to its feed."""
    return sorted(r["id"].partition("/")[2] for r in rows(run))


# -- new only, and nothing missed


def test_seed_fills_the_store_and_prints_nothing(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=3)), hit(2, NOW - timedelta(hours=2))]
    cfg = str(config(tmp_path, server))
    seeded = cli("scan", "-c", cfg, "--seed", "--since", "1d", "-f", "jsonl")
    assert seeded.code == 0 and seeded.stdout == ""
    listed = rows(cli("list", "-c", cfg, "-f", "jsonl"))
    assert sorted(r["id"] for r in listed) == ["900001", "900002"]
    assert {r["status"] for r in listed} == {"new"} and all(r["first_seen"] for r in listed)
    quiet = cli("scan", "-c", cfg, "--new", "--since", "1d", "-f", "jsonl")
    assert quiet.code == 0 and quiet.stdout == "", "nothing new: nothing on stdout, so cron mails nothing"


def test_since_last_misses_nothing_and_repeats_nothing(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    newest = NOW - timedelta(hours=2)
    algolia.hits = [hit(1, NOW - timedelta(hours=3)), hit(2, newest)]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    # Between the runs: a post published since, one indexed late but inside the 10-minute overlap, and one
    # published long before the watermark (outside any overlap: it was never in this run's window).
    algolia.hits += [
        hit(3, NOW - timedelta(hours=1)),
        hit(4, newest - timedelta(minutes=5)),
        hit(5, NOW - timedelta(days=3)),
    ]
    second = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert ids(second) == ["900003", "900004"]
    assert algolia.filters[-1] == int((newest - timedelta(minutes=10)).timestamp()), "watermark less the overlap"
    third = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert third.code == 0 and third.stdout == ""


def test_a_failed_source_keeps_its_watermark_and_the_next_run_catches_up(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    newest = NOW - timedelta(hours=5)
    algolia.hits = [hit(1, newest)]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    algolia.hits.append(hit(2, NOW - timedelta(hours=4)))
    algolia.failing = True
    assert cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl").code == 4
    algolia.failing = False
    algolia.hits.append(hit(3, NOW - timedelta(hours=1)))
    caught_up = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert ids(caught_up) == ["900002", "900003"]
    assert algolia.filters[-1] == int((newest - timedelta(minutes=10)).timestamp())


def test_a_new_brand_starts_from_the_configured_since(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=2))]
    cfg = config(tmp_path, server)
    assert cli("scan", "-c", str(cfg), "--seed", "--since", "1d").code == 0
    cfg.write_text(cfg.read_text().replace("sources:", "  - name: Vespa\n    terms: [Vespa]\nsources:") + "since: 3d\n")
    cli("scan", "-c", str(cfg), "--new", "--since", "last")
    three_days_ago = (datetime.now(UTC) - timedelta(days=3)).timestamp()
    assert abs(algolia.filters[-1] - three_days_ago) < 60, "not the old brand's watermark"


def test_backfill_reports_only_what_was_missed(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=30)), hit(2, NOW - timedelta(hours=3))]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0  # the 30-hour-old post was outside it
    backfilled = cli("scan", "-c", cfg, "--since", "2d", "--backfill", "-f", "jsonl")
    assert ids(backfilled) == ["900001"]
    assert cli("scan", "-c", cfg, "--backfill").code == 2, "--backfill needs the window named"


def test_renaming_a_source_keeps_its_history(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=2))]
    assert cli("scan", "-c", str(config(tmp_path, server, name="hn")), "--seed", "--since", "1d").code == 0
    renamed = cli("scan", "-c", str(config(tmp_path, server, name="hacker-news")), "--new", "--since", "last")
    assert renamed.code == 0 and renamed.stdout == ""
    assert algolia.filters[-1] == int((NOW - timedelta(hours=2, minutes=10)).timestamp()), "same watermark"


def test_seen_again_a_mention_keeps_first_seen_and_text_and_updates_its_engagement(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=2), points=10, title="Node v8.6.0 is out")]
    cfg = str(config(tmp_path, server))
    first = rows(cli("scan", "-c", cfg, "--since", "1d", "-f", "jsonl"))[0]
    time.sleep(1.1)  # first_seen has one-second precision
    algolia.hits = [hit(1, NOW - timedelta(hours=2), points=250, title="Node v8.6.0 is out (edited)")]
    again = rows(cli("scan", "-c", cfg, "--since", "1d", "-f", "jsonl"))[0]
    assert again["first_seen"] == first["first_seen"]
    [stored] = rows(cli("list", "-c", cfg, "-f", "jsonl"))
    assert stored["score"] == 250
    assert stored["title"] == "Node v8.6.0 is out", "the text it was first seen with"
    assert stored["first_seen"] == first["first_seen"]


# -- clusters across runs

ARTICLE = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Node.js blog</title>
<item><guid>https://nodejs.org/en/blog/release/v8.6.1/</guid><title>Node v8.6.1 (Current)</title>
<link>https://nodejs.org/en/blog/release/v8.6.1/?utm_source=rss</link><pubDate>%s</pubDate>
<description>Notable changes in this release of Node</description></item>
</channel></rss>
"""


def test_a_share_seen_tomorrow_joins_todays_cluster(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    when = (NOW - timedelta(hours=5)).strftime("%a, %d %b %Y %H:%M:%S +0000").encode()
    server.route("/blog.xml", Reply(200, ARTICLE % when, {"content-type": "application/rss+xml"}))
    cfg = str(config(tmp_path, server, extra=f"  - type: rss\n    urls: [{server.url}/blog.xml]\n"))
    today = rows(cli("scan", "-c", cfg, "--since", "1d", "-f", "jsonl"))
    assert [r["source"] for r in today] == ["rss"]
    # Tomorrow: the Hacker News story that links the article.
    algolia.hits = [hit(1, NOW - timedelta(hours=1), points=321)]
    tomorrow = cli("scan", "-c", cfg, "--new", "--since", "1d", "-f", "jsonl")
    assert tomorrow.code == 0 and tomorrow.stdout == "", "a share of a known story is not news"
    [story] = rows(cli("list", "-c", cfg, "-f", "jsonl"))
    assert story["source"] == "rss"
    assert [(a["source"], a["id"]) for a in story["also_seen"]] == [("hn", "900001")]


# -- history and triage


def test_list_filters_and_full_text_search(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [
        hit(1, NOW - timedelta(hours=1), title="Node lost my data twice, awful"),
        hit(2, NOW - timedelta(hours=2), title="Node release notes"),
        hit(3, NOW - timedelta(days=2), title="Node is wonderful, I love it"),
    ]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "7d").code == 0
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--since", "1d")) == ["900001", "900002"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--until", "1d")) == ["900003"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--sentiment", "negative")) == ["900001"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--search", "lost data")) == ["900001"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--search", '"release notes"')) == ["900002"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--search", "-- OR NEAR(")) == [], "no query syntax leaks"
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--brand", "node.JS", "--limit", "1")) == ["900001"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--source", "hackernews")) == ["900001", "900002", "900003"]
    assert cli("list", "-c", cfg, "--brand", "Nope").code == 2
    assert cli("list", "-c", cfg, "--status", "finished").code == 2
    table = cli("list", "-c", cfg, "-f", "table", "--limit", "2")
    assert "2 of 3 mentions" in table.stdout
    # A configured source with nothing stored yet is no typo, with the store named apart ($MENTIONWATCH_DB) too.
    later = str(config(tmp_path, server, extra=f"  - type: rss\n    name: blog\n    urls: [{server.url}/feed.xml]\n"))
    quiet = cli("list", "-c", later, "-f", "jsonl", "--source", "blog")
    assert quiet.code == 0 and quiet.stdout == "", quiet.stderr
    assert cli("list", "-c", later, "--source", "blgo").code == 2


def test_mark_and_tag_mentions(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=1)), hit(2, NOW - timedelta(hours=2))]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    assert cli("mark", "900001", "done", "-c", cfg).code == 0
    assert cli("mark", "hackernews:900002", "read", "-c", cfg).code == 0
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--status", "done")) == ["900001"]
    assert ids(cli("list", "-c", cfg, "-f", "jsonl", "--status", "read")) == ["900002"]
    assert cli("mark", "900001", "finished", "-c", cfg).code == 2
    assert cli("mark", "123", "done", "-c", cfg).code == 2
    assert cli("tag", "900001", "900002", "release", "-c", cfg).code == 0
    assert cli("tag", "900002", "release", "--remove", "-c", cfg).code == 0
    tagged = rows(cli("list", "-c", cfg, "-f", "jsonl", "--tag", "release"))
    assert [(r["id"], r["tags"]) for r in tagged] == [("900001", ["release"])]
    # The new fields come after the old ones, in the CSV too.
    csv_rows = list(csv.reader(io.StringIO(cli("list", "-c", cfg, "-f", "csv").stdout)))
    assert csv_rows[0][31:34] == ["first_seen", "status", "tags"] and csv_rows[0][0] == "source"
    again = rows(cli("scan", "-c", cfg, "--since", "1d", "-f", "jsonl"))
    assert {r["id"]: r["status"] for r in again} == {"900001": "done", "900002": "read"}


def test_ignore_adds_the_rule_with_comments_kept_and_marks_the_stored_mentions(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    spam = hit(1, NOW - timedelta(hours=1), title="Node coupons, cheap")
    spam["author"] = "couponbot"
    algolia.hits = [spam, hit(2, NOW - timedelta(hours=2))]
    cfg = config(tmp_path, server)
    assert cli("scan", "-c", str(cfg), "--seed", "--since", "1d").code == 0
    run = cli("ignore", "--brand", "node.js", "--author", "couponbot", "-c", str(cfg))
    assert run.code == 0, run.stderr
    text = cfg.read_text()
    assert "# my brands" in text and "# the runtime" in text, "comments kept"
    assert "exclude_authors:" in text and "couponbot" in text
    assert ids(cli("list", "-c", str(cfg), "-f", "jsonl", "--status", "ignored")) == ["900001"]
    assert cli("check", "-c", str(cfg)).code == 0
    rescanned = rows(cli("scan", "-c", str(cfg), "--since", "1d", "-f", "jsonl"))
    assert [r["id"] for r in rescanned] == ["900002"], "the noise never returns"
    assert cli("ignore", "--brand", "Nope", "--term", "x", "-c", str(cfg)).code == 2


def test_stats_and_prune(tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]) -> None:
    algolia.hits = [
        hit(1, NOW - timedelta(days=200)),
        hit(2, NOW - timedelta(days=190)),
        hit(3, NOW - timedelta(hours=1)),
    ]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "365d").code == 0
    stats = json.loads(cli("stats", "-c", cfg, "--json").stdout)
    assert stats["mentions"] == 3 and stats["bytes"] > 0
    assert stats["by_status"] == [{"status": "new", "mentions": 3}]
    assert stats["sources"][0]["name"] == "hn" and stats["sources"][0]["last_success"]
    assert cli("tag", "900002", "keep", "-c", cfg).code == 0
    assert cli("prune", "--older-than", "180d", "-c", cfg).code == 0
    assert ids(cli("list", "-c", cfg, "-f", "jsonl")) == ["900002", "900003"]
    assert cli("prune", "--older-than", "180d", "--all", "-c", cfg).code == 0
    assert ids(cli("list", "-c", cfg, "-f", "jsonl")) == ["900003"]


def test_prune_inside_the_scans_window_is_refused_unless_forced(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    # The store is what tells a scan it has seen a mention: forgetting what the next scan reaches back to would have
    # that scan report it as new again.
    algolia.hits = [hit(1, NOW - timedelta(days=2)), hit(2, NOW - timedelta(hours=1))]
    cfg = config(tmp_path, server)
    cfg.write_text("since: 30d\n" + cfg.read_text(), encoding="utf-8")
    assert cli("scan", "-c", str(cfg), "--seed").code == 0
    refused = cli("prune", "--older-than", "1d", "-c", str(cfg))
    assert (
        refused.code == 2 and "inside the scans' window (since: 30d)" in refused.stderr and "--force" in refused.stderr
    )
    assert ids(cli("list", "-c", str(cfg), "-f", "jsonl")) == ["900001", "900002"]
    assert cli("prune", "--older-than", "31d", "-c", str(cfg)).code == 0
    assert cli("prune", "--older-than", "1d", "--force", "-c", str(cfg)).code == 0
    assert ids(cli("list", "-c", str(cfg), "-f", "jsonl")) == ["900002"]


def test_a_source_failing_run_after_run_is_called_out_as_broken(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.failing = True
    cfg = str(config(tmp_path, server))
    for _ in range(2):
        assert "is broken" not in cli("scan", "-c", cfg, "--since", "1d").stderr
    third = cli("scan", "-c", cfg, "--since", "1d")
    assert third.code == 4
    assert re.search(
        r"source hn is broken: it failed in 3 scans in a row since \S+Z; last error: .*HTTP 503", third.stderr
    )
    stats = json.loads(cli("stats", "-c", cfg, "--json").stdout)
    assert stats["sources"][0]["broken"] and stats["sources"][0]["failures_in_a_row"] == 3
    algolia.failing = False
    assert "is broken" not in cli("scan", "-c", cfg, "--since", "1d").stderr


def test_a_broken_source_put_right_in_the_config_is_not_called_broken_again(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.failing = True
    cfg = str(config(tmp_path, server))
    for _ in range(3):
        cli("scan", "-c", cfg, "--since", "1d")
    assert "source hn is broken" in cli("scan", "-c", cfg, "--since", "1d").stderr
    # The user changes the source (here its page size; a broken URL put right alike), and it works: the old
    # options' failures are not this source's.
    algolia.failing = False
    cfg = str(config(tmp_path, server, extra="    hits_per_page: 50\n"))
    fixed = cli("scan", "-c", cfg, "--since", "1d")
    assert fixed.code == 0 and "is broken" not in fixed.stderr
    # `stats` still shows the old record, broken, but as not in the config now; the working one as configured.
    records = json.loads(cli("stats", "-c", cfg, "--json").stdout)["sources"]
    assert sorted((r["broken"], r["configured"]) for r in records) == [(False, True), (True, False)]
    assert "not in the config now" in cli("stats", "-c", cfg).stdout
    # Still told while it is failing as configured now.
    algolia.failing = True
    for _ in range(2):
        assert "is broken" not in cli("scan", "-c", cfg, "--since", "1d").stderr
    assert "source hn is broken: it failed in 3 scans" in cli("scan", "-c", cfg, "--since", "1d").stderr


# -- cron-safe files


def test_append_writes_the_header_once_and_each_mention_once(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    cfg = str(config(tmp_path, server))
    out_csv, out_jsonl = tmp_path / "all.csv", tmp_path / "all.jsonl"
    algolia.hits = [hit(1, NOW - timedelta(hours=2))]
    for out in (out_csv, out_jsonl):
        assert cli("scan", "-c", cfg, "--since", "1d", "-o", str(out), "--append").code == 0
    algolia.hits.append(hit(2, NOW - timedelta(hours=1)))
    out_jsonl.write_text(out_jsonl.read_text() + '{"source": "hn", "id": "half a li')  # a crash mid-line
    for out in (out_csv, out_jsonl):
        assert cli("scan", "-c", cfg, "--since", "1d", "-o", str(out), "--append", "-q").code == 0
    table = list(csv.reader(io.StringIO(out_csv.read_text())))
    assert [r[1] for r in table] == ["id", "900001", "900002"]
    lines = out_jsonl.read_text().splitlines()
    assert [json.loads(line)["id"] for line in lines] == ["900001", "900002"]
    assert cli("scan", "-c", cfg, "--since", "1d", "-o", str(tmp_path / "x.json"), "--append").code == 2


# -- the store itself


@pytest.mark.e2e
def test_a_killed_scan_leaves_the_store_consistent_and_the_next_run_catches_up(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, store_location: str, cli_store_env: dict[str, str]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=3))]
    cfg = config(tmp_path, server)
    env = cli_env(tmp_path, cli_store_env)
    subprocess.run(cli_command("scan", "-c", str(cfg), "--seed", "--since", "1d"), env=env, check=True, timeout=60)
    algolia.hits.append(hit(2, NOW - timedelta(hours=1)))
    server.route("/slow/api/v1/search_by_date", Reply(200, b"{}", stall=60))
    slow = cfg.read_text() + f"  - type: hackernews\n    name: slow\n    base_url: {server.url}/slow/api/v1\n"
    cfg.write_text(slow)
    proc = subprocess.Popen(cli_command("scan", "-c", str(cfg), "--new", "--since", "last"), env=env)
    deadline = time.monotonic() + 30
    while not any(r.path.startswith("/slow/") for r in server.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    if not store_location.startswith("postgresql://"):
        assert sqlite3.connect(store_location).execute("PRAGMA integrity_check").fetchone() == ("ok",)
    cfg.write_text(slow.split("  - type: hackernews\n    name: slow")[0])
    caught_up = subprocess.run(
        cli_command("scan", "-c", str(cfg), "--new", "--since", "last", "-f", "jsonl"),
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert caught_up.returncode == 0, caught_up.stderr
    assert [json.loads(line)["id"] for line in caught_up.stdout.splitlines()] == ["900002"]


def test_a_post_dated_in_the_future_does_not_push_the_watermark_past_now(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW + timedelta(days=365)), hit(2, NOW - timedelta(hours=1))]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    algolia.hits.append(hit(3, datetime.now(UTC) - timedelta(minutes=1)))
    assert ids(cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")) == ["900003"]
    assert algolia.filters[-1] <= datetime.now(UTC).timestamp()


def test_list_flags_a_post_dated_in_the_future_and_shows_it_last_as_scan_does(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [
        hit(1, NOW + timedelta(days=30)),
        hit(2, NOW - timedelta(hours=2)),
        hit(3, NOW - timedelta(hours=1)),
    ]
    cfg = str(config(tmp_path, server))
    scanned = rows(cli("scan", "-c", cfg, "--since", "1d", "-f", "jsonl"))
    listed = rows(cli("list", "-c", cfg, "-f", "jsonl"))
    assert [(r["id"], r["future_dated"]) for r in listed] == [("900003", False), ("900002", False), ("900001", True)]
    assert [r["id"] for r in listed] == [r["id"] for r in scanned]
    # Under a limit too: the post dated next month never pushes out a real one, whatever the order asked.
    for sort in ("newest", "impact"):
        limited = rows(cli("list", "-c", cfg, "-f", "jsonl", "--limit", "2", "--sort", sort))
        assert sorted(r["id"] for r in limited) == ["900002", "900003"]
    room = rows(cli("list", "-c", cfg, "-f", "jsonl", "--limit", "3"))
    assert [r["id"] for r in room] == ["900003", "900002", "900001"]


def test_a_post_dated_in_the_future_does_not_make_the_next_run_skip_posts_indexed_late(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    # The watermark is the newest post the source returned, less the overlap: a post dated next year is no measure
    # of how far the source was read, even capped at now (the next window would start at now less the overlap).
    # Next month (flagged future_dated), and eight hours ahead (a time zone labelled wrong: not flagged, as news).
    algolia.hits = [
        hit(1, NOW - timedelta(hours=3)),
        hit(2, NOW + timedelta(days=30)),
        hit(4, NOW + timedelta(hours=8)),
    ]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    algolia.hits.append(hit(3, NOW - timedelta(hours=2)))  # published before the scan, indexed after it
    assert ids(cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")) == ["900003"]
    assert algolia.filters[-1] == int((NOW - timedelta(hours=3, minutes=10)).timestamp())


def test_an_undated_item_does_not_make_the_next_run_skip_posts_published_late(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    # An undated item's time is when this machine first saw it: no measure of how far the feed was read. Taken as
    # the newest, it started the next window after a dated post the other feed published half an hour late.
    def item(guid: str, at: datetime | None) -> str:
        date = f"<pubDate>{format_datetime(at, usegmt=True)}</pubDate>" if at else ""
        return f"<item><title>Node {guid}</title><link>https://news.test/{guid}</link><guid>{guid}</guid>{date}</item>"

    def feed(*items: str) -> bytes:
        return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{"".join(items)}</channel></rss>'.encode()

    # One feed answers "not modified" once it has been read: the scans after the first take what it gave.
    undated = feed(item("u1", None), item("d1", NOW - timedelta(hours=3)))
    server.route(
        "/a.xml",
        lambda request: (
            Reply(304) if request.headers.get("if-none-match") == '"a1"' else Reply(200, undated, {"etag": '"a1"'})
        ),
    )
    later: list[str] = []
    server.route("/b.xml", lambda request: Reply(200, feed(*later)))
    cfg = tmp_path / "mentionwatch.yaml"
    cfg.write_text(
        f"brands:\n  - name: Node.js\n    terms: [Node]\nsources:\n  - type: rss\n    name: news\n"
        f"    urls: [{server.url}/a.xml, {server.url}/b.xml]\n",
        encoding="utf-8",
    )
    assert cli("scan", "-c", str(cfg), "--seed", "--since", "1d").code == 0
    assert cli("scan", "-c", str(cfg), "--new", "--since", "last", "-f", "jsonl").stdout == ""
    later.append(item("d2", NOW - timedelta(minutes=30)))
    assert guids(cli("scan", "-c", str(cfg), "--new", "--since", "last", "-f", "jsonl")) == ["d2"]


def test_new_with_a_limit_says_how_many_new_mentions_it_did_not_print(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=4))]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    algolia.hits += [hit(n, NOW - timedelta(hours=4 - n)) for n in (2, 3, 4)]
    limited = cli("scan", "-c", cfg, "--new", "--since", "last", "--limit", "1", "-f", "jsonl")
    assert ids(limited) == ["900004"]
    assert "--limit 1: 2 more new mentions not printed" in limited.stderr
    assert "list --status new" in limited.stderr
    unlimited = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert unlimited.code == 0 and unlimited.stdout == "" and "not printed" not in unlimited.stderr


def test_a_new_table_counts_the_new_mentions_and_nothing_new_prints_nothing(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    # The table's "N of M" is what --limit left out; with --new, M is not every mention the scan saw again.
    algolia.hits = [hit(n, NOW - timedelta(hours=5 + n)) for n in range(1, 5)]
    cfg = str(config(tmp_path, server))
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    nothing = cli("scan", "-c", cfg, "--new", "--since", "1d", "-f", "table")
    assert nothing.code == 0 and nothing.stdout == "", "nothing new: nothing on stdout, in a table too"
    assert "no new mentions" in nothing.stderr
    algolia.hits += [hit(n, NOW - timedelta(hours=n - 6)) for n in (7, 8)]
    one = cli("scan", "-c", cfg, "--new", "--since", "1d", "-f", "table", "--limit", "1", env={"COLUMNS": "120"})
    assert one.code == 0 and "1 of 2 mentions" in one.stdout, one.stdout
    plain = cli("scan", "-c", cfg, "--since", "1d", "-f", "table", "--limit", "1", env={"COLUMNS": "120"})
    assert "1 of 6 mentions" in plain.stdout


@pytest.mark.parametrize("fmt", ["csv", "json", "jsonl", "table"])
def test_seed_and_nothing_new_print_nothing_in_every_format(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run], fmt: str
) -> None:
    # Cron mails whatever a job prints: no CSV header, no `[]`, no empty table.
    algolia.hits = [hit(1, NOW - timedelta(hours=3))]
    cfg = str(config(tmp_path, server))
    seeded = cli("scan", "-c", cfg, "--seed", "--since", "1d", "-f", fmt)
    assert seeded.code == 0 and seeded.stdout == ""
    quiet = cli("scan", "-c", cfg, "--new", "--since", "1d", "-f", fmt, "-q")
    assert quiet.code == 0 and quiet.stdout == "" and quiet.stderr == ""
    algolia.hits.append(hit(2, NOW - timedelta(hours=1)))
    fresh = cli("scan", "-c", cfg, "--new", "--since", "1d", "-f", fmt, "-q", env={"COLUMNS": "120"})
    assert fresh.code == 0 and "900002" in fresh.stdout and "900001" not in fresh.stdout


def test_output_dash_is_stdout(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    algolia.hits = [hit(1, NOW - timedelta(hours=3))]
    cfg = str(config(tmp_path, server))
    assert ids(cli("scan", "-c", cfg, "--since", "1d", "-o", "-", "-f", "jsonl")) == ["900001"]
    assert ids(cli("list", "-c", cfg, "-o", "-", "-f", "jsonl")) == ["900001"]
    assert not (tmp_path / "-").exists()


LINKLESS_FEED = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Acme podcast</title><link>https://pod.test/</link>
<item><title>Episode 1: Node</title><guid isPermaLink="false">ep-1</guid><pubDate>{d1}</pubDate>
<enclosure url="https://pod.test/1.mp3" type="audio/mpeg" length="1"/></item>
<item><title>Episode 2: Node</title><guid isPermaLink="false">ep-2</guid><pubDate>{d2}</pubDate></item>
<item><title>A note on Node</title><pubDate>{d3}</pubDate></item>
<item><title>Read about Node</title><link>https://pod.test/read</link><pubDate>{d3}</pubDate></item>
</channel></rss>"""


def test_feed_items_without_a_link_are_mentions_each_of_its_own(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    # Podcast and blog feeds send items with a guid and no <link>: each is a mention (no URL), never skipped as
    # "unreadable", never merged with the feed's other link-less items as one page, in a scan or in the store.
    dates = {f"d{i}": format_datetime(NOW - timedelta(hours=i), usegmt=True) for i in (1, 2, 3)}
    feed = LINKLESS_FEED.format(**dates).encode()
    server.route("/pod.xml", lambda request: Reply(200, feed, {"content-type": "application/rss+xml"}))
    cfg = tmp_path / "mentionwatch.yaml"
    cfg.write_text(
        f"brands:\n  - name: Node.js\n    terms: [Node]\nsources:\n  - type: rss\n    urls: [{server.url}/pod.xml]\n",
        encoding="utf-8",
    )
    first = cli("scan", "-c", str(cfg), "--since", "1d", "-f", "jsonl")
    found = rows(first)
    assert "skipped" not in first.stderr
    assert len(found) == 4
    assert sorted(r["url"] for r in found) == ["", "", "", "https://pod.test/read"]
    assert {"ep-1", "ep-2"} <= {r["id"].partition("/")[2] for r in found}
    assert all(r["duplicates"] == 0 for r in found)
    stored = rows(cli("list", "-c", str(cfg), "-f", "jsonl"))
    assert len(stored) == 4 and all(r["duplicates"] == 0 for r in stored)
    again = cli("scan", "-c", str(cfg), "--new", "--since", "1d", "-f", "jsonl")
    assert again.code == 0 and again.stdout == ""
    table = cli("scan", "-c", str(cfg), "--since", "1d", "-f", "table", "--no-store")
    assert table.code == 0 and "A note on Node" in table.stdout


def new_run_to_a_full_disk(cfg: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """`scan --new --since last -f jsonl` with its stdout on /dev/full: every write fails (ENOSPC)."""
    with open("/dev/full", "w") as full:
        command = cli_command("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
        return subprocess.run(command, env=env, stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)


def seeded_then_a_full_disk(
    cfg: str, cli: Callable[..., Run], algolia: Algolia, env: dict[str, str], new: list[dict[str, Any]]
) -> subprocess.CompletedProcess[str]:
    """`scan --seed` of what Algolia holds, then `new` published and a `--new` run that cannot write them."""
    assert cli("scan", "-c", cfg, "--seed", "--since", "1d").code == 0
    algolia.hits += new
    return new_run_to_a_full_disk(cfg, env)


@pytest.mark.e2e
def test_new_mentions_whose_output_could_not_be_written_are_given_by_the_next_run(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli_store_env: dict[str, str], cli: Callable[..., Run]
) -> None:
    # The store holds a scan before its output is written: a full disk must not cost the new mentions their turn.
    algolia.hits = [hit(1, NOW - timedelta(hours=4))]
    cfg = str(config(tmp_path, server))
    failed = seeded_then_a_full_disk(
        cfg, cli, algolia, cli_env(tmp_path, cli_store_env), [hit(2, NOW - timedelta(hours=3))]
    )
    assert failed.returncode == 5, failed.stderr
    assert "next --new run to this output gives this scan's new mentions too" in failed.stderr
    algolia.hits.append(hit(3, NOW - timedelta(hours=2)))
    assert ids(cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")) == ["900002", "900003"]
    algolia.hits.append(hit(4, NOW - timedelta(hours=1)))
    assert ids(cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")) == ["900004"], "given once"


@pytest.mark.e2e
def test_another_config_printing_new_mentions_from_a_shared_store_neither_gets_nor_clears_what_one_is_owed(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli_store_env: dict[str, str], cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=4))]
    cfg = str(config(tmp_path, server))
    other = tmp_path / "other.yaml"
    other.write_text(
        "brands:\n  - name: Deno\n    terms: [Deno]\nsources:\n"
        f"  - type: hackernews\n    name: hn-deno\n    base_url: {server.url}/api/v1\n",
        encoding="utf-8",
    )
    assert cli("scan", "-c", str(other), "--seed", "--since", "1d").code == 0
    env = cli_env(tmp_path, cli_store_env)
    assert seeded_then_a_full_disk(cfg, cli, algolia, env, [hit(2, NOW - timedelta(hours=3))]).returncode == 5
    # Both print to stdout: the other config's run says nothing of Node.js, and leaves its mark alone.
    assert cli("scan", "-c", str(other), "--new", "--since", "last", "-f", "jsonl").stdout == ""
    assert ids(cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")) == ["900002"]


def rss(items: list[tuple[str, str, str, datetime]]) -> bytes:
    entries = "".join(
        f"<item><title>{title}</title><link>https://{guid}.news.test/a</link><guid>{guid}</guid>"
        f"<description>{text}</description><pubDate>{format_datetime(at, usegmt=True)}</pubDate></item>"
        for guid, title, text, at in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{entries}</channel></rss>'.encode()


def test_a_copy_that_turns_up_in_a_later_scan_joins_the_stored_cluster_and_is_not_new(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    story = (
        "Node.js opens a new office in Berlin",
        "The Node.js foundation opens a new office in Berlin this week, with hundreds of jobs for engineers.",
    )
    feeds: dict[str, list[tuple[str, str, str, datetime]]] = {
        "one": [
            ("d1", *story, NOW - timedelta(hours=3)),
            (
                "d0",
                "Node 22 is out",
                "Release notes of Node 22, in full and with every change listed here.",
                NOW - timedelta(hours=1),
            ),
        ],
        "two": [
            (
                "u1",
                "Deno and Node compared",
                "A long comparison of Deno and Node for teams that need to choose one of them soon.",
                NOW - timedelta(hours=1),
            )
        ],
    }
    for name in feeds:
        server.route(f"/{name}.xml", lambda request, name=name: Reply(200, rss(feeds[name])))
    cfg = tmp_path / "mentionwatch.yaml"
    cfg.write_text(
        "brands:\n  - name: Node.js\n    terms: [Node]\nsources:\n"
        f"  - type: rss\n    name: one\n    urls: [{server.url}/one.xml]\n"
        f"  - type: rss\n    name: two\n    urls: [{server.url}/two.xml]\n",
        encoding="utf-8",
    )
    assert cli("scan", "-c", str(cfg), "--seed", "--since", "1d").code == 0
    # The same article, syndicated under another URL, in the other feed, a scan later (its original gone from
    # the first feed by then).
    feeds["one"] = feeds["one"][1:]
    feeds["two"].append(("d3", *story, NOW - timedelta(minutes=20)))
    feeds["two"].append(
        (
            "n1",
            "Node on the edge",
            "Running Node at the edge: cold starts, memory limits and what to do.",
            NOW - timedelta(minutes=10),
        )
    )
    assert guids(cli("scan", "-c", str(cfg), "--new", "--since", "1d", "-f", "jsonl")) == ["n1"]
    [original] = [r for r in rows(cli("list", "-c", str(cfg), "-f", "jsonl")) if r["id"].endswith("/d1")]
    assert [(a["id"].partition("/")[2], a["source"], a["match"], a["kind"]) for a in original["also_seen"]] == [
        ("d3", "two", "text", "article")
    ], "listed as a scan lists a copy"
    assert original["duplicates"] == 1


@pytest.mark.e2e
def test_owed_mentions_are_given_once_counted_under_a_limit_and_kept_to_their_choice_of_brands(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli_store_env: dict[str, str], cli: Callable[..., Run]
) -> None:
    algolia.hits = [hit(1, NOW - timedelta(hours=5))]
    cfg = str(config(tmp_path, server))
    new = [hit(2, NOW - timedelta(hours=4)), hit(3, NOW - timedelta(hours=3))]
    assert seeded_then_a_full_disk(cfg, cli, algolia, cli_env(tmp_path, cli_store_env), new).returncode == 5
    # Another choice of brands (here: --brand) is owed nothing of that run, and clears nothing.
    assert cli("scan", "-c", cfg, "--new", "--since", "last", "--brand", "Node.js", "-f", "jsonl").stdout == ""
    algolia.failing = True  # every source fails: stdout still gets what it is owed, once
    limited = cli("scan", "-c", cfg, "--new", "--since", "last", "--limit", "1", "-f", "jsonl")
    assert limited.code == 4 and ids(Run(0, limited.stdout, "")) == ["900003"]
    assert "--limit 1: 1 more new mentions not printed" in limited.stderr
    again = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert again.code == 4 and again.stdout == ""


def export_line(n: int, at: datetime, **fields: str) -> str:
    """A line of an export file the jsonl source reads (another tool's, or mentionwatch's own)."""
    record = {"source": "x", "id": str(n), "url": f"https://e.test/{n}", "title": f"Node news {n}", "text": "Node",
              "author": "a", "published_at": at.isoformat(), "kind": "post", **fields}  # fmt: skip
    return json.dumps(record) + "\n"


def export_config(tmp_path: Path, lines: str) -> tuple[Path, str]:
    """The export file holding `lines`, and a config reading it for Node.js."""
    export = tmp_path / "in.jsonl"
    export.write_text(lines, encoding="utf-8")
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(f"brands:\n  - name: Node.js\n    terms: [Node]\nsources:\n  - type: jsonl\n    path: {export}\n")
    return export, str(cfg)


def test_a_nul_in_an_item_is_dropped_and_costs_no_other_mention(tmp_path: Path, cli: Callable[..., Run]) -> None:
    # PostgreSQL's text refuses NUL: one `\u0000` in one item failed the whole scan's save, on every cron run.
    _, cfg = export_config(
        tmp_path,
        export_line(1, NOW - timedelta(hours=1), title="Node\u0000 hi", text="Node\u0000js", author="a\u0000")
        + export_line(2, NOW - timedelta(hours=2)),
    )
    scanned = rows(cli("scan", "-c", cfg, "--since", "1d", "-f", "jsonl"))
    assert sorted(r["id"] for r in scanned) == ["1", "2"]
    listed = {r["id"]: r for r in rows(cli("list", "-c", cfg, "-f", "jsonl"))}
    assert (listed["1"]["title"], listed["1"]["text"], listed["1"]["author"]) == ("Node hi", "Nodejs", "a")


# -- feeds: a guid is its feed's own; an item a feed publishes late is still found (QA: lost mentions)


def site_feed(host: str, items: list[tuple[str, str, datetime]], *, links: bool = True) -> bytes:
    """A feed whose items carry the short guids a CMS gives them (`1`, `2`): unique within this feed only."""
    entries = "".join(
        f"<item><title>{title}</title>"
        + (f"<link>https://{host}/news/{guid}</link>" if links else "")
        + f'<guid isPermaLink="false">{guid}</guid><pubDate>{format_datetime(at, usegmt=True)}</pubDate>'
        f"<description>{title}, says the {host} newsroom.</description></item>"
        for guid, title, at in items
    )
    return (
        f'<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel><title>{host}</title>'
        f"<link>https://{host}/</link>{entries}</channel></rss>"
    ).encode()


def acme_config(tmp_path: Path, sources: str, *, name: str = "mentionwatch.yaml") -> str:
    path = tmp_path / name
    path.write_text(f"brands:\n  - name: Acme\n    terms: [Acme, Node]\nsources:\n{sources}", encoding="utf-8")
    return str(path)


@pytest.fixture
def two_sites(server: LoopbackServer) -> LoopbackServer:
    """Two sites whose feeds both number their first item `1`."""
    a = site_feed("a.example", [("1", "Acme wins award", NOW - timedelta(hours=2))])
    b = site_feed("b.example", [("1", "Acme outage hits customers", NOW - timedelta(hours=1))])
    server.route("/siteA", Reply(200, a, {"content-type": "application/rss+xml"}))
    server.route("/siteB", Reply(200, b, {"content-type": "application/rss+xml"}))
    return server


def test_two_feeds_of_one_source_numbering_their_items_alike_give_every_item(
    tmp_path: Path, two_sites: LoopbackServer, cli: Callable[..., Run]
) -> None:
    cfg = acme_config(
        tmp_path, f"  - type: rss\n    name: news\n    urls: [{two_sites.url}/siteA, {two_sites.url}/siteB]\n"
    )
    scanned = cli("scan", "-c", cfg, "--since", "7d", "-f", "jsonl")
    assert sorted(r["title"] for r in rows(scanned)) == ["Acme outage hits customers", "Acme wins award"]
    assert "2 items, 2 mentions" in scanned.stderr
    stored = rows(cli("list", "-c", cfg, "-f", "jsonl"))
    assert sorted((r["url"], r["title"]) for r in stored) == [
        ("https://a.example/news/1", "Acme wins award"),
        ("https://b.example/news/1", "Acme outage hits customers"),
    ]


def test_a_feed_added_later_whose_guids_another_feed_used_is_new_in_cron(
    tmp_path: Path, two_sites: LoopbackServer, cli: Callable[..., Run]
) -> None:
    site_a = f"  - type: rss\n    name: site-a\n    urls: [{two_sites.url}/siteA]\n"
    cfg = acme_config(tmp_path, site_a)
    assert cli("scan", "-c", cfg, "--seed").code == 0
    acme_config(tmp_path, site_a + f"  - type: rss\n    name: site-b\n    urls: [{two_sites.url}/siteB]\n")
    cron = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert [(r["source"], r["title"]) for r in rows(cron)] == [("site-b", "Acme outage hits customers")]
    [b] = rows(cli("list", "-c", cfg, "--source", "site-b", "-f", "jsonl"))
    assert (b["url"], b["title"]) == ("https://b.example/news/1", "Acme outage hits customers")
    assert len(rows(cli("list", "-c", cfg, "-f", "jsonl"))) == 2
    assert cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl").stdout == ""


def test_a_store_written_before_guids_were_scoped_reports_no_linked_item_again(
    tmp_path: Path, server: LoopbackServer, store_location: str, cli: Callable[..., Run]
) -> None:
    from mentionwatch.models import Mention
    from mentionwatch.store import open_store

    items = [
        ("1", "Acme wins award", NOW - timedelta(hours=5)),
        ("tag:a.example,2026:2", "Acme opens a lab", NOW - timedelta(hours=4)),
    ]
    server.route("/siteA", Reply(200, site_feed("a.example", items), {"content-type": "application/rss+xml"}))
    cfg = acme_config(tmp_path, f"  - type: rss\n    name: news\n    urls: [{server.url}/siteA]\n")
    # What the code before the change stored for these items: each keyed by its guid as the feed wrote it.
    seen = NOW - timedelta(hours=3)
    old = [
        Mention(
            source="news",
            source_type="rss",
            id=guid,
            url=f"https://a.example/news/{guid}",
            title=title,
            text=f"{title}, says the a.example newsroom.",
            author="a.example",
            published_at=at,
            kind="article",
            brand="Acme",
            matched_terms=["Acme"],
        )
        for guid, title, at in items
    ]
    store = open_store(store_location)
    try:
        assert len(store.record(old, seen).new) == 2
    finally:
        store.close()
    upgraded = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert upgraded.code == 0 and upgraded.stdout == "", "a stored item is not news because its id got a scope"
    listed = rows(cli("list", "-c", cfg, "-f", "jsonl"))
    assert sorted(r["title"] for r in listed) == ["Acme opens a lab", "Acme wins award"], "one row each, as before"
    assert cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl").stdout == ""


def test_an_item_a_feed_publishes_later_than_its_date_is_new_once_with_since_last(
    tmp_path: Path, server: LoopbackServer, algolia: Algolia, cli: Callable[..., Run]
) -> None:
    # A feed is read whole on every run: its window saves no request, and the store says what is new. A search API
    # (Hacker News here) is still asked from its watermark less the overlap.
    fast = [("f1", "Acme fast news", NOW - timedelta(minutes=2))]
    slow = [("s1", "Acme slow news", NOW - timedelta(hours=5))]
    server.route("/fast", lambda request: Reply(200, site_feed("fast.example", fast)))
    server.route("/slow", lambda request: Reply(200, site_feed("slow.example", slow)))
    algolia.hits = [hit(1, NOW - timedelta(hours=3))]
    cfg = acme_config(
        tmp_path,
        f"  - type: rss\n    name: news\n    urls: [{server.url}/fast, {server.url}/slow]\n"
        f"  - type: hackernews\n    name: hn\n    base_url: {server.url}/api/v1\n",
    )
    assert cli("scan", "-c", cfg, "--seed").code == 0
    slow.append(("s2", "Acme important story", NOW - timedelta(minutes=40)))
    cron = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert [r["title"] for r in rows(cron)] == ["Acme important story"]
    assert algolia.filters[-1] == int((NOW - timedelta(hours=3, minutes=10)).timestamp()), "hn: watermark less overlap"
    again = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert again.code == 0 and again.stdout == ""


def test_a_jsonl_export_line_dated_before_the_last_run_is_new_once_with_since_last(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    # An export file is read whole on every run too: a line another tool appends late, dated before the last run's
    # newest, is still new once.
    export, cfg = export_config(
        tmp_path, export_line(1, NOW - timedelta(minutes=2)) + export_line(2, NOW - timedelta(hours=5))
    )
    assert cli("scan", "-c", cfg, "--seed").code == 0
    with export.open("a", encoding="utf-8") as f:
        f.write(export_line(3, NOW - timedelta(minutes=40)))
    assert ids(cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")) == ["3"]
    again = cli("scan", "-c", cfg, "--new", "--since", "last", "-f", "jsonl")
    assert again.code == 0 and again.stdout == ""

"""The store past a scan, on both engines: what a prune leaves (no mention left in a cluster whose head it forgot,
where no view would show it), what `stats` counts (what `list` shows, and the duplicates folded into it apart),
and a store that cannot be written (read-only, or held by another process), said in one line with exit 6.

The CLI tests scan JSON Lines files (the `jsonl` source: the fields `scan -f jsonl` writes) with times set
relative to now, and prune with `--older-than`."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mentionwatch.dedupe import seen_entry
from mentionwatch.errors import StoreError
from mentionwatch.impact import absolute_impact
from mentionwatch.store import Query, SourceRun, key_of, open_store
from mentionwatch.store import sqlite as lite
from mentionwatch.store.sqlite import SqliteStore
from test_monitor import rows
from test_store import mention

from conftest import Run

NOW = datetime.now(UTC).replace(microsecond=0)
ARTICLE = "https://blog.example/acme-launch"
LAUNCH = "Acme launches its new cloud"


def _at(ago: timedelta) -> str:
    return (NOW - ago).strftime("%Y-%m-%dT%H:%M:%SZ")


def article(item_id: str, ago: timedelta) -> dict[str, Any]:
    return {
        "source": "blog", "id": item_id, "url": ARTICLE, "title": LAUNCH, "author": "blog", "kind": "article",
        "text": "Acme launched a new cloud product today with many features for developers and teams",
        "published_at": _at(ago),
    }  # fmt: skip


def story(item_id: str, ago: timedelta, *, score: int) -> dict[str, Any]:
    """A Hacker News story sharing the article (as `scan -f jsonl` writes one)."""
    return {
        "source": "hn", "id": item_id, "url": f"https://news.ycombinator.com/item?id={item_id}", "link": ARTICLE,
        "title": LAUNCH, "text": "", "author": "pg", "kind": "story", "score": score, "published_at": _at(ago),
    }  # fmt: skip


class Feeds:
    """The two JSON Lines files the config's sources read: what a blog and Hacker News hold now."""

    def __init__(self, folder: Path) -> None:
        self.blog, self.hn = folder / "blog.jsonl", folder / "hn.jsonl"
        self.hold()

    def hold(self, *, blog: list[dict[str, Any]] | None = None, hn: list[dict[str, Any]] | None = None) -> None:
        for path, records in ((self.blog, blog), (self.hn, hn)):
            path.write_text("".join(json.dumps(r) + "\n" for r in records or []), encoding="utf-8")


@pytest.fixture
def cli_store_env(store_location: str) -> dict[str, str]:
    """Each CLI call's store: a SQLite file or a PostgreSQL schema of this test's own ($MENTIONWATCH_DB)."""
    return {"MENTIONWATCH_DB": store_location}


@pytest.fixture
def feeds(tmp_path: Path) -> Feeds:
    return Feeds(tmp_path)


@pytest.fixture
def config(tmp_path: Path, feeds: Feeds) -> str:
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(
        "since: 2d\nbrands:\n  - name: Acme\n    terms: [Acme]\nsources:\n"
        f"  - type: jsonl\n    name: blog\n    path: {feeds.blog}\n"
        f"  - type: jsonl\n    name: hn\n    path: {feeds.hn}\n",
        encoding="utf-8",
    )
    return str(path)


def shown(run: Run) -> list[tuple[str, list[str]]]:
    """Each listed mention's id, and the ids folded into it."""
    return [(r["id"], [a["id"] for a in r["also_seen"]]) for r in rows(run)]


def stats(cli: Callable[..., Run], config: str) -> dict[str, Any]:
    run = cli("stats", "-c", config, "--json")
    assert run.code == 0, run.stderr
    found: dict[str, Any] = json.loads(run.stdout)
    return found


# -- what a prune leaves


def test_a_share_of_a_pruned_article_joins_the_share_that_stays_and_every_view_shows_them(
    feeds: Feeds, config: str, cli: Callable[..., Run]
) -> None:
    def new() -> list[str]:
        return [r["id"] for r in rows(cli("scan", "-c", config, "--new", "--since", "30d", "-f", "jsonl"))]

    feeds.hold(blog=[article("a1", timedelta(days=12))])
    assert new() == ["a1"]
    feeds.hold(hn=[story("s1", timedelta(days=9), score=50)])
    assert new() == [], "a share of a story told already"
    pruned = cli("prune", "-c", config, "--older-than", "10d")
    assert pruned.code == 0 and "forgot 1 mention" in pruned.stderr
    # The story is shown by the share that stays: it is listed, and a new share joins it as a scan of both would.
    assert shown(cli("list", "-c", config, "-f", "jsonl")) == [("s1", [])]
    feeds.hold(hn=[story("s2", timedelta(hours=1), score=120)])
    assert new() == [], "a share of the story s1 shares"
    assert shown(cli("list", "-c", config, "-f", "jsonl")) == [("s1", ["s2"])]
    report = cli("report", "-c", config, "--since", "30d", "-f", "json")
    assert report.code == 0, report.stderr
    assert json.loads(report.stdout)["brands"]["Acme"]["mentions"] == 1
    counted = stats(cli, config)
    assert (counted["mentions"], counted["duplicates"]) == (1, 1)


OLD = datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
QUESTION = "Does Acme keep my data after the free plan ends?"


def test_a_pruned_head_hands_its_cluster_to_its_earliest_member_with_what_the_members_brought(store: Any) -> None:
    copied = mention("c0", source="reddit", source_type="reddit", url="https://reddit.com/r/a/c0")
    head = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article", published_at=OLD)
    head.also_seen = [seen_entry(copied, "text")]  # folded into the article by its scan
    store.record([head], OLD)
    repost = mention("d1", source="reddit", source_type="reddit", url="https://reddit.com/r/b/d1", link=ARTICLE)
    first = mention("s1", link=ARTICLE, kind="story", score=10, published_at=OLD + timedelta(days=2))
    first.also_seen = [seen_entry(repost, "link")]  # folded into the first share by its scan
    store.record([first], OLD + timedelta(days=2))
    second = mention("s3", link=ARTICLE, kind="story", score=5, published_at=OLD + timedelta(days=3))
    store.record([second], OLD + timedelta(days=3))
    # The first share's figures grow after it joined: its head's `also_seen` has them, its own row too.
    grown = mention("s1", link=ARTICLE, kind="story", score=70, engagement=70, published_at=first.published_at)
    store.record([grown], OLD)
    [listed] = store.query(Query())
    assert (listed.id, [a["id"] for a in listed.also_seen]) == ("a1", ["c0", "s1", "d1", "s3"])

    assert store.prune(OLD + timedelta(days=1), keep_tagged=True) == 1
    [listed] = store.query(Query())
    assert (listed.id, [(a["id"], a.get("score")) for a in listed.also_seen]) == ("s1", [("d1", None), ("s3", 5)])
    [cited] = store.citations(Query())
    # Its own engagement, and what its members drew (the second share's 5 points).
    assert cited.impact_absolute == round(absolute_impact(70 + 5), 2)
    # Its members are known as its own: seen again, the repost is no news; a new share joins it.
    again = mention("d1", source="reddit", source_type="reddit", url="https://reddit.com/r/b/d1", link=ARTICLE)
    assert store.record([again], OLD + timedelta(days=4)).new == set()
    late = mention("s4", link=ARTICLE, kind="story", published_at=OLD + timedelta(days=4))
    assert store.record([late], OLD + timedelta(days=4)).new == set()
    assert [(m.id, [a["id"] for a in m.also_seen]) for m in store.query(Query())] == [("s1", ["d1", "s3", "s4"])]
    assert store.stats()["mentions"] == 1 and store.stats()["duplicates"] == 3


def test_a_member_waiting_for_a_reply_is_not_hidden_behind_the_one_shown_after_a_prune(store: Any) -> None:
    head = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article", title=QUESTION)
    head.needs_reply, head.published_at = True, OLD
    store.record([head], OLD)
    quiet = mention("s1", link=ARTICLE, kind="story", title=LAUNCH, published_at=OLD + timedelta(days=1))
    asking = mention("s2", link=ARTICLE, kind="story", title=QUESTION, published_at=OLD + timedelta(days=2))
    asking.needs_reply = True
    assert store.record([quiet], OLD + timedelta(days=1)).new == set()
    assert store.record([asking], OLD + timedelta(days=2)).new == set(), "behind a head that waits too"
    assert store.prune(OLD + timedelta(hours=12), keep_tagged=True) == 1
    assert sorted((m.id, m.also_seen) for m in store.query(Query())) == [("s1", []), ("s2", [])]
    assert [m.id for m in store.query(Query(needs_reply=True))] == ["s2"]


def _execute(store: Any, store_location: str, sql: str) -> None:
    """Run SQL on the test's store beside it (what an older mentionwatch did to it)."""
    if isinstance(store, SqliteStore):
        store._db.execute(sql)
        return
    with psycopg.connect(store_location, autocommit=True) as conn:
        conn.execute(sql.encode())


def test_a_cluster_an_older_prune_left_without_its_head_is_shown_again_by_the_next_prune(
    store: Any, store_location: str
) -> None:
    store.record([mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")], OLD)
    store.record([mention("s1", link=ARTICLE, kind="story", published_at=OLD + timedelta(days=2))], OLD)
    # What prune did before it handed a cluster on: the head deleted, its members left pointing at it.
    _execute(store, store_location, "DELETE FROM mentions WHERE id = 'a1'")
    assert store.query(Query()) == []
    # A share found meanwhile joins no cluster that no view shows.
    late = mention("s2", link=ARTICLE, kind="story", published_at=OLD + timedelta(days=3))
    assert store.record([late], OLD + timedelta(days=3)).new == {key_of(late)}
    assert store.prune(OLD - timedelta(days=30), keep_tagged=True) == 0
    assert sorted(m.id for m in store.query(Query())) == ["s1", "s2"]


# -- what stats counts


def test_stats_counts_the_mentions_the_other_views_show_and_the_duplicates_folded_into_them_apart(
    feeds: Feeds, config: str, cli: Callable[..., Run]
) -> None:
    feeds.hold(blog=[article("a1", timedelta(hours=5))])
    assert cli("scan", "-c", config, "-f", "jsonl").code == 0
    feeds.hold(hn=[story("s1", timedelta(hours=2), score=40)])
    assert cli("scan", "-c", config, "-f", "jsonl").code == 0
    assert shown(cli("list", "-c", config, "-f", "jsonl")) == [("a1", ["s1"])]
    counted = stats(cli, config)
    assert list(counted)[:6] == ["store", "schema_version", "bytes", "mentions", "by_brand_and_source", "by_status"]
    assert (counted["mentions"], counted["duplicates"]) == (1, 1)
    assert counted["by_brand_and_source"] == [
        {"brand": "Acme", "source": "blog", "mentions": 1, "duplicates": 0},
        {"brand": "Acme", "source": "hn", "mentions": 0, "duplicates": 1},
    ]
    assert counted["by_status"] == [{"status": "new", "mentions": 1}]
    assert cli("mark", "blog:a1", "done", "-c", config).code == 0
    assert stats(cli, config)["by_status"] == [{"status": "done", "mentions": 1}]
    assert rows(cli("list", "-c", config, "--status", "new", "-f", "jsonl")) == []


# -- a store that cannot be written


@pytest.fixture
def read_only(store_location: str, monkeypatch: pytest.MonkeyPatch) -> Callable[[], dict[str, str]]:
    """Makes the test's store read-only from then on; the environment a CLI call then needs. PostgreSQL: a session
    that may only read (as a read-only replica or role is). SQLite: the file opened read-only, as SQLite opens a
    file its user may not write (the tests run as root, who may write any file whatever its mode)."""

    def make() -> dict[str, str]:
        if store_location.startswith("postgresql"):
            return {"MENTIONWATCH_DB": store_location + "%20-cdefault_transaction_read_only%3Don"}

        def connect(path: Path) -> sqlite3.Connection:
            return sqlite3.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)

        monkeypatch.setattr(lite, "connect", connect)
        return {}

    return make


def test_a_store_that_cannot_be_written_is_said_in_one_line_and_exits_6_and_is_still_read(
    feeds: Feeds, config: str, cli: Callable[..., Run], read_only: Callable[[], dict[str, str]]
) -> None:
    feeds.hold(blog=[article("a1", timedelta(hours=5))])
    assert cli("scan", "-c", config, "-f", "jsonl").code == 0
    env = read_only()
    for args in (["mark", "blog:a1", "done"], ["tag", "blog:a1", "press"], ["prune", "--older-than", "1h", "--force"]):
        run = cli(*args, "-c", config, env=env)
        assert run.code == 6, (args, run.stderr)
        [line] = run.stderr.splitlines()
        assert line.startswith("mentionwatch: error: the store ") and " is read-only: " in line, line
    feeds.hold(hn=[story("s1", timedelta(hours=1), score=40)])
    scan = cli("scan", "-c", config, "-f", "jsonl", env=env)
    assert scan.code == 6 and " is read-only: " in scan.stderr and "internal error" not in scan.stderr
    # Nothing lost: what the scan fetched is still output (the store could not keep it; the next run finds it new).
    assert [json.loads(line)["id"] for line in scan.stdout.splitlines()] == ["s1"]
    assert "the scan's mentions were output, but not saved" in scan.stderr
    cron = cli("scan", "-c", config, "--new", "-f", "jsonl", env=env)
    assert cron.code == 6 and cron.stdout == "", "what is new cannot be told: the next run that can save gives it"
    # Read, it is as it was; and searched, with what no search had indexed yet (SQLite indexes it apart).
    listed = rows(cli("list", "-c", config, "--search", "cloud", "-f", "jsonl", env=env))
    assert [(r["id"], r["status"], r["tags"]) for r in listed] == [("a1", "new", [])]
    assert rows(cli("list", "-c", config, "--search", "nowhere", "-f", "jsonl", env=env)) == []


@pytest.fixture
def read_only_store(store_location: str, store: Any) -> Iterator[Any]:
    """The test's store (`store`, written) opened again read-only, as `read_only` makes it."""
    store.record([mention("1", text="Acme outage again"), mention("2", published_at=OLD)], OLD + timedelta(days=40))
    if isinstance(store, SqliteStore):
        assert store.path is not None
        db = sqlite3.connect(f"file:{store.path}?mode=ro", uri=True, isolation_level=None, check_same_thread=False)
        opened: Any = SqliteStore(db, store.path)
    else:
        opened = open_store(store_location + "%20-cdefault_transaction_read_only%3Don")
    yield opened
    opened.close()


def test_every_write_to_a_read_only_store_is_a_store_error_and_reading_it_goes_on(read_only_store: Any) -> None:
    store = read_only_store
    later = OLD + timedelta(days=41)
    key = ("Acme", "hackernews", "1")
    writes: list[Callable[[], object]] = [
        lambda: store.record([mention("3")], later),
        lambda: store.set_status([key], "done", later),
        lambda: store.set_tag([key], "press"),
        lambda: store.prune(OLD + timedelta(hours=1), keep_tagged=True),
        lambda: store.advance_watermarks({("hackernews", "Acme"): later}, later),
        lambda: store.record_runs([SourceRun("hackernews", "hn", "ok", None, ok=True)], later),
        lambda: store.enqueue_notifications("hook", [(key, "new")], later, later),
        lambda: store.ignore_where("Acme", author="pg", domain=None, term=None),
    ]
    for write in writes:
        with pytest.raises(StoreError, match=r"^the store .* is read-only: "):
            write()
    # An undated item's first-seen time, asked while sources are read: what the store knows, else now.
    assert store.first_seen("rss", "undated-1", later) == later
    assert sorted(m.id for m in store.query(Query())) == ["1", "2"]
    assert [m.id for m in store.query(Query(search="outage"))] == ["1"]
    assert store.stats()["mentions"] == 2


def test_a_sqlite_store_held_by_another_writer_says_so_and_is_still_searched(tmp_path: Path) -> None:
    path = tmp_path / "held.sqlite3"
    store = SqliteStore.open(path)
    store.record([mention("1", text="Acme outage again")], OLD)
    holder = sqlite3.connect(path, isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    store._db.execute("PRAGMA busy_timeout = 0")  # the holder would outlast any wait: do not wait for it
    with pytest.raises(StoreError, match=r"^the store .* is locked by another process: database is locked"):
        store.set_status([("Acme", "hackernews", "1")], "done", OLD)
    assert [m.id for m in store.query(Query(search="outage"))] == ["1"]
    holder.execute("ROLLBACK")
    store.close()

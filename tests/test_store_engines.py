"""Two engines, one store: the PostgreSQL schema in step with SQLite's, migrations, the URL's password kept out of
every message, scans of one database from several processes (locks, no duplicate, no rewound watermark, no
notification twice), `scan --shard`, and `store copy` / `store migrate` between the engines."""

from __future__ import annotations

import dataclasses
import json
import multiprocessing
import random
import sqlite3
import subprocess
import sys
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest

from mentionwatch.errors import StoreError
from mentionwatch.store import SORTS, NotifyMark, Query, StoreBusy, TallyAsk, open_store, pair_scope, target_scope
from mentionwatch.store import postgres as pg
from mentionwatch.store import sqlite as lite
from mentionwatch.store.admin import checksums, copy_store
from mentionwatch.vocabulary import terms_of
from test_store import NOW, mention

from conftest import Run

# -- the schema


def sqlite_columns(version: int) -> dict[str, list[str]]:
    db = sqlite3.connect(":memory:")
    for number in range(1, version + 1):
        for statement in lite._statements(lite.MIGRATIONS[number - 1]):
            db.execute(statement)
    tables = [
        name
        for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")
        if not name.startswith("mentions_search")  # SQLite's FTS index: PostgreSQL's is the `search` column
    ]
    return {t: [r[1] for r in db.execute(f"PRAGMA table_info({t})")] for t in tables}


def postgres_columns(url: str) -> dict[str, list[str]]:
    with psycopg.connect(url) as conn:
        rows = conn.execute(
            "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema()"
            " AND column_name != 'search' AND table_name != 'mentionwatch_schema'"
            " ORDER BY table_name, ordinal_position"
        ).fetchall()
    tables: dict[str, list[str]] = {}
    for table, column in rows:
        tables.setdefault(table, []).append(column)
    return tables


def apply_postgres(url: str, version: int) -> None:
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE mentionwatch_schema (version integer PRIMARY KEY, applied timestamptz DEFAULT now())")
        for number in range(1, version + 1):
            conn.execute(pg.MIGRATIONS[number - 1].encode())
            conn.execute("INSERT INTO mentionwatch_schema (version) VALUES (%s)", [number])


def test_postgres_has_a_migration_for_each_of_sqlites() -> None:
    assert len(pg.MIGRATIONS) == len(lite.MIGRATIONS), "add the PostgreSQL twin of the new SQLite migration"


@pytest.mark.parametrize("version", range(1, pg.SCHEMA_VERSION + 1))
def test_each_postgres_version_has_sqlites_tables_and_columns(postgres_url: str, version: int) -> None:
    apply_postgres(postgres_url, version)
    assert postgres_columns(postgres_url) == sqlite_columns(version)


@pytest.mark.parametrize("start", range(1, pg.SCHEMA_VERSION))
def test_store_migrate_moves_an_older_postgres_store_forward(
    postgres_url: str, start: int, cli: Callable[..., Run]
) -> None:
    apply_postgres(postgres_url, start)
    with pytest.raises(StoreError, match="run `mentionwatch store migrate`"):
        open_store(postgres_url)
    run = cli("store", "migrate", "--db", postgres_url)
    assert run.code == 0, run.stderr
    assert f"migrated from schema version {start} to {pg.SCHEMA_VERSION}" in run.stderr
    store = open_store(postgres_url)
    store.record([mention("1")], NOW)
    assert [m.id for m in store.query(Query())] == ["1"]
    store.close()
    assert "nothing to migrate" in cli("store", "migrate", "--db", postgres_url).stderr


def test_store_migrate_on_sqlite_says_what_it_did(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = tmp_path / "old.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for statement in lite._statements(lite.MIGRATIONS[0]):
        db.execute(statement)
    db.execute("PRAGMA user_version = 1")
    db.close()
    run = cli("store", "migrate", "--db", str(path))
    assert run.code == 0 and f"migrated from schema version 1 to {lite.SCHEMA_VERSION}" in run.stderr
    assert "nothing to migrate" in cli("store", "migrate", "--db", str(path)).stderr
    assert cli("store", "migrate", "--db", str(tmp_path / "none.sqlite3")).code == 2


def test_a_postgres_store_from_a_newer_mentionwatch_is_refused(postgres_url: str) -> None:
    open_store(postgres_url).close()
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("INSERT INTO mentionwatch_schema (version) VALUES (%s)", [pg.SCHEMA_VERSION + 1])
    with pytest.raises(StoreError, match="newer than this mentionwatch knows"):
        open_store(postgres_url)


def test_search_is_accent_and_case_blind_and_reads_no_operators(store: Any) -> None:
    store.record(
        [
            mention("1", title="Un café à Paris", text="Acme is très bien"),
            mention("2", title="Release notes", text="Acme release: notes below"),
            mention("3", title="Other", text="nothing here", author="Zoë"),
        ],
        NOW,
    )
    found = {q: sorted(m.id for m in store.query(Query(search=q))) for q in
             ("CAFE", "tres bien", '"release notes"', "zoe", "-- OR NEAR(", '"', "paris -café")}  # fmt: skip
    assert found == {
        "CAFE": ["1"],
        "tres bien": ["1"],
        '"release notes"': ["2"],
        "zoe": ["3"],
        "-- OR NEAR(": [],
        '"': [],
        "paris -café": ["1"],
    }


def test_a_word_with_an_apostrophe_or_a_hyphen_is_a_phrase_of_its_parts_on_both_engines(store: Any) -> None:
    texts = {
        "1": "Acme's new plan is out",
        "2": "it's a good day: Acme ships",
        "3": "I can do it, said the Acme t-shirt",
        "4": "I can't log in to Acme",
        "5": "a love-hate thing with Acme",
        "6": "love hate, Acme",
        "7": "the Acme e-mail is down",
        "8": "the Acme e mail is down",
        "9": "the Acme email is down",
    }
    store.record([mention(i, title="", text=text) for i, text in texts.items()], NOW)
    found = {q: sorted(m.id for m in store.query(Query(search=q))) for q in
             ("Acme's", "can't", "love-hate", "e-mail", '"a love-hate thing"', "Acme’s", "e-mail down")}  # fmt: skip
    assert found == {
        "Acme's": ["1"],
        "can't": ["4"],
        "love-hate": ["5", "6"],
        "e-mail": ["7", "8"],
        '"a love-hate thing"': ["5"],
        "Acme’s": ["1"],
        "e-mail down": ["7", "8"],
    }


def test_both_engines_list_the_same_mentions_in_the_same_order(tmp_path: Path, postgres_url: str) -> None:
    rng = random.Random(5)
    batch = [
        mention(
            str(i),
            brand=rng.choice(["Acme", "Globex"]),
            impact=rng.choice([None, 5.0, 30.0]),
            published_at=NOW - timedelta(minutes=rng.randrange(4) * 60 + i),  # no two alike: ties are unordered
            needs_reply=rng.random() < 0.3,
        )
        for i in range(40)
    ]
    stores = [open_store(str(tmp_path / "m.sqlite3")), open_store(postgres_url)]
    for store in stores:
        store.record([dataclasses.replace(m) for m in batch], NOW)
    for sort in SORTS:
        listed = [[(m.brand, m.id, m.impact) for m in s.query(Query(sort=sort))] for s in stores]
        assert listed[0] == listed[1], sort
    assert stores[0].stats()["by_brand_and_source"] == stores[1].stats()["by_brand_and_source"]
    for store in stores:
        store.close()


def test_a_report_reads_the_same_from_either_engine(tmp_path: Path, postgres_url: str) -> None:
    # The report tests' fixed store (tests/report_store.py, every figure worked out by hand there) copied to
    # PostgreSQL: every section of the report, in JSON, is the same read from either engine, including where
    # (communities) after they were lost (schema 1's rows, or a SQLite store's copied as they were).
    import io

    import report_store
    from mentionwatch.report import BrandSpec, Window, collect, write

    brands = [BrandSpec("Acme", False, ("Acme", "@acme", "#acme", "acme.io")), BrandSpec("Rival", True, ("Rival",))]
    path = report_store.build(tmp_path / "report.sqlite3")
    assert copy_store(str(path), postgres_url).ok

    def report(location: str) -> str:
        store = open_store(location)
        try:
            out = io.StringIO()
            write(collect(store, brands, Window.of(report_store.SINCE, report_store.UNTIL), now=report_store.SCANNED),
                  "json", out)  # fmt: skip
            return out.getvalue()
        finally:
            store.close()

    from_sqlite = report(str(path))
    assert report(postgres_url) == from_sqlite
    assert '"r/devops"' in from_sqlite and '"spikes"' in from_sqlite
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE mentions SET community = NULL")
    assert report(postgres_url) == from_sqlite
    # And the terms each mention's words were counted from, as mentions saved before schema 7 have none.
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute("UPDATE mentions SET terms = NULL")
    assert report(postgres_url) == from_sqlite


def test_a_mention_is_said_with_the_terms_of_its_words(store: Any) -> None:
    """`said`: the terms of its title and text (vocabulary.terms_of: folded, no URL, handle, stop word or short
    word, possessives cut), worked out when it was saved; brand, time and the terms it matched as saved."""
    title, text = "Acme's NEW dashboard", "Loving the dashboard @acme https://acme.io/x #Dashboards are the best. Ça marche"
    store.record([mention("1", title=title, text=text), mention("2", text="", brand="Rival", matched_terms=["Rival"])], NOW)
    found = sorted(store.said(Query()), key=lambda s: s.brand)
    assert [(s.brand, s.published_at, s.matched_terms) for s in found] == [
        ("Acme", NOW - timedelta(hours=1), ("Acme",)),
        ("Rival", NOW - timedelta(hours=1), ("Rival",)),
    ]
    assert found[0].terms == ("#dashboards", "acme", "dashboard", "loving", "marche")
    assert set(found[0].terms) == terms_of(title, text)
    assert set(found[1].terms) == terms_of("Acme story 2", "") == {"acme", "story"}
    assert [s.brand for s in store.said(Query(brands=["Rival"]))] == ["Rival"]


def test_a_spike_is_told_to_a_target_once_unless_its_delivery_failed(store: Any) -> None:
    hour = datetime(2026, 12, 1, 8, tzinfo=UTC)
    assert not store.spike_told("slack", "Acme", hour)
    assert store.claim_spike("slack", "Acme", hour, 1)
    assert not store.claim_spike("slack", "Acme", hour, 2), "a second run finds it claimed"
    assert store.claim_spike("email", "Acme", hour, 3) and store.claim_spike("slack", "Acme", hour + timedelta(hours=1), 4)
    assert store.spike_told("slack", "Acme", hour)
    store.release_spike("slack", "Acme", hour)
    assert not store.spike_told("slack", "Acme", hour) and store.spike_told("email", "Acme", hour)
    assert store.claim_spike("slack", "Acme", hour, 5)


# -- the URL and its password


def test_the_password_never_appears_in_the_location_or_an_error(
    postgres_server: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MW_TEST_PGPASSWORD", "s3cret-Pa55word")
    host = postgres_server.split("@", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql://postgres:${{MW_TEST_PGPASSWORD}}@{host}/no_such_database"
    with pytest.raises(StoreError) as failed:
        open_store(url)
    assert "s3cret" not in str(failed.value) and "****" in str(failed.value)
    assert "no_such_database" in str(failed.value)
    good = postgres_server.replace("postgresql://postgres@", "postgresql://postgres:${MW_TEST_PGPASSWORD}@")
    store = open_store(good)
    assert "s3cret" not in store.location and ":****@" in store.location
    assert "s3cret" not in json.dumps(store.stats())
    store.close()
    monkeypatch.delenv("MW_TEST_PGPASSWORD")
    with pytest.raises(StoreError, match=r"\$\{MW_TEST_PGPASSWORD\} is not set"):
        open_store(good)


def test_the_cli_names_the_store_without_its_password(
    postgres_server: str, cli: Callable[..., Run], tmp_path: Path
) -> None:
    host = postgres_server.split("@", 1)[1].rsplit("/", 1)[0]
    url = f"postgresql://postgres:hunter2-pw@{host}/no_such_database"
    for args in (["list", "--db", url], ["stats", "--db", url], ["store", "migrate", "--db", url]):
        run = cli(*args)
        assert run.code == 6 and "hunter2" not in run.stderr + run.stdout and "no_such_database" in run.stderr


# -- several scanners at once


def test_scans_of_the_same_pairs_take_turns_and_of_other_pairs_do_not(store: Any) -> None:
    a, b = pair_scope("hackernews:1", "Acme"), pair_scope("hackernews:1", "Globex")
    with store.scan_lock(5, [a]):
        if isinstance(store, pg.PostgresStore):
            with store.scan_lock(1, [b]):
                pass  # another pair: at once
            with pytest.raises(StoreBusy, match=r"did not finish within 0\.5s"), store.scan_lock(0.5, [b, a]):
                pass
            # The whole store waits for every pair.
            with pytest.raises(StoreBusy), store.scan_lock(0.5, None):
                pass
            with store.scan_lock(1, [target_scope("team-slack")]):
                pass  # notifications of a target do not wait for a scan
        else:  # SQLite: one lock file, the whole store
            with pytest.raises(StoreBusy), store.scan_lock(0.3, [b]):
                pass
    with store.scan_lock(1, [a]):
        pass


HOLD = """
import sys, time
from mentionwatch.store import open_store, pair_scope
store = open_store(sys.argv[1])
with store.scan_lock(5, [pair_scope("hackernews:1", "Acme")]):
    print("held", flush=True)
    time.sleep(60)
"""


def test_a_killed_scan_lets_go_of_its_pairs(postgres_url: str) -> None:
    holder = subprocess.Popen([sys.executable, "-c", HOLD, postgres_url], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        store = open_store(postgres_url)
        with pytest.raises(StoreBusy), store.scan_lock(0.3, [pair_scope("hackernews:1", "Acme")]):
            pass
        holder.kill()
        holder.wait(10)
        with store.scan_lock(10, [pair_scope("hackernews:1", "Acme")]):
            pass
        store.close()
    finally:
        holder.kill()


def _scanner(url: str, seed: int, ids: list[str], queue: Any) -> None:
    """One scanner process: saves the shared items in batches, in its own order, and moves a shared watermark."""
    rng = random.Random(seed)
    order = ids[:]
    rng.shuffle(order)
    store = open_store(url)
    new = []
    for start in range(0, len(order), 25):
        batch = [mention(i, url=f"https://news.ycombinator.com/item?id={i}") for i in order[start : start + 25]]
        new += sorted("|".join(k) for k in store.record(batch, NOW).new)
        newest = NOW if start == 150 else NOW - timedelta(minutes=rng.randrange(1, 60))
        store.advance_watermarks({("hackernews:1", "Acme"): newest}, NOW)
    store.advance_watermarks({("hackernews:1", "Acme"): NOW - timedelta(minutes=60 + seed)}, NOW)
    store.close()
    queue.put(new)


def test_four_scanners_saving_the_same_items_at_once_make_no_duplicate_and_each_is_new_once(
    postgres_url: str,
) -> None:
    ids = [str(i) for i in range(300)]
    context = multiprocessing.get_context("spawn")
    queue = context.Queue()
    workers = [context.Process(target=_scanner, args=(postgres_url, seed, ids, queue)) for seed in range(4)]
    for w in workers:
        w.start()
    reported = [queue.get(timeout=120) for _ in workers]
    for w in workers:
        w.join(30)
    assert all(w.exitcode == 0 for w in workers)
    every_new = [key for found in reported for key in found]
    assert sorted(every_new) == sorted(f"Acme|hackernews|{i}" for i in ids), "each item new to exactly one scanner"
    store = open_store(postgres_url)
    assert store.count(Query()) == 300
    with psycopg.connect(postgres_url) as conn:
        assert conn.execute("SELECT COUNT(*), COUNT(DISTINCT (brand, source_type, id)) FROM mentions").fetchone() == (
            300,
            300,
        )
    assert store.watermarks() == {("hackernews:1", "Acme"): NOW}, "the newest any scanner saw: never rewound"
    store.close()


def test_a_mark_moves_only_to_the_horizon_read_before_looking(store: Any) -> None:
    store.record([mention("1")], NOW)
    store.enqueue_notifications("t", [], NOW, NOW)
    mark = store.notify_mark("t")
    store.record([mention("2")], NOW + timedelta(seconds=1))
    horizon = store.notify_horizon()
    looked = [m.id for m in store.first_seen_after(mark)]
    # Another scan saves between the look and the queuing (on a shared store, another host).
    store.record([mention("3")], NOW + timedelta(seconds=2))
    store.enqueue_notifications("t", [(("Acme", "hackernews", i), "new") for i in looked], NOW, NOW, horizon)
    assert looked == ["2"]
    offered = [m.id for m in store.first_seen_after(store.notify_mark("t"))]
    assert "3" in offered, "left for the next run"
    queued = store.enqueue_notifications("t", [(("Acme", "hackernews", i), "new") for i in offered], NOW, NOW)
    assert queued == 1, "and mention 2, queued already, is not queued again"


def test_a_window_with_fractions_of_a_second_keeps_what_falls_inside_it(store: Any) -> None:
    # Stored times are whole seconds; the bounds of `list --since/--until` may not be.
    store.record([mention("1", published_at=NOW)], NOW)
    half = timedelta(milliseconds=500)
    assert [m.id for m in store.query(Query(since=NOW - half, until=NOW + half))] == ["1"]
    assert store.query(Query(since=NOW + half)) == []
    assert store.query(Query(until=NOW - half)) == []


def test_mentions_first_seen_under_a_clock_set_back_are_still_after_the_mark(store: Any) -> None:
    # A run under a clock an hour fast set the mark; the clock corrected, the next scan's first-seen time is
    # before the mark's. Its mention is new all the same (it was lost for good on SQLite, found by time alone).
    store.record([mention("1")], NOW)
    store.enqueue_notifications("t", [], NOW + timedelta(hours=1), NOW)
    store.record([mention("2")], NOW + timedelta(minutes=15))
    assert [m.id for m in store.first_seen_after(store.notify_mark("t"))] == ["2"]


def test_after_a_prune_of_the_newest_rows_new_mentions_are_still_after_the_mark(store: Any) -> None:
    # SQLite gives a deleted newest row's rowid again: a position alone would miss what is saved next.
    store.record([mention("1"), mention("2", published_at=NOW - timedelta(days=400))], NOW)
    store.enqueue_notifications("t", [], NOW, NOW)
    assert store.prune(NOW - timedelta(days=300), keep_tagged=True) == 1
    store.record([mention("3")], NOW + timedelta(minutes=15))
    assert [m.id for m in store.first_seen_after(store.notify_mark("t"))] == ["3"]


def test_a_scanner_that_started_first_but_saved_last_is_still_notified(postgres_url: str) -> None:
    store = open_store(postgres_url)
    store.record([mention("1")], NOW)
    store.enqueue_notifications("t", [], NOW + timedelta(minutes=5), NOW)
    # A shard that started before the mark's scan saves after it: its first-seen time is older than the mark.
    store.record([mention("2")], NOW + timedelta(minutes=1))
    assert [m.id for m in store.first_seen_after(store.notify_mark("t") or NotifyMark(NOW, 0))] == ["2"]
    store.close()


# -- shards


def test_shards_split_the_pairs_stably_without_overlap() -> None:
    from mentionwatch.pipeline import shard_of

    pairs = [(f"rss:{i:04x}", brand) for i in range(40) for brand in ("Acme", "Globex", "Initech")]
    for count in (1, 2, 4, 7):
        shards = [{p for p in pairs if shard_of(*p, count) == k} for k in range(count)]
        assert set().union(*shards) == set(pairs) and sum(map(len, shards)) == len(pairs)
    assert shard_of("hackernews:0123456789abcdef", "Acme", 4) == 2, "the same shard on every host, every release"
    script = "from mentionwatch.pipeline import shard_of; print([shard_of(f'rss:{i}', 'Acme', 4) for i in range(20)])"
    runs = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env={"PYTHONHASHSEED": seed},
                       check=True).stdout
        for seed in ("1", "2")
    }  # fmt: skip
    assert len(runs) == 1, "not Python's salted hash"


FEED = """<?xml version="1.0"?><rss version="2.0"><channel><title>{name}</title>
<item><guid>{name}-1</guid><title>Acme and Globex news from {name}</title><link>https://{name}.example/1</link>
<pubDate>{date}</pubDate></item></channel></rss>"""


def test_a_shard_with_no_pair_says_so_and_exits_0(tmp_path: Path, cli: Callable[..., Run]) -> None:
    # One (source, brand) pair and two shards: one of them always has nothing to scan.
    posts = tmp_path / "posts.jsonl"
    posts.write_text(json.dumps(mention("1").to_dict()) + "\n", encoding="utf-8")
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"since: 2000-01-01\nbrands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: jsonl\n    path: {posts}\n",
        encoding="utf-8",
    )
    runs = [cli("scan", "-c", str(cfg), "--no-store", "--shard", f"{k}/2", "-f", "jsonl") for k in (1, 2)]
    assert [r.code for r in runs] == [0, 0], [r.stderr for r in runs]
    empty = [r for r in runs if "no (source, brand) pair of this config falls to it" in r.stderr]
    assert len(empty) == 1 and empty[0].stdout == "" and "internal error" not in empty[0].stderr
    assert sum(len(r.stdout.splitlines()) for r in runs) == 1


def test_sharded_scans_together_cover_every_pair_once(
    tmp_path: Path, server: Any, cli: Callable[..., Run], store_location: str
) -> None:
    from conftest import Reply

    date = (datetime.now(UTC) - timedelta(hours=2)).strftime("%a, %d %b %Y %H:%M:%S +0000")
    sources = ""
    for n in range(6):
        server.route(f"/f{n}.xml", Reply(200, FEED.format(name=f"feed{n}", date=date).encode()))
        sources += f"  - type: rss\n    name: feed{n}\n    urls: [{server.url}/f{n}.xml]\n"
    cfg = tmp_path / "mw.yaml"
    cfg.write_text(
        "brands:\n  - name: Acme\n    terms: [Acme]\n  - name: Globex\n    terms: [Globex]\n"
        f"sources:\n{sources}",
        encoding="utf-8",
    )
    env = {"MENTIONWATCH_DB": store_location}
    seen = []
    for k in (1, 2, 3):
        run = cli("scan", "-c", str(cfg), "--new", "--since", "last", "--shard", f"{k}/3", "-f", "jsonl", env=env)
        assert run.code == 0, run.stderr
        seen += [(r["source"], r["brand"]) for r in map(json.loads, run.stdout.splitlines())]
    assert sorted(seen) == sorted((f"feed{n}", b) for n in range(6) for b in ("Acme", "Globex"))
    again = cli("scan", "-c", str(cfg), "--new", "--since", "last", "-f", "jsonl", env=env)
    assert again.code == 0 and again.stdout == "", "the shards' watermarks and mentions are the whole config's"
    assert cli("scan", "-c", str(cfg), "--shard", "0/3", env=env).code == 2
    assert "K/N" in cli("scan", "-c", str(cfg), "--shard", "4/3", env=env).stderr


# -- store copy


def _filled(location: str) -> None:
    store = open_store(location)
    head = mention("1", title="Un café", needs_reply=True)
    head.also_seen = [{"source": "reddit", "id": "t3_x", "url": "https://reddit.com/x", "source_type": "reddit"}]
    store.record([head, mention("2", brand="Globex", impact=None)], NOW)
    store.set_tag([("Acme", "hackernews", "1")], "press")
    store.set_status([("Globex", "hackernews", "2")], "done", NOW)
    store.advance_watermarks({("hackernews:1", "Acme"): NOW}, NOW)
    store.first_seen("rss", "undated-1", NOW)
    delivery = store.begin_delivery("slack", "new", "tok-1", [], NOW)
    store.finish_delivery(delivery, ok=True, attempts=1, error=None, now=NOW)
    store.enqueue_notifications("slack", [(("Acme", "hackernews", "1"), "new")], NOW, NOW)
    store.close()


def test_a_history_goes_to_postgres_and_back_without_loss(
    tmp_path: Path, postgres_url: str, cli: Callable[..., Run]
) -> None:
    original, back = str(tmp_path / "a.sqlite3"), str(tmp_path / "b.sqlite3")
    _filled(original)
    there = cli("store", "copy", "--from", original, "--to", postgres_url)
    assert there.code == 0, there.stderr
    assert "counts and checksums match" in there.stderr
    home = cli("store", "copy", "--from", postgres_url, "--to", back)
    assert home.code == 0, home.stderr
    sums = [checksums(s) for s in (open_store(original), open_store(postgres_url), open_store(back))]
    assert sums[0] == sums[1] == sums[2]
    assert sums[0]["mentions"][0] == 2 and sums[0]["tags"][0] == 1 and sums[0]["members"][0] == 1
    lists = [cli("list", "--db", where, "-f", "jsonl").stdout for where in (original, postgres_url, back)]
    assert lists[0] == lists[1] == lists[2] and '"tags": ["press"]' in lists[0]
    # What was copied is searchable there too (SQLite queues copied mentions for its index, as a scan's).
    found = [cli("list", "--db", where, "--search", "cafe", "-f", "jsonl").stdout for where in (postgres_url, back)]
    assert found[0] == found[1] and [json.loads(line)["title"] for line in found[1].splitlines()] == ["Un café"]
    # Saving after the copy goes on from the copied rowids, and the copy's clusters still join.
    store = open_store(postgres_url)
    copy = mention("t3_x", source="reddit", source_type="reddit", url="https://reddit.com/x")
    assert store.record([copy, mention("9")], NOW).new == {("Acme", "hackernews", "9")}
    store.close()


def test_a_copy_into_a_store_that_holds_rows_is_refused(tmp_path: Path, store_location: str, cli: Callable[..., Run]) -> None:
    _filled(store_location)
    other = str(tmp_path / "other.sqlite3")
    _filled(other)
    run = cli("store", "copy", "--from", other, "--to", store_location)
    assert run.code == 2 and "copy into an empty one" in run.stderr
    assert cli("store", "copy", "--from", str(tmp_path / "missing.sqlite3"), "--to", str(tmp_path / "x")).code == 2


def test_a_copy_that_differs_is_reported_and_fails(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch, cli: Callable[..., Run]
) -> None:
    from mentionwatch.store import admin

    original = str(tmp_path / "a.sqlite3")
    _filled(original)
    def losing_a_tag(write: Callable[..., None]) -> Callable[..., None]:
        def lossy(self: Any, table: str, columns: list[str], rows: Any) -> None:
            write(self, table, columns, [r for i, r in enumerate(rows) if not (table == "tags" and i == 0)])

        return lossy

    monkeypatch.setattr(admin._PostgresSide, "write", losing_a_tag(admin._PostgresSide.write))
    report = copy_store(original, postgres_url)
    assert not report.ok and [t.table for t in report.tables if not t.ok] == ["tags"]
    run = cli("store", "copy", "--from", original, "--to", str(tmp_path / "c.sqlite3"))
    assert run.code == 0, "the SQLite side wrote every row"
    monkeypatch.setattr(admin._SqliteSide, "write", losing_a_tag(admin._SqliteSide.write))
    failed = cli("store", "copy", "--from", original, "--to", str(tmp_path / "d.sqlite3"))
    assert failed.code == 6 and "DIFFERS  tags" in failed.stderr and "do not use it" in failed.stderr



def test_tallies_in_one_reading_are_each_tally_on_its_own_span(store: Any) -> None:
    """`tallies` reads the spans' mentions once; each ask's groups are what `tally` gives for its span alone, and
    what counting by hand gives (ranks with ties among authors, sentiment none counted as neutral, statuses)."""
    rng = random.Random(7)
    ms = [
        mention(
            str(i),
            brand=rng.choice(["Acme", "Rival"]),
            source=rng.choice(["hn", "blog", "masto"]),
            author=rng.choice(["ann", "bob", "cy", "dee", "Émile"]),
            published_at=NOW - timedelta(hours=rng.randrange(24 * 10)),
            sentiment=rng.choice([None, -0.5, 0.0, 0.25, 1.0]),
            sentiment_label=None,
            impact=float(rng.choice([0, 1, 2, 5])),
        )
        for i in range(300)
    ]
    for m in ms:
        m.sentiment_label = None if m.sentiment is None else ("negative" if m.sentiment < 0 else "positive")
    store.record(ms, NOW)
    store.set_status([("Acme", "hackernews", "3"), ("Rival", "hackernews", "4")], "ignored", NOW)
    base = Query(brands=["Acme", "Rival"], statuses=("new", "read", "done"))
    day = timedelta(days=1)
    asks = [
        TallyAsk(("brand", "day"), NOW - 10 * day, NOW),
        TallyAsk(("brand", "sentiment"), NOW - 3 * day, NOW),
        TallyAsk(("brand", "sentiment"), NOW - 6 * day, NOW - 3 * day),
        TallyAsk(("brand", "author"), NOW - 3 * day, NOW, top=2, rank="impact"),
        TallyAsk(("brand", "source"), NOW - 3 * day, NOW, top=1),
        TallyAsk(("hour",), NOW - day, None),
    ]
    together = store.tallies(base, asks)
    for ask, found in zip(asks, together, strict=True):
        alone = replace(base, since=ask.since, until=ask.until)
        assert found == store.tally(alone, ask.by, top=ask.top, rank=ask.rank), ask
    # By hand: each brand's sentiment over the last three days.
    kept = [m for m in store.query(replace(base, since=NOW - 3 * day, until=NOW))]
    by_hand: dict[tuple[str, str], list[float]] = {}
    for m in kept:
        by_hand.setdefault((m.brand, m.sentiment_label or "neutral"), []).append(m.sentiment or 0.0)
    assert {t.key: (t.mentions, round(t.sentiment, 9)) for t in together[1]} == {
        k: (len(v), round(sum(v), 9)) for k, v in by_hand.items()
    }
    assert [t.key[0] for t in together[4]] == ["Acme", "Rival"]  # one source each: the top one
    # Each brand's two loudest authors: the most impact, then the most mentions, then the name.
    loud: dict[tuple[str, str], list[float]] = {}
    for c in store.citations(replace(base, since=NOW - 3 * day, until=NOW)):
        loud.setdefault((c.brand, c.author), []).append(c.impact_absolute)
    expected = [
        key
        for brand in ("Acme", "Rival")
        for key in sorted((k for k in loud if k[0] == brand), key=lambda k: (-sum(loud[k]), -len(loud[k]), k[1]))[:2]
    ]
    assert [t.key for t in together[3]] == expected


def test_ignore_by_domain_reads_a_mentions_own_url_as_the_configs_exclude_domains_does(store: Any) -> None:
    # `exclude_domains` vetoes by the host of a mention's own URL (matching.BrandMatcher): `ignore --domain` marks
    # the stored ones the same rule would have kept out, on either engine, and no look-alike host.
    store.record(
        [
            mention("1", url="https://blog.stanford.edu/acme-post"),
            mention("2", url="https://stanford.edu"),
            mention("3", link="https://stanford.edu/acme"),  # an HN story linking there: HN's own post
            mention("4", url="https://notstanford.edu/acme"),
            mention("5", url="https://evil.test/x.stanford.edu/acme"),
        ],
        NOW,
    )
    assert store.ignore_where("Acme", author=None, domain="www.Stanford.edu", term=None) == 2
    ignored = {m.id for m in store.query(Query(statuses=["ignored"]))}
    assert ignored == {"1", "2"}


def test_store_copy_and_migrate_take_a_sqlite_url_as_its_file(tmp_path: Path, cli: Callable[..., Run]) -> None:
    original = tmp_path / "original.sqlite3"
    _filled(str(original))
    url = f"sqlite:///{original}"  # an absolute path after the three slashes: sqlite:////tmp/...
    copied = tmp_path / "copied.sqlite3"
    assert cli("store", "copy", "--from", url, "--to", str(copied)).code == 0
    assert open_store(str(copied)).count(Query()) == open_store(str(original)).count(Query())
    assert cli("store", "migrate", "--db", url).code == 0
    missing = cli("store", "copy", "--from", f"sqlite:///{tmp_path / 'missing.sqlite3'}", "--to", str(tmp_path / "x"))
    assert missing.code == 2 and "no store there" in missing.stderr

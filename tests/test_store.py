"""The store on its own, on both engines (the `store` fixture: SQLite and PostgreSQL): identity, updates,
clusters, watermarks, triage, notification state; and each engine's migrations."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from mentionwatch.errors import StoreError
from mentionwatch.models import Mention
from mentionwatch.store import Query, SourceRun, key_of, open_store
from mentionwatch.store.sqlite import MIGRATIONS, SCHEMA_VERSION, SqliteStore, _statements

NOW = datetime(2026, 12, 1, 12, 0, tzinfo=UTC)


def mention(item_id: str, *, url: str | None = None, link: str | None = None, **kw: object) -> Mention:
    base: dict[str, object] = {
        "source": "hn",
        "source_type": "hackernews",
        "id": item_id,
        "url": url or f"https://news.ycombinator.com/item?id={item_id}",
        "link": link,
        "title": f"Acme story {item_id}",
        "published_at": NOW - timedelta(hours=1),
        "brand": "Acme",
        "matched_terms": ["Acme"],
        "sentiment": 0.1,
        "sentiment_label": "positive",
        "impact": 12.0,
    }
    base.update(kw)
    return Mention(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize("start", range(SCHEMA_VERSION))
def test_every_migration_applies_on_the_schema_before_it(tmp_path: Path, start: int) -> None:
    path = tmp_path / "m.sqlite3"
    db = sqlite3.connect(path, isolation_level=None)
    for number in range(1, start + 1):
        for statement in _statements(MIGRATIONS[number - 1]):
            db.execute(statement)
        db.execute(f"PRAGMA user_version = {number}")
    db.close()
    store = SqliteStore.open(path)
    assert store.schema_version() == SCHEMA_VERSION
    store.record([mention("1")], NOW)
    assert [m.id for m in store.query(Query())] == ["1"]
    store.close()
    assert sqlite3.connect(path).execute("PRAGMA integrity_check").fetchone() == ("ok",)


def test_a_store_from_a_newer_mentionwatch_is_refused_not_damaged(tmp_path: Path) -> None:
    path = tmp_path / "m.sqlite3"
    SqliteStore.open(path).close()
    sqlite3.connect(path).execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer than this mentionwatch knows"):
        open_store(str(path))


def test_the_old_first_seen_state_moves_into_a_new_store(tmp_path: Path) -> None:
    legacy = tmp_path / "state.sqlite3"
    old = sqlite3.connect(legacy)
    old.execute("CREATE TABLE first_seen (source TEXT, id TEXT, at TEXT, PRIMARY KEY (source, id))")
    old.execute("INSERT INTO first_seen VALUES ('rss', 'x1', '2026-11-20T00:00:00Z')")
    old.commit()
    old.close()
    store = SqliteStore.open(tmp_path / "m.sqlite3", legacy=legacy)
    assert store.first_seen("rss", "x1", NOW) == datetime(2026, 11, 20, tzinfo=UTC)
    assert store.first_seen("rss", "x2", NOW) == NOW


def test_identity_is_brand_source_type_and_id_not_the_source_name(store: Any) -> None:
    assert store.record([mention("1", source="hn")], NOW).new == {("Acme", "hackernews", "1")}
    again = store.record([mention("1", source="renamed-hn")], NOW + timedelta(hours=1))
    assert again.new == set() and again.updated == 1
    other_brand = store.record([mention("1", brand="Globex")], NOW)
    assert other_brand.new == {("Globex", "hackernews", "1")}, "an item two brands match is two mentions"
    [acme] = store.query(Query(brands=["Acme"]))
    assert acme.source == "renamed-hn" and acme.first_seen == NOW


def test_seen_again_a_mention_gets_its_new_figures_and_last_seen_whether_or_not_they_changed() -> None:
    store = SqliteStore.open(None)
    store.record([mention("1"), mention("2", score=5), mention("3")], NOW)
    later = NOW + timedelta(hours=2)
    again = store.record([mention("1"), mention("2", score=9, impact=30.0), mention("3", source="hn-2")], later)
    assert again.new == set() and again.updated == 3
    rows = store._db.execute("SELECT id, score, impact, source, last_seen FROM mentions ORDER BY id").fetchall()
    assert rows == [
        ("1", None, 12.0, "hn", "2026-12-01T14:00:00Z"),
        ("2", 9, 30.0, "hn", "2026-12-01T14:00:00Z"),
        ("3", None, 12.0, "hn-2", "2026-12-01T14:00:00Z"),
    ]
    assert all(m.first_seen == NOW and m.status == "new" for m in store.query(Query()))


def test_a_duplicate_seen_in_one_scan_is_known_in_the_next(store: Any) -> None:
    head = mention("1")
    head.also_seen = [{"source": "reddit", "id": "t3_x", "url": "https://reddit.com/r/a/x", "source_type": "reddit"}]
    assert store.record([head], NOW).new == {key_of(head)}
    copy = mention("t3_x", source="reddit", source_type="reddit", url="https://reddit.com/r/a/x")
    assert store.record([copy], NOW + timedelta(days=1)).new == set()


@pytest.mark.parametrize("article_first", [True, False], ids=["article-first", "share-first"])
def test_the_page_and_the_share_that_links_it_are_one_cluster_whichever_comes_first(
    store: Any, article_first: bool
) -> None:
    article = mention("a1", source="blog", source_type="rss", url="https://acme.example/news/1?utm_source=x")
    share = mention("s1", link="https://www.acme.example/news/1/")
    first, second = (article, share) if article_first else (share, article)
    store.record([first], NOW)
    assert store.record([second], NOW).new == set()
    [listed] = store.query(Query())
    assert listed.id == first.id and [a["id"] for a in listed.also_seen] == [second.id]


def test_watermarks_only_move_forward(store: Any) -> None:
    store.advance_watermarks({("hackernews:abc", "Acme"): NOW}, NOW)
    store.advance_watermarks({("hackernews:abc", "Acme"): NOW - timedelta(days=1)}, NOW)
    assert store.watermarks() == {("hackernews:abc", "Acme"): NOW}


def test_source_runs_count_failures_in_a_row_and_reset_on_success(store: Any) -> None:
    for day in range(3):
        store.record_runs([SourceRun("rss:1", "blog", "failed", "HTTP 500", ok=False)], NOW + timedelta(days=day))
    [status] = store.source_status()
    assert (status.failures, status.failing_since, status.last_error) == (3, NOW, "HTTP 500")
    store.record_runs([SourceRun("rss:1", "blog", "ok", None, ok=True)], NOW + timedelta(days=4))
    [status] = store.source_status()
    assert (status.failures, status.failing_since, status.last_success) == (0, None, NOW + timedelta(days=4))


@pytest.mark.parametrize("sort", ["newest", "oldest"])
def test_a_common_search_walks_the_time_index_and_lists_what_the_planner_would(
    monkeypatch: pytest.MonkeyPatch, sort: str
) -> None:
    # `_walk_by_time` takes over from a count of matches (20,000 in real use; 5 here): the same mentions, in the
    # same order, with the other filters still applied, whichever way SQLite is made to go.
    import random

    from mentionwatch.store import sqlite as lite

    rng = random.Random(3)
    store = SqliteStore.open(None)
    words = ["outage", "pricing", "support", "billing"]
    store.record(
        [
            mention(
                str(i),
                brand=rng.choice(["Acme", "Globex"]),
                text=" ".join(rng.sample(words, 2)),
                published_at=NOW - timedelta(minutes=rng.randrange(600)),
                status=rng.choice(["new", "read"]),
            )
            for i in range(300)
        ],
        NOW,
    )
    queries = [
        Query(search="outage", limit=20, sort=sort),
        Query(search="outage pricing", brands=["Acme"], limit=7, sort=sort),
        Query(search='"support billing"', since=NOW - timedelta(hours=3), limit=50, sort=sort),
        Query(search="nowhere", limit=5, sort=sort),
    ]
    planned = [[m.id for m in store.query(q)] for q in queries]
    walked: list[bool] = []
    walk = lite.SqliteStore._walk_by_time

    def spy(self: SqliteStore, query: Query) -> bool:
        walked.append(walk(self, query))
        return walked[-1]

    monkeypatch.setattr(lite, "_WALK_FROM", 5)
    monkeypatch.setattr(lite.SqliteStore, "_walk_by_time", spy)
    assert [[m.id for m in store.query(q)] for q in queries] == planned
    assert walked == [True, True, True, False]
    assert all(planned[:3]) and planned[3] == []


def _search_index_is_sound(store: SqliteStore) -> None:
    # FTS5's own check: raises when the index and its content table disagree (a row indexed twice, a deleted one
    # left in, one indexed with other words).
    store._db.execute("INSERT INTO mentions_search (mentions_search, rank) VALUES ('integrity-check', 1)")


def test_saving_only_queues_a_mention_for_search_and_the_first_search_indexes_it() -> None:
    store = SqliteStore.open(None)
    old = NOW - timedelta(days=400)
    store.record([mention("1", text="billing outage"), mention("2", text="billing fine", published_at=old)], NOW)
    queued = store._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0]
    indexed = store._db.execute("SELECT COUNT(*) FROM mentions_search_docsize").fetchone()[0]
    assert (queued, indexed) == (2, 0)
    assert sorted(m.id for m in store.query(Query(search="billing"))) == ["1", "2"]
    assert store._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0] == 0
    store.record([mention("3", text="billing outage again"), mention("4", text="outage", published_at=old)], NOW)
    # Deleting an indexed mention (2) and a queued one (4): the queued survivor (3) is found by the next search,
    # and the index then holds exactly what the table does; `ignore --term` indexes before it looks too.
    assert store.prune(NOW - timedelta(days=200), keep_tagged=False) == 2
    assert sorted(m.id for m in store.query(Query(search="outage"))) == ["1", "3"]
    _search_index_is_sound(store)
    store.record([mention("5", text="a fresh outage")], NOW)
    assert store.ignore_where("Acme", author=None, domain=None, term="fresh outage") == 1
    _search_index_is_sound(store)


def test_a_scan_that_leaves_many_mentions_queued_indexes_them(monkeypatch: pytest.MonkeyPatch) -> None:
    from mentionwatch.store import sqlite as lite

    monkeypatch.setattr(lite, "_INDEX_AT", 3)
    store = SqliteStore.open(None)
    store.record([mention("1", text="refund"), mention("2")], NOW)
    assert store._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0] == 2
    store.record([mention("3", text="refund")], NOW)
    assert store._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0] == 0
    _search_index_is_sound(store)
    assert sorted(m.id for m in store.query(Query(search="refund"))) == ["1", "3"]


def test_mentions_indexed_before_migration_6_still_leave_the_index_when_deleted(tmp_path: Path) -> None:
    from mentionwatch.store.sqlite import connect

    path = tmp_path / "m.sqlite3"
    db = connect(path)
    for number in range(1, 6):
        for statement in _statements(MIGRATIONS[number - 1]):
            db.execute(statement)
    db.execute("PRAGMA user_version = 5")
    old = NOW - timedelta(days=400)
    # Saved under schema 5, whose trigger indexed each mention as it was saved (today's `record` looks at the queue
    # of schema 6 and writes the terms column of 7: empty stand-ins for them, dropped before the migration).
    db.execute("CREATE TABLE mentions_search_pending (mention INTEGER PRIMARY KEY)")
    db.execute("ALTER TABLE mentions ADD COLUMN terms TEXT")
    SqliteStore(db, path).record([mention("1", text="refund"), mention("2", text="refund", published_at=old)], NOW)
    db.execute("DROP TABLE mentions_search_pending")
    db.execute("ALTER TABLE mentions DROP COLUMN terms")
    db.close()
    store = SqliteStore.open(path)
    assert store.schema_version() == SCHEMA_VERSION
    assert store._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0] == 0
    assert store.prune(NOW - timedelta(days=200), keep_tagged=False) == 1
    assert [m.id for m in store.query(Query(search="refund"))] == ["1"]
    _search_index_is_sound(store)
    store.close()


def test_a_long_queue_is_indexed_in_batches_each_committed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from mentionwatch.store import sqlite as lite

    monkeypatch.setattr(lite, "_INDEX_BATCH", 2)
    store = SqliteStore.open(tmp_path / "m.sqlite3")
    store.record([mention(str(i), text=f"refund {i}") for i in range(1, 6)], NOW)
    store._db.execute("DELETE FROM mentions WHERE id = '3'")  # a queued mention deleted before it was indexed
    commits: list[int] = []
    original = store._index_pending

    def counted(most: int | None = None) -> None:
        original(most)
        commits.append(store._db.execute("SELECT COUNT(*) FROM mentions_search_pending").fetchone()[0])

    monkeypatch.setattr(store, "_index_pending", counted)
    assert sorted(m.id for m in store.query(Query(search="refund"))) == ["1", "2", "4", "5"]
    assert commits == [2, 0], "two of the four queued, then the other two, each in its own transaction"
    _search_index_is_sound(store)
    store.close()


def test_the_loudest_of_the_whole_store_walk_the_impact_index_and_list_what_the_planner_would(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # `_walk_by_impact` (`--sort impact --limit N` over the whole store): the same mentions in the same order as
    # SQLite's own plan (read, then sort), ties of impact and of time included, a missing impact last.
    import random

    from mentionwatch.store import sqlite as lite

    rng = random.Random(5)
    store = SqliteStore.open(None)
    store.record(
        [
            mention(
                str(i),
                brand=rng.choice(["Acme", "Globex"]),
                published_at=NOW - timedelta(minutes=rng.randrange(20)),
                impact=rng.choice([None, 0.0, 5.0, 5.0, 12.5, 80.0]),
                needs_reply=rng.random() < 0.3,
                status=rng.choice(["new", "read", "done"]),
            )
            for i in range(300)
        ],
        NOW,
    )
    queries = [
        Query(sort="impact", limit=40),
        Query(sort="impact", limit=25, needs_reply=True, statuses=("new", "read")),
        Query(sort="impact", limit=300),
        Query(sort="impact", limit=10, brands=["Acme"]),  # narrow: left to the planner
    ]
    real = lite._walk_by_impact
    monkeypatch.setattr(lite, "_walk_by_impact", lambda query: False)
    planned = [[m.id for m in store.query(q)] for q in queries]
    walks: list[bool] = []

    def spy(query: Query) -> bool:
        walks.append(real(query))
        return walks[-1]

    monkeypatch.setattr(lite, "_walk_by_impact", spy)
    assert [[m.id for m in store.query(q)] for q in queries] == planned
    assert walks == [True, True, True, False]
    # And the walk is a walk: the index gives the listing's order, nothing is sorted.
    plan = store._db.execute(
        f"EXPLAIN QUERY PLAN SELECT m.rowid FROM mentions m INDEXED BY mentions_by_impact WHERE m.needs_reply = 1"
        f" ORDER BY {lite._ORDERS['impact']} LIMIT 5"
    ).fetchall()
    assert "TEMP B-TREE" not in str(plan), plan
    assert len(planned[2]) == 300 and [m.impact for m in store.query(queries[2])][-1] is None


def test_a_scans_new_mentions_join_the_clusters_one_by_one_look_ups_would_find() -> None:
    # `_clusters_of` looks a scan's keys and pages up a few hundred at a time; each new mention must join the
    # cluster it finds for that mention alone: by its own key among members, a duplicate's key (member or stored
    # mention), its page stored (twice, in two clusters: the first found), the page it shares, a stored share
    # of it; or none, under another brand or with nothing in common.
    store = SqliteStore.open(None)
    pages = [f"https://acme.example/news/{i}" for i in range(6)]
    stored = [mention(f"s{i}", url=pages[i]) for i in range(4)]
    stored.append(mention("twin", url=pages[0] + "?utm_source=x", source="blog", source_type="rss"))
    stored.append(mention("share", link=pages[5]))
    head = mention("h")
    head.also_seen = [{"source": "reddit", "id": "t3_m", "url": "https://reddit.com/r/a/m", "source_type": "reddit"}]
    stored.append(head)
    for i, m in enumerate(stored):
        store.record([m], NOW + timedelta(minutes=i))  # one scan each: separate clusters
    dup = {"source": "hn", "id": "s2", "url": pages[2], "source_type": "hackernews"}
    # A key both stored and a member of another cluster: the member's cluster is the one found.
    store._db.execute("INSERT INTO members VALUES ('Acme', 'hackernews', 's3', ?)", [store._cluster_by_key(key_of(stored[0]))])
    both = {"source": "hn", "id": "s3", "url": pages[3], "source_type": "hackernews"}
    fresh_list = [
        mention("t3_m", source="reddit", source_type="reddit", url="https://reddit.com/r/a/m"),  # a member's key
        mention("n1", also_seen=[dup]),  # a duplicate that is stored
        mention("n2", url=pages[0] + "#top", source="lobsters", source_type="lobsters"),  # page stored twice
        mention("n3", link=pages[1]),  # links to a stored page
        mention("n4", url=pages[5], source="blog", source_type="rss"),  # the page a stored share links to
        mention("n5", url=pages[3], brand="Rival"),  # the same page, another brand
        mention("n6"),  # nothing in common
        mention("n7", also_seen=[both]),
        *(mention(f"x{i}", link=pages[i % 4]) for i in range(700)),  # more than one batch
    ]
    fresh = {key_of(m): m for m in fresh_list}
    batched = store._clusters_of(fresh)
    one_by_one = {key: store._clusters_of({key: m})[key] for key, m in fresh.items()}
    assert batched == one_by_one
    assert batched[key_of(fresh_list[0])] == (store._cluster_by_key(key_of(head)), None)
    assert [batched[key_of(m)] is None for m in fresh_list[:7]] == [False, False, False, False, False, True, True]
    assert [batched[key_of(m)][1] for m in fresh_list[1:5]] == [None, "url", "link", "link"]  # type: ignore[index]
    assert batched[key_of(fresh_list[7])] == (store._cluster_by_key(key_of(stored[0])), None)
    store.close()


def test_a_scans_pages_are_looked_up_in_the_indexes_not_by_reading_every_stored_page() -> None:
    # A batch of pages read by scanning the page index (as `(brand, canon) IN (VALUES ...)` was planned) costs the
    # whole store each batch: a 1,000,000-post scan slowed by minutes a window as the store grew.
    from mentionwatch.store.sqlite import _STORED_PAGES

    store = SqliteStore.open(None)
    plan = store._db.execute("EXPLAIN QUERY PLAN " + _STORED_PAGES.format(values="(?, ?), (?, ?)"), ["a", 1, "b", 2])
    details = [row[3] for row in plan]
    assert [d for d in details if "mentions" in d or " m " in f" {d} "] == [
        "SEARCH m USING COVERING INDEX mentions_by_canon (brand=? AND canon=?)",
        "SEARCH m USING COVERING INDEX mentions_by_link (brand=? AND link_canon=?)",
    ], details
    store.close()


def test_a_copy_by_text_joins_its_stored_original_found_among_thousands(tmp_path: Path) -> None:
    # The stored texts are searched for runs of words of the new one before anything is compared (store.copies):
    # an edited copy is still found among thousands of other stored mentions, a text about something else is not.
    store = open_store(str(tmp_path / "s.sqlite3"))
    story = (
        "Acme opens a new office in Berlin this week, with hundreds of jobs for engineers and a lab for its"
        " robotics team, the company said on Monday."
    )
    others = [mention(f"o{i}", text=f"Acme post {i} on the weather in town {i % 17} and other things") for i in range(2000)]
    title = "Acme opens an office in Berlin"  # the same headline (titles that disagree keep texts apart)
    original = mention("orig", title=title, text=story, published_at=NOW - timedelta(days=2))
    store.record([*others, original], NOW - timedelta(days=2))
    edited = story.replace("on Monday", "on Tuesday").replace("this week, with", "this week with")
    copy = mention("copy", title=title, url="https://syndicated.test/acme-berlin", text=edited)
    unrelated = mention("other", url="https://elsewhere.test/x", text="Acme reports a loss as sales of its robots fall.")
    recorded = store.record([copy, unrelated], NOW)
    assert recorded.new == {key_of(unrelated)}
    [head] = [m for m in store.query(Query()) if m.id == "orig"]
    assert [(e["id"], e["source_type"]) for e in head.also_seen] == [("copy", "hackernews")]
    store.close()

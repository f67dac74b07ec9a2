"""Clusters across scans (README, "Clusters persist", "Duplicates", "Impact"): a scan run as two keeps the rows one
scan keeps. A share of a stored story joins it; a comment under a stored story, or a share that asks the brand
something, stays a mention of its own, waiting for its reply; a share seen again brings its new figures, and the
story's absolute impact (what `report` reads) counts what its shares drew.

The CLI tests scan a loopback server (tests/e2e_server.py) that answers as Algolia's HN search, Reddit's search
and an RSS feed do: their hits and posts are copies of the real recorded ones (tests/fixtures/) with ids,
times, texts and figures set by the test. Every test runs once per engine."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from e2e_server import E2EServer, Received
from mentionwatch.dedupe import seen_entry
from mentionwatch.impact import absolute_impact
from mentionwatch.store import Query, key_of
from test_monitor import rows
from test_store import NOW as STORED_AT
from test_store import mention

from conftest import Reply, Run, load_json

NOW = datetime.now(UTC).replace(microsecond=0)
ALGOLIA = load_json("hackernews", "search_by_date_query_nodejs_2017.json")
HN_STORY = next(h for h in ALGOLIA["hits"] if "story" in h["_tags"])
HN_COMMENT = next(h for h in ALGOLIA["hits"] if "comment" in h["_tags"])
REDDIT = load_json("reddit", "search_posts_listing_t3.json")
REDDIT_LINK_POST = next(c for c in REDDIT["data"]["children"] if "theguardian.com" in c["data"]["url"])

ARTICLE = "https://blog.example.org/2026/12/acme-opens-berlin-office"
ANGRY = "Acme lost my data twice this month. Awful support, still no refund."


def _times(ago: timedelta) -> tuple[str, int]:
    at = NOW - ago
    return at.strftime("%Y-%m-%dT%H:%M:%S.000Z"), int(at.timestamp())


def hn_story(object_id: int, title: str, url: str, *, points: int, ago: timedelta) -> dict[str, Any]:
    hit = copy.deepcopy(HN_STORY)
    hit.pop("_highlightResult", None)  # the recording's own words, which these hits no longer hold
    created_at, created_at_i = _times(ago)
    hit.update(
        objectID=str(object_id),
        title=title,
        url=url,
        points=points,
        num_comments=points // 4,
        created_at=created_at,
        created_at_i=created_at_i,
        _tags=["story", f"author_{hit['author']}", f"story_{object_id}"],
    )
    return hit


def hn_comment(object_id: int, text: str, story: int, *, author: str, ago: timedelta) -> dict[str, Any]:
    hit = copy.deepcopy(HN_COMMENT)
    hit.pop("_highlightResult", None)
    created_at, created_at_i = _times(ago)
    hit.update(
        objectID=str(object_id),
        comment_text=text,
        author=author,
        story_id=story,
        parent_id=story,
        story_title="Acme opens a Berlin office",
        story_url=ARTICLE,
        created_at=created_at,
        created_at_i=created_at_i,
        _tags=["comment", f"author_{author}", f"story_{story}"],
    )
    return hit


def reddit_link_post(post_id: str, title: str, url: str, *, score: int, ago: timedelta) -> dict[str, Any]:
    child = copy.deepcopy(REDDIT_LINK_POST)
    created = float(int((NOW - ago).timestamp()))
    child["data"].update(
        id=post_id,
        name=f"t3_{post_id}",
        title=title,
        url=url,
        url_overridden_by_dest=url,
        permalink=f"/r/worldnews/comments/{post_id}/acme/",
        score=score,
        ups=score,
        num_comments=score // 5,
        created_utc=created,
        created=created,
    )
    return child


class Web:
    """What the loopback server answers now: the feed's articles, the HN hits, the Reddit posts."""

    def __init__(self, server: E2EServer) -> None:
        self.articles: list[tuple[str, str, str, timedelta]] = []
        self.hits: list[dict[str, Any]] = []
        self.posts: list[dict[str, Any]] = []
        server.route("GET", "/feed.xml", lambda _r: Reply(200, self._feed(), {"content-type": "application/rss+xml"}))
        server.route("GET", "/hn/search_by_date", self._algolia)
        server.route("GET", "/reddit/search.json", self._reddit)

    def _feed(self) -> bytes:
        items = "".join(
            f"<item><guid>{link}</guid><title>{title}</title><link>{link}</link>"
            f"<pubDate>{(NOW - ago).strftime('%a, %d %b %Y %H:%M:%S +0000')}</pubDate>"
            f"<description>{text}</description></item>"
            for title, link, text, ago in self.articles
        )
        return (
            f'<?xml version="1.0"?><rss version="2.0"><channel><title>Acme news</title>{items}</channel></rss>'.encode()
        )

    def _algolia(self, _request: Received) -> Reply:
        body = {k: v for k, v in ALGOLIA.items() if k != "hits"}
        body.update(hits=self.hits, nbHits=len(self.hits), nbPages=1, page=0)
        return Reply(200, json.dumps(body).encode(), {"content-type": "application/json"})

    def _reddit(self, _request: Received) -> Reply:
        listing = copy.deepcopy(REDDIT)
        listing["data"].update(children=self.posts, after=None, dist=len(self.posts))
        return Reply(200, json.dumps(listing).encode(), {"content-type": "application/json"})


@pytest.fixture
def cli_store_env(store_location: str) -> dict[str, str]:
    """Each CLI call's store: a SQLite file or a PostgreSQL schema of this test's own ($MENTIONWATCH_DB)."""
    return {"MENTIONWATCH_DB": store_location}


@pytest.fixture
def web() -> Iterator[tuple[Web, str]]:
    with E2EServer() as server:
        yield Web(server), server.url


@pytest.fixture
def config(tmp_path: Path, web: tuple[Web, str]) -> str:
    url = web[1]
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(
        "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n"
        f"  - type: rss\n    urls: [{url}/feed.xml]\n"
        f"  - type: hackernews\n    base_url: {url}/hn\n    max_pages: 1\n"
        f"  - type: reddit\n    base_url: {url}/reddit\n    max_pages: 1\n",
        encoding="utf-8",
    )
    return str(path)


def shape(found: list[dict[str, Any]]) -> list[tuple[str, bool, list[str]]]:
    """The rows as a reader sees them: each one's id, whether it waits for a reply, what was folded into it."""
    return sorted((r["id"], r["needs_reply"], sorted(a["id"] for a in r["also_seen"])) for r in found)


def scanned_once(cli: Callable[..., Run], config: str) -> list[tuple[str, bool, list[str]]]:
    """What one scan of everything the web holds now keeps (stored nowhere)."""
    return shape(rows(cli("scan", "-c", config, "--no-store", "--since", "1d", "-f", "jsonl")))


# -- a scan run as two keeps the rows one scan keeps


def test_a_comment_a_scan_after_another_under_the_same_story_is_a_mention_waiting_for_its_reply(
    web: tuple[Web, str], config: str, cli: Callable[..., Run]
) -> None:
    site, _ = web
    happy = "We have used Acme for years and the new pricing looks fair to me."
    site.hits = [hn_comment(9301, happy, 9300, author="happy", ago=timedelta(hours=5))]
    assert [r["id"] for r in rows(cli("scan", "-c", config, "--since", "1d", "-f", "jsonl"))] == ["9301"]
    site.hits.append(hn_comment(9302, ANGRY, 9300, author="angry", ago=timedelta(hours=2)))
    new = rows(cli("scan", "-c", config, "--new", "--since", "1d", "-f", "jsonl"))
    assert [(r["id"], r["needs_reply"], r["also_seen"]) for r in new] == [("9302", True, [])]
    listed = shape(rows(cli("list", "-c", config, "-f", "jsonl")))
    assert listed == [("9301", False, []), ("9302", True, [])]
    assert listed == scanned_once(cli, config)
    assert [r["id"] for r in rows(cli("list", "-c", config, "--needs-reply", "-f", "jsonl"))] == ["9302"]
    assert [r["id"] for r in rows(cli("inbox", "-c", config, "-f", "jsonl"))] == ["9302"]


def test_a_share_of_a_stored_article_that_asks_the_brand_is_a_mention_waiting_for_its_reply(
    web: tuple[Web, str], config: str, cli: Callable[..., Run]
) -> None:
    site, _ = web
    site.articles = [
        ("Acme ends its free plan", ARTICLE, "Acme will end its free plan in January.", timedelta(hours=6))
    ]
    assert [r["id"] for r in rows(cli("scan", "-c", config, "--since", "1d", "-f", "jsonl"))] == [ARTICLE]
    question = "Why is Acme killing the free plan? Anyone know if existing workspaces keep their data?"
    site.posts = [reddit_link_post("q1", question, ARTICLE, score=300, ago=timedelta(hours=3))]
    new = rows(cli("scan", "-c", config, "--new", "--since", "1d", "-f", "jsonl"))
    assert [(r["id"], r["needs_reply"]) for r in new] == [("t3_q1", True)]
    listed = shape(rows(cli("list", "-c", config, "-f", "jsonl")))
    assert listed == [(ARTICLE, False, []), ("t3_q1", True, [])]
    assert listed == scanned_once(cli, config)
    assert [r["id"] for r in rows(cli("inbox", "-c", config, "-f", "jsonl"))] == ["t3_q1"]


def test_the_shares_of_a_stored_article_join_it_and_a_comment_under_one_stays_a_mention_of_its_own(
    web: tuple[Web, str], config: str, cli: Callable[..., Run]
) -> None:
    site, _ = web
    site.articles = [("Acme opens a Berlin office", ARTICLE, "Acme said it opened an office.", timedelta(hours=6))]
    assert cli("scan", "-c", config, "--seed", "--since", "1d").code == 0
    site.hits = [
        hn_story(9201, "Acme opens a Berlin office", ARTICLE, points=40, ago=timedelta(hours=4)),
        hn_comment(9202, ANGRY, 9201, author="angry", ago=timedelta(hours=3)),
    ]
    site.posts = [reddit_link_post("r201", "Acme opens a Berlin office", ARTICLE, score=90, ago=timedelta(hours=4))]
    new = rows(cli("scan", "-c", config, "--new", "--since", "1d", "-f", "jsonl"))
    assert shape(new) == [("9202", True, [])], "the shares of a known story are not news; the comment is"
    listed = rows(cli("list", "-c", config, "-f", "jsonl"))
    assert shape(listed) == [("9202", True, []), (ARTICLE, False, ["9201", "t3_r201"])]
    assert shape(listed) == scanned_once(cli, config)
    [article] = [r for r in listed if r["id"] == ARTICLE]
    assert [(a["id"], a["match"], a["kind"], a["score"]) for a in article["also_seen"]] == [
        ("9201", "link", "story", 40),
        ("t3_r201", "link", "post", 90),
    ], "listed as a scan lists its shares"


def test_a_shares_new_figures_reach_the_stored_story_and_its_impact_in_the_report(
    web: tuple[Web, str], config: str, cli: Callable[..., Run]
) -> None:
    site, _ = web
    site.articles = [("Acme opens a Berlin office", ARTICLE, "Acme said it opened an office.", timedelta(hours=6))]
    site.hits = [hn_story(9401, "Acme opens a Berlin office", ARTICLE, points=12, ago=timedelta(hours=5))]
    assert cli("scan", "-c", config, "--seed", "--since", "1d").code == 0
    site.hits = [hn_story(9401, "Acme opens a Berlin office", ARTICLE, points=900, ago=timedelta(hours=5))]
    assert rows(cli("scan", "-c", config, "--new", "--since", "1d", "-f", "jsonl")) == []
    [article] = rows(cli("list", "-c", config, "-f", "jsonl"))
    assert [(a["id"], a["score"], a["comments"]) for a in article["also_seen"]] == [("9401", 900, 225)]
    # weight = engagement (none: a feed counts none) + shared (900 points and 225 comments) + reach / 100 (none)
    expected = round(absolute_impact(900 + 225), 2)
    report = cli("report", "-c", config, "--since", "2d", "-f", "json")
    assert report.code == 0, report.stderr
    assert json.loads(report.stdout)["brands"]["Acme"]["impact"] == pytest.approx(expected, abs=0.01)


# -- the store on its own


def test_a_known_duplicates_figures_are_its_latest_and_the_heads_impact_counts_every_scans(store: Any) -> None:
    head = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")
    share = mention("s1", link=ARTICLE, kind="story", score=12, comments=3)
    head.also_seen = [seen_entry(share, "link")]
    store.record([head], STORED_AT)
    copy_of = mention("c1", source="blog", source_type="rss", url="https://copies.example/acme-berlin", kind="article")
    later = STORED_AT + timedelta(hours=1)
    seen_again = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")
    seen_again.also_seen = [seen_entry(mention("s1", link=ARTICLE, kind="story", score=900, comments=225), "link")]
    seen_again.also_seen.append(seen_entry(copy_of, "text"))
    store.record([seen_again], later)
    # A scan later, the article gone from its feed: the share alone, with its figures grown again.
    store.record([mention("s1", link=ARTICLE, kind="story", score=1000, comments=300)], later + timedelta(hours=1))
    [listed] = store.query(Query())
    assert [(a["id"], a.get("score"), a.get("comments"), a["match"]) for a in listed.also_seen] == [
        ("s1", 1000, 300, "link"),
        ("c1", None, None, "text"),
    ]
    [cited] = store.citations(Query())
    assert cited.impact_absolute == round(absolute_impact(1000 + 300), 2)
    # Seen again with none of its shares in the scan, the story still counts them.
    store.record(
        [mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")], later + timedelta(hours=2)
    )
    [cited] = store.citations(Query())
    assert cited.impact_absolute == round(absolute_impact(1000 + 300), 2)


def test_a_duplicate_an_older_store_listed_without_how_it_joined_gets_it_from_the_next_scan_that_says(
    store: Any,
) -> None:
    share = mention("s1", link=ARTICLE, kind="story", score=40)
    head = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")
    head.also_seen = [{"source": "hn", "id": "s1", "url": share.url, "source_type": "hackernews"}]
    store.record([head], STORED_AT)
    head.also_seen = [seen_entry(share, "link")]
    store.record([head], STORED_AT + timedelta(hours=1))
    [listed] = store.query(Query())
    assert [(a["id"], a["match"], a["kind"], a["score"]) for a in listed.also_seen] == [("s1", "link", "story", 40)]
    [cited] = store.citations(Query())
    assert cited.impact_absolute == round(absolute_impact(40), 2)


def test_a_share_joining_a_stored_story_is_listed_with_how_it_joined_and_counted_in_the_storys_impact(
    store: Any,
) -> None:
    store.record([mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")], STORED_AT)
    share = mention("s1", link=ARTICLE, kind="story", score=40, comments=10)
    assert store.record([share], STORED_AT + timedelta(hours=1)).new == set()
    [listed] = store.query(Query())
    assert listed.also_seen == [
        {"source": "hn", "id": "s1", "url": share.url, "match": "link", "source_type": "hackernews", "kind": "story",
         "score": 40, "comments": 10}
    ]  # fmt: skip
    [cited] = store.citations(Query())
    assert cited.impact_absolute == round(absolute_impact(50), 2)


def test_a_comment_under_a_stored_story_is_never_folded_into_it_nor_into_its_article(store: Any) -> None:
    article = mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")
    story = mention("s1", link=ARTICLE, kind="story")
    comment = mention("c1", link=ARTICLE, title="", text="We have used Acme for years, it is fine.", kind="comment")
    store.record([article], STORED_AT)
    store.record([story], STORED_AT + timedelta(hours=1))
    store.record([comment], STORED_AT + timedelta(hours=2))
    later = mention("c2", link=ARTICLE, title="", text="Acme is fine by me too, for what it is worth.", kind="comment")
    assert store.record([later], STORED_AT + timedelta(hours=3)).new == {key_of(later)}
    assert sorted((m.id, [a["id"] for a in m.also_seen]) for m in store.query(Query())) == [
        ("a1", ["s1"]),
        ("c1", []),
        ("c2", []),
    ]


def test_a_share_that_needs_a_reply_is_not_hidden_behind_a_stored_head_that_does_not_wait_for_one(
    store: Any,
) -> None:
    store.record([mention("a1", source="blog", source_type="rss", url=ARTICLE, kind="article")], STORED_AT)
    # Flagged by its scan (a negative post from an author above the brand's own reply_reach, here under the
    # default 1,000): the store keeps the scan's verdict, whatever the brand's threshold.
    loud = mention("s1", link=ARTICLE, kind="story", sentiment=-0.6, sentiment_label="negative", followers=500)
    loud.needs_reply = True
    assert store.record([loud], STORED_AT + timedelta(hours=1)).new == {key_of(loud)}
    assert sorted(m.id for m in store.query(Query(needs_reply=True))) == ["s1"]


def test_a_question_joins_a_stored_question_that_still_waits_and_not_one_already_answered(store: Any) -> None:
    first = mention("q1", link=ARTICLE, title="Does Acme keep my data after the free plan ends?")
    first.needs_reply = True
    store.record([first], STORED_AT)
    second = mention("q2", link=ARTICLE, title="Does Acme keep my data after the free plan ends?")
    second.needs_reply = True
    assert store.record([second], STORED_AT + timedelta(hours=1)).new == set(), "the one kept waits too"
    store.set_status([key_of(first)], "replied", STORED_AT + timedelta(hours=2))
    third = mention("q3", link=ARTICLE, title="Does Acme keep my data after the free plan ends?")
    third.needs_reply = True
    assert store.record([third], STORED_AT + timedelta(hours=3)).new == {key_of(third)}
    assert [m.id for m in store.query(Query(needs_reply=True, exclude_statuses=["replied"]))] == ["q3"]


def test_a_mention_that_needs_a_reply_does_not_join_the_cluster_of_its_stored_duplicate_behind_a_quiet_head(
    store: Any,
) -> None:
    head = mention("h1")
    copy_seen = seen_entry(
        mention("t3_x", source="reddit", source_type="reddit", url="https://reddit.com/r/a/x"), "text"
    )
    head.also_seen = [copy_seen]
    store.record([head], STORED_AT)
    asking = mention("n1", url="https://news.ycombinator.com/item?id=n1", title="Does Acme export to CSV?")
    asking.needs_reply = True
    asking.also_seen = [copy_seen]
    assert store.record([asking], STORED_AT + timedelta(hours=1)).new == {key_of(asking)}
    quiet = mention("n2", also_seen=[copy_seen])
    assert store.record([quiet], STORED_AT + timedelta(hours=2)).new == set()


def test_a_copy_that_asks_joins_a_stored_original_that_still_waits_and_not_one_already_answered(store: Any) -> None:
    # A syndicated copy of a question, found by its text (store.copies): judged as a share is, by the original as
    # it is stored (its saved `needs_reply`, and whether it still waits), not worked out again under a default reach.
    asked = (
        "Does Acme keep my data after the free plan ends? We have three workspaces there, a team of five, and"
        " years of notes we cannot lose."
    )

    def question(item_id: str, host: str, at: datetime) -> Any:
        found = mention(item_id, url=f"https://{host}/acme-free-plan", title="Acme free plan", text=asked)
        found.needs_reply, found.published_at = True, at
        return found

    original = question("o1", "forum.example", STORED_AT - timedelta(hours=3))
    store.record([original], STORED_AT - timedelta(hours=3))
    first = question("c1", "copies.example", STORED_AT - timedelta(hours=2))
    assert store.record([first], STORED_AT - timedelta(hours=2)).new == set(), "the one kept waits too"
    store.set_status([key_of(original)], "replied", STORED_AT - timedelta(hours=1))
    second = question("c2", "mirror.example", STORED_AT)
    assert store.record([second], STORED_AT).new == {key_of(second)}
    assert [m.id for m in store.query(Query(needs_reply=True, exclude_statuses=["replied"]))] == ["c2"]

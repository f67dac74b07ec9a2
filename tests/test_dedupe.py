"""Duplicate clusters (canonical URLs: test_urls.py)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mentionwatch.dedupe import DuplicateIndex, dedupe
from mentionwatch.models import Mention
from mentionwatch.sources.jsonl import parse_lines
from mentionwatch.sources.rss import parse_feed

from conftest import fixture_path

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ARTICLE = (
    "Acme today announced a new generation of its rocket-powered roller skates, promising twice the speed "
    "and half the number of cliff-related incidents, according to a statement from the company."
)


def mention(i: int, text: str, url: str | None = None, brand: str = "Acme", source: str = "rss") -> Mention:
    return Mention(
        source=source,
        id=str(i),
        url=url or f"https://site{i}.example/post/{i}",
        published_at=T0 + timedelta(minutes=i),
        text=text,
        brand=brand,
    )


# -- clusters


def test_the_same_page_at_two_urls_is_one_mention_the_earliest_kept() -> None:
    first = mention(1, "Acme news", url="https://example.com/a?utm_source=feed")
    second = mention(2, "Acme news again", url="https://www.example.com/a/", source="reddit")
    kept = dedupe([second, first])
    assert kept == [first]
    assert first.duplicates == 1
    assert first.also_seen == [{"source": "reddit", "id": "2", "url": "https://www.example.com/a/"}]


def test_syndicated_copies_are_one_cluster() -> None:
    original = mention(1, ARTICLE)
    copy = mention(2, "RT @someone: " + ARTICLE + " https://t.co/xyz #acme")
    excerpt = mention(3, ARTICLE[: int(len(ARTICLE) * 0.8)] + "…")
    edited = mention(4, ARTICLE.replace("twice", "three times"))
    kept = dedupe([original, copy, excerpt, edited])
    assert kept == [original]
    assert [s["id"] for s in original.also_seen] == ["2", "3", "4"]


def test_different_texts_about_the_same_brand_stay_apart() -> None:
    a = mention(1, ARTICLE)
    b = mention(2, "Acme support never answered my ticket about the broken skates, three weeks and counting now.")
    assert dedupe([a, b]) == [a, b]


def test_short_texts_never_cluster_on_text_alone() -> None:
    a = mention(1, "Love Acme, great rockets!")
    b = mention(2, "Love Acme, great rockets!")
    assert dedupe([a, b]) == [a, b]
    c = mention(3, "Love Acme, great rockets!", url="https://site1.example/post/1")
    assert dedupe([a, c]) == [a]  # the same URL still clusters


def test_templated_reports_that_differ_in_their_figures_stay_apart() -> None:
    # Real Google Alerts items: "Insider Cal Henderson Sells 99342 Shares" and "... Sells 1500 Shares" share
    # half their word pairs but are two different transactions.
    items = parse_feed(
        fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes(), "https://alerts.example/feed", T0
    )
    for m in items:
        m.brand, m.source = "Slack", "rss"
    assert len(dedupe(items)) == len(items) == 20


def test_an_excerpt_keeping_the_figures_is_still_a_copy() -> None:
    report = "Acme sold 99,342 rockets in the quarter to June, up from 61,000 a year earlier, the company said."
    a = mention(1, report + " Shares rose 4% in early trading after the figures were published on Tuesday.")
    b = mention(2, report)
    assert dedupe([a, b]) == [a]


def test_clusters_are_per_brand() -> None:
    a = mention(1, ARTICLE, brand="Acme")
    b = mention(2, ARTICLE, brand="Roadrunner")
    assert len(dedupe([a, b])) == 2


def test_hacker_news_comments_sharing_a_story_link_do_not_collapse() -> None:
    lines = fixture_path("jsonl", "hackernews-nodejs.jsonl").read_text(encoding="utf-8").splitlines()
    items, problems = parse_lines(lines, default_source="hackernews", where="fixture")
    assert not problems
    for m in items:
        m.brand = "Node"
    comments = [m for m in items if m.kind == "comment"]
    assert len({m.link for m in comments}) < len(comments)  # some share their story's link
    assert len(dedupe(comments)) == len(comments)


def test_one_source_id_is_one_mention() -> None:
    a = mention(1, "x")
    b = mention(1, "x")
    assert dedupe([a, b]) == [a] and a.duplicates == 0


def test_the_index_stays_small() -> None:
    index = DuplicateIndex()
    for i in range(2000):
        index.add(mention(i, f"post number {i} about acme rockets and roller skates for sale today {i * 7}"))
    assert index.nbytes / 2000 < 250

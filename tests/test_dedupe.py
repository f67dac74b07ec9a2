"""Canonical URLs and duplicate clusters."""

from __future__ import annotations

import html
import re
from datetime import UTC, datetime, timedelta
from urllib.parse import unquote

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from mentionwatch.dedupe import DuplicateIndex, dedupe
from mentionwatch.models import Mention
from mentionwatch.sources.jsonl import parse_lines
from mentionwatch.sources.rss import parse_feed
from mentionwatch.urls import canonical_url, unwrap_redirect

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


# -- canonical URLs


@pytest.mark.parametrize(
    ("url", "canonical"),
    [
        ("HTTP://WWW.Example.COM:80/a/b/?utm_source=x&id=3#top", "https://example.com/a/b?id=3"),
        ("https://example.com:443/", "https://example.com"),
        ("https://example.com:8443/a", "https://example.com:8443/a"),
        ("https://example.com/a?fbclid=1&gclid=2&mc_cid=3&ref=hn&b=2&a=1", "https://example.com/a?a=1&b=2"),
        ("https://example.com/a/./b/../c", "https://example.com/a/c"),
        ("https://example.com/%7euser/caf%c3%a9", "https://example.com/~user/caf%C3%A9"),
        ("https://example.com/café", "https://example.com/caf%C3%A9"),
        ("https://example.com/app#!/post/1", "https://example.com/app#!/post/1"),
        ("https://youtu.be/abc123?si=track", "https://youtube.com/watch?v=abc123"),
        ("https://m.youtube.com/watch?v=abc123&feature=share", "https://youtube.com/watch?v=abc123"),
        ("https://twitter.com/acme/status/1?s=20", "https://x.com/acme/status/1"),
        ("https://old.reddit.com/r/x/comments/1/t/", "https://reddit.com/r/x/comments/1/t"),
        ("mailto:someone@example.com", "mailto:someone@example.com"),
    ],
)
def test_canonical_url(url: str, canonical: str) -> None:
    assert canonical_url(url) == canonical


@pytest.mark.parametrize(
    "wrapped",
    [
        "https://www.google.com/url?rct=j&sa=t&url=https://example.com/news/1%3Futm_source%3Dalerts&ct=ga",
        "https://www.google.co.uk/url?q=https://example.com/news/1&sa=U",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fexample.com%2Fnews%2F1&h=AT0",
        "https://out.reddit.com/t3_abc?url=https%3A%2F%2Fexample.com%2Fnews%2F1&token=x",
        "https://www.youtube.com/redirect?event=video_description&q=https%3A%2F%2Fexample.com%2Fnews%2F1",
        "https://eur01.safelinks.protection.outlook.com/?url=https%3A%2F%2Fexample.com%2Fnews%2F1&data=x",
        "https://l.facebook.com/l.php?u=https%3A%2F%2Fwww.google.com%2Furl%3Fq%3Dhttps%3A%2F%2Fexample.com%2Fnews%2F1",
    ],
)
def test_redirect_wrappers_are_unwrapped(wrapped: str) -> None:
    assert canonical_url(wrapped) == "https://example.com/news/1"


def test_shorteners_cannot_be_unwrapped_offline() -> None:
    assert unwrap_redirect("https://t.co/abc123") == "https://t.co/abc123"


def test_the_real_google_alerts_fixture_links_unwrap_to_the_article() -> None:
    text = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_text(encoding="utf-8")
    links = re.findall(r'<link href="([^"]+)"', text)
    wrapped = [html.unescape(u) for u in links if "google.com/url" in u]
    assert wrapped
    for url in wrapped:
        assert "google.com" not in canonical_url(url)


_segment = st.text(alphabet="abcXYZ019-_~.%é", min_size=1, max_size=6).filter(lambda s: s not in (".", ".."))
_param = st.tuples(st.sampled_from(["id", "page", "q", "v", "sort", "a"]), st.text(alphabet="abc12 +&=%/", max_size=5))
_url = st.builds(
    lambda scheme, host, segs, params, frag: (
        f"{scheme}://{host}/{'/'.join(segs)}"
        + ("?" + "&".join(f"{k}={v}" for k, v in params) if params else "")
        + (f"#{frag}" if frag else "")
    ),
    st.sampled_from(["http", "https", "HTTPS"]),
    st.sampled_from(["example.com", "WWW.example.com", "example.com:8080", "news.example.org"]),
    st.lists(_segment, max_size=4),
    st.lists(_param, max_size=3),
    st.sampled_from(["", "top", "!/route"]),
)


@settings(max_examples=300, deadline=None)
@given(url=_url)
def test_canonical_url_is_idempotent(url: str) -> None:
    once = canonical_url(url)
    assert canonical_url(once) == once


@settings(max_examples=300, deadline=None)
@given(segs_a=st.lists(_segment, min_size=1, max_size=3), segs_b=st.lists(_segment, min_size=1, max_size=3))
def test_different_paths_stay_different(segs_a: list[str], segs_b: list[str]) -> None:
    a, b = "/".join(segs_a), "/".join(segs_b)
    assume(unquote(a) != unquote(b))  # `%7E` and `~`, `%C3%A9` and `é` are the same path
    assert canonical_url(f"https://example.com/{a}") != canonical_url(f"https://example.com/{b}")


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(["id", "page", "v", "q", "article"]),
    value_a=st.text(alphabet="abc123-_", min_size=1, max_size=5),
    value_b=st.text(alphabet="abc123-_", min_size=1, max_size=5),
    tracking=st.sampled_from(["utm_source=x", "fbclid=1", "gclid=z", "ref=hn", "mc_cid=9"]),
)
def test_non_tracking_parameters_keep_pages_apart(key: str, value_a: str, value_b: str, tracking: str) -> None:
    assume(value_a != value_b)
    a = canonical_url(f"https://example.com/p?{key}={value_a}&{tracking}")
    b = canonical_url(f"https://example.com/p?{tracking}&{key}={value_b}")
    assert a != b
    assert a == canonical_url(f"https://www.example.com/p/?{key}={value_a}")


# -- clusters


def test_the_same_page_at_two_urls_is_one_mention_the_earliest_kept() -> None:
    first = mention(1, "Acme news", url="https://example.com/a?utm_source=feed")
    second = mention(2, "Acme news again", url="https://www.example.com/a/", source="reddit")
    kept = dedupe([second, first])
    assert kept == [first]
    assert first.duplicates == 1
    # `source_type` with the source's name: the store keys duplicates by the service, not the configured name.
    assert first.also_seen == [
        {"source": "reddit", "id": "2", "url": "https://www.example.com/a/", "source_type": second.source_type}
    ]


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

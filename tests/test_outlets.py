"""Outlets have a weight: the shipped extract of the Majestic Million, how a page finds its outlet, and what it
does to an article's reach, impact, explanation and reply rule."""

from __future__ import annotations

import csv
import json
from collections.abc import Callable
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path

import pytest

from mentionwatch.impact import REACH_PER_REFERRING_SUBNET, impact_parts, reply_reason, score_impact
from mentionwatch.models import Mention
from mentionwatch.outlets import Outlet, outlet_of, platforms, ranking

from conftest import Run

T0 = datetime(2026, 11, 1, tzinfo=UTC)
EXAMPLE = Path(__file__).parent.parent / "examples" / "mentionwatch.yaml"
FT = "https://www.ft.com/content/6ee262ba-a1f5-11e9-974c-ad1c6ab5efd1"
SPAM = "http://marketnewswire24.us/17010/global-enterprise-collaboration-software-market-2019-ibm-corporation-microsoft-corporation-slack-technologies-inc/"


def rows() -> list[list[str]]:
    text = resources.files("mentionwatch").joinpath("data", "outlets.csv").read_text(encoding="utf-8")
    return list(csv.reader(text.splitlines()))


def article(url: str, i: int = 1, **kwargs: object) -> Mention:
    fields: dict[str, object] = {"source": "alerts", "source_type": "rss", "kind": "article", "brand": "Acme"}
    fields.update(kwargs)
    return Mention(id=str(i), url=url, published_at=T0, **fields)  # type: ignore[arg-type]


# -- the shipped data


def test_the_extract_holds_the_top_5000_rows_of_the_list_less_the_two_that_name_no_domain() -> None:
    header, *data = rows()
    assert header == ["GlobalRank", "Domain", "RefSubNets"]
    assert len(data) == 4998
    ranks = [int(rank) for rank, _, _ in data]
    assert sorted(set(range(1, 5001)) - set(ranks)) == [114, 526]  # `.com` and `.at` in the published list
    assert ranks == sorted(ranks)
    subnets = [int(s) for _, _, s in data]
    assert subnets == sorted(subnets, reverse=True), "the list is ranked by its referring subnets"
    domains = [d for _, d, _ in data]
    assert len(set(domains)) == len(domains)


@pytest.mark.parametrize(
    ("domain", "rank", "subnets"),
    [("google.com", 1, 501331), ("bbc.co.uk", 104, 68274), ("ft.com", 185, 45142), ("rtbf.be", 3320, 7913)],
)
def test_known_rows_of_the_extract(domain: str, rank: int, subnets: int) -> None:
    assert [str(rank), domain, str(subnets)] in rows()
    assert ranking()[domain] == Outlet(domain, rank, subnets)


def test_a_www_the_list_keeps_is_dropped_and_the_better_ranked_row_wins() -> None:
    assert ranking()["gov.uk"].rank == 138  # listed as www.gov.uk
    assert ranking()["bl.uk"] == Outlet("bl.uk", 2240, 10095)  # www.bl.uk (2,240) and bl.uk (2,307)
    assert not any(domain.startswith("www.") for domain in ranking())


def test_every_platform_is_a_domain_of_the_ranking() -> None:
    assert platforms() and platforms() <= set(ranking())


# -- finding a page's outlet


@pytest.mark.parametrize(
    ("url", "domain"),
    [
        ("https://www.ft.com/content/x", "ft.com"),
        ("https://news.bbc.co.uk/1/hi/business/x.stm", "bbc.co.uk"),  # a subdomain: its registered domain
        ("https://edition.cnn.com/2019/x", "cnn.com"),
        ("https://FT.com./content/x", "ft.com"),
        ("https://pubmed.ncbi.nlm.nih.gov/1/", "pubmed.ncbi.nlm.nih.gov"),  # ranked itself: the host wins
        ("https://x.pubmed.ncbi.nlm.nih.gov/1/", "nih.gov"),  # else the registered domain, never a host between
    ],
)
def test_a_page_finds_its_outlet(url: str, domain: str) -> None:
    found = outlet_of(url)
    assert found is not None and found.domain == domain


@pytest.mark.parametrize(
    "url",
    [
        SPAM,  # not in the ranking
        "https://mspoweruser.com/latest-research-shows-microsoft-teams-is-stomping-slack/",
        "https://acme.blogspot.com/2019/07/post.html",  # blogspot.com is ranked, but a blog there is its own site
        "https://acme.github.io/post",
        "https://shop.or.kr/",  # or.kr (ranked 338th) is a registry, not a site
        "https://bücher.de/",
        "http://203.0.113.7/news",
        "http://[2001:db8::1]/news",
        "",
        "not a url",
    ],
)
def test_an_unknown_outlet_is_none(url: str) -> None:
    assert outlet_of(url) is None


@pytest.mark.parametrize(
    "url",
    [
        "https://www.youtube.com/watch?v=dQw4w9WgXcQ",  # ranked 3rd: the video's audience is its channel's
        "https://www.linkedin.com/pulse/acme-review",
        "https://medium.com/@someone/acme-review-1a2b3c",
        "https://someone.substack.com/p/acme",
        "https://news.google.com/articles/CBMiX",
        "https://www.prnewswire.com/news-releases/acme-launches.html",  # whoever pays publishes
        "https://forums.bbc.co.uk/thread/1",  # the users' area of an outlet
        "https://community.ft.com/t/1",
    ],
)
def test_platforms_and_users_areas_are_not_outlets(url: str) -> None:
    assert outlet_of(url) is None


# -- reach and impact


def test_an_articles_reach_is_its_outlets_referring_subnets_and_says_so() -> None:
    [parts] = impact_parts([article(FT)])
    assert parts.reach == 45142 * REACH_PER_REFERRING_SUBNET
    assert (parts.reach_source, parts.outlet, parts.outlet_rank) == ("outlet ranking", "ft.com", 185)


def test_an_unknown_outlet_keeps_reach_none_and_weighs_nothing() -> None:
    [parts] = impact_parts([article(SPAM)])
    assert (parts.reach, parts.reach_source, parts.outlet, parts.weight) == (None, None, None, 0)


def test_the_sources_own_figures_come_first_and_are_named() -> None:
    followed, viewed = article(FT, 1, followers=10), article(FT, 2, views=300)
    [a, b] = impact_parts([followed, viewed])
    assert (a.reach, a.reach_source, a.outlet) == (10, "followers", None)
    assert (b.reach, b.reach_source, b.outlet) == (300, "views", None)


def test_posts_and_shares_have_their_authors_audience_not_their_sites() -> None:
    comment = article("https://news.ycombinator.com/item?id=1", kind="comment", source_type="hackernews")
    story = article("https://news.ycombinator.com/item?id=2", 2, kind="story", link=FT, source_type="hackernews")
    assert [p.reach for p in impact_parts([comment, story])] == [None, None]


def test_a_copy_of_the_article_on_a_ranked_outlet_lifts_the_cluster() -> None:
    kept = article(SPAM, also_seen=[{"source": "alerts", "id": "2", "url": FT, "match": "text", "kind": "article"}])
    [parts] = impact_parts([kept])
    assert parts.reach is None, "its own reach is still unknown"
    assert parts.weight == pytest.approx(45142 / 100)


def test_the_ft_outranks_the_spam_market_report_of_the_shipped_example(cli: Callable[..., Run]) -> None:
    run = cli("scan", "-c", str(EXAMPLE), "--no-store", "-f", "jsonl")
    assert run.code == 0, run.stderr
    alerts = {m["url"]: m for m in map(json.loads, run.stdout.splitlines()) if m["source"] == "alerts"}
    ft, spam = alerts[FT], alerts[SPAM]
    assert (ft["reach"], spam["reach"]) == (45142, None)
    assert ft["impact"] > spam["impact"]
    assert ft["impact"] == max(m["impact"] for m in alerts.values())
    assert len({m["impact"] for m in alerts.values()}) > 1, "articles are no longer all equal"


def test_explain_says_where_the_reach_came_from(cli: Callable[..., Run], tmp_path: Path) -> None:
    scan = tmp_path / "scan.jsonl"
    assert cli("scan", "-c", str(EXAMPLE), "--no-store", "-f", "jsonl", "-o", str(scan)).code == 0
    text = cli("explain", FT, "-i", str(scan))
    assert text.code == 0, text.stderr
    assert "reach from: ft.com in the outlet ranking (#185, 45,142 referring subnets)" in text.stdout
    impact = json.loads(cli("explain", FT, "-i", str(scan), "--json").stdout)["impact"]
    assert (impact["reach"], impact["reach_source"], impact["outlet"]) == (45142, "outlet ranking", "ft.com")


# -- needs a reply


def test_an_outlets_weight_is_not_an_authors_reach() -> None:
    press = article(FT, text="Acme's results were a terrible disappointment", matched_terms=["Acme"])
    loud = article(SPAM, 2, text=press.text, matched_terms=["Acme"], kind="post", followers=50_000)
    for m in (press, loud):
        m.sentiment, m.sentiment_label = -0.7, "negative"
    score_impact([press, loud], reply_reach={"Acme": 1000})
    assert press.reach == 45142 and not press.needs_reply and reply_reason(press, 1000) is None
    assert loud.needs_reply

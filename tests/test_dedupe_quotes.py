"""Quoting one long text is not sameness: comments that quote the same notice and each say something of their
own are different mentions, whichever came first; copies of one long article with a copy's small edits are
still one (the short-text rules: test_dedupe.py)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from html import escape

import pytest

from mentionwatch.config import BrandConfig
from mentionwatch.dedupe import dedupe, near_duplicate, shingles, text_tokens
from mentionwatch.models import Mention
from mentionwatch.pipeline import process
from mentionwatch.sources import hackernews, reddit

from conftest import load_json

T0 = datetime(2026, 11, 3, 12, tzinfo=UTC)
# A status page's incident notice (test input): long enough (150+ distinct words) that a copy editor's few
# changes are a small share of it.
NOTICE = (
    "Between 09:10 and 11:45 UTC on Tuesday a subset of Acme customers in the European region were unable to "
    "sign in to the dashboard and some scheduled exports did not run. The cause was a configuration change to "
    "our authentication service that was rolled out gradually and not caught by our automated checks before it "
    "reached production traffic. We reverted the change, replayed the missed exports and are adding a canary "
    "stage so that a similar problem is detected within minutes rather than hours. We apologise for the "
    "disruption and thank everyone who reported it through the status page and our community forum while the "
    "incident was ongoing. Over the coming weeks our infrastructure group will publish a detailed timeline, "
    "including which alerts fired, who was paged, how long each mitigation took and what we learned about "
    "dependencies between identity providers, session caches, regional load balancers and background job "
    "schedulers. Customers on enterprise agreements will receive service credits automatically according to "
    "their contract terms; nobody needs to open a ticket for that. If anything still looks wrong in your "
    "account, such as duplicated invoices, missing audit entries or webhooks delivered twice, please write to "
    "our engineers directly so they can investigate quickly."
)
STATUS_PAGE = "https://status.acme.example.com/incidents/42"
REDDIT_COMMENT = load_json("reddit", "user_comments_listing_t1.json")["data"]["children"][0]["data"]
HN_COMMENT = next(
    h for h in load_json("hackernews", "search_by_date_query_nodejs_2017.json")["hits"] if "comment" in h["_tags"]
)


def reddit_comment(n: int, own: str) -> Mention:
    """The real Reddit comment of the fixture, moved under one post and rewritten to quote the notice (Reddit
    renders `>` as a blockquote: the quote reaches us as plain text) and add a line of its author's."""
    data = {
        **REDDIT_COMMENT,
        "name": f"t1_k{n}",
        "id": f"k{n}",
        "author": f"user{n}",
        "permalink": f"/r/acme/comments/p4/acme_incident_report/k{n}/",
        "body": f"> {NOTICE}\n\n{own}",
        "body_html": f'<div class="md"><blockquote>\n<p>{escape(NOTICE)}</p>\n</blockquote>\n\n'
        f"<p>{escape(own)}</p>\n</div>",
        "created_utc": (T0 + timedelta(minutes=n)).timestamp(),
    }
    m = reddit.to_mention("t1", data)
    m.source, m.brand = "reddit", "Acme"
    return m


def hn_comment(n: int, own: str) -> Mention:
    """The real Algolia comment hit of the fixture, moved under one story: HN marks a quote with `>` alone."""
    hit = {
        **HN_COMMENT,
        "objectID": str(9960 + n),
        "author": f"user{n}",
        "comment_text": f"<p>&gt; {escape(NOTICE)}<p>{escape(own)}",
        "story_id": 9959,
        "story_url": STATUS_PAGE,
        "created_at_i": int((T0 + timedelta(minutes=n)).timestamp()),
    }
    m = hackernews.to_mention(hit)
    m.source, m.brand = "hackernews", "Acme"
    return m


def article(n: int, text: str) -> Mention:
    return Mention(
        source="rss",
        id=str(n),
        url=f"https://news{n}.example/acme-outage",
        published_at=T0 + timedelta(minutes=n),
        text=text,
        brand="Acme",
        kind="article",
    )


def rows(kept: list[Mention]) -> set[tuple[str, tuple[str, ...]]]:
    """The clusters as (the kept mention's author, its members' ids): comparable whichever came first."""
    return {(m.author or m.id, tuple(sorted(s["id"] for s in m.also_seen))) for m in kept}


# -- each adds a sentence of its own: two mentions


SENTENCES = [
    ("Acme lost all my invoices.", "Charged twice, need refund."),
    ("Acme lost all my invoices.", "Appreciate the transparency, thanks."),
]


@pytest.mark.parametrize("comment", [reddit_comment, hn_comment])
@pytest.mark.parametrize(("one", "other"), SENTENCES)
def test_comments_quoting_one_notice_and_each_adding_a_sentence_are_two_mentions(
    comment: Callable[[int, str], Mention], one: str, other: str
) -> None:
    first, second = comment(1, one), comment(2, other)
    assert NOTICE in first.text and NOTICE in second.text
    # Alike enough to merge but for their own words, fewer than a copy editor's share of 150+ distinct ones.
    assert near_duplicate(shingles(text_tokens(first)), shingles(text_tokens(second)))
    assert len(set(text_tokens(first))) > 150
    kept = dedupe([first, second])
    assert kept == [first, second]
    assert first.also_seen == second.also_seen == []


@pytest.mark.parametrize("comment", [reddit_comment, hn_comment])
@pytest.mark.parametrize(("one", "other"), SENTENCES)
def test_which_comment_came_first_changes_no_cluster(comment: Callable[[int, str], Mention], one: str, other: str) -> None:
    # Scored as the pipeline would (a complaint needs a reply, thanks do not): a merge that depended on which
    # came first would fold the thanks into the complaint one way round and not the other.
    def scan(first: str, second: str) -> set[tuple[str, tuple[str, ...]]]:
        mentions = [comment(1, first), comment(2, second)]
        for m in mentions:
            m.sentiment_label = "positive" if m.text.endswith("thanks.") else "negative"
        return rows(dedupe(mentions))

    assert scan(one, other) == scan(other, one) == {("user1", ()), ("user2", ())}


def test_a_scan_keeps_both_quoting_comments_whichever_came_first() -> None:
    brands = [BrandConfig(name="Acme", terms=["Acme"])]

    def scan(first: str, second: str) -> list[str]:
        mentions = [reddit_comment(1, first), reddit_comment(2, second)]
        for m in mentions:
            m.brand = None  # as the source delivers it: matched, deduped and scored by the pipeline
        kept = process(mentions, brands, since=T0 - timedelta(days=1))
        return sorted(f"{m.author}:{m.duplicates}" for m in kept)

    for one, other in SENTENCES:
        assert scan(one, other) == scan(other, one) == ["user1:0", "user2:0"]


def test_a_comment_quoting_a_whole_long_post_and_adding_a_sentence_is_its_own_mention() -> None:
    post = article(0, NOTICE)
    reply = reddit_comment(1, "Acme lost all my invoices.")
    assert dedupe([post, reply]) == [post, reply]


def test_the_same_comment_posted_twice_is_still_one_mention() -> None:
    first = reddit_comment(1, "Acme lost all my invoices.")
    again = hn_comment(2, "Acme lost all my invoices.")
    assert dedupe([first, again]) == [first]
    assert first.also_seen[0]["match"] == "text"


# -- copies of one long article: a copy's small edits make no new post


@pytest.mark.parametrize(
    ("original", "copy"),
    [
        # A byline on each copy, each its own.
        ("By Jane Doe\n" + NOTICE, "By John Smith, Reuters\n" + NOTICE),
        ("By Jane Doe, Reuters\n" + NOTICE, "By John Smith, Associated Press\n" + NOTICE),
        # A "Read more" link, a tracking footer added by the site that republished it.
        (NOTICE, NOTICE + "\nRead more: https://acme.example/blog/incident-42?utm_source=rss"),
        (NOTICE, NOTICE + "\nThis post first appeared on the Acme Insider newsletter. Subscribe for more."),
        # A word or two changed, and a copy editor's handful of changes spread through it.
        (NOTICE, NOTICE.replace("Tuesday", "Wednesday").replace("gradually", "slowly")),
        (
            NOTICE,
            NOTICE.replace("gradually", "slowly")
            .replace("apologise", "apologize")
            .replace("disruption", "outage")
            .replace("quickly", "promptly")
            .replace("wrong", "off"),
        ),
        # Bylines and footers at once.
        ("By Jane Doe\n" + NOTICE + "\nRead more at Acme News", "By John Smith\n" + NOTICE + "\nSource: Reuters"),
    ],
)
def test_copies_of_a_long_article_with_small_edits_are_one_mention(original: str, copy: str) -> None:
    for first, second in ((original, copy), (copy, original)):
        a, b = article(1, first), article(2, second)
        assert dedupe([a, b]) == [a]
        assert [s["id"] for s in a.also_seen] == ["2"] and a.also_seen[0]["match"] == "text"


@pytest.mark.parametrize(
    "mangled",
    [
        # A copy mangled on its way round (words dropped, doubled, moved): where words repeat, a word diff can
        # align them more than one way, and the way must not depend on which text is compared with which.
        "The Acme app lost all of my invoices and all of my receipts, and the Acme support team lost tickets of "
        "tickets.",
        "The Acme app lost my of of invoices and all of my receipts, and the Acme support team lost all of my "
        "tickets.",
        "The Acme app lost all of my invoices and all of my receipts, and the Acme support lost lost team of my "
        "tickets.",
    ],
)
def test_a_mangled_copy_clusters_the_same_whichever_came_first(mangled: str) -> None:
    original = "The Acme app lost all of my invoices and all of my receipts, and the Acme support team lost all of my tickets."

    def clusters(first: str, second: str) -> int:
        return len(dedupe([article(1, first), article(2, second)]))

    assert clusters(original, mangled) == clusters(mangled, original)

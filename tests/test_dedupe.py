"""Duplicate clusters (canonical URLs: test_urls.py)."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mentionwatch.config import BrandConfig
from mentionwatch.dedupe import DuplicateIndex, dedupe, keys_ahead, near_duplicate, shingles, text_tokens
from mentionwatch.models import Mention
from mentionwatch.pipeline import process
from mentionwatch.sources import hackernews, reddit, stackexchange
from mentionwatch.sources.jsonl import parse_lines
from mentionwatch.sources.rss import parse_feed

from conftest import fixture_path, load_json

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
    # `source_type`: the store keys duplicates by the service, not the configured name.
    assert first.also_seen == [
        {"source": "reddit", "id": "2", "url": "https://www.example.com/a/", "match": "url", "source_type": ""}
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


# -- boilerplate is not sameness (issue #12)

QUESTIONS = load_json("stackexchange", "questions_with_body_comments_answers_jsonserver_db.json")["questions"]["items"]
# A short templated body, as a site's "ask a question" template or a bot leaves it (test input, not recorded).
TEMPLATE = (
    "<p>I have read the documentation and searched this site, but I could not find an answer to this. "
    "Here is a minimal example of what I tried:</p><pre><code>// see above</code></pre>"
    "<p>What am I doing wrong? Thanks in advance for any help!</p>"
)


def question(qid: int, body: str = TEMPLATE, **changes: Any) -> Mention:
    """A real Stack Overflow question of the fixture, with the body given."""
    item = next(q for q in QUESTIONS if q["question_id"] == qid)
    m = stackexchange.to_mention({**item, "body": body, **changes})
    m.source, m.source_type, m.brand, m.matched_terms = "stackoverflow", "stackexchange", "Scala", ["Scala"]
    return m


def test_two_questions_with_different_titles_and_one_templated_body_are_two_mentions() -> None:
    older = question(48831102)  # "Scala convention of compiled method names"
    newer = question(48835404)  # "How to instantiate a nested generic class defined in scala from java?"
    # Their words are mostly the template's: alike enough to merge, were titles not compared.
    assert near_duplicate(shingles(text_tokens(older)), shingles(text_tokens(newer)))
    assert dedupe([older, newer]) == [older, newer]
    assert older.duplicates == newer.duplicates == 0


def test_one_question_posted_twice_is_still_one_mention() -> None:
    first = question(48835404)
    again = question(48835404, question_id=48899999, link="https://stackoverflow.com/questions/48899999/x")
    again.published_at = first.published_at + timedelta(hours=1)
    assert dedupe([first, again]) == [first]
    assert first.also_seen[0]["match"] == "text"


SIGNATURE = (
    "-- \\nJane Doe | Head of Platform Engineering | Acme Rockets Inc.\\n1 Canyon Road, Monument Valley, AZ\\n"
    "This message and any attachments are confidential and intended solely for the addressee. If you have "
    "received it in error, please notify the sender and delete it."
)
COOKIES = (
    "We use cookies and similar technologies to recognise your repeat visits and preferences, to measure the "
    "effectiveness of campaigns and to improve our websites. By clicking Accept all you consent to this. "
)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        # One signature under two different messages.
        (
            "The Acme deploy finished, everything is green on staging now.\\n" + SIGNATURE,
            "Rollback please: Acme billing is double charging some customers.\\n" + SIGNATURE,
        ),
        # One cookie banner above two different articles' first lines.
        (COOKIES + "Acme opens a new factory in Ohio.", COOKIES + "Acme recalls its jet-powered pogo sticks."),
        # One share button's template, filled in with two different articles.
        (
            "I just read 'Rocket skates, reviewed' on the Acme blog via the Acme app. Check it out!",
            "I just read 'Why our anvils fall' on the Acme blog via the Acme app. Check it out!",
        ),
    ],
)
def test_posts_whose_own_words_differ_are_different_mentions(one: str, other: str) -> None:
    a, b = mention(1, one), mention(2, other)
    assert near_duplicate(shingles(text_tokens(a)), shingles(text_tokens(b)))  # mostly shared boilerplate
    assert dedupe([a, b]) == [a, b]


def test_articles_with_different_titles_under_one_banner_are_two_mentions() -> None:
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>Acme newsroom</title>
    <link>https://news.acme.example/</link>
    <item><title>Acme opens a factory in Ohio</title><link>https://news.acme.example/ohio</link>
    <description>{COOKIES} Acme opens a factory.</description><pubDate>Mon, 02 Nov 2026 08:00:00 GMT</pubDate></item>
    <item><title>Acme recalls pogo sticks</title><link>https://news.acme.example/recall</link>
    <description>{COOKIES} Acme recalls pogo sticks.</description><pubDate>Mon, 02 Nov 2026 09:00:00 GMT</pubDate></item>
    </channel></rss>""".encode()
    items = parse_feed(feed, "https://news.acme.example/feed", T0)
    for m in items:
        m.brand, m.source = "Acme", "rss"
    assert len(items) == 2
    assert len(dedupe(items)) == 2


def test_a_reply_quoting_a_whole_post_is_its_own_mention() -> None:
    post = mention(1, ARTICLE, source="reddit")
    # A real Reddit comment of the fixture, answering with a quote: Reddit renders `>` as a blockquote, so the
    # quote reaches us as plain text, indistinguishable from the reply's own words but for what it adds.
    data = load_json("reddit", "user_comments_listing_t1.json")["data"]["children"][0]["data"]
    data = {
        **data,
        "body": f"> {ARTICLE}\n\nThey said that last year too, and my skates still catch fire.",
        "body_html": f'<div class="md"><blockquote><p>{ARTICLE}</p></blockquote>'
        "<p>They said that last year too, and my skates still catch fire.</p></div>",
        "created_utc": (T0 + timedelta(hours=1)).timestamp(),
    }
    reply = reddit.to_mention("t1", data)
    reply.source, reply.brand = "reddit", "Acme"
    assert ARTICLE in reply.text and reply.kind == "comment"
    assert dedupe([post, reply]) == [post, reply]


@pytest.mark.parametrize(
    "edited",
    [
        ARTICLE + " #acme #skates",  # hashtags are no one's own words
        "RT @roadrunner: " + ARTICLE + " via @acmenews",
        ARTICLE.replace("rocket-powered", "rocketpowered").replace("cliff-related", "cliff related"),
        ARTICLE.replace("twice", "two times"),
    ],
)
def test_copies_that_add_no_words_of_their_own_still_merge(edited: str) -> None:
    a = mention(1, ARTICLE + " #rollerblading #speed")
    b = mention(2, edited)
    assert dedupe([a, b]) == [a]


def test_one_story_under_two_publishers_headlines_is_one_mention() -> None:
    a = mention(1, ARTICLE)
    a.title = "Acme unveils rocket-powered roller skates - The Verge"
    b = mention(2, ARTICLE)
    b.title = "Acme unveils rocket-powered roller skates | TechCrunch"
    assert dedupe([a, b]) == [a]


# -- a merge never hides a mention that needs a reply


def test_a_question_is_never_folded_into_a_mention_that_needs_no_reply() -> None:
    statement = mention(1, ARTICLE)
    asks = mention(2, ARTICLE + " @acme when will these ship to Europe?")
    asks.matched_terms = ["Acme", "@acme"]
    assert dedupe([statement, asks]) == [statement, asks]


def test_a_copy_folds_into_a_question_and_two_copies_of_a_question_are_one() -> None:
    asks = mention(1, ARTICLE + " @acme when will these ship to Europe?")
    statement = mention(2, ARTICLE)
    again = mention(3, "RT @bob: " + ARTICLE + " @acme when will these ship to Europe?")
    for m in (asks, statement, again):
        m.matched_terms = ["Acme", "@acme"]
    assert dedupe([asks, statement, again]) == [asks]
    assert [s["id"] for s in asks.also_seen] == ["2", "3"]


def loud_copy(label: str | None, followers: int = 50_000) -> Mention:
    m = mention(2, "RT @wile: " + ARTICLE)
    m.followers, m.sentiment_label = followers, label
    return m


@pytest.mark.parametrize(
    ("label", "kept_label", "merged"),
    [
        (None, None, False),  # sentiment not scored yet: a loud author may be negative, so not hidden
        ("positive", None, True),
        ("neutral", "neutral", True),
        ("negative", "neutral", False),  # a loud negative copy needs a reply the original does not
    ],
)
def test_a_loud_copy_is_hidden_only_when_it_cannot_need_a_reply(
    label: str | None, kept_label: str | None, merged: bool
) -> None:
    original = mention(1, ARTICLE)
    original.sentiment_label = kept_label
    copy_ = loud_copy(label)
    assert dedupe([original, copy_]) == ([original] if merged else [original, copy_])


def test_a_loud_negative_copy_folds_into_a_loud_negative_original() -> None:
    original = mention(1, ARTICLE)
    original.followers, original.sentiment_label = 20_000, "negative"
    assert dedupe([original, loud_copy("negative")]) == [original]


def test_loudness_is_each_brands_own_reply_reach() -> None:
    original, copy_ = mention(1, ARTICLE), loud_copy(None, followers=50_000)
    assert dedupe([original, copy_], reply_reach={"Acme": 100_000}) == [original]


# -- a share is part of the story it shares

GUARDIAN = "https://www.theguardian.com/world/2020/jul/07/jair-bolsonaro-coronavirus-positive-test-brazil-president"
HN_HITS = load_json("hackernews", "search_by_date_query_nodejs_2017.json")["hits"]
REDDIT_POST = load_json("reddit", "search_posts_listing_t3.json")["data"]["children"][1]["data"]
REDDIT_COMMENT = load_json("reddit", "user_comments_listing_t1.json")["data"]["children"][0]["data"]


def guardian_feed(pub_date: str = "Tue, 07 Jul 2020 15:02:00 GMT") -> list[Mention]:
    """The Guardian's world news feed with the article the real Reddit post links (test input)."""
    feed = f"""<?xml version="1.0"?><rss version="2.0"><channel><title>World news | The Guardian</title>
    <link>https://www.theguardian.com/world</link>
    <item><title>Jair Bolsonaro tests positive for coronavirus</title><link>{GUARDIAN}</link><guid>{GUARDIAN}</guid>
    <description>Brazil's president, who has played down the pandemic, says he feels well.</description>
    <pubDate>{pub_date}</pubDate></item></channel></rss>""".encode()
    return parse_feed(feed, "https://www.theguardian.com/world/rss", datetime(2020, 7, 8, tzinfo=UTC))


def hn_hit(object_id: str, **changes: Any) -> Mention:
    """A real Algolia hit of the fixture (a story or a comment), moved to this story."""
    kind = "story" if "title" in changes else "comment"
    base = next(h for h in HN_HITS if kind in h["_tags"] and h.get("points" if kind == "story" else "story_url"))
    return hackernews.to_mention({**base, "objectID": object_id, **changes})


SOURCE_OF_KIND = {"article": "guardian", "post": "reddit", "story": "hackernews", "comment": "comments"}


def bolsonaro(mentions: list[Mention], label: str | None = "neutral") -> list[Mention]:
    for m in mentions:
        m.source = m.source or SOURCE_OF_KIND[m.kind]
        m.brand, m.matched_terms = "Bolsonaro", ["Bolsonaro"]
        # Scored before dedupe, as pipeline.process should (see ReplyGuard).
        m.sentiment_label = label
    return mentions


def the_story(article_date: str = "Tue, 07 Jul 2020 15:02:00 GMT") -> dict[str, Mention]:
    return dict(
        zip(
            ["article", "reddit", "hn", "hn_comment", "reddit_comment"],
            bolsonaro(
                [
                    *guardian_feed(article_date),
                    reddit.to_mention("t3", REDDIT_POST),  # real: 149,238 points, 7,415 comments
                    hn_hit(
                        "23750001",
                        title="Brazil's Bolsonaro tests positive for coronavirus",
                        url=GUARDIAN + "?utm_source=twitter&utm_medium=social",
                        points=212,
                        num_comments=187,
                        created_at_i=1594136400,
                    ),
                    hn_hit("23750042", story_id=23750001, story_url=GUARDIAN, created_at_i=1594137000),
                    reddit.to_mention(
                        "t1",
                        {
                            **REDDIT_COMMENT,
                            "name": "t1_fx1",
                            "id": "fx1",
                            "link_url": GUARDIAN,
                            "created_utc": 1594138000,
                        },
                    ),
                ]
            ),
            strict=True,
        )
    )


def test_an_article_its_hn_story_and_its_reddit_post_are_one_row_with_their_engagement() -> None:
    story = the_story()
    kept = dedupe(list(story.values()))
    article = story["article"]
    assert kept == [article, story["hn_comment"], story["reddit_comment"]]
    assert article.duplicates == 2
    reddit_seen, hn_seen = article.also_seen
    assert reddit_seen == {
        "source": "reddit",
        "id": "t3_hmwhd7",
        "url": "https://www.reddit.com/r/worldnews/comments/hmwhd7/brazilian_president_jair_bolsonaro_tests_positive/",
        "match": "link",
        "source_type": "",
        "kind": "post",
        "score": 149238,
        "comments": 7415,
    }
    assert hn_seen["match"] == "link" and hn_seen["url"] == "https://news.ycombinator.com/item?id=23750001"
    assert (hn_seen["score"], hn_seen["comments"]) == (212, 187)


def test_comments_under_the_shares_are_their_own_mentions_linking_the_story() -> None:
    story = the_story()
    dedupe(list(story.values()))
    for name in ("hn_comment", "reddit_comment"):
        assert story[name].link == GUARDIAN
        assert story[name].also_seen == []


def test_the_article_leads_its_cluster_even_when_its_feed_dates_it_after_the_shares() -> None:
    story = the_story(article_date="Wed, 08 Jul 2020 06:00:00 GMT")
    kept = dedupe(list(story.values()))
    assert story["article"] in kept and story["reddit"] not in kept and story["hn"] not in kept
    assert {s["id"] for s in story["article"].also_seen} == {"t3_hmwhd7", "23750001"}


def test_shares_of_a_page_the_scan_does_not_hold_are_one_row() -> None:
    story = the_story()
    del story["article"]
    kept = dedupe(list(story.values()))
    assert story["reddit"] in kept and story["hn"] not in kept
    assert story["reddit"].also_seen[0]["id"] == "23750001"


def test_a_loud_share_whose_sentiment_is_unknown_keeps_its_own_row() -> None:
    story = the_story()
    bolsonaro(list(story.values()), label=None)
    # A loud author (Reddit counts none: its subreddit's subscribers are not the poster's followers; Mastodon,
    # Bluesky and X do): it may be negative and need a reply.
    story["reddit"].followers = 50_000
    kept = dedupe(list(story.values()))
    assert story["reddit"] in kept
    assert [s["id"] for s in story["article"].also_seen] == ["23750001"]  # HN's points are no audience


def test_a_share_asking_the_brand_a_question_keeps_its_own_row() -> None:
    story = the_story()
    asks = hn_hit(
        "23750077", title="Why does Bolsonaro keep downplaying the virus?", url=GUARDIAN, created_at_i=1594137600
    )
    bolsonaro([asks])
    kept = dedupe([*story.values(), asks])
    assert asks in kept


@pytest.mark.parametrize(
    "make",
    [
        # A link to a front page names no story.
        lambda: [hn_hit(i, title=f"Ask about Acme {i}", url="https://acme.example/") for i in ("1", "2")],
        # A post with words of its own about a link is a mention of its own, not a share.
        lambda: [
            hn_hit("1", title="Acme skates", url="https://acme.example/skates"),
            hn_hit(
                "2",
                title="Acme skates",
                url="https://acme.example/skates",
                story_text="I bought a pair, and mine caught fire twice.",
            ),
        ],
    ],
)
def test_what_is_not_a_share_does_not_cluster_by_its_link(make: Callable[[], list[Mention]]) -> None:
    items = make()
    for m in items:
        m.source, m.brand = "hackernews", "Acme"
    assert len(dedupe(items)) == 2


def test_the_same_share_seen_by_two_sources_is_one_row() -> None:
    story = the_story()
    again = copy.copy(story["hn"])
    again.source, again.also_seen = "hn-export", []
    kept = dedupe([story["hn"], again])
    assert kept == [story["hn"]] and story["hn"].also_seen[0]["match"] == "url"


def test_two_posts_alike_to_a_third_do_not_chain_into_one_cluster() -> None:
    def share(title: str, i: int) -> Mention:
        return mention(i, f"I just read '{title}' on the Acme blog via the Acme app. Tell me what you think!")

    first = share("Why our anvils fall so fast", 1)
    thin = share("Why our rockets fall", 2)  # one word from the first: alike to it, as a copy would be
    other = share("Why our rockets explode at launch", 3)  # alike to the thin one, not to the first
    assert dedupe([first, thin, other]) == [first, other]


def _many() -> list[Mention]:
    """Copies, excerpts, edits and unrelated posts, fresh objects each call."""
    texts = [
        ARTICLE,
        "RT @someone: " + ARTICLE + " https://t.co/xyz #acme",
        ARTICLE[: int(len(ARTICLE) * 0.8)] + "…",
        ARTICLE.replace("twice", "three times"),
        "Acme support answered in five minutes, and fixed the billing problem we had since March",
        "Love Acme!",
        "Is Acme down for anyone else? The dashboard will not load since this morning, all regions",
    ]
    return [mention(i, texts[i % len(texts)] + ("" if i < len(texts) else f" take {i}")) for i in range(40)]


def _clusters(kept: list[Mention]) -> list[tuple[str, int, list[str]]]:
    return [(m.id, m.duplicates, [s["id"] for s in m.also_seen]) for m in kept]


def test_keys_worked_out_ahead_give_the_clusters_dedupe_finds_alone() -> None:
    alone = _clusters(dedupe(_many()))
    mentions = _many()
    ahead = keys_ahead(limit=25)
    assert [ahead.add(m) for m in mentions].count(True) == 25  # the rest: worked out by dedupe itself
    assert _clusters(dedupe(mentions, ahead=ahead)) == alone
    assert len(ahead) == 0  # taken as used
    assert any(dup for _, dup, _ in alone) and len(alone) < 40


def test_keys_worked_out_before_a_text_changed_are_not_used() -> None:
    changed = _many()
    changed[1].text = "Nothing like the article: a post of its own about Acme skates, with words of its own"
    alone = _clusters(dedupe(changed))
    mentions = _many()
    ahead = keys_ahead()
    for m in mentions:
        ahead.add(m)
    mentions[1].text = changed[1].text  # after its keys were worked out: they are stale
    assert _clusters(dedupe(mentions, ahead=ahead)) == alone
    assert alone != _clusters(dedupe(_many()))  # the change does change the clusters


# -- through the pipeline (match, dedupe, score) as a scan runs it


def test_a_scan_keeps_the_templated_question_and_folds_the_hn_story_into_its_article() -> None:
    older, newer = question(48831102), question(48835404)
    story = the_story()
    items = [older, newer, story["article"], story["hn"], story["hn_comment"]]
    for m in items:
        m.brand, m.matched_terms, m.sentiment_label = None, [], None  # as the sources deliver them
    brands = [BrandConfig(name="Scala", terms=["Scala"]), BrandConfig(name="Bolsonaro", terms=["Bolsonaro"])]
    hn_comment = story["hn_comment"]
    hn_comment.text = "Bolsonaro had called it a little flu."
    rows = {(m.brand, m.id): m for m in process(items, brands, since=datetime(2000, 1, 1, tzinfo=UTC))}
    asks = rows[("Scala", "48835404")]
    assert asks.needs_reply and not rows[("Scala", "48831102")].needs_reply
    article = rows[("Bolsonaro", story["article"].id)]
    assert [s["id"] for s in article.also_seen] == ["23750001"] and article.duplicates == 1
    assert ("Bolsonaro", hn_comment.id) in rows and ("Bolsonaro", "23750001") not in rows

"""Who needs a reply (impact.reply_reason): questions to the brand by its own names, in any script's question mark,
and complaints told in words whatever their sentiment score."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from mentionwatch.config import BrandConfig
from mentionwatch.impact import replies_ahead, reply_reason, score_impact
from mentionwatch.matching import BrandMatcher
from mentionwatch.models import Mention
from mentionwatch.sentiment import VaderScorer, score_sentiment

T0 = datetime(2026, 11, 1, tzinfo=UTC)
ACME = BrandConfig(name="Acme", terms=["Acme", "@acme"])
SLACK = BrandConfig(name="Slack", case_sensitive_terms=["Slack"], terms=["@SlackHQ", "slack.com"], exclude=["slack wax"])
ACME_CLOUD = BrandConfig(name="Acme", terms=["AcmeCloud"], query='"acme cloud" AND (outage OR down*) NOT coyote')


def matched(brand: BrandConfig, text: str, *, kind: str = "comment") -> Mention:
    """A Hacker News comment as the scan has it: matched by the brand's real matcher, then scored by VADER."""
    hit = BrandMatcher(brand).match("", text)
    assert hit is not None, f"{brand.name} does not match {text!r}"
    m = Mention(source="hackernews", id="1", url="https://news.ycombinator.com/item?id=1", published_at=T0, text=text)
    m.kind, m.brand, m.matched_terms, m.matched_query = kind, brand.name, hit.terms, hit.clause
    score_sentiment([m], VaderScorer())
    return m


# -- rule 1: a question to the brand is one naming it by its own names


def test_a_question_about_slack_in_lower_case_is_not_one_to_a_case_sensitive_slack() -> None:
    m = matched(SLACK, "I use Slack at work every day. How do I cut myself some slack before the deadline?")
    assert m.matched_terms == ["Slack"]
    assert reply_reason(m, 1000, brand=SLACK) is None
    score_impact([m], brands=[SLACK])
    assert not m.needs_reply


@pytest.mark.parametrize(
    "text", ["Can Slack export channels to PDF?", "How do I leave a Slack workspace", "Is slack.com down for you?"]
)
def test_a_question_naming_slack_as_written_still_needs_a_reply(text: str) -> None:
    m = matched(SLACK, text)
    assert (reply_reason(m, 1000, brand=SLACK) or "").startswith("a question to the brand")


def test_a_query_word_is_no_name_of_the_brand() -> None:
    text = "Acme Cloud downloads are free this week. Is anyone else downloading the new Linux kernel today?"
    m = matched(ACME_CLOUD, text)
    assert m.matched_query is not None and "down*" in m.matched_terms
    assert reply_reason(m, 1000, brand=ACME_CLOUD) is None
    assert reply_reason(m, 1000) is None, "without the config too: the words a query clause found are no names"


def test_a_question_naming_the_brand_matched_by_its_query_needs_a_reply() -> None:
    m = matched(ACME_CLOUD, "Acme cloud downloads are stuck at 99%. Is acme cloud down for everyone?")
    assert m.matched_query is not None
    assert reply_reason(m, 1000, brand=ACME_CLOUD) == "a question to the brand: 'Is acme cloud down for everyone?'"


def test_what_mentions_say_worked_out_ahead_reads_the_brands_config_too() -> None:
    texts = ["I use Slack at work every day. How do I cut myself some slack before the deadline?", "Can Slack export?"]
    alone, ahead = [matched(SLACK, t) for t in texts], [matched(SLACK, t) for t in texts]
    score_impact(alone, brands=[SLACK])
    replies = replies_ahead(brands=[SLACK])
    for m in ahead:
        replies.add(m)
    score_impact(ahead, ahead=replies, brands=[SLACK])
    assert [m.needs_reply for m in ahead] == [m.needs_reply for m in alone] == [False, True]


# -- rule 1: a question mark works in any language


@pytest.mark.parametrize(
    "text",
    [
        "@acme 返金はいつになりますか？",  # full-width question mark (U+FF1F)
        "@acme متى يصل طلبي؟",  # Arabic question mark (U+061F)
        "@acme πότε θα έρθει η παραγγελία μου\u037e",  # Greek question mark (U+037E)
        "@acme ማዘዣዬ መቼ ይደርሳል፧",  # Ethiopic question mark (U+1367)
        "@acme where is my order?)",  # a closing bracket after the mark
    ],
)
def test_a_question_to_the_handle_ends_with_any_scripts_question_mark(text: str) -> None:
    assert (reply_reason(matched(ACME, text), 1000) or "").startswith("a question addressed to @acme")


def test_a_full_width_question_mark_ends_a_sentence_without_a_space() -> None:
    m = matched(ACME, "@acme 返金はいつになりますか？よろしくお願いします。")
    assert reply_reason(m, 1000) == "a question addressed to @acme: '@acme 返金はいつになりますか？'"


def test_an_ascii_semicolon_is_no_question_mark() -> None:
    assert reply_reason(matched(ACME, "@acme thanks for the quick fix; great stuff"), 1000) is None


# -- rule 2: a complaint told in words, whatever its sentiment score


# What people write when something is wrong, which VADER scores 0 or above ("support" is praise in its lexicon).
COMPLAINTS_VADER_DOES_NOT_CALL_NEGATIVE = [
    "Acme is down again.",
    "Acme outage again today.",
    "Acme keeps crashing on my laptop.",
    "I want a refund from Acme.",
    "Acme doesn't work on Linux anymore.",
    "Acme won't sync since the update.",
    "Acme support never replied to my ticket and my account is locked.",
    "I love Acme but it keeps crashing",
]
# ... and what tells of no problem: solved, denied, or praised in the same breath (some of it VADER calls negative).
NOT_COMPLAINTS = [
    "Acme fixed the crash, great work",
    "Acme fixed the crash",
    "Upgraded Acme last week and no crashes since the update, love it",
    "Acme: no crashes since the update, love it",
    "Acme support is great, they fixed my sync error in minutes!",
    "Acme got me a refund within a day, great support.",
    "Acme has been rock solid, zero errors in a year",
    "Acme crashes less than it used to, love the new version",
    "I don't get the error anymore with Acme",
    "Acme's error messages are great",
    "Acme stock went down 5% today",
    "Does Acme support SSO",
]


@pytest.mark.parametrize("text", COMPLAINTS_VADER_DOES_NOT_CALL_NEGATIVE)
def test_a_complaint_needs_a_reply_whatever_its_sentiment_score(text: str) -> None:
    m = matched(ACME, text)
    assert m.sentiment is not None and m.sentiment >= 0, "the case: VADER does not call it negative"
    assert (reply_reason(m, 1000, brand=ACME) or "").startswith("a complaint"), text


@pytest.mark.parametrize("text", NOT_COMPLAINTS)
def test_a_problem_solved_denied_or_praised_needs_no_reply(text: str) -> None:
    assert reply_reason(matched(ACME, text), 1000, brand=ACME) is None, text


@pytest.mark.parametrize("text", ["Acme still hasn't fixed the crash", "Acme still hasn\u2019t fixed the crash"])
def test_a_fix_denied_leaves_the_problem_told(text: str) -> None:
    assert (reply_reason(matched(ACME, text), 1000, brand=ACME) or "").startswith("a complaint"), text


def test_a_press_article_telling_of_an_outage_is_no_complaint() -> None:
    assert reply_reason(matched(ACME, "Acme outage again today.", kind="article"), 1000, brand=ACME) is None


def test_a_share_whose_headline_tells_of_a_problem_is_news_not_a_complaint() -> None:
    # An HN story or a Reddit link post: its title is the page's headline. It joins the article's cluster.
    headline = "Acme outage takes down thousands of stores"
    story = Mention(
        source="hackernews",
        id="9",
        url="https://news.ycombinator.com/item?id=9",
        link="https://news.example/acme-outage",
        title=headline,
        published_at=T0,
        kind="story",
    )
    story.brand, story.matched_terms = "Acme", ["Acme"]
    score_sentiment([story], VaderScorer())
    assert reply_reason(story, 1000, brand=ACME) is None
    # The same words written by someone, as a post of their own, are a complaint.
    assert reply_reason(matched(ACME, headline, kind="post"), 1000, brand=ACME) is not None


def test_a_problem_not_said_of_the_brand_needs_no_reply_unless_the_mention_is_negative() -> None:
    m = matched(ACME, "We moved to Acme last year. My old laptop keeps crashing though.")
    assert m.sentiment_label != "negative"
    assert reply_reason(m, 1000, brand=ACME) is None


def test_a_scan_judges_a_question_by_the_brands_own_names() -> None:
    # Through the scan's own steps (pipeline.process): the brand's config reaches the rule, as in `explain -c`.
    from mentionwatch.pipeline import process

    item = Mention(
        source="hackernews",
        id="7",
        url="https://news.ycombinator.com/item?id=7",
        published_at=T0,
        text="I use Slack at work every day. How do I cut myself some slack before the deadline?",
        kind="comment",
    )
    asked = Mention(
        source="hackernews",
        id="8",
        url="https://news.ycombinator.com/item?id=8",
        published_at=T0,
        text="Does Slack keep the history of a deleted channel somewhere?",
        kind="comment",
    )
    kept = process([item, asked], [SLACK], since=T0.replace(year=2025), scorer=VaderScorer())
    assert {m.id: m.needs_reply for m in kept} == {"7": False, "8": True}

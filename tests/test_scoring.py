"""Sentiment scorers (and their plugins), impact across sources, and who needs a reply."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mentionwatch.config import BrandConfig, ScoringConfig, load_config
from mentionwatch.errors import ConfigError
from mentionwatch.impact import impact_parts, replies_ahead, reply_reason, score_impact
from mentionwatch.models import Mention
from mentionwatch.pipeline import process, score_mentions
from mentionwatch.registry import Registry
from mentionwatch.sentiment import (
    Scorers,
    Sentiment,
    TextBlobScorer,
    VaderScorer,
    load_scorer,
    score_sentiment,
    sentiment_text,
)
from mentionwatch.sources.hackernews import parse_page
from mentionwatch.store.admin import canonical

from conftest import load_json

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def mention(i: int = 1, text: str = "", **kwargs: object) -> Mention:
    fields: dict[str, object] = {"source": "hackernews", "source_type": "hackernews", "brand": "Acme"}
    fields.update(kwargs)
    return Mention(id=str(i), url=f"https://example.com/{i}", published_at=T0, text=text, **fields)  # type: ignore[arg-type]


class FixedScorer:
    """A plugin scorer: everything is mildly negative."""

    name = "fixed"

    def score(self, text: str) -> Sentiment:
        return Sentiment(-0.5, None, {"always": -0.5})


# -- scorers


def test_vader_is_the_default_scorer() -> None:
    assert ScoringConfig().sentiment == "vader"


def test_the_built_in_scorers_are_registered_as_entry_points() -> None:
    scorers = Scorers.from_entry_points()
    assert scorers.names() == sorted({"vader", "textblob", *scorers.names()})
    assert isinstance(scorers.create("vader"), VaderScorer)
    assert isinstance(scorers.create("textblob"), TextBlobScorer)


def test_a_plugin_scorer_is_used_when_selected() -> None:
    scorer = load_scorer("fixed", Scorers({"fixed": FixedScorer}))
    m = mention(text="Acme is the best thing that ever happened to me")
    score_mentions([m], scorer)
    assert (m.sentiment, m.sentiment_label, m.subjectivity) == (-0.5, "negative", None)


def test_an_unknown_scorer_is_a_config_error_listing_the_installed_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown scorer 'nope'.*installed: fixed"):
        Scorers({"fixed": FixedScorer}).create("nope")


def test_a_plugin_without_score_is_refused() -> None:
    class NotAScorer:
        name = "bad"

    with pytest.raises(ConfigError, match="does not provide"):
        Scorers({"bad": NotAScorer}).create("bad")


def test_the_config_names_an_installed_scorer(tmp_path: Path) -> None:
    base = "brands:\n  - name: Acme\n    terms: [acme]\nsources:\n  - type: hackernews\n"
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(base + "scoring:\n  sentiment: textblob\n", encoding="utf-8")
    assert load_config(path, Registry.from_entry_points(), environ={}).scoring.sentiment == "textblob"
    path.write_text(base + "scoring:\n  sentiment: vadr\n", encoding="utf-8")
    with pytest.raises(ConfigError) as info:
        load_config(path, Registry.from_entry_points(), environ={})
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:7: scoring.sentiment: unknown sentiment scorer 'vadr'")


def test_vader_reads_social_media_sentiment() -> None:
    vader = VaderScorer()
    assert vader.score("Acme support is AMAZING!!! :)").polarity > 0.5
    assert vader.score("acme is not good, support sucks").polarity < -0.3
    found = vader.score("it's ok I guess")
    assert found.subjectivity is not None and set(found.parts) >= {"compound", "pos", "neg", "neu"}


def test_sentiment_text_drops_urls_handles_and_html() -> None:
    m = mention(text="@acme <b>love</b> it https://acme.io/x?utm=1", title="Review")
    assert sentiment_text(m) == "Review\nlove it"


def test_process_scores_with_the_scorer_it_is_given() -> None:
    items = [mention(text="acme rockets")]
    [out] = process(items, [BrandConfig(name="Acme", terms=["acme"])], since=T0, scorer=FixedScorer())
    assert out.sentiment == -0.5


# -- impact


def hn_fixture() -> list[Mention]:
    items, _ = parse_page(load_json("hackernews", "search_by_date_query_nodejs_2017.json"))
    for m in items:
        m.source = m.source_type = "hackernews"
    return items


def test_on_the_real_hn_fixture_every_story_with_points_outranks_every_comment() -> None:
    items = hn_fixture()
    score_mentions(items, FixedScorer())
    stories = [m for m in items if m.kind == "story" and m.score]
    comments = [m for m in items if m.kind == "comment"]
    assert stories and comments
    assert min(m.impact or 0 for m in stories) > max(m.impact or 0 for m in comments)
    assert all(0 <= (m.impact or 0) <= 100 for m in items)
    assert all(m.engagement is None and m.reach is None for m in comments)  # Algolia gives comments no points


def test_a_2000_point_story_outranks_a_one_like_reply_from_another_source() -> None:
    story = mention(1, score=2000, comments=450)
    replies = [mention(10 + i, source="mastodon", source_type="mastodon", likes=0) for i in range(20)]
    reply = mention(2, source="mastodon", source_type="mastodon", likes=1)
    score_mentions([story, reply, *replies], FixedScorer())
    assert (story.impact or 0) > 80
    assert (story.impact or 0) > 3 * (reply.impact or 0)
    assert (reply.impact or 0) > (replies[0].impact or 0)  # it stands out within its own source


def test_a_scan_with_one_item_still_gets_a_sensible_impact() -> None:
    [big] = impact_parts([mention(1, score=2000)])
    [small] = impact_parts([mention(1, likes=1, source_type="bluesky")])
    assert big.impact > 75 and small.impact < 15


def test_impact_parts_follow_the_documented_formula() -> None:
    parts = impact_parts([mention(1, likes=9, followers=1000), mention(2, likes=0)])
    first = parts[0]
    assert first.weight == 19.0  # 9 likes + 1,000 followers / 100
    assert first.absolute == round(25 * 1.30103, 2)  # 25 * log10(20)
    assert first.percentile == 75.0 and first.peers == 2
    share = 0.3 * 2 / 12
    assert first.percentile_share == round(share, 4)
    assert first.impact == round((1 - share) * 25 * 1.3010299956639813 + share * 75, 1)


def test_reach_is_followers_else_views() -> None:
    [a, b, c] = impact_parts([mention(1, followers=5, views=900), mention(2, views=900), mention(3)])
    assert (a.reach, b.reach, c.reach) == (5, 900, None)


# -- needs a reply


@pytest.mark.parametrize(
    "text",
    [
        "Does Acme support SSO?",
        "How do I export my data from acme",
        "Ask HN: Is Acme down for everyone?",
        "anyone know if Acme has an API",
    ],
)
def test_questions_to_the_brand_need_a_reply(text: str) -> None:
    m = mention(text=text, matched_terms=["Acme"])
    assert reply_reason(m, 1000) is not None


@pytest.mark.parametrize(
    "text",
    [
        "Acme is great!",
        "How I migrated off Acme in a weekend",
        "I can't decide what to learn next (acme? go? rust?)",
        "Does anyone else love rockets?",  # a question, but not about the brand
    ],
)
def test_statements_and_asides_do_not(text: str) -> None:
    m = mention(text=text, matched_terms=["Acme"])
    assert reply_reason(m, 1000) is None


def test_a_question_addressed_to_the_brand_handle_needs_a_reply() -> None:
    m = mention(text="@acme my order is three weeks late, where is it?", matched_terms=["@acme"])
    assert "addressed to @acme" in (reply_reason(m, 1000) or "")


def test_negative_opinions_need_a_reply_only_above_the_brands_reach_threshold() -> None:
    loud = mention(1, text="Acme's new logo is ugly and sad", followers=50_000, matched_terms=["Acme"])
    quiet = mention(2, text="Acme's new logo is ugly and sad", followers=40, matched_terms=["Acme"])
    score_mentions([loud, quiet], VaderScorer(), reply_reach={"Acme": 1000})
    assert loud.sentiment_label == quiet.sentiment_label == "negative"
    assert loud.needs_reply and not quiet.needs_reply


def test_a_complaint_needs_a_reply_whatever_its_reach() -> None:
    quiet = mention(1, text="Acme lost my luggage, worst airline ever", followers=40, matched_terms=["Acme"])
    unknown = mention(2, text="lost my data twice. Awful support", matched_terms=["Acme"])  # the HN comment
    score_mentions([quiet, unknown], VaderScorer(), reply_reach={"Acme": 1000})
    assert quiet.needs_reply and unknown.needs_reply
    assert "a complaint" in (reply_reason(unknown, 1000) or "")


def test_reply_reach_comes_from_the_brand_config() -> None:
    brand = BrandConfig(name="Acme", terms=["acme"], reply_reach=10)
    m = mention(text="acme's new logo is ugly and sad", followers=50)
    [out] = process([m], [brand], since=T0, scorer=FixedScorer())
    assert out.needs_reply


# Real texts from the recorded payloads (tests/fixtures/): problems people reported, and what is not one.
REAL_COMPLAINTS = [
    # x/: a reply to the brand's account
    '@happycamper Wait, when I try that, I get an error: { "errors": [ { "message": "[public_metircs] is not one of"',
    # stackexchange/
    "This give me an undefined error on the first line of the handleClick() function (on this.menu).",
    # github/
    'I tried "open sesame" as seen on Wikipedia but no luck!',
]
REAL_NOT_COMPLAINTS = [
    # hackernews/: a disagreement, and a musing, both negative
    "I don't agree. The tree being balanced of not has not bearing on the solvability of the problem.",
    "I wonder for past few years about backup language/stack/job for me, because my technical life has been MS "
    "only. And quite often discontinued tech (Silverlight, WebForms).\nI should get that going I guess. I just "
    "can't decide what to learn and it's difficult to find time (nodejs? Go? Python?).",
    # bluesky/
    "We will never stop fighting.\n\nThe case is one of the latest signs that fights over redistricting will "
    "continue. \u201cI don\u2019t expect anybody to lay down arms, not them and certainly not us,\u201d said attorney "
    "Abha Khanna, who argued the Alabama case before SCOTUS. www.washingtonpost.com/politics/202...",
]


@pytest.mark.parametrize("text", REAL_COMPLAINTS)
def test_real_complaints_need_a_reply_without_reach(text: str) -> None:
    [m] = [mention(text=text, matched_terms=["Acme"])]
    score_mentions([m], VaderScorer())
    assert m.sentiment_label == "negative" and m.needs_reply, text


@pytest.mark.parametrize("text", REAL_NOT_COMPLAINTS)
def test_real_negative_texts_that_complain_of_nothing_do_not(text: str) -> None:
    [m] = [mention(text=text, matched_terms=["Acme"])]
    score_mentions([m], VaderScorer())
    assert m.sentiment_label == "negative" and not m.needs_reply, text


def test_a_negative_press_article_is_not_a_complaint_to_answer() -> None:
    text = "Slack's outage is a terrible reminder of how fragile our tools are"
    article = mention(text=text, matched_terms=["Slack"], kind="article")
    score_mentions([article], VaderScorer())
    assert article.sentiment_label == "negative" and not article.needs_reply


def _reply_cases() -> list[Mention]:
    texts = [*REAL_COMPLAINTS, *REAL_NOT_COMPLAINTS, "Does Acme support SSO?", "@acme where is my order?", "Acme!"]
    out = [mention(i, text=t, matched_terms=["@acme" if t.startswith("@") else "Acme"]) for i, t in enumerate(texts)]
    score_sentiment(out, VaderScorer())
    return out


def test_what_mentions_say_worked_out_ahead_gives_the_same_needs_reply() -> None:
    alone = _reply_cases()
    score_impact(alone, reply_reach={"Acme": 1000})
    ahead = _reply_cases()
    replies = replies_ahead(limit=5)
    assert [replies.add(m) for m in ahead].count(True) == 5  # the rest: worked out by score_impact itself
    score_impact(ahead, reply_reach={"Acme": 1000}, ahead=replies)
    assert [m.needs_reply for m in ahead] == [m.needs_reply for m in alone]
    assert any(m.needs_reply for m in alone) and not all(m.needs_reply for m in alone)


def test_what_mentions_say_is_worked_out_again_once_they_changed() -> None:
    ms = _reply_cases()
    replies = replies_ahead()
    for m in ms:
        replies.add(m)
    complaint = ms[0]
    assert reply_reason(complaint, 1000, replies) is not None
    complaint.sentiment_label = "positive"  # rescored after its words were read: not a complaint any more
    assert reply_reason(complaint, 1000, replies) is None
    question = ms[-3]
    question.text = "Acme support is fine."
    assert reply_reason(question, 1000, replies) is None


def test_a_polarity_of_minus_zero_is_stored_and_printed_as_zero() -> None:
    # VADER's compound is -0.0 when a text's negative and positive parts cancel out; PostgreSQL keeps the sign and
    # SQLite does not, so the engines printed the same mention as -0 and 0 and a store copy's checksums differed.
    text = (
        "Acme slow release update slow data price server slow fast support data broken hate fast great server slow"
        " feature price feature"
    )
    scorer = load_scorer("vader")
    assert math.copysign(1, scorer.score(text).polarity) == -1  # the stock figure, as VADER gives it
    mention = Mention(source="x", id="1", url="https://x.test/1", published_at=datetime(2026, 1, 1, tzinfo=UTC), text=text)
    score_sentiment([mention], scorer)
    assert mention.sentiment == 0.0 and math.copysign(1, mention.sentiment) == 1
    assert canonical([-0.0]) == canonical([0.0])

"""Sentiment and impact of each mention."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

from mentionwatch.models import Mention
from mentionwatch.text import strip_urls_and_handles

NEUTRAL_BAND = 0.05


class SentimentScorer(Protocol):
    name: str

    def polarity(self, text: str) -> float:
        """Sentiment in [-1, 1]."""
        ...


class TextBlobScorer:
    """TextBlob's pattern lexicon: polarity and subjectivity, both offline."""

    name = "textblob"

    def __init__(self) -> None:
        from textblob import TextBlob  # heavy import, kept off the start-up path

        self._blob = TextBlob

    def polarity(self, text: str) -> float:
        return float(self._blob(text).sentiment.polarity)

    def subjectivity(self, text: str) -> float:
        return float(self._blob(text).sentiment.subjectivity)


def sentiment_label(value: float) -> str:
    if value >= NEUTRAL_BAND:
        return "positive"
    if value <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


def sentiment_text(mention: Mention) -> str:
    """What sentiment is computed on: title + text for articles, without URLs or handles."""
    parts = [mention.title, mention.text] if mention.title else [mention.text]
    return strip_urls_and_handles("\n".join(p for p in parts if p))


def engagement_of(mention: Mention) -> int | None:
    figures = [mention.score, mention.comments, mention.likes, mention.reposts, mention.quotes]
    known = [max(0, f) for f in figures if f is not None]
    return sum(known) if known else None


def reach_of(mention: Mention) -> int | None:
    if mention.followers is not None:
        return max(0, mention.followers)
    if mention.views is not None:
        return max(0, mention.views)
    return None


def impact_of(engagement: int | None, reach: int | None) -> float:
    """0-100 on a log scale: 10,000 engagements (or a million reach) is the top of the scale."""
    weight = (engagement or 0) + (reach or 0) / 100
    return round(min(100.0, 25.0 * math.log10(1 + weight)), 1)


def score_mentions(mentions: Iterable[Mention], scorer: TextBlobScorer) -> None:
    for mention in mentions:
        text = sentiment_text(mention)
        value = scorer.polarity(text) if text else 0.0
        mention.sentiment = round(value, 4)
        mention.sentiment_label = sentiment_label(value)
        mention.subjectivity = round(scorer.subjectivity(text), 4) if text else 0.0
        mention.engagement = engagement_of(mention)
        mention.reach = reach_of(mention)
        mention.impact = impact_of(mention.engagement, mention.reach)

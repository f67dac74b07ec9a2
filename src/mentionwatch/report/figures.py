"""The report's sections as pure functions over plain data: the store's tallies (`store.Tally`) and citations in,
the report's figures (`report.model`) out. `collect` asks the store; these only count."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta

from mentionwatch.report.model import LABELS, Image, Point, Ranked, Sentiment, Voice, Volume
from mentionwatch.store import Citation, ResponseStats, Tally


def volume(periods: Sequence[str], counts: Mapping[str, int], previous: int) -> Volume:
    """Mentions per period (every period listed, those with none at 0), their total and the previous total."""
    series = [Point(p, counts.get(p, 0)) for p in periods]
    return Volume(series=series, mentions=sum(p.mentions for p in series), previous=previous)


def sentiment(tallies: Iterable[Tally]) -> Sentiment:
    """Mentions by label, from tallies whose last key is the sentiment label."""
    counts = dict.fromkeys(LABELS, 0)
    for t in tallies:
        label = t.key[-1] if t.key[-1] in counts else "neutral"
        counts[label] += t.mentions
    return Sentiment(**counts)


def weighted_sentiment(tallies: Iterable[Tally]) -> float | None:
    """The mean sentiment, each mention weighing 1 + its absolute impact:
    (sum of s + sum of s x impact) / (mentions + sum of impact). None when there are no mentions."""
    rows = list(tallies)
    weight = sum(t.mentions + t.impact for t in rows)
    if weight == 0:
        return None
    return sum(t.sentiment + t.sentiment_x_impact for t in rows) / weight


def image(
    now: Sequence[Tally], before: Sequence[Tally], most_negative: list[Citation], most_positive: list[Citation]
) -> Image:
    """The brand's image from its tallies by sentiment this period and the previous one."""
    return Image(
        now=sentiment(now),
        before=sentiment(before),
        weighted=weighted_sentiment(now),
        weighted_before=weighted_sentiment(before),
        most_negative=most_negative,
        most_positive=most_positive,
    )


def share_of_voice(totals: Mapping[str, tuple[int, float]]) -> dict[str, Voice]:
    """Each brand's share of the mentions and of the impact of all the brands given (brand -> (mentions,
    impact)); a share of nothing is 0."""
    mentions = sum(m for m, _ in totals.values())
    impact = sum(i for _, i in totals.values())
    return {
        brand: Voice(mentions=m / mentions if mentions else 0.0, impact=i / impact if impact else 0.0)
        for brand, (m, i) in totals.items()
    }


def ranked(tallies: Iterable[Tally], limit: int) -> list[Ranked]:
    """Named groups in the order given (the store ranks them), those with no name (no author, no link) left out."""
    named = [Ranked(name=t.key[-1], mentions=t.mentions, impact=t.impact) for t in tallies if t.key[-1]]
    return named[:limit]


def duration(delta: timedelta | None) -> str:
    """A wait as people say it: `3h 20m`, `2d 4h`, `45m`; `—` for none."""
    if delta is None:
        return "—"
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    if days:
        return f"{days}d {hours}h"
    return f"{hours}h {mins}m" if hours else f"{mins}m"


def response_line(stats: ResponseStats) -> str:
    """`Answered 12 of 15 (80%) · median time to answer 3h 20m · 2 closed without a reply · 1 waiting`."""
    if not stats.needs_reply:
        return "Nothing needed a reply"
    share = f" ({stats.share_answered:.0%})" if stats.share_answered is not None else ""
    return (
        f"Answered {stats.answered} of {stats.needs_reply}{share} · median time to answer "
        f"{duration(stats.median_time_to_answer)} · {stats.closed} closed without a reply · {stats.waiting} waiting"
    )

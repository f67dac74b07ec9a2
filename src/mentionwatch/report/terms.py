"""What people say with a brand: its mentions' terms (`vocabulary.terms_of`), counted and compared. Pure functions."""

from __future__ import annotations

from collections import Counter

from mentionwatch.report.model import Term, What

# A term must be in this many mentions of the period to be listed (one post is an anecdote).
MIN_MENTIONS = 2


def compare(now: Counter[str], before: Counter[str], *, limit: int = 10) -> What:
    """The period's terms against the previous period's (each a count of mentions per term): the most frequent
    words and hashtags; the rising ones (more mentions than before, ranked by how many more); the new ones (in
    none before, ranked by mentions). Only terms in at least MIN_MENTIONS mentions of the period are listed."""
    listed = [Term(t, n, before[t]) for t, n in now.items() if n >= MIN_MENTIONS]
    by_count = sorted(listed, key=lambda t: (-t.mentions, t.term))
    rising = sorted(
        (t for t in listed if 0 < t.previous < t.mentions), key=lambda t: (t.previous - t.mentions, -t.mentions, t.term)
    )
    return What(
        terms=[t for t in by_count if not t.term.startswith("#")][:limit],
        hashtags=[t for t in by_count if t.term.startswith("#")][:limit],
        rising=rising[:limit],
        new=[t for t in by_count if t.previous == 0][:limit],
    )


def standout(in_spike: Counter[str], spike_mentions: int, in_window: Counter[str], window_mentions: int) -> list[str]:
    """The terms that made a spike: those in at least MIN_MENTIONS of its mentions, ranked by their excess over
    what the rest of the window would predict, `in_spike - (in_window - in_spike) * spike_mentions / (the rest of
    the window's mentions)`, those with none left out. At most five."""
    rest = window_mentions - spike_mentions
    excess: dict[str, float] = {}
    for term, n in in_spike.items():
        if n < MIN_MENTIONS:
            continue
        expected = (in_window[term] - n) * spike_mentions / rest if rest > 0 else 0.0
        if n - expected > 0:
            excess[term] = n - expected
    return sorted(excess, key=lambda t: (-excess[t], t))[:5]

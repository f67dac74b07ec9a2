"""What people say with a brand: the words and #hashtags of its mentions, counted and compared. Pure functions.

A term counts once per mention that holds it (a post repeating a word fifty times is one post). Terms are
folded as matching folds text (NFKC, casefold); URLs and @handles are dropped first; a possessive `'s` is cut
(`acme's` is `acme`); words shorter than three letters, words with no letter, `stopwords.STOP_WORDS` and the
brand's own words (its name and terms, and the terms each mention matched) are left out.
"""

from __future__ import annotations

import functools
import re
from collections import Counter
from collections.abc import Iterable

from mentionwatch.matching import fold
from mentionwatch.report.model import Term, What
from mentionwatch.report.stopwords import STOP_WORDS
from mentionwatch.text import HANDLE, URL, might_hold_url

_TOKEN = re.compile(r"#?\w+(?:['’]\w+)*")
_WORD = re.compile(r"\w+")
# A term must be in this many mentions of the period to be listed (one post is an anecdote).
MIN_MENTIONS = 2


def own_words(names: Iterable[str]) -> frozenset[str]:
    """The words of a brand's name and terms (and their #hashtag forms): `Acme Cloud`, `acme.io` ->
    acme, cloud, io, #acme, ..."""
    words = {w for name in names for w in _WORD.findall(fold(name))}
    return frozenset(words | {f"#{w}" for w in words})


def terms_of(title: str, text: str, own: frozenset[str] = frozenset()) -> set[str]:
    """The terms of one mention (see the module docstring), without the words in `own`."""
    body = fold(f"{title}\n{text}")
    if might_hold_url(body):
        body = URL.sub(" ", body)
    if "@" in body:
        body = HANDLE.sub(" ", body)
    return {term for term in map(_term, _TOKEN.findall(body)) if term} - own


@functools.lru_cache(maxsize=1 << 16)
def _term(token: str) -> str | None:
    """The term a token counts as (None: none). Cached: a period's mentions share most of their words, and this is
    the report's hot path (about 50 tokens a mention)."""
    token = token.replace("’", "'").removesuffix("'s")
    word = token.removeprefix("#")
    if not any(c.isalpha() for c in word):
        return None
    if token.startswith("#"):
        return token
    return word if len(word) >= 3 and word not in STOP_WORDS else None


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

"""The terms of a mention: the words and #hashtags a report counts to tell what people say with a brand.

A term counts once per mention that holds it (a post repeating a word fifty times is one post). Terms are
folded as matching folds text (NFKC, casefold); URLs and @handles are dropped first; a possessive `'s` is cut
(`acme's` is `acme`); words shorter than three letters, words with no letter, `stopwords.STOP_WORDS` and the
brand's own words (its name and terms, and the terms each mention matched) are left out.

The store keeps each mention's terms, worked out when it is saved (`MentionStore.said` reads them): a change to
what a term is must come with a store migration that forgets them (sets `mentions.terms` to NULL).
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from typing import cast

from mentionwatch.matching import fold
from mentionwatch.stopwords import STOP_WORDS
from mentionwatch.text import ESCAPES, HANDLE, URL, might_hold_url

# Possessive: the words' ends are never given back (none could start what follows), half the time of plain `+`.
_TOKEN = re.compile(r"#?\w++(?:['’]\w++)*+")
# The same tokens in ASCII text (where `\w` is these 63 characters), found a quarter faster than by `\w`.
_ASCII_TOKEN = re.compile(r"#?[A-Za-z0-9_]++(?:'[A-Za-z0-9_]++)*+")
_WORD = re.compile(r"\w+")


def own_words(names: Iterable[str]) -> frozenset[str]:
    """The words of a brand's name and terms (and their #hashtag forms): `Acme Cloud`, `acme.io` ->
    acme, cloud, io, #acme, ..."""
    words = {w for name in names for w in _WORD.findall(fold(name))}
    return frozenset(words | {f"#{w}" for w in words})


def terms_of(title: str, text: str, own: frozenset[str] = frozenset()) -> set[str]:
    """The terms of one mention (see the module docstring), without the words in `own`."""
    body = fold(f"{title}\n{text}")
    if "\x1b" in body or "\x9b" in body:  # a terminal's colour codes in a post ("\x1b[31mred") are not its words
        body = ESCAPES.sub(" ", body)
    if might_hold_url(body):
        body = URL.sub(" ", body)
    if "@" in body:
        body = HANDLE.sub(" ", body)
    found: set[str | None] = set(map(_term, (_ASCII_TOKEN if body.isascii() else _TOKEN).findall(body)))
    found.discard(None)
    return cast(set[str], found) - own


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

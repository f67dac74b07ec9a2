"""Copies across scans: a syndicated article that turns up in a later scan than its original joins the stored
cluster (README, "Clusters persist"), as a copy in the same scan joins the scan's. The store finds a new mention's
cluster by its id, its page and its link; what joined none of those is compared by its text with the stored
cluster heads of its brand published in the last week, under a scan's own rules (`dedupe.copies_of_stored`).

Sketching every stored text for that cost ~100 µs a mention (a second a scan at 5,000 stored), so the stored texts
are first searched, in one pass of an Aho-Corasick automaton (pyahocorasick, as matching uses), for a few runs of
five words taken along each new text: a copy holds them, and only the stored mentions that hold one are read whole
and compared (a few, against thousands)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from mentionwatch.models import Mention
from mentionwatch.store import Key

# How far back an original is looked for, and how many stored heads at most: syndication follows within days.
COPY_WINDOW = timedelta(days=7)
COPY_CANDIDATES = 20_000
# Runs of PROBE_WORDS words, PROBES of them spread along each new text; texts under MIN_WORDS never merge on text
# alone (dedupe.MIN_TOKENS), so they are not looked for.
PROBE_WORDS = 5
PROBES = 6
MIN_WORDS = 8

_WORDS = re.compile(r"\w+")

# (brands, published since, at most): (key, title and text) of the stored cluster heads, newest first.
StoredTexts = Callable[[Sequence[str], datetime, int], Iterable[tuple[Key, str]]]
# The stored mentions under these keys, whole.
StoredMentions = Callable[[Sequence[Key]], Sequence[Mention]]


def words(text: str) -> list[str]:
    return _WORDS.findall(text.lower())


def probes(text: str) -> list[str]:
    """Runs of words spread along a text, as ` a b c d e ` (spaces around: whole words only)."""
    found = words(text)
    if len(found) < MIN_WORDS:
        return []
    last = len(found) - PROBE_WORDS
    starts = sorted({round(i * last / (PROBES - 1)) for i in range(PROBES)})
    return [" " + " ".join(found[s : s + PROBE_WORDS]) + " " for s in starts]


def stored_copies(
    fresh: Mapping[Key, Mention],
    joins: Mapping[Key, int | None],
    now: datetime,
    texts: StoredTexts,
    whole: StoredMentions,
) -> dict[Key, Mention]:
    """{the key of a new mention that joined no stored cluster: the stored cluster head it copies}. `texts` and
    `whole` read the store being written."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    unjoined: list[tuple[Key, Mention]] = []
    for key, m in fresh.items():
        if joins[key] is not None:
            continue
        runs = probes(f"{m.title}\n{m.text}")
        if not runs:
            continue
        for run in runs:
            automaton.add_word(run, run)
        unjoined.append((key, m))
    if not unjoined:
        return {}
    automaton.make_automaton()
    brands = sorted({key[0] for key, _ in unjoined})
    held = [key for key, text in texts(brands, now - COPY_WINDOW, COPY_CANDIDATES) if _holds(automaton, text)]
    if not held:
        return {}
    from mentionwatch.dedupe import copies_of_stored  # the scan's own rules; only when there is something to compare

    found = copies_of_stored([m for _, m in unjoined], whole(held))
    return {unjoined[i][0]: original for i, original in found.items()}


def _holds(automaton: Any, text: str) -> bool:
    return next(automaton.iter(" " + " ".join(words(text)) + " "), None) is not None

"""Copies across scans: a syndicated article that turns up in a later scan than its original joins the stored
cluster (README, "Clusters persist"), as a copy in the same scan joins the scan's. The store finds a new mention's
cluster by its id, its page and its link; what joined none of those is compared by its text with the stored
cluster heads of its brand published in the last week, under a scan's own rules (`dedupe.copies_of_stored`) and the
store's reply guard (`store.waiting_guard`).

Sketching every stored text for that cost ~100 µs a mention (a second a scan at 5,000 stored), so the stored texts
are first searched, in one pass of an Aho-Corasick automaton (pyahocorasick, as matching uses), for a few runs of
five words taken along each new text: a copy holds them, and only the stored mentions that hold one are read whole
and compared (a few, against thousands)."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta

from mentionwatch.models import Mention
from mentionwatch.store import Key, waiting_guard

# How far back an original is looked for, and how many stored heads at most: syndication follows within days.
COPY_WINDOW = timedelta(days=7)
COPY_CANDIDATES = 20_000
# Runs of PROBE_WORDS words, PROBES of them spread along each new text; texts under MIN_WORDS never merge on text
# alone (dedupe.MIN_TOKENS), so they are not looked for.
PROBE_WORDS = 5
PROBES = 6
MIN_WORDS = 8
PROBE_BATCH = 2_000

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
    unjoined: list[tuple[Key, Mention, list[str]]] = []
    for key, m in fresh.items():
        if joins[key] is None and (runs := probes(f"{m.title}\n{m.text}")):
            unjoined.append((key, m, runs))
    if not unjoined:
        return {}
    brands = sorted({key[0] for key, _, _ in unjoined})
    read = texts(brands, now - COPY_WINDOW, COPY_CANDIDATES)
    stored = [(key, " " + " ".join(words(text)) + " ") for key, text in read]
    if not stored:
        return {}
    from mentionwatch.dedupe import copies_of_stored  # only when there is something to compare

    found: dict[Key, Mention] = {}
    # A few thousand new texts at a time: an automaton of a window's 50,000 (300,000 runs of words) held hundreds
    # of MB; each batch searches the stored texts again (a few ms a batch).
    for start in range(0, len(unjoined), PROBE_BATCH):
        batch = unjoined[start : start + PROBE_BATCH]
        held = _holding(batch, stored)
        if held:
            # The scan's own rules; a stored head needs a reply as it was saved, and while it waits.
            copies = copies_of_stored([m for _, m, _ in batch], whole(held), waiting_guard())
            found.update((batch[i][0], original) for i, original in copies.items())
    return found


def _holding(batch: Sequence[tuple[Key, Mention, list[str]]], stored: Sequence[tuple[Key, str]]) -> list[Key]:
    """The stored texts that hold a run of words of one of the batch's."""
    import ahocorasick

    automaton = ahocorasick.Automaton()
    for _, _, runs in batch:
        for run in runs:
            automaton.add_word(run, None)
    automaton.make_automaton()
    return [key for key, text in stored if next(automaton.iter(text), None) is not None]

"""Copies across scans: a syndicated article that turns up in a later scan than its original joins the stored
cluster (README, "Clusters persist"), as a copy in the same scan joins the scan's. The store finds a new mention's
cluster by its id, its page and its link; what joined none of those is compared by its text with the stored
cluster heads of its brand published in the last week (the newest few thousand), under a scan's own rules."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta

from mentionwatch.models import Mention
from mentionwatch.store import Key, Query

# How far back an original is looked for, and how many stored heads at most: syndication follows within days, and
# a scan that brings new mentions compares them with at most this many (about 30 µs each to index).
COPY_WINDOW = timedelta(days=7)
COPY_CANDIDATES = 5_000


def stored_copies(
    fresh: Mapping[Key, Mention],
    joins: Mapping[Key, int | None],
    now: datetime,
    heads: Callable[[Query], Sequence[Mention]],
) -> dict[Key, Mention]:
    """{the key of a new mention that joined no stored cluster: the stored cluster head it copies}. `heads` runs a
    query (cluster heads) on the store being written."""
    unjoined = [(key, m) for key, m in fresh.items() if joins[key] is None and (m.text or m.title)]
    if not unjoined:
        return {}
    brands = sorted({key[0] for key, _ in unjoined})
    stored = heads(Query(brands=brands, since=now - COPY_WINDOW, limit=COPY_CANDIDATES))
    if not stored:
        return {}
    from mentionwatch.dedupe import copies_of_stored  # the scan's own rules; only when there is something to compare

    found = copies_of_stored([m for _, m in unjoined], stored)
    return {unjoined[i][0]: original for i, original in found.items()}

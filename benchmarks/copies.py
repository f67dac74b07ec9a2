"""What looking for copies across scans costs a scan that brings new mentions (`store/copies.py`).

A SQLite store holds N cluster heads of one brand published in the last week (the VADER tweets of
data/vader_tweets_GroundTruth.txt, "Acme " before each); 100 new mentions, other tweets with a few words added, are
then saved with `SqliteStore.record`, with the search for copies and without it (the store's `stored_copies`
replaced by one that finds nothing), taking turns, best of 5. Also: of 100 new mentions that are copies of stored
tweets (a few words added), how many join their stored original, against how many a scan's own dedupe merges.

    python benchmarks/copies.py

Writes benchmarks/results/copies.json.
"""

from __future__ import annotations

import json
import platform
import random
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import mentionwatch.store.sqlite as lite
from mentionwatch.dedupe import dedupe
from mentionwatch.models import Mention
from mentionwatch.store import memory_store

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "copies.json"
NOW = datetime(2026, 12, 5, tzinfo=UTC)
TWEETS = (HERE / "data" / "vader_tweets_GroundTruth.txt").read_text(encoding="utf-8", errors="replace")
TEXTS = [line.split("\t")[2].strip() for line in TWEETS.splitlines() if line.count("\t") >= 2]


def mention(n: int, text: str, hours_ago: float) -> Mention:
    return Mention(
        source="hn",
        source_type="hackernews",
        id=str(n),
        url=f"https://news.ycombinator.com/item?id={n}",
        text="Acme " + text,
        published_at=NOW - timedelta(hours=hours_ago),
        brand="Acme",
        matched_terms=["Acme"],
    )


def timed(stored: int, search: bool) -> float:
    rng = random.Random(stored)
    store = memory_store()
    store.record([mention(i, TEXTS[i % len(TEXTS)], rng.random() * 100) for i in range(stored)], NOW)
    fresh = [mention(10**6 + i, TEXTS[(stored + i) % len(TEXTS)] + " and a few words more", 1) for i in range(100)]
    found = lite.stored_copies
    if not search:
        lite.stored_copies = lambda *args, **kwargs: {}  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        store.record(fresh, NOW + timedelta(hours=1))
        return time.perf_counter() - started
    finally:
        lite.stored_copies = found
        store.close()


def recall() -> dict[str, int]:
    originals = [mention(i, TEXTS[i], 10) for i in range(0, 3000, 30)]
    copies = [mention(10**6 + i, TEXTS[i] + " via a syndicated copy", 1) for i in range(0, 3000, 30)]
    store = memory_store()
    store.record(originals, NOW)
    joined = len(copies) - len(store.record(copies, NOW + timedelta(hours=1)).new)
    store.close()
    merged = sum(len(dedupe([o, c])) == 1 for o, c in zip(originals, copies, strict=True))
    return {"copies": len(copies), "joined_their_stored_original": joined, "merged_by_a_scans_dedupe": merged}


def main() -> None:
    rows: list[dict[str, Any]] = []
    print(f"{'stored heads':>12} {'with the search ms':>19} {'without ms':>11}")
    for stored in (1_000, 5_000, 20_000):
        best = {True: float("inf"), False: float("inf")}
        for _ in range(5):
            for search in (True, False):
                best[search] = min(best[search], timed(stored, search))
        row = {"stored": stored, "with_ms": round(best[True] * 1e3, 1), "without_ms": round(best[False] * 1e3, 1)}
        rows.append(row)
        print(f"{stored:>12,} {row['with_ms']:>19} {row['without_ms']:>11}")
    found = recall()
    print(f"copies joined: {found['joined_their_stored_original']} of {found['copies']}"
          f" (a scan's own dedupe merges {found['merged_by_a_scans_dedupe']})")
    results = {"machine": platform.processor() or platform.machine(), "date": datetime.now(UTC).strftime("%Y-%m-%d"),
               "record_of_100_new": rows, "recall": found}
    RESULTS.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

"""`mentionwatch report` on a big store (issue #14): how long a report takes, and where the time goes.

The store is the store benchmark's (benchmarks/store.py `fill`): N synthetic posts of real vocabulary and lengths
over 10 brands and the last 180 days, with the triage statuses a team leaves. Measured:

    collect    `report.collect` in-process for the last 30 days (and the 30 before), all 10 brands and one brand;
               with the time spent in the store apart: its aggregate queries (`tallies`, counts), the few
               citations, and `said` (the terms of the two periods' mentions, for the What section and spikes)
    command    the installed `mentionwatch report --since 30d` (a fresh process, start-up included), -f json and
               -o an HTML file

    python benchmarks/report.py                     # 1,000,000 stored mentions (about 5 minutes to fill)
    python benchmarks/report.py --mentions 100000   # a quicker look
    python benchmarks/report.py --store S --db postgresql://postgres@127.0.0.1:5432/bench
                                                    # the same store copied to PostgreSQL (`store copy`), read there

Times are the best of 3. Writes benchmarks/results/report.json, or report_postgres.json with --db (unless
--mentions differs from the default).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import machine
from store import BRANDS, NOW, _exe, fill

from mentionwatch.report import BrandSpec, Window, collect
from mentionwatch.store import MentionStore, Query, open_store
from mentionwatch.store.admin import copy_store

RESULTS = Path(__file__).parent / "results" / "report.json"
DEFAULT = 1_000_000


class Timed:
    """A store that adds up the time spent in each of its methods (a report only reads). On PostgreSQL the report
    reads the tallies in a thread while it counts the previous period's terms: the times overlap, and add up to
    more than the total."""

    def __init__(self, store: MentionStore) -> None:
        self.store = store
        self.seconds: dict[str, float] = {}

    def __getattr__(self, name: str) -> Any:
        method = getattr(self.store, name)
        if not callable(method):  # an attribute (`concurrent_reads`), as it is
            return method

        def timed(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            result = method(*args, **kwargs)
            if name in ("citations", "said"):
                result = list(result)  # the time to read them is the store's, not the caller's
            # `tally` is one ask of `tallies`: the two are one figure.
            key = "tally" if name == "tallies" else name
            self.seconds[key] = self.seconds.get(key, 0.0) + time.perf_counter() - started
            return result

        return timed


def best(runs: int, work: Callable[[], dict[str, float]]) -> dict[str, float]:
    results = [work() for _ in range(runs)]
    return min(results, key=lambda r: r["total_s"])


def in_process(location: str, brands: list[str]) -> dict[str, Any]:
    window = Window.of(NOW - timedelta(days=30), NOW)

    def run() -> dict[str, float]:
        store = open_store(location)
        timed = Timed(store)
        started = time.perf_counter()
        made = collect(timed, [BrandSpec(b) for b in brands], window, now=NOW)  # type: ignore[arg-type]
        total = time.perf_counter() - started
        store.close()
        return {
            "total_s": round(total, 2),
            "tally_s": round(timed.seconds.get("tally", 0.0), 2),
            "citations_s": round(timed.seconds.get("citations", 0.0), 2),
            "count_s": round(timed.seconds.get("count", 0.0), 3),
            "said_s": round(timed.seconds.get("said", 0.0), 2),
            "mentions_in_period": sum(b.volume.mentions for b in made.brands),
        }

    return {"brands": len(brands), **best(3, run)}


def command(location: str, args: list[str]) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MENTIONWATCH_")}
    env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed copies run: with their compiled modules cached
    walls = []
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(3):
            started = time.perf_counter()
            full = [_exe(), "report", "--db", location, "--since", "30d", *[a.replace("TMP", tmp) for a in args]]
            subprocess.run(full, capture_output=True, text=True, env=env, check=True, cwd=tmp)
            walls.append(time.perf_counter() - started)
    return {"args": " ".join(args).replace("TMP/", ""), "best_s": round(min(walls), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--mentions", type=int, default=DEFAULT)
    parser.add_argument("--store", type=Path, help="keep the filled store here (and reuse it when it exists)")
    parser.add_argument(
        "--db", help="a PostgreSQL URL: the filled store is copied there (unless it holds one) and read there"
    )
    options = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        path = options.store or Path(tmp) / "report.sqlite3"
        filled = {"mentions": options.mentions, "reused": True} if path.exists() else fill(path, options.mentions)
        location = str(path)
        if options.db:
            location = options.db
            target = open_store(location)
            empty = target.count(Query()) == 0
            target.close()
            if empty:
                started = time.perf_counter()
                copied = copy_store(str(path), location)
                assert copied.ok, "the copy differs"
                filled["copied_to_postgres_s"] = round(time.perf_counter() - started, 1)
        results = {
            "machine": machine(),
            "engine": "postgres" if options.db else "sqlite",
            "store": filled,
            "collect": [in_process(location, BRANDS), in_process(location, BRANDS[:1])],
            "command": [command(location, ["-f", "json"]), command(location, ["-o", "TMP/report.html"])],
        }
    print(json.dumps(results, indent=2))
    if options.mentions == DEFAULT:
        out = RESULTS.with_name("report_postgres.json") if options.db else RESULTS
        out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

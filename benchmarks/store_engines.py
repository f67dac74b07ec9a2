"""The two store engines side by side (issue #17): several scanners writing at once, and `list` on a big store.

    write      4 scanner processes save N mentions into one store at once (default 1,000,000), each a scan
               after another (`scan_lock` on its own (source, brand) pairs, `record` of 5,000): throughput
               (mentions/s over the wall time), then everything counted: rows, distinct identities, mentions
               each process was told were new against cluster heads, and every key a process saved found.
               Each process also saves 5% of its neighbour's mentions again (the same items from two scanners).
               PostgreSQL: the processes scan different pairs, so they run at once (saving is one writer at a
               time). SQLite: one lock file, so they take turns; the figure is what one machine does.
    grow       the store made R rows (default 10,000,000) with SQL: the N mentions copied under other brands
               (`Brand3` -> `Brand3.k`), the same time spread, statuses as a team leaves them, tags on 1%
    list       the installed `mentionwatch list --limit 100 -f jsonl` (a fresh process: start-up included) and
               the same `Query` in-process, on the R rows: brand + status + 30 days, `--search` for a common
               word, two words, a rare word, brand + search, `--needs-reply --sort impact`; median of 5

Mentions are the pipeline benchmark's synthetic posts (benchmarks/pipeline.py, real vocabulary and lengths), as in
benchmarks/store.py. The report's aggregates are measured by benchmarks/report.py (`--db URL` for PostgreSQL).

    python benchmarks/store_engines.py --postgres postgresql://postgres@127.0.0.1:5432/bench
    python benchmarks/store_engines.py --postgres URL --mentions 100000 --rows 1000000   # a quicker look
    python benchmarks/store_engines.py --engines postgres --postgres URL                  # one engine
    python benchmarks/store_engines.py --postgres URL --from-store S.sqlite3 --results F  # no write: a store
               # filled by benchmarks/store.py or report.py (--store S) copied in (`store copy`), then grown, listed
    python benchmarks/store_engines.py ... --keep big   # keep the grown stores (schema `big`, ./big.sqlite3);
               # a later run with --keep big measures list and report on them again, without copying or growing

    report     after `list`, on the same R rows: the installed `mentionwatch report --brand Brand3` for the 30 days
               before the store's clock, -f json, and `report.collect` in-process for that brand (with the time in
               the store's aggregates apart); medians of 3

The PostgreSQL URL names a database the benchmark may create schemas in (it drops them after). Writes
benchmarks/results/store_engines.json.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import multiprocessing
import os
import queue
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).parent))

from pipeline import Corpus, generate, machine

from mentionwatch.models import Mention
from mentionwatch.store import Query, open_store, pair_scope

RESULTS = Path(__file__).parent / "results" / "store_engines.json"
BRANDS = [f"Brand{i}" for i in range(10)]
NOW = datetime(2026, 12, 1, tzinfo=UTC)
PROCESSES = 4
BATCH = 5000
OVERLAP = 0.05


def mentions(process: int, count: int, start: int = 0, stop: int | None = None) -> list[Mention]:
    """Process `process`'s share of the mentions (`count` of them), items start..stop: the same items every time
    (a scanner that sees a post again sees the same post)."""
    import random

    corpus = Corpus.load()
    rng = random.Random(process)
    out = []
    for i, (made, _family, _edit) in enumerate(generate(stop or count, [], corpus, seed=100 + process)):
        m = dataclasses.replace(made)  # the generator reads its earlier posts back: change a copy
        m.id = f"{process}-{m.id}"
        m.url = m.url.replace("/copy/", f"/copy/{process}-").replace("/repost/", f"/repost/{process}-")
        m.brand = BRANDS[(i + process) % len(BRANDS)]
        m.published_at = NOW - timedelta(seconds=rng.randrange(180 * 86400))
        m.sentiment = round(rng.uniform(-1, 1), 4)
        m.sentiment_label = "negative" if m.sentiment < -0.05 else "positive" if m.sentiment > 0.05 else "neutral"
        m.impact = round(rng.uniform(0, 60), 1)
        m.needs_reply = rng.random() < 0.05
        m.matched_terms = [m.brand]
        if i >= start:
            out.append(m)
    return out


def scanner(location: str, process: int, count: int, ready: Any, go: Any, results: Any) -> None:
    """One scanner process: its own mentions, then 5% of its neighbour's, saved a batch (a scan) at a time."""
    own = mentions(process, count)
    neighbour = (process + 1) % PROCESSES
    again = mentions(neighbour, count, 0, int(count * OVERLAP))
    store = open_store(location)
    scope = [pair_scope(f"bench:{process}", b) for b in BRANDS]
    new = 0
    ready.put(process)
    go.wait()
    started = time.perf_counter()
    work = own + again
    for first in range(0, len(work), BATCH):
        with store.scan_lock(600, scope):
            new += len(store.record(work[first : first + BATCH], NOW).new)
    seconds = time.perf_counter() - started
    store.close()
    results.put({"process": process, "saved": len(work), "new": new, "seconds": seconds,
                 "keys": [m.id for m in own]})  # fmt: skip


def write(location: str, total: int) -> dict[str, Any]:
    context = multiprocessing.get_context("spawn")
    ready, results, go = context.Queue(), context.Queue(), context.Event()
    count = total // PROCESSES
    open_store(location).close()  # the schema, before the clock starts
    workers = [context.Process(target=scanner, args=(location, p, count, ready, go, results)) for p in range(PROCESSES)]
    for w in workers:
        w.start()
    for _ in workers:
        while True:
            try:
                ready.get(timeout=5)
                break
            except queue.Empty:
                if any(w.exitcode not in (None, 0) for w in workers):
                    raise SystemExit("a scanner process failed") from None
    started = time.perf_counter()
    go.set()
    done = [results.get(timeout=7200) for _ in workers]
    wall = time.perf_counter() - started
    for w in workers:
        w.join()
    store = open_store(location)
    rows, distinct, heads = _counts(store)
    present = _present(store, [k for d in done for k in d["keys"]])
    store.close()
    saved = sum(d["saved"] for d in done)
    return {
        "processes": PROCESSES,
        "mentions": count * PROCESSES,
        "saved_including_overlap": saved,
        "seconds": round(wall, 1),
        "mentions_per_second": round(saved / wall),
        "rows": rows,
        "distinct_identities": distinct,
        "duplicates": rows - distinct,
        "lost": count * PROCESSES - present,
        "told_new": sum(d["new"] for d in done),
        "cluster_heads": heads,
        "per_process_seconds": [round(d["seconds"], 1) for d in sorted(done, key=lambda d: d["process"])],
    }


def _rows(store: Any) -> int:
    if hasattr(store, "_db"):
        return int(store._db.execute("SELECT COUNT(*) FROM mentions").fetchone()[0])
    with store._pool.connection() as conn:
        return int(conn.execute("SELECT COUNT(*) FROM mentions").fetchone()[0])


def _counts(store: Any) -> tuple[int, int, int]:
    sql = (
        "SELECT COUNT(*), COUNT(DISTINCT brand || '|' || source_type || '|' || id),"
        " SUM(CASE WHEN cluster = rowid THEN 1 ELSE 0 END) FROM mentions"
    )
    if hasattr(store, "_db"):
        row = store._db.execute(sql).fetchone()
    else:
        with store._pool.connection() as conn:
            row = conn.execute(sql).fetchone()
    return int(row[0]), int(row[1]), int(row[2])


def _present(store: Any, ids: list[str]) -> int:
    """How many of the ids the processes saved as their own are in the store."""
    if hasattr(store, "_db"):
        db = store._db
        db.execute("CREATE TEMP TABLE wanted (id TEXT PRIMARY KEY)")
        db.executemany("INSERT OR IGNORE INTO wanted VALUES (?)", [(i,) for i in ids])
        return int(db.execute("SELECT COUNT(*) FROM wanted w WHERE EXISTS "
                              "(SELECT 1 FROM mentions m WHERE m.id = w.id)").fetchone()[0])  # fmt: skip
    with store._pool.connection() as conn:
        row = conn.execute("SELECT COUNT(*) FROM unnest(%s::text[]) AS w (id) WHERE EXISTS "
                           "(SELECT 1 FROM mentions m WHERE m.id = w.id)", [ids]).fetchone()  # fmt: skip
    return int(row[0])


# -- growing the store with SQL

_COPIED = (
    "source_type, source, url, link, host, canon, link_canon, title, text, author, published_at, kind, lang,"
    " undated, matched_terms, matched_query, sentiment, sentiment_label, subjectivity, impact, impact_absolute,"
    " impact_weight, reach, engagement, needs_reply, score, comments, likes, reposts, quotes, views, followers,"
    " also_seen, first_seen, last_seen, community, terms"
)


def grow(store: Any, rows: int, *, index: bool = True) -> dict[str, Any]:
    started = time.perf_counter()
    indexed: dict[str, float] = {}
    if hasattr(store, "_db"):
        _grow_sqlite(store._db, rows)
        # The bulk insert left its ~8 GB in the WAL: written back before anything reads (reads through a WAL that
        # size crawled: indexing for search had not finished after 25 minutes).
        store._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        # The rows wait for search, as a scan's (schema 6): indexed here, timed apart, not by list's first query
        # (unless --no-search: they stay queued).
        if index:
            begun = time.perf_counter()
            store._index_for_search()
            indexed["search_index_seconds"] = round(time.perf_counter() - begun, 1)
    else:
        _grow_postgres(store, rows)
    return {"rows": _counts(store)[0], "seconds": round(time.perf_counter() - started, 1), **indexed}


def _grow_sqlite(db: sqlite3.Connection, rows: int) -> None:
    base = int(db.execute("SELECT MAX(rowid) FROM mentions").fetchone()[0])
    copies = -(-rows // base) - 1
    db.execute("BEGIN")
    for k in range(1, copies + 1):
        left = rows - base * k
        db.execute(
            f"INSERT INTO mentions (rowid, brand, id, cluster, canon, {_COPIED.replace(' canon,', '')})"
            f" SELECT rowid + {base * k}, brand || '.{k}', id, rowid + {base * k}, canon + {k},"
            f" {_COPIED.replace(' canon,', '')} FROM mentions WHERE rowid <= {min(base, left)}"
        )
    db.execute("INSERT OR IGNORE INTO brands SELECT DISTINCT brand FROM mentions")
    db.execute(f"INSERT OR IGNORE INTO mentions_search_pending SELECT rowid FROM mentions WHERE rowid > {base}")
    _triage_sqlite(db)
    db.execute("COMMIT")
    db.execute("ANALYZE")


def _triage_sqlite(db: sqlite3.Connection) -> None:
    db.execute("UPDATE mentions SET status = CASE WHEN rowid % 100 < 70 THEN 'new' WHEN rowid % 100 < 90 THEN 'read'"
               " WHEN rowid % 100 < 98 THEN 'done' ELSE 'ignored' END")  # fmt: skip
    db.execute("INSERT OR IGNORE INTO tags SELECT rowid, 'press' FROM mentions WHERE rowid % 100 = 7")


def _grow_postgres(store: Any, rows: int) -> None:
    with store._pool.connection() as conn:
        base = int(conn.execute("SELECT MAX(rowid) FROM mentions").fetchone()[0])
        copies = -(-rows // base) - 1
        # Indexes are rebuilt once after the bulk insert rather than maintained row by row (as a restore would).
        indexes = conn.execute(
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() AND tablename = 'mentions'"
            " AND indexname NOT LIKE '%pkey' AND indexname NOT LIKE '%_key'"
        ).fetchall()
        for name, _ in indexes:
            conn.execute(f"DROP INDEX {name}")
        for k in range(1, copies + 1):
            left = rows - base * k
            conn.execute(
                f"INSERT INTO mentions (rowid, brand, id, cluster, canon, {_COPIED.replace(' canon,', '')})"
                f" SELECT rowid + {base * k}, brand || '.{k}', id, rowid + {base * k}, canon + {k},"
                f" {_COPIED.replace(' canon,', '')} FROM mentions WHERE rowid <= {min(base, left)}"
            )
        conn.execute("SELECT setval(pg_get_serial_sequence('mentions', 'rowid'), (SELECT MAX(rowid) FROM mentions))")
        conn.execute("INSERT INTO brands SELECT DISTINCT brand FROM mentions ON CONFLICT DO NOTHING")
        conn.execute("UPDATE mentions SET status = CASE WHEN rowid % 100 < 70 THEN 'new' WHEN rowid % 100 < 90"
                     " THEN 'read' WHEN rowid % 100 < 98 THEN 'done' ELSE 'ignored' END")  # fmt: skip
        conn.execute(
            "INSERT INTO tags SELECT rowid, 'press' FROM mentions WHERE rowid % 100 = 7 ON CONFLICT DO NOTHING"
        )
        conn.execute("SET maintenance_work_mem = '1GB'")
        for _, definition in indexes:
            conn.execute(definition)
        conn.execute("VACUUM ANALYZE mentions")
        conn.execute("VACUUM ANALYZE tags")


# -- list

QUERIES: dict[str, list[str]] = {
    "brand + status + since 30d": ["--brand", "Brand3", "--status", "new", "--since", "30d"],
    "search: a common word": ["--search", "people"],
    "search: two words": ["--search", "love time"],
    "search: a rare word": ["--search", "migration"],
    "brand + search": ["--brand", "Brand3", "--search", "people"],
    "needs reply, by impact": ["--needs-reply", "--sort", "impact"],
}


def _query(args: list[str]) -> Query:
    flags = [a for a in args if a != "--needs-reply"]
    pairs = dict(zip(flags[::2], flags[1::2], strict=True))
    return Query(
        brands=[pairs["--brand"]] if "--brand" in pairs else (),
        statuses=[pairs["--status"]] if "--status" in pairs else (),
        since=NOW - timedelta(days=30) if "--since" in pairs else None,
        search=pairs.get("--search"),
        needs_reply="--needs-reply" in args,
        sort=pairs.get("--sort", "newest"),
        limit=100,
    )


def queries(location: str, env: dict[str, str]) -> list[dict[str, Any]]:
    exe = shutil.which("mentionwatch", path=str(Path(sys.executable).parent)) or "mentionwatch"
    store = open_store(location)
    out = []
    for label, args in QUERIES.items():
        # The command's `--since` is the date 30 days before the store's clock (NOW), as the in-process query's.
        command = [exe, "list", "--db", location, "-f", "jsonl", "--limit", "100", *_cli(args)]
        walls, found = [], 0
        for _ in range(5):
            started = time.perf_counter()
            done = subprocess.run(command, capture_output=True, text=True, env=env, check=True)
            walls.append(time.perf_counter() - started)
            found = len(done.stdout.splitlines())
        inproc, hits = [], 0
        for _ in range(5):
            started = time.perf_counter()
            hits = len(store.query(_query(args)))
            inproc.append(time.perf_counter() - started)
        out.append({
            "query": label,
            "args": " ".join(args),
            "found_in_process": hits,
            "found_by_command": found,
            "command_median_s": round(statistics.median(walls), 3),
            "in_process_median_s": round(statistics.median(inproc), 4),
        })  # fmt: skip
    store.close()
    return out


def _cli(args: list[str]) -> list[str]:
    """The command's flags for a query: `--since 30d` as the date 30 days before the store's clock."""
    if "--since" not in args:
        return args
    at = args.index("--since")
    return [*args[:at], "--since", (NOW - timedelta(days=30)).strftime("%Y-%m-%d"), *args[at + 2 :]]


def reports(location: str, env: dict[str, str]) -> list[dict[str, Any]]:
    """One brand's 30-day report on the grown store: the command, and `collect` in-process."""
    from report import Timed

    from mentionwatch.report import BrandSpec, Window, collect

    exe = shutil.which("mentionwatch", path=str(Path(sys.executable).parent)) or "mentionwatch"
    since = NOW - timedelta(days=30)
    command = [exe, "report", "--db", location, "--brand", "Brand3", "-f", "json",
               "--since", since.strftime("%Y-%m-%d"), "--until", NOW.strftime("%Y-%m-%d")]  # fmt: skip
    walls = []
    for _ in range(3):
        started = time.perf_counter()
        subprocess.run(command, capture_output=True, text=True, env=env, check=True)
        walls.append(time.perf_counter() - started)
    runs = []
    for _ in range(3):
        store = open_store(location)
        timed = Timed(store)
        started = time.perf_counter()
        made = collect(timed, [BrandSpec("Brand3")], Window.of(since, NOW), now=NOW)  # type: ignore[arg-type]
        runs.append((time.perf_counter() - started, timed.seconds, made.brands[0].volume.mentions))
        store.close()
    total, seconds, mentions = sorted(runs, key=lambda r: r[0])[1]
    return [{
        "report": "one brand, 30 days",
        "mentions_in_period": mentions,
        "command_median_s": round(statistics.median(walls), 2),
        "in_process_median_s": round(total, 2),
        "tally_s": round(seconds.get("tally", 0.0), 2),
        "citations_s": round(seconds.get("citations", 0.0), 2),
        "said_s": round(seconds.get("said", 0.0), 2),
    }]  # fmt: skip


def run_engine(engine: str, args: argparse.Namespace, tmp: Path, env: dict[str, str]) -> dict[str, Any]:
    location, cleanup = _location(engine, args, tmp)
    try:
        result: dict[str, Any] = {}
        store = open_store(location)
        kept = _rows(store) if args.keep else 0
        store.close()
        if kept >= args.rows:
            # A store kept by an earlier run (--keep): only list and report are measured again.
            result["reused"] = {"rows": kept}
        elif args.from_store:
            # A filled store copied in rather than written by 4 processes: the figures below are list's and
            # report's, not writing's.
            from mentionwatch.store.admin import copy_store

            started = time.perf_counter()
            assert copy_store(str(args.from_store), location).ok
            result["copied"] = {"from": args.from_store.name, "seconds": round(time.perf_counter() - started, 1)}
        else:
            result["write"] = write(location, args.mentions)
        if "reused" not in result:
            print(engine, json.dumps(result.get("write", result.get("copied"))), flush=True)
            store = open_store(location)
            result["grow"] = grow(store, args.rows, index=not args.no_search)
            store.close()
            print(engine, json.dumps(result["grow"]), flush=True)
        result["list"] = queries(location, env)
        for row in result["list"]:
            print(engine, json.dumps(row), flush=True)
        result["report"] = reports(location, env)
        print(engine, json.dumps(result["report"]), flush=True)
        if engine == "sqlite":
            result["bytes"] = sum(p.stat().st_size for p in Path(location).parent.glob(f"{Path(location).name}*"))
        else:
            store = open_store(location)
            result["bytes"] = store.stats()["bytes"]
            store.close()
        return result
    finally:
        cleanup()


def _location(engine: str, args: argparse.Namespace, tmp: Path) -> tuple[str, Any]:
    """Where the engine's store goes, and what removes it after: nothing with --keep NAME (the SQLite file
    NAME.sqlite3 in the current folder, the PostgreSQL schema NAME), to be measured again."""
    if engine == "sqlite":
        path = Path(f"{args.keep}.sqlite3").resolve() if args.keep else tmp / "engines.sqlite3"
        return str(path), lambda: None
    import psycopg

    schema = args.keep or f"bench_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(args.postgres, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
        conn.execute(f"CREATE SCHEMA IF NOT EXISTS {schema}")

    def drop() -> None:
        if args.keep:
            return
        with psycopg.connect(args.postgres, autocommit=True) as conn:
            conn.execute(f"DROP SCHEMA {schema} CASCADE")

    separator = "&" if "?" in args.postgres else "?"
    return f"{args.postgres}{separator}options=-csearch_path%3D{schema},public", drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", help="a PostgreSQL URL (a database to make a schema in)")
    parser.add_argument("--engines", default="postgres,sqlite")
    parser.add_argument("--mentions", type=int, default=1_000_000, help="written by the 4 processes (1,000,000)")
    parser.add_argument("--rows", type=int, default=10_000_000, help="the store grown to, for `list` (10,000,000)")
    parser.add_argument("--from-store", type=Path, help="a filled SQLite store to copy in instead of writing")
    parser.add_argument("--results", type=Path, default=RESULTS)
    parser.add_argument("--keep", help="keep the grown stores under this name, and reuse them when they hold --rows")
    parser.add_argument(
        "--no-search", action="store_true", help="skip the --search queries (a SQLite store whose index is unfinished)"
    )
    args = parser.parse_args()
    if args.no_search:
        for label in [k for k, v in QUERIES.items() if "--search" in v]:
            del QUERIES[label]
    results: dict[str, Any] = {
        "machine": machine(),
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
        "mentions": args.mentions,
        "rows": args.rows,
    }
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_DATA_HOME": tmp, "XDG_CACHE_HOME": tmp, "XDG_STATE_HOME": tmp}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed copies run: with their compiled modules cached
        for engine in args.engines.split(","):
            results[engine] = run_engine(engine, args, Path(tmp), env)
    args.results.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")


if __name__ == "__main__":
    main()

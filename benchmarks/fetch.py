"""Fetch benchmark: many feeds behind an injected latency, first scan (all 200 OK) and second scan (all 304),
side by side with the tools a user would pick instead.

    python benchmarks/fetch.py                      # the issue's scenarios (takes a few minutes)
    python benchmarks/fetch.py --feeds 200 --concurrency 32 --only mentionwatch

Compared: `mentionwatch scan` (cold cache, then warm), newsboat (`newsboat -x reload`, reload-threads set to
the same concurrency; Debian package), rss2email (`r2e run --no-send`; PyPI), a sequential feedparser loop, and
the ideal `latency x ceil(requests / concurrency)`. Tools that are not installed are reported as skipped.
Writes benchmarks/results/fetch.json. Traffic stays on 127.0.0.1: the server is benchmarks/feedserver.py.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "fetch.json"
ENV_SAFE = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def start_server(feeds: int, latency: float) -> tuple[subprocess.Popen[str], int]:
    proc = subprocess.Popen(
        [
            sys.executable,
            str(HERE / "feedserver.py"),
            "--feeds",
            str(feeds),
            "--latency",
            str(latency),
            "--lifetime",
            "1800",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert proc.stdout is not None
    port = int(proc.stdout.readline())
    return proc, port


def timed(
    cmd: list[str], env: dict[str, str], cwd: Path, timeout: float = 900
) -> tuple[float, subprocess.CompletedProcess[str]]:
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    return time.perf_counter() - started, done


def run_mentionwatch(urls: list[str], concurrency: int, work: Path) -> dict[str, Any]:
    cfg = work / "mw.yaml"
    cfg.write_text(
        "since: 30d\nbrands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: rss\n    urls:\n"
        + "".join(f"      - {u}\n" for u in urls)
        + f"http:\n  concurrency: {concurrency}\n  per_host: {concurrency}\n  timeout: 60\n  deadline: 900\n",
        encoding="utf-8",
    )
    env = {**os.environ, **ENV_SAFE, "XDG_CACHE_HOME": str(work / "cache"), "XDG_STATE_HOME": str(work / "state")}
    # Python caches compiled modules unless told not to; some sandboxes and CI images tell it not to, and
    # then every run compiles mentionwatch's modules again (80 ms). Measure what an installed copy costs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    import mentionwatch

    subprocess.run([sys.executable, "-m", "compileall", "-q", *mentionwatch.__path__], check=False)
    exe = shutil.which("mentionwatch") or "mentionwatch"
    out: dict[str, Any] = {}
    outputs = []
    for label in ("first", "second"):
        target = work / f"{label}.jsonl"
        seconds, done = timed(
            [exe, "scan", "-c", str(cfg), "-q", "-o", str(target), "--health", str(work / "h.json")], env, work
        )
        health = json.loads((work / "h.json").read_text())["sources"][0]
        out[label] = {
            "seconds": round(seconds, 3),
            "exit": done.returncode,
            "state": health["state"],
            "items": health["items"],
            "mentions": sum(1 for _ in target.open()),
        }
        outputs.append(target.read_text())
    out["same_output"] = outputs[0] == outputs[1]
    return out


def run_newsboat(urls: list[str], concurrency: int, work: Path) -> dict[str, Any] | None:
    exe = shutil.which("newsboat")
    if exe is None:
        return None
    (work / "urls").write_text("".join(f"{u}\n" for u in urls))
    (work / "config").write_text(f"reload-threads {concurrency}\n")
    env = {**os.environ, **ENV_SAFE, "HOME": str(work)}
    cmd = [exe, "-u", str(work / "urls"), "-c", str(work / "cache.db"), "-C", str(work / "config"), "-x", "reload"]
    first, done1 = timed(cmd, env, work)
    second, done2 = timed(cmd, env, work)
    return {
        "first": {"seconds": round(first, 3), "exit": done1.returncode},
        "second": {"seconds": round(second, 3), "exit": done2.returncode},
    }


def run_rss2email(urls: list[str], work: Path) -> dict[str, Any] | None:
    exe = shutil.which("r2e")
    if exe is None:
        return None
    cfg, data = work / "r2e.cfg", work / "r2e.json"
    env = {**os.environ, **ENV_SAFE, "HOME": str(work)}
    subprocess.run(
        [exe, "-c", str(cfg), "-d", str(data), "new", "bench@example.invalid"], env=env, check=True, capture_output=True
    )
    opml = work / "feeds.opml"
    opml.write_text(
        '<?xml version="1.0"?><opml version="1.0"><head><title>bench</title></head><body>'
        + "".join(f'<outline type="rss" text="f{i}" xmlUrl="{u}"/>' for i, u in enumerate(urls))
        + "</body></opml>"
    )
    subprocess.run(
        [exe, "-c", str(cfg), "-d", str(data), "opmlimport", str(opml)], env=env, check=True, capture_output=True
    )
    first, done1 = timed([exe, "-c", str(cfg), "-d", str(data), "run", "--no-send"], env, work)
    second, done2 = timed([exe, "-c", str(cfg), "-d", str(data), "run", "--no-send"], env, work)
    return {
        "first": {"seconds": round(first, 3), "exit": done1.returncode},
        "second": {"seconds": round(second, 3), "exit": done2.returncode},
    }


def run_feedparser_loop(urls: list[str]) -> dict[str, Any] | None:
    try:
        import feedparser
        import httpx
    except ImportError:
        return None
    started = time.perf_counter()
    entries = 0
    with httpx.Client(trust_env=False) as client:
        for url in urls:
            entries += len(feedparser.parse(client.get(url).content).entries)
    return {"first": {"seconds": round(time.perf_counter() - started, 3), "entries": entries}}


def scenario(feeds: int, concurrency: int, latency: float, tools: set[str]) -> dict[str, Any]:
    server, port = start_server(feeds, latency)
    urls = [f"http://127.0.0.1:{port}/feed/{n}.xml" for n in range(feeds)]
    result: dict[str, Any] = {
        "feeds": feeds,
        "items_per_feed": 20,
        "latency": latency,
        "concurrency": concurrency,
        "ideal_seconds": round(latency * math.ceil(feeds / concurrency), 3),
    }
    try:
        with tempfile.TemporaryDirectory() as tmp:
            work = Path(tmp)
            for name, run in (
                ("mentionwatch", lambda d: run_mentionwatch(urls, concurrency, d)),
                ("newsboat", lambda d: run_newsboat(urls, concurrency, d)),
                ("rss2email", lambda d: run_rss2email(urls, d)),
                ("feedparser_loop", lambda d: run_feedparser_loop(urls)),
            ):
                if name not in tools:
                    continue
                sub = work / name
                sub.mkdir()
                print(f"  {feeds} feeds, concurrency {concurrency}: {name} ...", file=sys.stderr, flush=True)
                result[name] = run(sub) or "not installed"
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, nargs="*", default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--only", nargs="*", default=["mentionwatch", "newsboat", "rss2email", "feedparser_loop"])
    args = parser.parse_args()
    plan = [(200, 100, set(args.only)), (1000, 100, {"mentionwatch", "newsboat"} & set(args.only))]
    if args.feeds:
        plan = [(n, args.concurrency or 100, set(args.only)) for n in args.feeds]
    results = [scenario(n, c, args.latency, tools) for n, c, tools in plan]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "scenarios": results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'feeds':>6} {'conc':>5} {'tool':<16} {'first s':>9} {'second s':>9}  notes")
    for r in results:
        print(f"{r['feeds']:>6} {r['concurrency']:>5} {'ideal':<16} {r['ideal_seconds']:>9.2f}")
        for tool in ("mentionwatch", "newsboat", "rss2email", "feedparser_loop"):
            data = r.get(tool)
            if data is None:
                continue
            if isinstance(data, str):
                print(f"{r['feeds']:>6} {r['concurrency']:>5} {tool:<16} {'-':>9} {'-':>9}  {data}")
                continue
            second = data.get("second", {}).get("seconds")
            notes = ""
            if tool == "mentionwatch":
                notes = (
                    f"{data['first']['mentions']} mentions; second scan {data['second']['state']}, "
                    f"same output: {data['same_output']}"
                )
            print(
                f"{r['feeds']:>6} {r['concurrency']:>5} {tool:<16} {data['first']['seconds']:>9.2f} "
                f"{second if second is not None else '-':>9}  {notes}"
            )
    print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")


if __name__ == "__main__":
    main()

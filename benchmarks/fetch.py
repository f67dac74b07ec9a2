"""Fetch benchmark: many feeds behind an injected latency, first scan (all 200 OK) and second scan (all 304),
side by side with the tools a user would pick instead.

    python benchmarks/fetch.py                      # the issue's scenarios (takes a few minutes)
    python benchmarks/fetch.py --feeds 200 --concurrency 32 --only mentionwatch

Compared: `mentionwatch scan` (cold cache, then warm), newsboat (`newsboat -x reload`, reload-threads set to
the same concurrency; Debian package), a plain httpx + feedparser loop at the same concurrency (`feedloop.py`,
ETags kept between its runs; `httpx_feedparser_lean` is the same loop over mentionwatch's transport), the floor
of the design card (`cardloop.py`: a Typer command, a YAML config checked by pydantic, the lean loop, nothing
else), rss2email (`r2e run --no-send`; PyPI), a sequential feedparser loop, and the ideal
`latency x ceil(requests / concurrency)`. mentionwatch, newsboat, the loops and the floor take turns `--repeat`
times (3), each time from a fresh cache, and their median run is reported beside every run's time, with the
median CPU time (user + system) of each; rss2email and the sequential loop, forty times slower, run once. Tools
that are not installed are reported as skipped.
Writes benchmarks/results/fetch.json. Traffic stays on 127.0.0.1: the server is benchmarks/feedserver.py.
"""

from __future__ import annotations

import argparse
import functools
import json
import math
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
RESULTS = HERE / "results" / "fetch.json"
TOOLS = (
    "mentionwatch",
    "newsboat",
    "httpx_feedparser",
    "httpx_feedparser_lean",
    "design_card_floor",
    "rss2email",
    "feedparser_loop",
)
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
) -> tuple[float, subprocess.CompletedProcess[str], float]:
    """Wall seconds, the finished process, and the CPU seconds (user + system) it used: on a machine shared with
    other work the wall clock also counts their turns, the CPU time only this run's."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, done, cpu


def write_config(work: Path, urls: list[str], concurrency: int) -> Path:
    """mentionwatch's config for the scenario: one brand, one rss source of every URL."""
    cfg = work / "mw.yaml"
    cfg.write_text(
        "since: 30d\nbrands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: rss\n    urls:\n"
        + "".join(f"      - {u}\n" for u in urls)
        + f"http:\n  concurrency: {concurrency}\n  per_host: {concurrency}\n  timeout: 60\n  deadline: 900\n",
        encoding="utf-8",
    )
    return cfg


def run_mentionwatch(urls: list[str], concurrency: int, work: Path, n: int) -> dict[str, Any]:
    """Repetition `n`: a first scan from a fresh cache, then a second against what it kept."""
    cfg = write_config(work, urls, concurrency)
    env = {
        **os.environ,
        **ENV_SAFE,
        "XDG_CACHE_HOME": str(work / f"cache{n}"),
        "XDG_STATE_HOME": str(work / f"state{n}"),
        "XDG_DATA_HOME": str(work / f"data{n}"),
    }
    # Python caches compiled modules unless told not to; some sandboxes and CI images tell it not to, and
    # then every run compiles mentionwatch's modules again (80 ms). Measure what an installed copy costs.
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    exe = shutil.which("mentionwatch") or "mentionwatch"
    run: dict[str, Any] = {}
    outputs = []
    for label in ("first", "second"):
        target = work / f"{label}.jsonl"
        seconds, done, cpu = timed(
            [exe, "scan", "-c", str(cfg), "-q", "-o", str(target), "--health", str(work / "h.json")], env, work
        )
        health = json.loads((work / "h.json").read_text())["sources"][0]
        run[label] = {
            "seconds": round(seconds, 3),
            "cpu_seconds": round(cpu, 3),
            "exit": done.returncode,
            "state": health["state"],
            "items": health["items"],
            "mentions": sum(1 for _ in target.open()),
        }
        outputs.append(target.read_text())
    run["same_output"] = outputs[0] == outputs[1]
    return run


def summarise(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The median run's figures for each scan, with every run's seconds beside them, and the median CPU time."""
    out: dict[str, Any] = {}
    for label in ("first", "second"):
        ordered = sorted(runs, key=lambda r: float(r[label]["seconds"]))
        out[label] = {**ordered[len(ordered) // 2][label], "runs": [r[label]["seconds"] for r in runs]}
        cpu = sorted(float(r[label]["cpu_seconds"]) for r in runs)
        out[label]["cpu_seconds"] = cpu[len(cpu) // 2]
        out[label]["cpu_runs"] = [r[label]["cpu_seconds"] for r in runs]
    if "same_output" in runs[0]:
        out["same_output"] = all(r["same_output"] for r in runs)
    return out


def run_newsboat(urls: list[str], concurrency: int, work: Path, n: int) -> dict[str, Any] | None:
    """Repetition `n`: a first reload into a fresh cache, then a second."""
    exe = shutil.which("newsboat")
    if exe is None:
        return None
    (work / "urls").write_text("".join(f"{u}\n" for u in urls))
    (work / "config").write_text(f"reload-threads {concurrency}\n")
    env = {**os.environ, **ENV_SAFE, "HOME": str(work)}
    cmd = [exe, "-u", str(work / "urls"), "-c", str(work / f"cache{n}.db"), "-C", str(work / "config"), "-x", "reload"]
    first, done1, cpu1 = timed(cmd, env, work)
    second, done2, cpu2 = timed(cmd, env, work)
    return {
        "first": {"seconds": round(first, 3), "cpu_seconds": round(cpu1, 3), "exit": done1.returncode},
        "second": {"seconds": round(second, 3), "cpu_seconds": round(cpu2, 3), "exit": done2.returncode},
    }


def run_feedloop(urls: list[str], concurrency: int, work: Path, n: int, lean: bool = False) -> dict[str, Any] | None:
    """Repetition `n` of `feedloop.py` (httpx + feedparser, concurrent): a first read, then a second with ETags.
    `lean`: over mentionwatch's transport instead of httpx's pool (`feedloop.py --transport lean`)."""
    try:
        import feedparser  # noqa: F401
        import httpx  # noqa: F401
    except ImportError:
        return None
    (work / "urls").write_text("".join(f"{u}\n" for u in urls))
    cmd = [sys.executable, str(HERE / "feedloop.py"), str(work / "urls"), str(work / f"etags{n}.json")]
    cmd += ["--concurrency", str(concurrency), "--transport", "lean" if lean else "httpx"]
    return run_twice(cmd, work, lambda done: int(done.stdout.strip() or 0))


def run_twice(cmd: list[str], work: Path, entries: Callable[[subprocess.CompletedProcess[str]], int]) -> dict[str, Any]:
    """A first and a second run of a loop that keeps its ETags between runs; `entries`: what a run read."""
    env = {**os.environ, **ENV_SAFE}
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    run: dict[str, Any] = {}
    for label in ("first", "second"):
        seconds, done, cpu = timed(cmd, env, work)
        run[label] = {"seconds": round(seconds, 3), "cpu_seconds": round(cpu, 3), "exit": done.returncode}
        run[label]["entries"] = entries(done)
    return run


def run_card_floor(urls: list[str], concurrency: int, work: Path, n: int) -> dict[str, Any] | None:
    """Repetition `n` of `cardloop.py`, the least a command built on the design card's libraries does (Typer,
    a YAML config checked by pydantic, httpx over mentionwatch's transport): a first read, then a second with
    ETags. Given mentionwatch's own config file, as mentionwatch is."""
    try:
        import feedparser  # noqa: F401
        import httpx  # noqa: F401
        import typer  # noqa: F401
    except ImportError:
        return None
    cfg = write_config(work, urls, concurrency)
    target = work / f"out{n}.jsonl"
    cmd = [sys.executable, str(HERE / "cardloop.py"), "scan", "-c", str(cfg), "-q", "-o", str(target)]
    return run_twice(cmd, work, lambda done: sum(1 for _ in target.open()) if target.exists() else 0)


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
    first, done1, _ = timed([exe, "-c", str(cfg), "-d", str(data), "run", "--no-send"], env, work)
    second, done2, _ = timed([exe, "-c", str(cfg), "-d", str(data), "run", "--no-send"], env, work)
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


def scenario(feeds: int, concurrency: int, latency: float, tools: set[str], repeat: int) -> dict[str, Any]:
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
            for name in TOOLS:
                (work / name).mkdir()
            import mentionwatch

            subprocess.run([sys.executable, "-m", "compileall", "-q", *mentionwatch.__path__], check=False)
            # mentionwatch, newsboat and the httpx + feedparser loop take turns, so that they meet the same moments
            # of a shared machine.
            runners: dict[str, Callable[[list[str], int, Path, int], dict[str, Any] | None]] = {
                "mentionwatch": run_mentionwatch,
                "newsboat": run_newsboat,
                "httpx_feedparser": run_feedloop,
                "httpx_feedparser_lean": functools.partial(run_feedloop, lean=True),
                "design_card_floor": run_card_floor,
            }
            repeated: dict[str, list[dict[str, Any]]] = {name: [] for name in runners}
            for n in range(repeat):
                for name, runner in runners.items():
                    if name not in tools:
                        continue
                    print(f"  {feeds} feeds, concurrency {concurrency}: {name} ({n + 1}/{repeat})", file=sys.stderr)
                    done = runner(urls, concurrency, work / name, n)
                    if done is None:
                        result[name] = "not installed"
                        continue
                    repeated[name].append(done)
            for name, runs in repeated.items():
                if runs:
                    result[name] = summarise(runs)
            for name, run in (
                ("rss2email", lambda d: run_rss2email(urls, d)),
                ("feedparser_loop", lambda d: run_feedparser_loop(urls)),
            ):
                if name in tools:
                    print(f"  {feeds} feeds, concurrency {concurrency}: {name} ...", file=sys.stderr, flush=True)
                    result[name] = run(work / name) or "not installed"
    finally:
        server.terminate()
        server.wait(timeout=30)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--feeds", type=int, nargs="*", default=None)
    parser.add_argument("--concurrency", type=int, default=None)
    parser.add_argument("--latency", type=float, default=0.2)
    parser.add_argument("--repeat", type=int, default=3, help="runs of mentionwatch and newsboat (median kept)")
    tools = list(TOOLS)
    parser.add_argument("--only", nargs="*", default=tools)
    parser.add_argument("--results", type=Path, default=RESULTS, help="where to write the JSON (%(default)s)")
    args = parser.parse_args()
    repeated = {"mentionwatch", "newsboat", "httpx_feedparser", "httpx_feedparser_lean", "design_card_floor"}
    plan = [(200, 100, set(args.only)), (1000, 100, repeated & set(args.only))]
    if args.feeds:
        plan = [(n, args.concurrency or 100, set(args.only)) for n in args.feeds]
    results = [scenario(n, c, args.latency, tools, args.repeat) for n, c, tools in plan]
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "scenarios": results,
    }
    args.results.parent.mkdir(exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'feeds':>6} {'conc':>5} {'tool':<21} {'first s':>9} {'cpu s':>6} {'second s':>9} {'cpu s':>6}  notes")
    for r in results:
        print(f"{r['feeds']:>6} {r['concurrency']:>5} {'ideal':<21} {r['ideal_seconds']:>9.2f}")
        for tool in tools:
            data = r.get(tool)
            if data is None:
                continue
            if isinstance(data, str):
                print(f"{r['feeds']:>6} {r['concurrency']:>5} {tool:<21} {'-':>9} {'':>6} {'-':>9}  {data}")
                continue
            first, second = data["first"], data.get("second", {})
            notes = ""
            if tool == "mentionwatch":
                notes = (
                    f"{first['mentions']} mentions; second scan {second['state']}, same output: {data['same_output']}"
                )
            print(
                f"{r['feeds']:>6} {r['concurrency']:>5} {tool:<21} {first['seconds']:>9.2f} "
                f"{_figure(first.get('cpu_seconds')):>6} {_figure(second.get('seconds'), 9)} "
                f"{_figure(second.get('cpu_seconds')):>6}  {notes}"
            )
    print(f"\nwritten to {args.results}")


def _figure(value: float | None, width: int = 6) -> str:
    return f"{value:>{width}.2f}" if value is not None else f"{'-':>{width}}"


if __name__ == "__main__":
    main()

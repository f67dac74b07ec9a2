"""Start-up benchmark: a CLI run from cron and pipes must start at once.

    python benchmarks/startup.py

Times `mentionwatch --version`, `mentionwatch --help` and a scan of the offline example (median and best of
several runs, wall clock, each a fresh process) and writes benchmarks/results/startup.json.
Targets (issue #6): --help and --version <= 0.2 s, the offline scan <= 1 s.
"""

from __future__ import annotations

import json
import os
import platform
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).parent
ROOT = HERE.parent
RESULTS = HERE / "results" / "startup.json"
TARGETS = {"--version": 0.2, "--help": 0.2, "scan (offline example)": 1.0}


def measure(cmd: list[str], runs: int, env: dict[str, str]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run(cmd, env=env, capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    exe = shutil.which("mentionwatch") or "mentionwatch"
    with tempfile.TemporaryDirectory() as tmp:
        env = {**os.environ, "XDG_STATE_HOME": tmp, "XDG_CACHE_HOME": tmp, "XDG_DATA_HOME": tmp}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # as installed copies run: with their compiled modules cached
        cases = {
            "--version": [exe, "--version"],
            "--help": [exe, "--help"],
            "scan (offline example)": [exe, "scan", "-c", str(ROOT / "examples" / "mentionwatch.yaml"), "-f", "jsonl"],
        }
        subprocess.run(cases["--help"], env=env, capture_output=True, check=True)  # warm the OS file cache
        results = {}
        for name, cmd in cases.items():
            times = measure(cmd, 7 if name.startswith("scan") else 15, env)
            results[name] = {
                "median_s": round(statistics.median(times), 3),
                "best_s": round(min(times), 3),
                "target_s": TARGETS[name],
            }
    report = {
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "date": time.strftime("%Y-%m-%d"),
        "results": results,
    }
    RESULTS.parent.mkdir(exist_ok=True)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")
    print(f"{'command':<24} {'median s':>9} {'best s':>8} {'target s':>9}  met")
    for name, r in results.items():
        met = "yes" if r["median_s"] <= r["target_s"] else "NO"
        print(f"{name:<24} {r['median_s']:>9.3f} {r['best_s']:>8.3f} {r['target_s']:>9.1f}  {met}")


if __name__ == "__main__":
    main()

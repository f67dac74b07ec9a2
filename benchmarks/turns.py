"""Second scans of several commands, in turns, against one feed server: for A/B comparisons on a noisy machine.

    python benchmarks/turns.py 15 \\
        "mentionwatch=mentionwatch scan -c {cfg} -q -o {work}/mw.jsonl" \\
        "floor={py} benchmarks/cardloop.py scan -c {cfg} -q -o {work}/floor.jsonl" \\
        "loop={py} benchmarks/feedloop.py {urls} {work}/etags.json --transport lean"
    # another checkout's code: "before=env PYTHONPATH=/path/to/old/src {py} -m mentionwatch scan -c {cfg} -q -o ..."

Starts `feedserver.py` (200 feeds, 200 ms of latency), writes mentionwatch's config for them, runs every command
twice to warm its cache, then runs them one after the other, N times round, and prints each one's median wall
and CPU time (user + system) with its range. `{cfg}`, `{urls}` (a file of the URLs), `{work}` (a temporary
folder) and `{py}` (this Python) are filled in; each command gets its own XDG cache, state and data folders.
The machine's speed moves by 10-40% within the hour: commands compared in turns meet the same moments of it.
Traffic stays on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from fetch import ENV_SAFE, start_server, write_config


def timed(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        sys.exit(f"{shlex.join(cmd)}: exit {done.returncode}\n{done.stderr}")
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("turns", type=int)
    parser.add_argument("commands", nargs="+", help="LABEL=COMMAND")
    parser.add_argument("--feeds", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=100)
    args = parser.parse_args()
    server, port = start_server(args.feeds, 0.2)
    try:
        work = Path(tempfile.mkdtemp())
        urls = [f"http://127.0.0.1:{port}/feed/{n}.xml" for n in range(args.feeds)]
        (work / "urls.txt").write_text("\n".join(urls))
        fill = {"cfg": write_config(work, urls, args.concurrency), "urls": work / "urls.txt", "work": work}
        fill["py"] = sys.executable
        commands = {}
        for spec in args.commands:
            label, _, command = spec.partition("=")
            commands[label] = shlex.split(command.format(**fill))
        envs = {}
        for label in commands:
            env = {**os.environ, **ENV_SAFE, "NO_COLOR": "1"}
            env.update(
                {f"XDG_{kind}_HOME": str(work / f"{label}-{kind.lower()}") for kind in ("CACHE", "STATE", "DATA")}
            )
            env.pop("PYTHONDONTWRITEBYTECODE", None)  # as an installed copy runs (see fetch.py)
            envs[label] = env
        for label, cmd in commands.items():
            timed(cmd, envs[label])
            timed(cmd, envs[label])
        walls: dict[str, list[float]] = {label: [] for label in commands}
        cpus: dict[str, list[float]] = {label: [] for label in commands}
        for _ in range(args.turns):
            for label, cmd in commands.items():
                wall, cpu = timed(cmd, envs[label])
                walls[label].append(wall)
                cpus[label].append(cpu)
        for label in commands:
            w, c = walls[label], cpus[label]
            print(
                f"{label}: wall {statistics.median(w):.3f} s [{min(w):.3f}-{max(w):.3f}], "
                f"CPU {statistics.median(c):.3f} s [{min(c):.3f}-{max(c):.3f}]"
            )
    finally:
        server.terminate()
        server.wait(timeout=30)


if __name__ == "__main__":
    main()

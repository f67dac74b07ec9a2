"""Two scans at once on one user's state and cache (two cron jobs overlapping): both succeed (issue #11)."""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path

import pytest

from conftest import LoopbackServer, Reply, cli_command, cli_env

pytestmark = pytest.mark.e2e

# Undated items (no pubDate): their first-seen time is kept in the state file, so every scan writes to it. The
# ETag makes every scan write to the HTTP cache as well.
UNDATED = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Acme blog</title>
<item><guid>post-1</guid><title>Acme ships a new release</title><link>https://blog.example/acme-1</link></item>
<item><guid>post-2</guid><title>Acme at the conference</title><link>https://blog.example/acme-2</link></item>
</channel></rss>
"""


def write_config(path: Path, server: LoopbackServer, *, slow: bool) -> Path:
    slow_source = f"  - type: rss\n    name: slow\n    urls: [{server.url}/slow.xml]\n" if slow else ""
    path.write_text(
        "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n"
        f"  - type: rss\n    name: blog\n    urls: [{server.url}/undated.xml]\n{slow_source}",
        encoding="utf-8",
    )
    return path


def test_a_second_scan_does_not_wait_for_the_first_to_finish(tmp_path: Path, server: LoopbackServer) -> None:
    # The first scan keeps running for 6 s (a slow feed) after it has written to the state and the cache; the
    # second, started meanwhile, writes to both too. SQLite's default 5 s lock wait would fail it if the first
    # held its write transaction open for the whole scan.
    server.route("/undated.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml", "etag": '"v1"'}))
    server.route("/slow.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}, stall=6))
    env = cli_env(tmp_path)  # one XDG state and cache folder for both
    first = subprocess.Popen(
        cli_command("scan", "-c", str(write_config(tmp_path / "a.yaml", server, slow=True)), "-f", "jsonl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while not any(r.path == "/slow.xml" for r in server.requests) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # the first scan has read the undated feed and written its state by now
        second = subprocess.run(
            cli_command("scan", "-c", str(write_config(tmp_path / "b.yaml", server, slow=False)), "-f", "jsonl"),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert first.poll() is None, "the first scan is still running while the second one ran"
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert second.returncode == 0, second.stderr
    assert first.returncode == 0, err
    a = {r["id"]: r["published_at"] for r in map(json.loads, out.splitlines()) if r["source"] == "blog"}
    b = {r["id"]: r["published_at"] for r in map(json.loads, second.stdout.splitlines())}
    assert a == b and len(a) == 2, "both scans give an undated item the same first-seen time"

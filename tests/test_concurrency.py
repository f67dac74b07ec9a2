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


def start(config: Path, env: dict[str, str], cwd: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        cli_command("scan", "-c", str(config), "-f", "jsonl", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
        cwd=cwd,
    )


def run(env: dict[str, str], cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`mentionwatch ARGS` to its end (bounded), its output captured."""
    return subprocess.run(cli_command(*args), capture_output=True, text=True, env=env, cwd=cwd, timeout=60)


def wait_for_request(server: LoopbackServer, path: str) -> None:
    deadline = time.monotonic() + 30
    while not any(r.path == path for r in server.requests) and time.monotonic() < deadline:
        time.sleep(0.05)
    time.sleep(0.5)  # the first scan has read the undated feed and written to the cache by now


def test_two_scans_without_a_store_share_the_http_cache(tmp_path: Path, server: LoopbackServer) -> None:
    # The first scan keeps running for 6 s (a slow feed) after it has written to the HTTP cache; the second,
    # started meanwhile, writes to it too. SQLite's default 5 s lock wait would fail it if the first held its
    # write transaction open for the whole scan.
    server.route("/undated.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml", "etag": '"v1"'}))
    server.route("/slow.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}, stall=6))
    env = cli_env(tmp_path)  # one XDG cache folder for both
    first = start(write_config(tmp_path / "a.yaml", server, slow=True), env, tmp_path, "--no-store")
    try:
        wait_for_request(server, "/slow.xml")
        second = run(
            env, tmp_path, "scan", "-c", str(write_config(tmp_path / "b.yaml", server, slow=False)), "--no-store"
        )
        assert first.poll() is None, "the first scan is still running while the second one ran"
        _, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert second.returncode == 0, second.stderr
    assert first.returncode == 0, err


def test_a_second_scan_of_one_store_waits_for_the_first(
    tmp_path: Path, server: LoopbackServer, store_location: str
) -> None:
    # Both would report the same new mentions if they ran side by side: the second waits for the first, then
    # finds nothing new. On PostgreSQL too: they share the (blog, Acme) pair.
    server.route("/undated.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml", "etag": '"v1"'}))
    server.route("/slow.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}, stall=3))
    env = cli_env(tmp_path, {"MENTIONWATCH_DB": store_location})
    first = start(write_config(tmp_path / "a.yaml", server, slow=True), env, tmp_path, "--new")
    try:
        wait_for_request(server, "/slow.xml")
        second = subprocess.run(
            cli_command(
                "scan", "-c", str(write_config(tmp_path / "b.yaml", server, slow=False)), "-f", "jsonl", "--new"
            ),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert second.returncode == 0, second.stderr
    firsts = [json.loads(line) for line in out.splitlines()]
    assert sorted(r["id"].partition("/")[2] for r in firsts if r["source"] == "blog") == ["post-1", "post-2"]
    assert second.stdout == "", "the second scan waited, and then had nothing new to say"


def test_a_second_new_run_waits_until_the_first_has_written_its_output(
    tmp_path: Path, server: LoopbackServer, store_location: str
) -> None:
    # The first run's output is bigger than a pipe holds and nobody reads it yet: it has saved its scan and is
    # blocked writing stdout, its `--new` mark still set. A second run to stdout must not take that mark for an
    # output left unwritten (and print the first's mentions again): it waits for the first, here until its
    # lock_timeout ends it. Once the first has written, a third run has nothing new to say.
    items = "".join(
        f"<item><guid>post-{n}</guid><title>Acme note {n}</title><link>https://blog.example/acme-{n}</link>"
        f"<description>{'Acme keeps shipping. ' * 20}</description></item>"
        for n in range(200)
    )
    big = f'<?xml version="1.0"?><rss version="2.0"><channel><title>Acme blog</title>{items}</channel></rss>'
    server.route("/undated.xml", Reply(200, big.encode(), {"content-type": "application/rss+xml"}))
    env = cli_env(tmp_path, {"MENTIONWATCH_DB": store_location})
    config = write_config(tmp_path / "a.yaml", server, slow=False)
    impatient = tmp_path / "b.yaml"
    impatient.write_text(config.read_text() + "store:\n  lock_timeout: 2\n", encoding="utf-8")
    first = start(config, env, tmp_path, "--new")
    try:
        wait_for_request(server, "/undated.xml")
        second = run(env, tmp_path, "scan", "-c", str(impatient), "-f", "jsonl", "--new")
        out, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert first.returncode == 0, err
    assert len(out.splitlines()) == 200
    assert second.stdout == "", "the second run printed the first's mentions again"
    assert second.returncode == 6, second.stderr
    third = run(env, tmp_path, "scan", "-c", str(config), "-f", "jsonl", "--new")
    assert third.returncode == 0, third.stderr
    assert third.stdout == ""


def test_ignore_during_a_scan_marks_what_that_scan_saves(
    tmp_path: Path, server: LoopbackServer, store_location: str
) -> None:
    # The scan matched with the rules it read before `ignore` edited them: `ignore` waits for it, then marks what
    # it saved. Run at once, it marked nothing, and the scan saved the spam as new for good (later scans drop it
    # at matching, so nothing marked the stored copies).
    spam = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
        b"<item><guid>s1</guid><title>Acme coupons spamword</title><link>https://deals.example/1</link></item>"
        b"<item><guid>s2</guid><title>Acme spamword deals</title><link>https://deals.example/2</link></item>"
        b"</channel></rss>"
    )
    server.route("/slow.xml", Reply(200, spam, {"content-type": "application/rss+xml"}, stall=3))
    env = cli_env(tmp_path, {"MENTIONWATCH_DB": store_location})
    config = tmp_path / "a.yaml"
    config.write_text(
        f"brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: rss\n    urls: [{server.url}/slow.xml]\n",
        encoding="utf-8",
    )
    first = start(config, env, tmp_path, "--new")
    try:
        wait_for_request(server, "/slow.xml")
        ignored = run(env, tmp_path, "ignore", "-c", str(config), "--brand", "Acme", "--term", "spamword")
        first.communicate(timeout=60)
    finally:
        first.kill()
    assert ignored.returncode == 0, ignored.stderr
    assert "marked 2 stored mentions ignored" in ignored.stderr
    assert "another scan is using" in ignored.stderr and "waiting for it (up to 300s)" in ignored.stderr, "not a hang"
    listed = run(env, tmp_path, "list", "-c", str(config), "--status", "new", "-f", "jsonl")
    assert listed.returncode == 0 and listed.stdout == ""


def test_a_scan_that_waits_too_long_for_the_store_exits_6(
    tmp_path: Path, server: LoopbackServer, store_location: str
) -> None:
    server.route("/undated.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}))
    server.route("/slow.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}, stall=6))
    env = cli_env(tmp_path, {"MENTIONWATCH_DB": store_location})
    first = start(write_config(tmp_path / "a.yaml", server, slow=True), env, tmp_path)
    impatient = tmp_path / "b.yaml"
    write_config(impatient, server, slow=False)
    impatient.write_text(impatient.read_text() + "store:\n  lock_timeout: 1\n")
    try:
        wait_for_request(server, "/slow.xml")
        second = subprocess.run(
            cli_command("scan", "-c", str(impatient)), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60
        )
        first.communicate(timeout=60)
    finally:
        first.kill()
    assert second.returncode == 6
    assert second.stderr.strip().endswith("did not finish within 1s")
    assert "Traceback" not in second.stderr
    assert "postgresql://" not in store_location or store_location.split("?")[0] in second.stderr


def test_on_postgres_scans_of_other_pairs_run_at_once(
    tmp_path: Path, server: LoopbackServer, postgres_url: str
) -> None:
    # Two hosts, two shards' worth of sources: neither waits for the other (SQLite would make the second wait).
    server.route("/undated.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}))
    server.route("/slow.xml", Reply(200, UNDATED, {"content-type": "application/rss+xml"}, stall=6))
    env = cli_env(tmp_path, {"MENTIONWATCH_DB": postgres_url})
    slow = tmp_path / "a.yaml"
    slow.write_text(
        f"brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: rss\n    name: slow\n"
        f"    urls: [{server.url}/slow.xml]\n",
        encoding="utf-8",
    )
    first = start(slow, env, tmp_path, "--new")
    try:
        wait_for_request(server, "/slow.xml")
        second = subprocess.run(
            cli_command(
                "scan", "-c", str(write_config(tmp_path / "b.yaml", server, slow=False)), "-f", "jsonl", "--new"
            ),
            capture_output=True,
            text=True,
            env=env,
            cwd=tmp_path,
            timeout=60,
        )
        assert first.poll() is None, "the second scan ran while the first still held its own pair"
        _, err = first.communicate(timeout=60)
    finally:
        first.kill()
    assert second.returncode == 0, second.stderr
    assert sorted(json.loads(line)["id"].partition("/")[2] for line in second.stdout.splitlines()) == ["post-1", "post-2"]
    assert first.returncode == 0, err

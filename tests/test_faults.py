"""Issue #5's fault-injection suite: one scan against a loopback server that misbehaves in every way at once."""

from __future__ import annotations

import json
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from conftest import LoopbackServer, Reply, Request, Run, cli_command, cli_env, fixture_path

HN = fixture_path("hackernews", "search_by_date_query_nodejs_2017.json").read_bytes()
ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()
JSON = {"content-type": "application/json"}
LOGIN_WALL = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in</body></html>"


def fails_first(first: Reply) -> Callable[[Request], Reply]:
    calls = 0

    def handler(_req: Request) -> Reply:
        nonlocal calls
        calls += 1
        return first if calls == 1 else Reply(200, HN, JSON)

    return handler


def fifty_megabytes() -> Iterator[bytes]:
    chunk = b"[" + b"0," * (512 * 1024)
    for _ in range(50):
        yield chunk


FAULTS: dict[str, Reply | Callable[[Request], Reply]] = {
    "ok": Reply(200, HN, JSON),
    "r429": fails_first(Reply(429, b"slow down", {"Retry-After": "1"})),
    "r500": fails_first(Reply(500, b"oops")),
    "truncated": Reply(200, HN[: len(HN) // 2], JSON),
    "malformed": Reply(200, b'{"hits": [}', JSON),
    "not_utf8": Reply(200, b'{"hits": ["\xff\xfe"]}', JSON),
    "deep": Reply(200, b"[" * 200_000 + b"]" * 200_000, JSON),
    "login_wall": Reply(200, LOGIN_WALL, {"content-type": "text/html"}),
    "hang": Reply(200, HN, JSON, stall=60),
    "huge": Reply(200, b"", JSON, chunks=fifty_megabytes),
    "redirect_loop": Reply(302, b"", {"Location": "/redirect_loop/api/v1/search_by_date"}),
    "to_file": Reply(302, b"", {"Location": "file:///etc/passwd"}),
}
EXPECTED = {
    "ok": "ok",
    "r429": "ok",
    "r500": "ok",
    "truncated": "failed",
    "malformed": "failed",
    "not_utf8": "failed",
    "deep": "failed",
    "login_wall": "unauthorized",
    "hang": "timed out",
    "huge": "failed",
    "redirect_loop": "failed",
    "to_file": "failed",
    "feed": "ok",
}


def fault_config(tmp_path: Path, server: LoopbackServer) -> Path:
    for name, reply in FAULTS.items():
        server.route(f"/{name}/api/v1/search_by_date", reply)
    server.route("/feed.xml", Reply(200, ALERTS))
    sources = "".join(
        f"  - type: hackernews\n    name: {name}\n    base_url: {server.url}/{name}/api/v1\n    max_pages: 1\n"
        for name in FAULTS
    )
    path = tmp_path / "faults.yaml"
    path.write_text(
        f"""since: 2017-01-01
brands:
  - name: Node.js
    terms: [Node.js]
  - name: Slack
    terms: [Slack]
sources:
{sources}  - type: rss
    name: feed
    urls: [{server.url}/feed.xml]
http:
  timeout: 2
  deadline: 8
  retries: 2
  max_retry_wait: 5
""",
        encoding="utf-8",
    )
    return path


def test_every_fault_at_once(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    health_file = tmp_path / "health.json"
    run = cli(
        "scan", "-c", str(fault_config(tmp_path, server)), "-f", "jsonl", "--health", str(health_file), timeout=60
    )
    assert run.code == 3, run.stderr
    health = {h["name"]: h for h in json.loads(health_file.read_text())["sources"]}
    assert {name: h["state"] for name, h in health.items()} == EXPECTED
    assert "larger than" in health["huge"]["error"]
    assert "redirect" in health["redirect_loop"]["error"]
    assert "non-http(s)" in health["to_file"]["error"]
    # Two terms (Node.js, Slack) to search, plus the one retry each.
    assert health["r429"]["requests"] == 3 and health["r500"]["requests"] == 3
    assert health["hang"]["seconds"] < 8 + 2  # abandoned at its deadline (8s), not left hanging

    rows = [json.loads(line) for line in run.stdout.splitlines()]
    node = [r for r in rows if r["brand"] == "Node.js"]
    slack = [r for r in rows if r["brand"] == "Slack"]
    assert len(slack) == 20
    # ok, r429 and r500 served the same recording: one mention each, the others in also_seen.
    assert node and all(len(r["also_seen"]) == 2 for r in node)
    assert all({r["source"], *(a["source"] for a in r["also_seen"])} == {"ok", "r429", "r500"} for r in node)
    for name, state in EXPECTED.items():
        assert f"{state:<12} {name}" in run.stderr


def test_redirect_to_file_never_reads_it(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    server.route("/api/v1/search_by_date", Reply(302, b"", {"Location": "file:///etc/passwd"}))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"brands:\n  - name: R\n    terms: [root]\nsources:\n  - type: hackernews\n    base_url: {server.url}/api/v1\n"
    )
    run = cli("scan", "-c", str(cfg), "-f", "jsonl")
    assert run.code == 4
    assert "root:" not in run.stdout + run.stderr


def test_unchanged_feed_costs_a_304_and_prints_the_same(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    def feed(req: Request) -> Reply:
        if req.headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, ALERTS, {"ETag": '"v1"', "content-type": "application/atom+xml"})

    server.route("/feed.xml", feed)
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "since: 2017-01-01\nbrands:\n  - name: Slack\n    terms: [Slack]\n"
        f"sources:\n  - type: rss\n    urls: [{server.url}/feed.xml]\n"
    )
    health = tmp_path / "h.json"
    first = cli("scan", "-c", str(cfg), "-f", "jsonl")
    second = cli("scan", "-c", str(cfg), "-f", "jsonl", "--health", str(health))
    assert first.code == second.code == 0
    assert second.stdout == first.stdout and len(first.stdout.splitlines()) == 20
    assert json.loads(health.read_text())["sources"][0]["state"] == "not modified"
    assert [r.headers.get("if-none-match") for r in server.requests] == [None, '"v1"']
    third = cli("scan", "-c", str(cfg), "-f", "jsonl", "--no-cache")
    assert third.stdout == first.stdout and server.requests[-1].headers.get("if-none-match") is None


def test_record_then_replay_gives_the_same_output_with_no_network(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    server.route("/api/v1/search_by_date", Reply(200, HN, JSON))
    server.route("/feed.xml", Reply(200, ALERTS))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"since: 7d\nbrands:\n  - name: Node.js\n    terms: [Node.js]\n  - name: Slack\n    terms: [Slack]\n"
        f"sources:\n  - type: hackernews\n    base_url: {server.url}/api/v1\n    max_pages: 1\n"
        f"  - type: rss\n    urls: ['{server.url}/feed.xml?key=${{FEED_KEY}}']\n"
    )
    bundle = tmp_path / "bundle"
    env = {"FEED_KEY": "very-secret-feed-key"}
    recorded = cli("scan", "-c", str(cfg), "-f", "jsonl", "--since", "2017-01-01", "--record", str(bundle), env=env)
    assert recorded.code == 0 and recorded.stdout
    served = len(server.requests)
    replayed = cli("scan", "-c", str(cfg), "-f", "jsonl", "--since", "2017-01-01", "--replay", str(bundle))
    assert replayed.code == 0, replayed.stderr
    assert replayed.stdout == recorded.stdout
    assert len(server.requests) == served, "replay sent no request"
    stored = "".join(p.read_text(errors="replace") for p in bundle.rglob("*") if p.is_file())
    assert "very-secret-feed-key" not in stored


def fast_and_slow_config(tmp_path: Path, server: LoopbackServer) -> Path:
    server.route("/fast/api/v1/search_by_date", Reply(200, HN, JSON))
    server.route("/slow/api/v1/search_by_date", Reply(200, HN, JSON, stall=60))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        f"since: 2017-01-01\nbrands:\n  - name: Node.js\n    terms: [Node.js]\nsources:\n"
        f"  - type: hackernews\n    name: fast\n    base_url: {server.url}/fast/api/v1\n    max_pages: 1\n"
        f"  - type: hackernews\n    name: slow\n    base_url: {server.url}/slow/api/v1\n"
    )
    return cfg


def ctrl_c_during_the_slow_source(tmp_path: Path, server: LoopbackServer, cfg: Path) -> tuple[int, str, str]:
    """`scan -f jsonl` interrupted (SIGINT) while the slow source stalls, after the fast one answered."""
    asked = len([r for r in server.requests if r.path.startswith("/slow/")])
    proc = subprocess.Popen(
        cli_command("scan", "-c", str(cfg), "-f", "jsonl"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=cli_env(tmp_path),
        cwd=tmp_path,
    )
    try:
        deadline = time.monotonic() + 30
        while len([r for r in server.requests if r.path.startswith("/slow/")]) == asked and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # let the fast source's answer be read
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=30)
    finally:
        proc.kill()
    return proc.returncode, stdout, stderr


@pytest.mark.e2e
def test_ctrl_c_prints_what_was_gathered_and_exits_130(tmp_path: Path, server: LoopbackServer) -> None:
    code, stdout, stderr = ctrl_c_during_the_slow_source(tmp_path, server, fast_and_slow_config(tmp_path, server))
    assert code == 130, stderr
    rows = [json.loads(line) for line in stdout.splitlines()]
    assert rows and {r["source"] for r in rows} == {"fast"}
    assert "interrupted" in stderr


@pytest.mark.e2e
def test_scans_cut_short_by_the_user_do_not_make_a_source_broken(tmp_path: Path, server: LoopbackServer) -> None:
    # Three Ctrl-Cs (or cron timeouts) in a row said "source slow is broken: it failed in 3 scans in a row; last
    # error: interrupted": the user stopped it; the source did nothing wrong.
    cfg = fast_and_slow_config(tmp_path, server)
    for _ in range(3):
        code, _, stderr = ctrl_c_during_the_slow_source(tmp_path, server, cfg)
        assert code == 130, stderr
    assert "broken" not in stderr
    stats = subprocess.run(
        cli_command("stats", "-c", str(cfg)), capture_output=True, text=True, env=cli_env(tmp_path), cwd=tmp_path
    )
    assert stats.returncode == 0, stats.stderr
    assert "broken" not in stats.stdout + stats.stderr and "failure" not in stats.stdout


DEVTO = fixture_path("devto", "devto_api_go_list_response_2019.json").read_bytes()


def test_a_pause_a_429_asks_for_holds_every_request_to_that_host(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    # The server logs when each request starts; the first one, whichever it is, gets a 429 with Retry-After: 1.
    started: list[tuple[float, str, int]] = []
    lock = threading.Lock()

    def api(body: bytes) -> Callable[[Request], Reply]:
        def handler(req: Request) -> Reply:
            with lock:
                status = 200 if started else 429
                started.append((time.monotonic(), req.path, status))
            return Reply(429, b"slow down", {"Retry-After": "1"}) if status == 429 else Reply(200, body, JSON)

        return handler

    for name in ("hn-a", "hn-b"):
        server.route(f"/{name}/api/v1/search_by_date", api(HN))
    server.route("/devto/api/articles/latest", api(DEVTO))
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "since: 2017-01-01\nbrands:\n  - name: Node\n    terms: [Node.js, npm, JavaScript]\nsources:\n"
        f"  - type: hackernews\n    name: hn-a\n    base_url: {server.url}/hn-a/api/v1\n    max_pages: 1\n"
        f"  - type: hackernews\n    name: hn-b\n    base_url: {server.url}/hn-b/api/v1\n    max_pages: 1\n"
        f"  - type: devto\n    base_url: {server.url}/devto\n    max_pages: 1\n"
        # One request at a time to the host: when the 429 is answered, no other request is in flight.
        "http:\n  per_host: 1\n"
    )
    health_file = tmp_path / "health.json"
    run = cli("scan", "-c", str(cfg), "-f", "jsonl", "--health", str(health_file))
    assert run.code == 0, run.stderr

    (paused_at, _, _), *after = started
    assert [status for _, _, status in started] == [429] + [200] * 7  # 3 terms x 2 sources, devto once, 1 retry
    assert {path.split("/")[1] for _, path, _ in after} == {"hn-a", "hn-b", "devto"}
    # Every service's requests waited the second out, not only the one that was told.
    assert all(at - paused_at >= 0.95 for at, _, _ in after), [round(at - paused_at, 3) for at, _, _ in after]


def test_a_host_that_never_answers_costs_two_timeouts_not_the_source_deadline(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    server.route("/dead/api/v1/search_by_date", Reply(200, HN, JSON, stall=60))  # accepts, then says nothing
    cfg = tmp_path / "c.yaml"
    cfg.write_text(
        "brands:\n  - name: Node\n    terms: [Node.js]\nsources:\n"
        f"  - type: hackernews\n    base_url: {server.url}/dead/api/v1\n    max_pages: 1\n"
        "http:\n  timeout: 1\n"  # retries and deadline left at their defaults (3, 120 s)
    )
    health_file = tmp_path / "health.json"
    run = cli("scan", "-c", str(cfg), "-f", "jsonl", "--health", str(health_file))
    assert run.code == 4, run.stderr
    [health] = json.loads(health_file.read_text())["sources"]
    assert health["state"] == "timed out" and health["requests"] == 2 and len(server.requests) == 2
    assert health["error"] == f"{server.url}/dead/api/v1/search_by_date: no answer in 1 s (2 tries)"
    assert "timed out    hackernews" in run.stderr and "no answer in 1 s (2 tries)" in run.stderr

"""SIGTERM and Ctrl-C end a scan with what it gathered printed (README: exit codes 130 and 143), whenever they come:
during the fetch (tests/test_files.py, tests/test_faults.py), after it, while the output is written; and Ctrl-C
while the command's modules load ends it quietly."""

from __future__ import annotations

import csv
import json
import signal
import sqlite3
import subprocess
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import pytest

from conftest import GUARD_PATH, LoopbackServer, Reply, Request, cli_command, cli_env

RSS = {"content-type": "application/rss+xml"}
SIGNALS = [
    pytest.param(signal.SIGTERM, 143, "terminated", id="SIGTERM"),
    pytest.param(signal.SIGINT, 130, "interrupted", id="SIGINT"),
]


def feed(count: int) -> bytes:
    """An RSS 2.0 feed of `count` dated items, each a mention of Acme."""
    now = datetime.now(UTC)
    items = "".join(
        f"<item><title>Acme post {i}</title><link>https://site{i}.news.test/post</link><guid>post-{i}</guid>"
        f"<description>What people say about Acme, number {i}</description>"
        f"<pubDate>{format_datetime(now - timedelta(minutes=i + 1), usegmt=True)}</pubDate></item>"
        for i in range(count)
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{items}</channel></rss>'.encode()


def config(tmp_path: Path, server: LoopbackServer) -> Path:
    path = tmp_path / "mw.yaml"
    path.write_text(
        "brands:\n  - name: Acme\n    terms: [Acme]\n"
        f"sources:\n  - type: rss\n    name: feed\n    urls: [{server.url}/feed.xml]\n",
        encoding="utf-8",
    )
    return path


def fetch_ends(server: LoopbackServer) -> threading.Event:
    """Set once the scan's fetch has ended: the server keeps its connections alive (HTTP/1.1), and a scan closes
    its HTTP client, and with it the connection, when its fetch ends and before anything else (pipeline._scan)."""
    closed = threading.Event()

    class KeepAlive(server.httpd.RequestHandlerClass):  # type: ignore[name-defined,misc]
        protocol_version = "HTTP/1.1"
        timeout = 60  # a connection left open ends with this socket timeout

        def handle(self) -> None:
            try:
                super().handle()
            finally:
                closed.set()

    server.httpd.RequestHandlerClass = KeepAlive
    return closed


class HeldStore:
    """The write lock of the scan's SQLite store, held by the test: a scan whose next step writes to its store waits
    for it (its busy timeout is 30 s), so that it cannot end until `release`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.db: sqlite3.Connection | None = None

    def take(self) -> None:
        self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        self.db.execute("BEGIN IMMEDIATE")

    def release(self) -> None:
        if self.db is not None:
            self.db.execute("ROLLBACK")
            self.db.close()
            self.db = None


@pytest.fixture
def popen() -> Iterator[list[subprocess.Popen[bytes]]]:
    """The scans a test starts, killed if the test ends before they do."""
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.kill()
        proc.wait(timeout=30)


def start_scan(tmp_path: Path, popen: list[subprocess.Popen[bytes]], *args: str) -> subprocess.Popen[bytes]:
    # Unbuffered bytes: a line read here takes no more from the pipe than the line (`communicate` reads on).
    proc = subprocess.Popen(
        cli_command("scan", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        bufsize=0,
        env=cli_env(tmp_path),
        cwd=tmp_path,
    )
    popen.append(proc)
    return proc


@pytest.mark.e2e
@pytest.mark.parametrize(("signum", "code", "said"), SIGNALS)
def test_a_signal_after_the_fetch_lets_the_scan_write_what_it_gathered(
    tmp_path: Path, server: LoopbackServer, popen: list[subprocess.Popen[bytes]], signum: int, code: int, said: str
) -> None:
    # The signal comes while the scan dedupes, scores and stores: once its fetch is over, before it can save what
    # it found (it only reads the store while it fetches).
    ended = fetch_ends(server)
    store = HeldStore(tmp_path / "store.sqlite3")

    def answer(_request: Request) -> Reply:
        store.take()
        return Reply(200, feed(30), RSS)

    server.route("/feed.xml", answer)
    out = tmp_path / "out.csv"
    proc = start_scan(tmp_path, popen, "-c", str(config(tmp_path, server)), "--db", str(store.path), "-o", str(out))
    try:
        assert ended.wait(60), "the scan's fetch ends"
        proc.send_signal(signum)
    finally:
        store.release()
    stderr = proc.communicate(timeout=60)[1].decode()
    assert proc.returncode == code, stderr
    assert f"mentionwatch: {said}; printed what was gathered" in stderr.splitlines()
    with out.open(encoding="utf-8", newline="") as f:
        assert sorted(row["id"].partition("/")[2] for row in csv.DictReader(f)) == sorted(f"post-{i}" for i in range(30))
    assert [p.name for p in tmp_path.glob(".out.csv.*")] == []


@pytest.mark.e2e
@pytest.mark.parametrize(("signum", "code", "said"), SIGNALS)
def test_a_signal_while_the_output_is_printed_lets_it_finish(
    tmp_path: Path, server: LoopbackServer, popen: list[subprocess.Popen[bytes]], signum: int, code: int, said: str
) -> None:
    # Far more output than a pipe holds: the scan waits on the pipe until the test reads on, after the signal.
    server.route("/feed.xml", Reply(200, feed(2000), RSS))
    proc = start_scan(tmp_path, popen, "-c", str(config(tmp_path, server)), "--no-store", "-f", "jsonl")
    assert proc.stdout is not None
    first = proc.stdout.readline()  # the output has begun: the fetch is long over
    proc.send_signal(signum)
    rest, stderr = proc.communicate(timeout=60)
    assert proc.returncode == code, stderr
    assert f"mentionwatch: {said}; printed what was gathered" in stderr.decode().splitlines()
    rows = [json.loads(line) for line in (first + rest).splitlines()]
    assert sorted(r["id"].partition("/")[2] for r in rows) == sorted(f"post-{i}" for i in range(2000))


CTRL_C_AT_IMPORT = """\
import os, runpy, signal, sys

runpy.run_path({guard!r})  # the network guard, as every e2e subprocess has it


class CtrlC:
    \"\"\"Ctrl-C the moment module {module!r} starts to load.\"\"\"

    def find_spec(self, name, path=None, target=None):
        if name == {module!r}:
            sys.meta_path.remove(self)
            os.kill(os.getpid(), signal.SIGINT)
        return None


sys.meta_path.insert(0, CtrlC())
"""


@pytest.mark.e2e
@pytest.mark.parametrize("module", ["typer", "mentionwatch.cli.scan"])
def test_ctrl_c_while_the_command_loads_ends_quietly_with_130(tmp_path: Path, module: str) -> None:
    # A sitecustomize of the test's own (in place of the guard's, which it runs) sends the Ctrl-C from inside
    # the import: a person's Ctrl-C in the first tenth of a second lands there.
    site = tmp_path / "site"
    site.mkdir()
    code = CTRL_C_AT_IMPORT.format(guard=str(GUARD_PATH / "sitecustomize.py"), module=module)
    (site / "sitecustomize.py").write_text(code, encoding="utf-8")
    env = cli_env(tmp_path, {"PYTHONPATH": str(site)})
    proc = subprocess.run(cli_command("scan"), capture_output=True, text=True, env=env, cwd=tmp_path, timeout=60)
    assert (proc.returncode, proc.stderr) == (130, "")

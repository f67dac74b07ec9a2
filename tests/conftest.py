"""Shared test set-up: the network guard, fixture loading, a loopback HTTP server, and a CLI runner."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from mentionwatch.http import HttpSettings, SourceHttp
from mentionwatch.source import SourceContext

import netguard

netguard.install()

FIXTURES = Path(__file__).parent / "fixtures"
GUARD_PATH = Path(__file__).parent / "sitecustomize_guard"


def mock_context(
    handler: Callable[[httpx.Request], httpx.Response], now: Callable[[], datetime], **extra: Any
) -> SourceContext:
    """A source's context whose HTTP goes to `handler` (httpx.MockTransport), with no retries: a 429 or 5xx
    is reported at once instead of being retried with real waits."""
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return SourceContext(http=SourceHttp(client, HttpSettings(retries=0)), now=now, **extra)


def fixture_path(*parts: str) -> Path:
    return FIXTURES.joinpath(*parts)


def load_json(*parts: str) -> Any:
    return json.loads(fixture_path(*parts).read_text(encoding="utf-8"))


@pytest.fixture(autouse=True)
def _isolated_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """No test reads or writes the real user's config, cache or state."""
    home = tmp_path_factory.mktemp("home")
    for var in ("XDG_CONFIG_HOME", "XDG_CACHE_HOME", "XDG_STATE_HOME", "XDG_DATA_HOME"):
        monkeypatch.setenv(var, str(home / var.lower()))
    monkeypatch.delenv("MENTIONWATCH_CONFIG", raising=False)


# A handler answers (status, headers, body) for a request path+query; a `Route` may also delay.
Handler = Callable[["Request"], "Reply"]


@dataclass
class Request:
    method: str
    path: str
    query: str
    headers: dict[str, str]


@dataclass
class Reply:
    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    # Streamed without a Content-Length (the connection's close ends the body), for huge bodies.
    chunks: Callable[[], Iterator[bytes]] | None = None
    # Seconds to stall before answering (bounded: the server's stop event cuts it short).
    stall: float = 0.0


class LoopbackServer:
    """A threaded HTTP server on 127.0.0.1 with per-path handlers; records every request it gets."""

    def __init__(self) -> None:
        self.routes: dict[str, Handler] = {}
        self.requests: list[Request] = []
        self.stopping = threading.Event()
        outer = self

        class _H(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                path, _, query = self.path.partition("?")
                req = Request("GET", path, query, {k.lower(): v for k, v in self.headers.items()})
                outer.requests.append(req)
                handler = outer.routes.get(path)
                reply = handler(req) if handler else Reply(404, b"not found")
                if reply.stall and outer.stopping.wait(reply.stall):
                    return
                try:
                    self.send_response(reply.status)
                    for k, v in reply.headers.items():
                        self.send_header(k, v)
                    if reply.chunks is None:
                        self.send_header("Content-Length", str(len(reply.body)))
                        self.end_headers()
                        self.wfile.write(reply.body)
                        return
                    self.end_headers()
                    for chunk in reply.chunks():
                        if outer.stopping.is_set():
                            return
                        self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    pass

            def log_message(self, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _H)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def route(self, path: str, handler: Handler | Reply) -> None:
        self.routes[path] = handler if callable(handler) else (lambda _r, _reply=handler: _reply)

    def __enter__(self) -> LoopbackServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopping.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[LoopbackServer]:
    with LoopbackServer() as srv:
        yield srv


@dataclass
class Run:
    code: int
    stdout: str
    stderr: str


# -- the store's two engines
#
# scripts/check starts a throwaway PostgreSQL server and exports its URL here (a database the tests may create
# schemas in). Without it, tests that need the server skip, saying why; with CI=true they fail instead.
POSTGRES_ENV = "MENTIONWATCH_TEST_POSTGRES"
ENGINES = ("sqlite", "postgres")


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The test server's URL (a database the tests make schemas in), or a skip (a failure in CI)."""
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    reason = f"no PostgreSQL server for the tests: ${POSTGRES_ENV} is not set (bash scripts/check starts one)"
    if os.environ.get("CI") == "true":
        pytest.fail(reason)
    pytest.skip(reason)


@pytest.fixture
def postgres_url(postgres_server: str) -> Iterator[str]:
    """A fresh, empty PostgreSQL store for one test: a schema of its own (first on its search_path; `public` after
    it, where the unaccent extension lives), dropped afterwards."""
    import uuid

    import psycopg

    schema = f"mw_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute("CREATE EXTENSION IF NOT EXISTS unaccent SCHEMA public")
        conn.execute(f"CREATE SCHEMA {schema}")
    separator = "&" if "?" in postgres_server else "?"
    yield f"{postgres_server}{separator}options=-csearch_path%3D{schema},public"
    with psycopg.connect(postgres_server, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA {schema} CASCADE")


@pytest.fixture(params=ENGINES)
def store_location(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """A fresh store's location, once per engine: a SQLite file, or a PostgreSQL URL."""
    if request.param == "sqlite":
        return str(tmp_path / "store.sqlite3")
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def store_factory(store_location: str) -> Iterator[Callable[[], Any]]:
    """Opens the test's store (one per engine, see `store_location`); every store it opened is closed after."""
    from mentionwatch.store import open_store

    opened: list[Any] = []

    def make() -> Any:
        store = open_store(store_location)
        opened.append(store)
        return store

    yield make
    for store in opened:
        store.close()


@pytest.fixture
def store(store_factory: Callable[[], Any]) -> Any:
    """A fresh store, once per engine."""
    return store_factory()


@pytest.fixture
def cli_store_env() -> dict[str, str]:
    """Extra environment for every `cli` / `run_cli` call: none here; a module that runs its CLI tests against
    both engines overrides it with `{"MENTIONWATCH_DB": store_location}`."""
    return {}


@pytest.fixture
def run_cli(tmp_path: Path, cli_store_env: dict[str, str]) -> Callable[..., Run]:
    """Run the installed `mentionwatch` command in a subprocess, with the network guard loaded in it."""

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        proc = subprocess.run(
            cli_command(*args),
            input=stdin,
            capture_output=True,
            text=True,
            env=cli_env(tmp_path, {**cli_store_env, **(env or {})}),
            timeout=timeout,
            cwd=tmp_path,
        )
        return Run(proc.returncode, proc.stdout, proc.stderr)

    return run


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, cli_store_env: dict[str, str]) -> Callable[..., Run]:
    """Run the `mentionwatch` app in this process (Typer's CliRunner): the same environment as `run_cli`, at a
    fraction of a subprocess's cost. For what needs a real process (the installed script, signals, the
    subprocess network guard), use `run_cli` and mark the test `e2e`."""
    import gc

    from typer.testing import CliRunner

    from mentionwatch.cli import app

    monkeypatch.chdir(tmp_path)

    def run(*args: str, stdin: str | None = None, env: dict[str, str] | None = None, timeout: float = 60) -> Run:
        # `timeout` is run_cli's; in-process, a stuck scan is cut short by its own source deadlines.
        full_env = {k: v for k, v in cli_env(tmp_path, {**cli_store_env, **(env or {})}).items() if k != "PYTHONPATH"}
        gone = [k for k in os.environ if k.startswith("MENTIONWATCH_") and k not in full_env]
        result = CliRunner().invoke(app, list(args), input=stdin, env={**full_env, **dict.fromkeys(gone)})
        # `scan` freezes what is alive for the rest of its process (see cli/scan.py); this process goes on.
        gc.unfreeze()
        if result.exception is not None and not isinstance(result.exception, SystemExit):
            raise result.exception
        return Run(result.exit_code, result.stdout, result.stderr)

    return run


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test that runs the real command in a subprocess is an end-to-end test: it must say so (`-m e2e`)."""
    unmarked = [i.nodeid for i in items if "run_cli" in getattr(i, "fixturenames", ()) and not i.get_closest_marker("e2e")]
    if unmarked:
        raise pytest.UsageError(f"tests using run_cli must be marked e2e: {', '.join(unmarked)}")


def cli_command(*args: str) -> list[str]:
    exe = Path(sys.executable).with_name("mentionwatch")
    return [str(exe) if exe.exists() else "mentionwatch", *args]


def cli_env(tmp_path: Path, env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment the CLI runs in: the network guard, private XDG dirs, no colour, dead proxies."""
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("MENTIONWATCH_", "COLUMNS", "PYTHONPATH"))}
    full_env.update(
        {
            "PYTHONPATH": str(GUARD_PATH),
            "XDG_CONFIG_HOME": str(tmp_path / "config"),
            "XDG_CACHE_HOME": str(tmp_path / "cache"),
            "XDG_STATE_HOME": str(tmp_path / "state"),
            "XDG_DATA_HOME": str(tmp_path / "data"),
            # Belt and braces: anything not on loopback goes to a closed loopback port and fails at once.
            "HTTP_PROXY": "http://127.0.0.1:9",
            "HTTPS_PROXY": "http://127.0.0.1:9",
            "ALL_PROXY": "http://127.0.0.1:9",
            "NO_PROXY": "127.0.0.1,localhost",
            "NO_COLOR": "1",
            "COLUMNS": "200",
        }
    )
    full_env.update(env or {})
    return full_env

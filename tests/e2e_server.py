"""A loopback HTTP server for the all-sources end-to-end test: GET and POST, bounded, self-stopping.

Modelled on `conftest.LoopbackServer` (which answers GET only): a Bluesky login and a Reddit OAuth token are POSTs.
It listens on 127.0.0.1 only, records every request (method, path, decoded query, headers, body), and bounds itself:
request bodies above `max_body` are refused unread, requests past `max_requests` get a 503, and it shuts itself down
after `lifetime` seconds even if the test that started it never does.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

from conftest import Reply


@dataclass(frozen=True)
class Received:
    """One request as the server saw it."""

    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""

    def param(self, name: str) -> str:
        """The single value of a query parameter (KeyError if absent, AssertionError if repeated)."""
        values = self.query[name]
        assert len(values) == 1, f"{name} sent {len(values)} times: {values}"
        return values[0]


Handler = Callable[[Received], Reply]


def _always(reply: Reply) -> Handler:
    def handler(_request: Received) -> Reply:
        return reply

    return handler


@dataclass
class E2EServer:
    """Answers `(method, path)` routes from 127.0.0.1; anything unrouted is a 404 (and still recorded).

    A `Reply`'s status, headers and body are sent; its `stall` and `chunks` (conftest's fault injection) are not used.
    """

    lifetime: float = 120.0
    max_requests: int = 500
    max_body: int = 64 * 1024
    routes: dict[tuple[str, str], Handler] = field(default_factory=dict)
    requests: list[Received] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._stopped = threading.Event()
        outer = self

        class _Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                outer._answer(self, "GET")

            def do_POST(self) -> None:
                outer._answer(self, "POST")

            def log_message(self, *args: Any) -> None:
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        self._httpd.daemon_threads = True
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self._timer = threading.Timer(self.lifetime, self.stop)
        self._timer.daemon = True

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._httpd.server_address[1]}"

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def route(self, method: str, path: str, answer: Handler | Reply) -> None:
        self.routes[(method, path)] = _always(answer) if isinstance(answer, Reply) else answer

    def received(self, method: str, path: str) -> list[Received]:
        with self._lock:
            return [r for r in self.requests if r.method == method and r.path == path]

    def _answer(self, handler: BaseHTTPRequestHandler, method: str) -> None:
        path, _, query = handler.path.partition("?")
        headers = {k.lower(): v for k, v in handler.headers.items()}
        length = int(headers.get("content-length") or 0)
        if length > self.max_body:
            self._send(handler, Reply(413, b"request body too large"))
            return
        body = handler.rfile.read(length) if length else b""
        request = Received(method, path, parse_qs(query, keep_blank_values=True), headers, body)
        with self._lock:
            full = len(self.requests) >= self.max_requests
            if not full:
                self.requests.append(request)
        if full:
            self._send(handler, Reply(503, b"e2e server: request budget spent"))
            return
        answer = self.routes.get((method, path))
        self._send(handler, answer(request) if answer else Reply(404, b"not found"))

    def _send(self, handler: BaseHTTPRequestHandler, reply: Reply) -> None:
        try:
            handler.send_response(reply.status)
            for name, value in reply.headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(reply.body)))
            handler.end_headers()
            handler.wfile.write(reply.body)
        except (BrokenPipeError, ConnectionResetError):
            pass

    def start(self) -> E2EServer:
        self._thread.start()
        self._timer.start()
        return self

    def stop(self) -> None:
        with self._lock:
            if self._stopped.is_set():
                return
            self._stopped.set()
        self._timer.cancel()
        self._httpd.shutdown()
        self._httpd.server_close()

    def __enter__(self) -> E2EServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

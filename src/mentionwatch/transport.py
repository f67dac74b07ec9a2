"""A lean HTTP/1.1 transport for httpx: asyncio streams and h11, with a keep-alive pool.

httpx's default transport (httpcore over anyio) spent about 1 ms of CPU on each request of a 200-feed scan:
its pool re-scans every connection on every event, each lock and event is an anyio object, and each
readability check of an idle connection is a `select` call. That cost is paid one request after another,
while the next round of requests waits to be sent. This transport does the plain case, a request straight to
its server, in a fraction of that (benchmarks/README.md, "Fetch"). httpx still does everything above the
wire: redirects, cookies, auth, content decoding, the timeouts' configuration. A request through a proxy
goes to httpx's own transport, which knows proxies.

h11 (already installed: httpcore depends on it) reads and writes HTTP/1.1: chunked and length-delimited
bodies, keep-alive, and it refuses malformed responses.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator, Callable
from typing import Any

import h11
import httpx

READ_SIZE = 64 * 1024
# RFC 8305's recommended head start for IPv6 before IPv4 is tried too (httpcore's anyio does the same).
HAPPY_EYEBALLS_DELAY = 0.25
# Sent again on a new connection when a kept-alive one turns out closed before answering.
_RETRYABLE = frozenset({"GET", "HEAD", "OPTIONS"})

Key = tuple[str, str, int]


class AddressBlocked(httpx.TransportError):
    """A request that would reach an internal address it was not configured for."""


class _Connection:
    """One socket and its HTTP/1.1 state."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.h11 = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=READ_SIZE)

    def usable(self) -> bool:
        # A server that closed an idle connection shows as end of file.
        return not self.reader.at_eof() and not self.writer.is_closing()

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self.writer.close()


class _Stale(Exception):
    """The connection closed before any byte of an answer came back."""


class StreamTransport(httpx.AsyncBaseTransport):
    """HTTP/1.1 over asyncio streams, idle connections kept per (scheme, host, port), at most `max_idle`.

    How many requests are under way at once is the caller's to cap (`http.Limits`). `allow_address` is asked
    about every new connection's peer address before the request is written (`http.may_connect_to`)."""

    def __init__(
        self,
        tls: Callable[[], ssl.SSLContext],
        *,
        max_idle: int = 100,
        proxy_for: Callable[[httpx.URL], str | None] = lambda url: None,
        allow_address: Callable[[httpx.Request, str], bool] = lambda request, address: True,
    ) -> None:
        self._tls = tls  # asked for on the first https request: plain http:// never loads the CA bundle
        self._max_idle = max_idle
        self._proxy_for = proxy_for
        self._allow_address = allow_address
        self._proxied: dict[str, httpx.AsyncHTTPTransport] = {}
        self._idle: dict[Key, list[_Connection]] = {}
        self._idle_count = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        url = request.url
        proxy = self._proxy_for(url)
        if proxy is not None:
            if proxy not in self._proxied:
                self._proxied[proxy] = httpx.AsyncHTTPTransport(proxy=proxy, verify=self._tls())
            return await self._proxied[proxy].handle_async_request(request)
        if url.scheme not in ("http", "https") or not url.host:  # a redirect to `file:` and the like
            raise httpx.UnsupportedProtocol(f"cannot send a request to {url.scheme}: URLs", request=request)
        key = (url.scheme, url.host, url.port or (443 if url.scheme == "https" else 80))
        timeouts: dict[str, float | None] = request.extensions.get("timeout", {})
        message = _message(request, await request.aread())
        while True:
            conn = self._take(key)
            reused = conn is not None
            if conn is None:
                conn = await self._connect(request, key, timeouts.get("connect"))
            try:
                head = await _exchange(conn, request, message(conn.h11), timeouts)
            except _Stale:
                conn.close()
                if reused and request.method in _RETRYABLE:
                    continue  # the server had closed the kept-alive connection: once more, on a new one
                raise httpx.RemoteProtocolError(
                    "the server closed the connection without answering", request=request
                ) from None
            except BaseException:
                conn.close()
                raise
            return httpx.Response(
                head.status_code,
                headers=head.headers.raw_items(),
                stream=_Body(self, key, conn, request, timeouts.get("read")),
                extensions={"http_version": b"HTTP/1.1", "reason_phrase": head.reason},
            )

    async def aclose(self) -> None:
        conns = [conn for idle in self._idle.values() for conn in idle]
        self._idle.clear()
        self._idle_count = 0
        for conn in conns:
            conn.close()
        # Let TLS connections say goodbye before the loop ends, without waiting long for any server.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(1.0):
                await asyncio.gather(*(c.writer.wait_closed() for c in conns), return_exceptions=True)
        for transport in self._proxied.values():
            await transport.aclose()

    def _take(self, key: Key) -> _Connection | None:
        idle = self._idle.get(key)
        while idle:
            conn = idle.pop()
            self._idle_count -= 1
            if conn.usable():
                return conn
            conn.close()
        return None

    def give_back(self, key: Key, conn: _Connection) -> None:
        """A connection whose answer was read to its end, for the next request to the same server."""
        if self._idle_count >= self._max_idle or not conn.usable():
            conn.close()
            return
        self._idle.setdefault(key, []).append(conn)
        self._idle_count += 1

    async def _connect(self, request: httpx.Request, key: Key, timeout: float | None) -> _Connection:
        scheme, host, port = key
        tls = self._tls() if scheme == "https" else None
        try:
            async with asyncio.timeout(timeout):
                reader, writer = await asyncio.open_connection(
                    host,
                    port,
                    ssl=tls,
                    server_hostname=host if tls else None,
                    limit=READ_SIZE,
                    happy_eyeballs_delay=HAPPY_EYEBALLS_DELAY,
                )
        except TimeoutError:
            raise httpx.ConnectTimeout(f"connecting to {host}:{port} timed out", request=request) from None
        except OSError as exc:  # ssl.SSLError (a bad certificate) is an OSError too
            raise httpx.ConnectError(f"cannot connect to {host}:{port}: {exc}", request=request) from None
        conn = _Connection(reader, writer)
        peer = writer.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        if not self._allow_address(request, address):
            conn.close()  # before a byte of the request is sent
            raise AddressBlocked(f"refused: {host} connected to internal address {address}", request=request)
        return conn


def _message(request: httpx.Request, body: bytes) -> Callable[[h11.Connection], bytes]:
    """The request as bytes for a given connection (h11 checks it against that connection's state)."""
    event = h11.Request(method=request.method, target=request.url.raw_path, headers=list(request.headers.raw))

    def encode(conn: h11.Connection) -> bytes:
        data = conn.send(event) or b""
        if body:
            data += conn.send(h11.Data(data=body)) or b""
        return data + (conn.send(h11.EndOfMessage()) or b"")

    return encode


async def _exchange(
    conn: _Connection, request: httpx.Request, data: bytes, timeouts: dict[str, float | None]
) -> h11.Response:
    """Send the request, and read the answer's status line and headers."""
    conn.writer.write(data)
    try:
        async with asyncio.timeout(timeouts.get("write")):
            await conn.writer.drain()
    except TimeoutError:
        raise httpx.WriteTimeout("sending the request timed out", request=request) from None
    except OSError:
        raise _Stale from None
    received = False
    while True:
        try:
            event = conn.h11.next_event()
        except h11.RemoteProtocolError as exc:
            if not received:  # a kept-alive connection the server had closed: EOF before a status line
                raise _Stale from None
            raise httpx.RemoteProtocolError(f"malformed response: {exc}", request=request) from None
        if event is h11.NEED_DATA:
            data = await _read(conn, request, timeouts.get("read"))
            received = received or bool(data)
            conn.h11.receive_data(data)
        elif isinstance(event, h11.Response):
            return event
        elif isinstance(event, h11.ConnectionClosed):
            raise _Stale
        # else an informational (1xx) answer before the real one: skipped


async def _read(conn: _Connection, request: httpx.Request, timeout: float | None) -> bytes:
    try:
        async with asyncio.timeout(timeout):
            return await conn.reader.read(READ_SIZE)
    except TimeoutError:
        raise httpx.ReadTimeout("reading the response timed out", request=request) from None
    except OSError as exc:
        raise httpx.ReadError(f"reading the response failed: {exc}", request=request) from None


class _Body(httpx.AsyncByteStream):
    """A response body, read as it is iterated. Read to its end, its connection goes back to the pool;
    closed before (a capped body, an error, a cancelled task), the connection is closed."""

    def __init__(
        self, transport: StreamTransport, key: Key, conn: _Connection, request: httpx.Request, timeout: float | None
    ) -> None:
        self._transport = transport
        self._key = key
        self._conn: _Connection | None = conn
        self._request = request
        self._timeout = timeout

    async def __aiter__(self) -> AsyncIterator[bytes]:
        conn = self._conn
        if conn is None:
            return
        try:
            while True:
                try:
                    event: Any = conn.h11.next_event()
                except h11.RemoteProtocolError as exc:  # e.g. the body ended before its Content-Length
                    raise httpx.RemoteProtocolError(f"malformed response body: {exc}", request=self._request) from None
                if event is h11.NEED_DATA:
                    conn.h11.receive_data(await _read(conn, self._request, self._timeout))
                elif isinstance(event, h11.Data):
                    yield bytes(event.data)
                elif isinstance(event, h11.EndOfMessage):
                    self._conn = None
                    if conn.h11.our_state is h11.DONE and conn.h11.their_state is h11.DONE:
                        conn.h11.start_next_cycle()
                        self._transport.give_back(self._key, conn)
                    else:  # the server said it would close (`Connection: close`, or an HTTP/1.0 answer)
                        conn.close()
                    return
                else:  # ConnectionClosed: the body was delimited by the close, and has ended
                    self._conn = None
                    conn.close()
                    return
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        if self._conn is not None:
            self._conn.close()
            self._conn = None

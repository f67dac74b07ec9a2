"""The HTTP/1.1 transport against raw loopback servers: keep-alive, stale connections, framing, errors, TLS,
proxies. Each server is a few lines of asyncio, so every byte on the wire is what the test says."""

from __future__ import annotations

import asyncio
import gzip
import json
import socket
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest
import trustme

from e2e_server import E2EServer
from mentionwatch.errors import FetchError
from mentionwatch.http import AddressGuard, HttpSettings, SourceHttp, build_client, tls_context
from mentionwatch.transport import AddressBlocked, StreamTransport

from conftest import Reply

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, int], Awaitable[None]]


async def read_request(reader: asyncio.StreamReader) -> bytes:
    """The request line and headers (our requests here carry no body), or b"" at end of file."""
    try:
        return await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return b""


def ok(body: bytes = b"hello", extra: str = "") -> bytes:
    return f"HTTP/1.1 200 OK\r\nContent-Length: {len(body)}\r\n{extra}\r\n".encode() + body


async def serve(handler: Handler, test: Callable[[str], Awaitable[Any]], tls: ssl.SSLContext | None = None) -> Any:
    """Run `test(base_url)` against a loopback server whose connection number n is served by `handler`."""
    count = 0

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        count += 1
        try:
            await handler(reader, writer, count)
        except (ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0, ssl=tls)
    port = server.sockets[0].getsockname()[1]
    async with server:
        return await asyncio.wait_for(test(f"{'https' if tls else 'http'}://127.0.0.1:{port}"), 10)


def client(transport: httpx.AsyncBaseTransport | None = None, timeout: float = 5.0) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=transport or StreamTransport(tls_context), timeout=timeout)


def test_scans_use_this_transport_behind_the_address_guard() -> None:
    transport = build_client(HttpSettings())._transport
    assert isinstance(transport, AddressGuard) and isinstance(transport.inner, StreamTransport)


def test_a_kept_alive_connection_serves_the_next_requests() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        connections.append(n)
        while await read_request(reader):
            writer.write(ok(b"hello"))

    async def test(base: str) -> list[str]:
        async with client() as c:
            return [(await c.get(f"{base}/{i}")).text for i in range(3)]

    assert asyncio.run(serve(handler, test)) == ["hello"] * 3
    assert connections == [1]


def test_a_connection_the_server_closed_while_idle_is_replaced_and_the_get_sent_again() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(ok(f"answer on connection {n}".encode()))
        await writer.drain()
        await read_request(reader)  # the next request on this connection: closed without an answer

    async def test(base: str) -> list[str]:
        async with client() as c:
            return [(await c.get(f"{base}/a")).text, (await c.get(f"{base}/b")).text]

    assert asyncio.run(serve(handler, test)) == ["answer on connection 1", "answer on connection 2"]


def test_a_post_is_not_sent_twice_when_its_connection_closes() -> None:
    posts = 0

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        nonlocal posts
        head = await read_request(reader)
        writer.write(ok())
        await writer.drain()
        head = await read_request(reader)
        posts += head.startswith(b"POST")

    async def test(base: str) -> None:
        async with client() as c:
            await c.get(f"{base}/a")
            with pytest.raises(httpx.RemoteProtocolError, match="without answering"):
                await c.post(f"{base}/token", content=b"")

    asyncio.run(serve(handler, test))
    assert posts == 1


def test_chunked_and_gzip_bodies_are_decoded() -> None:
    body = gzip.compress(b"<rss>" + b"x" * 100_000 + b"</rss>")

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nContent-Encoding: gzip\r\n\r\n")
        for i in range(0, len(body), 7000):
            part = body[i : i + 7000]
            writer.write(f"{len(part):x}\r\n".encode() + part + b"\r\n")
            await writer.drain()
        writer.write(b"0\r\n\r\n")

    async def test(base: str) -> bytes:
        async with client() as c:
            return (await c.get(base)).content

    assert asyncio.run(serve(handler, test)) == b"<rss>" + b"x" * 100_000 + b"</rss>"


def test_a_body_delimited_by_the_close_is_read_to_the_end_and_not_reused() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        connections.append(n)
        await read_request(reader)
        writer.write(b"HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nold server, no length")

    async def test(base: str) -> list[str]:
        async with client() as c:
            return [(await c.get(base)).text, (await c.get(base)).text]

    assert asyncio.run(serve(handler, test)) == ["old server, no length"] * 2
    assert connections == [1, 2]


def test_connection_close_is_honoured() -> None:
    connections: list[int] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        connections.append(n)
        await read_request(reader)
        writer.write(ok(b"bye", "Connection: close\r\n"))

    async def test(base: str) -> None:
        async with client() as c:
            for _ in range(2):
                assert (await c.get(base)).text == "bye"

    asyncio.run(serve(handler, test))
    assert connections == [1, 2]


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly this", httpx.RemoteProtocolError),  # cut short
        (b"this is not http at all\r\n\r\n", httpx.RemoteProtocolError),
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!", httpx.RemoteProtocolError),
    ],
)
def test_broken_answers_are_protocol_errors(answer: bytes, error: type[Exception]) -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(answer)

    async def test(base: str) -> None:
        async with client() as c:
            with pytest.raises(error):
                await c.get(base)

    asyncio.run(serve(handler, test))


def test_a_silent_server_is_a_read_timeout_and_a_closed_port_a_connect_error() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        await asyncio.sleep(5)

    async def test(base: str) -> None:
        async with client(timeout=0.2) as c:
            with pytest.raises(httpx.ReadTimeout):
                await c.get(base)
        probe = await asyncio.start_server(lambda r, w: None, "127.0.0.1", 0)
        port = probe.sockets[0].getsockname()[1]
        probe.close()
        await probe.wait_closed()
        async with client() as c:
            with pytest.raises(httpx.ConnectError):
                await c.get(f"http://127.0.0.1:{port}/")

    asyncio.run(serve(handler, test))


def test_a_redirect_to_a_file_url_is_refused() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        await read_request(reader)
        writer.write(b"HTTP/1.1 302 Found\r\nLocation: file:///etc/passwd\r\nContent-Length: 0\r\n\r\n")

    async def test(base: str) -> None:
        async with httpx.AsyncClient(transport=StreamTransport(tls_context), follow_redirects=True) as c:
            with pytest.raises(httpx.UnsupportedProtocol):
                await c.get(base)

    asyncio.run(serve(handler, test))


def test_idle_connections_are_capped() -> None:
    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await read_request(reader):
            await asyncio.sleep(0.05)  # slow enough that the five requests are under way together
            writer.write(ok())

    async def test(base: str) -> int:
        transport = StreamTransport(tls_context, max_idle=2)
        async with client(transport) as c:
            await asyncio.gather(*(c.get(f"{base}/{i}") for i in range(5)))
            return sum(len(idle) for idle in transport._idle.values())

    assert asyncio.run(serve(handler, test)) == 2


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


def test_https_verifies_the_certificate(ca: trustme.CA) -> None:
    server_tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_tls)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        while await read_request(reader):
            writer.write(ok(b"secret"))

    async def test(base: str) -> str:
        async with client(StreamTransport(lambda: trusting)) as c:
            text = (await c.get(base)).text
        async with client(StreamTransport(tls_context)) as c:  # the public CAs do not know this one
            with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
                await c.get(base)
        return text

    assert asyncio.run(serve(handler, test, tls=server_tls)) == "secret"


def test_a_proxied_request_goes_to_the_proxy() -> None:
    seen: list[bytes] = []

    async def proxy(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        seen.append((await read_request(reader)).split(b"\r\n")[0])
        writer.write(ok(b"via the proxy"))

    async def test(base: str) -> str:
        transport = StreamTransport(tls_context, proxy_for=lambda url: base)
        async with client(transport) as c:
            return (await c.get("http://feeds.example/rss.xml")).text

    assert asyncio.run(serve(proxy, test)) == "via the proxy"
    assert seen == [b"GET http://feeds.example/rss.xml HTTP/1.1"]


def test_the_environment_names_the_proxy_and_no_proxy_bypasses_it(monkeypatch: pytest.MonkeyPatch) -> None:
    from mentionwatch.http import Proxies

    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("NO_PROXY", "intranet.example")
    monkeypatch.setenv("no_proxy", "intranet.example")
    assert Proxies.from_environment()(httpx.URL("http://feeds.example/")) is None
    monkeypatch.setenv("HTTP_PROXY", "http://127.0.0.1:3128")
    monkeypatch.setenv("http_proxy", "http://127.0.0.1:3128")
    proxy_for = Proxies.from_environment()
    assert proxy_for(httpx.URL("http://feeds.example/")) == "http://127.0.0.1:3128"
    assert proxy_for(httpx.URL("http://intranet.example/")) is None
    assert proxy_for(httpx.URL("https://feeds.example/")) is None  # no HTTPS_PROXY


def test_a_connection_to_a_refused_address_sends_nothing() -> None:
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        received.append(await reader.read(1024))

    async def test(base: str) -> None:
        transport = StreamTransport(tls_context, allow_address=lambda request, address: address != "127.0.0.1")
        async with client(transport) as c:
            with pytest.raises(AddressBlocked, match=r"connected to internal address 127\.0\.0\.1"):
                await c.get(base)
        await asyncio.sleep(0.05)  # the server sees the connection end

    asyncio.run(serve(handler, test))
    assert received == [b""]  # the connection was made and closed, and not a byte of the request was sent


def test_a_name_that_rebinds_to_an_internal_address_after_the_check_gets_nothing() -> None:
    # The guard's lookup answers a public address; the connection's own lookup, a moment later, answers
    # loopback (DNS rebinding). Neither lookup leaves the machine: both resolvers are fakes.
    received: list[bytes] = []

    async def handler(reader: asyncio.StreamReader, writer: asyncio.StreamWriter, n: int) -> None:
        received.append(await reader.read(1024))
        writer.write(ok(b"internal admin page"))

    async def public(host: str, port: int) -> list[str]:
        return ["93.184.216.34"]

    async def test(base: str) -> None:
        port = int(base.rsplit(":", 1)[1])
        loop = asyncio.get_running_loop()

        async def rebound(host: Any, *args: Any, **kwargs: Any) -> list[Any]:
            assert host == "rebind.example"
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("127.0.0.1", port))]

        loop.getaddrinfo = rebound  # type: ignore[method-assign]
        transport = build_client(HttpSettings())._transport
        assert isinstance(transport, AddressGuard)
        transport.resolver = public
        transport.proxy_for = lambda url: None
        http = SourceHttp(httpx.AsyncClient(transport=transport), HttpSettings(retries=0))
        with pytest.raises(FetchError, match=r"connected to internal address 127\.0\.0\.1"):
            await http.get(f"http://rebind.example:{port}/admin")
        await asyncio.sleep(0.05)

    asyncio.run(serve(handler, test))
    assert received == [b""]


# --- Redirects: credentials stay with their origin (two loopback servers on two ports: two origins) ------------

JSON_TYPE = {"Content-Type": "application/json"}


def moved(location: str, status: int) -> Reply:
    return Reply(status, b"", {"Location": location})


def send_all(*requests: tuple[str, str, dict[str, Any]]) -> list[Any]:
    """Send the requests one after the other through one scan client (its cookie jar included); each result is
    the Response or the FetchError it ended in."""

    async def go() -> list[Any]:
        settings = HttpSettings(retries=0)
        async with build_client(settings) as scan_client:
            http = SourceHttp(scan_client, settings)
            results: list[Any] = []
            for method, url, options in requests:
                try:
                    results.append(await http.request(method, url, **options))
                except FetchError as exc:
                    results.append(exc)
            return results

    return asyncio.run(go())


@pytest.mark.parametrize("status", [307, 308])
def test_a_login_body_is_never_sent_on_to_another_origin(status: int) -> None:
    login = {"identifier": "me.bsky.social", "password": "app-password-Wn7p"}
    with E2EServer() as home, E2EServer() as elsewhere:
        home.route("POST", "/login", moved(f"{elsewhere.url}/login", status))
        elsewhere.route("POST", "/login", Reply(200, b"{}", JSON_TYPE))
        [result] = send_all(("POST", f"{home.url}/login", {"json_body": login}))
        assert isinstance(result, FetchError)
        assert f"refused to send the request body on to another origin ({elsewhere.url}/login)" in str(result)
        assert [json.loads(r.body) for r in home.received("POST", "/login")] == [login]
        assert elsewhere.requests == []


def test_a_redirect_within_the_origin_keeps_the_body() -> None:
    login = {"identifier": "me.bsky.social", "password": "app-password-Wn7p"}
    with E2EServer() as home:
        home.route("POST", "/login", moved("/v2/login", 308))
        home.route("POST", "/v2/login", Reply(200, b'{"ok": true}', JSON_TYPE))
        [result] = send_all(("POST", f"{home.url}/login", {"json_body": login}))
        assert result.status == 200
        assert [json.loads(r.body) for r in home.received("POST", "/v2/login")] == [login]


def test_authorization_and_cookies_do_not_follow_a_redirect_to_another_origin() -> None:
    token = {"Authorization": "Bearer token-Tb9c"}
    with E2EServer() as home, E2EServer() as elsewhere:
        home.route("GET", "/login", Reply(200, b"{}", {**JSON_TYPE, "Set-Cookie": "session=cookie-Zx8v; Path=/"}))
        home.route("GET", "/here", moved("/api", 302))
        home.route("GET", "/away", moved(f"{elsewhere.url}/api", 302))
        home.route("GET", "/api", Reply(200, b"{}", JSON_TYPE))
        elsewhere.route("GET", "/api", Reply(200, b"{}", JSON_TYPE))
        results = send_all(
            ("GET", f"{home.url}/login", {}),
            ("GET", f"{home.url}/here", {"headers": token}),
            ("GET", f"{home.url}/away", {"headers": token}),
        )
        assert [r.status for r in results] == [200, 200, 200]
        # Within the origin both credentials go along (so they were there to leak) ...
        [same] = home.received("GET", "/api")
        assert same.headers["authorization"] == "Bearer token-Tb9c" and same.headers["cookie"] == "session=cookie-Zx8v"
        # ... to another origin (the same host on another port: the cookie jar alone would send the cookie), neither.
        [other] = elsewhere.received("GET", "/api")
        assert "authorization" not in other.headers and "cookie" not in other.headers


def test_a_post_turned_into_a_get_by_a_303_may_go_to_another_origin_without_its_body() -> None:
    with E2EServer() as home, E2EServer() as elsewhere:
        home.route("POST", "/search", moved(f"{elsewhere.url}/results", 303))
        elsewhere.route("GET", "/results", Reply(200, b"[]", JSON_TYPE))
        [result] = send_all(
            ("POST", f"{home.url}/search", {"data": {"q": "acme"}, "headers": {"Authorization": "Basic dTpw"}})
        )
        assert result.status == 200 and result.json() == []
        [other] = elsewhere.received("GET", "/results")
        assert other.body == b"" and "authorization" not in other.headers

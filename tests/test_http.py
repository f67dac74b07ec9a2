"""The shared HTTP layer: retries, rate-limit signals, pacing, caps, the address guard, the cache."""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mentionwatch import http as http_module
from mentionwatch.cache import HttpCache
from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, Unauthorized
from mentionwatch.http import (
    AddressGuard,
    HttpSettings,
    Limits,
    SourceHttp,
    host_is_internal,
    is_internal_address,
    keep_credentials_home,
    public_url,
    rate_limit_pause,
    seconds_until,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC).timestamp()


class FakeTime:
    """A clock that only moves when the code under test sleeps."""

    def __init__(self) -> None:
        self.t = 1000.0
        self.slept: list[float] = []

    def monotonic(self) -> float:
        return self.t

    async def sleep(self, seconds: float) -> None:
        self.slept.append(round(seconds, 3))
        self.t += seconds


def make_http(
    handler: Callable[[httpx.Request], httpx.Response],
    clock: FakeTime,
    **settings: object,
) -> SourceHttp:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return SourceHttp(
        client,
        HttpSettings(**settings),  # type: ignore[arg-type]
        limits=Limits(),
        service="test",
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        wall_clock=lambda: NOW,
        rng=random.Random(7),
    )


def sequence(*responses: httpx.Response) -> Callable[[httpx.Request], httpx.Response]:
    queue = list(responses)
    return lambda _req: queue.pop(0)


def get(http: SourceHttp, url: str = "https://api.test/x") -> object:
    return asyncio.run(http.get(url))


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("30", 30.0),  # Retry-After seconds; Reddit's X-Ratelimit-Reset
        ("12.5", 12.5),
        (str(int(NOW) + 90), 90.0),  # epoch: GitHub, X, Bluesky
        ("2026-11-25T12:05:00.000Z", 300.0),  # ISO: Mastodon
        ("Wed, 25 Nov 2026 12:01:00 GMT", 60.0),  # HTTP date: Retry-After
        (str(int(NOW) - 10), 0.0),  # already past
        ("soon", None),
    ],
)
def test_reset_and_retry_after_forms(value: str, expected: float | None) -> None:
    assert seconds_until(value, NOW) == expected


def test_spent_budget_means_a_pause_until_reset() -> None:
    reddit = httpx.Headers({"x-ratelimit-remaining": "0.0", "x-ratelimit-reset": "42"})
    bluesky = httpx.Headers({"ratelimit-remaining": "0", "ratelimit-reset": str(int(NOW) + 10)})
    github_left = httpx.Headers({"x-ratelimit-remaining": "29", "x-ratelimit-reset": str(int(NOW) + 60)})
    x_twitter = httpx.Headers({"x-rate-limit-remaining": "0", "x-rate-limit-reset": str(int(NOW) + 5)})
    assert rate_limit_pause(reddit, NOW) == 42
    assert rate_limit_pause(bluesky, NOW) == 10
    assert rate_limit_pause(github_left, NOW) is None
    assert rate_limit_pause(x_twitter, NOW) == 5


def test_429_is_retried_after_what_retry_after_says() -> None:
    clock = FakeTime()
    http = make_http(sequence(httpx.Response(429, headers={"Retry-After": "7"}), httpx.Response(200, json={})), clock)
    get(http)
    assert http.requests == 2 and clock.slept == [7.0]


def test_5xx_then_success_is_retried_with_growing_jittered_backoff() -> None:
    clock = FakeTime()
    http = make_http(sequence(httpx.Response(500), httpx.Response(503), httpx.Response(200, json={})), clock)
    get(http)
    assert http.requests == 3
    first, second = clock.slept
    assert 0.25 <= first <= 0.5 and 0.5 <= second <= 1.0


def test_retries_are_bounded() -> None:
    clock = FakeTime()
    http = make_http(lambda _r: httpx.Response(502), clock, retries=2)
    with pytest.raises(FetchError, match="HTTP 502 after 3 attempts"):
        get(http)
    assert http.requests == 3


def test_a_retry_after_beyond_the_wait_budget_fails_at_once_as_rate_limited() -> None:
    clock = FakeTime()
    http = make_http(lambda _r: httpx.Response(429, headers={"Retry-After": "3600"}), clock, max_retry_wait=60)
    with pytest.raises(RateLimited, match="3600"):
        get(http)
    assert http.requests == 1 and clock.slept == []


@pytest.mark.parametrize(
    ("status", "error"), [(400, FetchError), (404, FetchError), (401, Unauthorized), (403, Unauthorized)]
)
def test_other_4xx_fail_at_once(status: int, error: type[Exception]) -> None:
    clock = FakeTime()
    http = make_http(lambda _r: httpx.Response(status), clock)
    with pytest.raises(error):
        get(http)
    assert http.requests == 1


def test_transport_errors_and_timeouts_are_retried() -> None:
    clock = FakeTime()
    calls = 0

    def flaky(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise httpx.ConnectError("refused", request=request)
        if calls == 2:
            raise httpx.ReadTimeout("slow", request=request)
        return httpx.Response(200, json={})

    get(make_http(flaky, clock))
    assert calls == 3

    always_slow = make_http(
        lambda r: (_ for _ in ()).throw(httpx.ReadTimeout("slow", request=r)), FakeTime(), retries=1
    )
    with pytest.raises(TimedOut):
        get(always_slow)


def test_a_host_that_never_answers_is_tried_twice_by_default_not_four_times() -> None:
    calls = 0

    def silent(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        raise httpx.ReadTimeout("slow", request=request)

    clock = FakeTime()
    http = make_http(silent, clock)  # the default settings: 3 retries for 429, 5xx and transport errors
    http.client.timeout = httpx.Timeout(20.0)
    with pytest.raises(TimedOut) as info:
        get(http)
    assert calls == 2 and len(clock.slept) == 1
    assert str(info.value) == "https://api.test/x: no answer in 20 s (2 tries)"


def test_a_timeout_after_other_transport_errors_still_gets_its_one_retry() -> None:
    errors = [httpx.ConnectError("refused"), httpx.ReadTimeout("slow"), httpx.ReadTimeout("slow")]

    def flaky(request: httpx.Request) -> httpx.Response:
        raise errors.pop(0)

    with pytest.raises(TimedOut, match=r"\(3 tries\)"):
        get(make_http(flaky, FakeTime()))
    assert errors == []


def test_a_pause_a_host_asks_for_holds_every_request_to_that_host() -> None:
    clock = FakeTime()
    sent: list[tuple[float, str]] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append((clock.t, f"{request.url.host}{request.url.path}"))
        if request.url.path == "/first":
            return httpx.Response(429, headers={"Retry-After": "30"})
        return httpx.Response(200, json={})

    limits = Limits()
    client = httpx.AsyncClient(transport=httpx.MockTransport(api))

    def source(service: str) -> SourceHttp:
        return SourceHttp(
            client,
            HttpSettings(retries=0),
            limits=limits,
            service=service,
            sleep=clock.sleep,
            monotonic=clock.monotonic,
            wall_clock=lambda: NOW,
        )

    told, other_service = source("told"), source("other")
    with pytest.raises(RateLimited):
        asyncio.run(told.get("https://api.test/first"))
    asyncio.run(other_service.get("https://elsewhere.test/x"))  # another host: not held
    asyncio.run(other_service.get("https://api.test/second"))  # another service, same host: held
    asyncio.run(told.get("https://api.test/third"))
    assert sent == [
        (1000.0, "api.test/first"),
        (1000.0, "elsewhere.test/x"),
        (1030.0, "api.test/second"),
        (1030.0, "api.test/third"),
    ]


def test_a_pause_beyond_the_wait_budget_fails_the_next_requests_without_sending_them() -> None:
    clock = FakeTime()
    sent: list[str] = []

    def api(request: httpx.Request) -> httpx.Response:
        sent.append(request.url.path)
        return httpx.Response(503, headers={"Retry-After": "3600"})

    http = make_http(api, clock, max_retry_wait=60)
    with pytest.raises(RateLimited, match="asked to wait 3600s"):
        get(http, "https://api.test/a")
    with pytest.raises(RateLimited, match="resets in 3600s"):
        get(http, "https://api.test/b")
    assert sent == ["/a"] and clock.slept == []


def test_a_request_queued_for_its_slot_does_not_go_out_inside_a_pause_asked_for_meanwhile() -> None:
    clock = FakeTime()
    sent: list[tuple[float, str]] = []
    release = asyncio.Event()

    async def api(request: httpx.Request) -> httpx.Response:
        sent.append((clock.t, request.url.path))
        if request.url.path == "/slow":
            await release.wait()
            return httpx.Response(429, headers={"Retry-After": "10"})
        return httpx.Response(200, json={})

    http = SourceHttp(
        httpx.AsyncClient(transport=httpx.MockTransport(api)),
        HttpSettings(retries=0),
        limits=Limits(total=1, per_host=1),
        sleep=clock.sleep,
        monotonic=clock.monotonic,
        wall_clock=lambda: NOW,
    )

    async def scan() -> None:
        slow = asyncio.ensure_future(http.get("https://api.test/slow"))
        queued = asyncio.ensure_future(http.get("https://api.test/queued"))
        for _ in range(5):
            await asyncio.sleep(0)  # /slow is in flight, /queued waits for the one slot
        release.set()
        await asyncio.gather(slow, queued, return_exceptions=True)

    asyncio.run(scan())
    assert sent == [(1000.0, "/slow"), (1010.0, "/queued")]


def test_a_spent_budget_holds_the_next_request_until_reset() -> None:
    clock = FakeTime()
    spent = httpx.Response(200, json={}, headers={"x-ratelimit-remaining": "0", "x-ratelimit-reset": "30"})
    http = make_http(sequence(spent, httpx.Response(200, json={})), clock)
    get(http)
    get(http)
    assert clock.slept == [30.0]


def test_requests_are_paced_to_the_documented_rate() -> None:
    clock = FakeTime()
    http = make_http(lambda _r: httpx.Response(200, json={}), clock)
    http.requests_per_minute = 6  # a minute's budget at once, then one every 10 seconds

    async def eight() -> None:
        for _ in range(8):
            await http.get("https://api.test/x")

    asyncio.run(eight())
    assert clock.slept == [10.0, 10.0]


def test_pacing_refills_while_idle() -> None:
    clock = FakeTime()
    http = make_http(lambda _r: httpx.Response(200, json={}), clock)
    http.requests_per_minute = 2

    async def go() -> None:
        for _ in range(2):
            await http.get("https://api.test/x")
        clock.t += 30  # idle: one token back
        await http.get("https://api.test/x")
        await http.get("https://api.test/x")

    asyncio.run(go())
    assert clock.slept == [30.0]


def test_bodies_are_cut_at_the_size_cap() -> None:
    http = make_http(lambda _r: httpx.Response(200, content=b"x" * 5000), FakeTime(), max_bytes=4096)
    with pytest.raises(BadPayload, match="larger than 4096"):
        get(http)


def test_errors_never_print_the_query_string() -> None:
    http = make_http(lambda _r: httpx.Response(500), FakeTime(), retries=0)
    with pytest.raises(FetchError) as info:
        get(http, "https://api.test/search?key=SECRET123")
    assert "SECRET123" not in str(info.value)


def test_internal_addresses() -> None:
    for internal in (
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "::1",
        "fe80::1",
        "::ffff:127.0.0.1",
        "100.64.0.1",
        "0.0.0.0",
        "fd00::1",
    ):
        assert is_internal_address(internal), internal
    for public in ("93.184.216.34", "2606:4700::1111", "8.8.8.8"):
        assert not is_internal_address(public), public
    assert host_is_internal("localhost") and host_is_internal("127.0.0.1") and not host_is_internal("example.com")


def test_a_redirect_to_a_metadata_endpoint_is_refused_before_connecting() -> None:
    reached: list[str] = []

    def upstream(request: httpx.Request) -> httpx.Response:
        reached.append(str(request.url))
        if request.url.host == "feeds.example":
            return httpx.Response(302, headers={"Location": "http://169.254.169.254/latest/meta-data/"})
        return httpx.Response(200, text="secret instance credentials")

    async def fake_resolver(host: str, port: int) -> list[str]:
        return {"feeds.example": ["93.184.216.34"], "internal.example": ["10.0.0.5"]}.get(host, ["169.254.169.254"])

    transport = AddressGuard(httpx.MockTransport(upstream), resolver=fake_resolver, proxy_for=lambda url: None)
    client = httpx.AsyncClient(transport=transport, follow_redirects=True)
    http = SourceHttp(client, HttpSettings(retries=0))
    with pytest.raises(FetchError, match=r"internal address 169\.254\.169\.254"):
        asyncio.run(http.get("http://feeds.example/feed.xml"))
    assert reached == ["http://feeds.example/feed.xml"]
    with pytest.raises(FetchError, match=r"resolves to internal address 10\.0\.0\.5"):
        asyncio.run(http.get("http://internal.example/"))
    assert len(reached) == 1


def test_a_proxied_request_is_left_to_the_proxy_to_resolve() -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("the proxy resolves it, not us")

    reached: list[str] = []

    def proxy(request: httpx.Request) -> httpx.Response:
        reached.append(str(request.url))
        return httpx.Response(200, json={})

    transport = AddressGuard(httpx.MockTransport(proxy), resolver=never, proxy_for=lambda url: "http://proxy:3128")
    http = SourceHttp(httpx.AsyncClient(transport=transport), HttpSettings(retries=0))
    asyncio.run(http.get("http://feeds.example/feed.xml"))
    assert reached == ["http://feeds.example/feed.xml"]


@pytest.mark.parametrize(
    ("url", "public"),
    [
        ("https://api.example/v1/search?q=acme&key=SECRET#frag", "https://api.example/v1/search"),
        (
            "https://user:PASSWORD@feeds.example:8443/a%20b/feed.xml?token=x",
            "https://feeds.example:8443/a%20b/feed.xml",
        ),
        ("http://[::1]:8080/x?y", "http://[::1]:8080/x"),
        ("https://münchen.example/", "https://xn--mnchen-3ya.example/"),
        ("ftp://user:PASSWORD@files.example/a.txt?sig=x", "ftp://files.example/a.txt"),
    ],
)
def test_public_url_drops_query_fragment_and_user_info(url: str, public: str) -> None:
    assert public_url(url) == public
    assert public_url(httpx.URL(url)) == public


@pytest.mark.parametrize(
    ("where", "public"),
    [("/srv/feeds/a.xml", "/srv/feeds/a.xml"), ("feeds/a.xml?token=x", "feeds/a.xml"), ("<stdin>", "<stdin>")],
)
def test_public_url_of_a_local_path_is_the_path_without_a_query(where: str, public: str) -> None:
    assert public_url(where) == public


def test_a_configured_internal_url_is_allowed() -> None:
    async def never(host: str, port: int) -> list[str]:
        raise AssertionError("an IP literal needs no lookup")

    transport = AddressGuard(httpx.MockTransport(lambda r: httpx.Response(200, json={})), resolver=never)
    http = SourceHttp(httpx.AsyncClient(transport=transport), HttpSettings(retries=0))
    asyncio.run(http.get("http://127.0.0.1:8080/feed"))
    asyncio.run(http.get("http://10.0.0.5/intranet-feed"))


def test_conditional_requests_use_the_cache(tmp_path: Path) -> None:
    seen: list[str | None] = []

    def server(request: httpx.Request) -> httpx.Response:
        seen.append(request.headers.get("if-none-match"))
        if request.headers.get("if-none-match") == '"abc"':
            return httpx.Response(304, headers={"ETag": '"abc"'})
        return httpx.Response(200, content=b"<rss/>", headers={"ETag": '"abc"', "content-type": "application/rss+xml"})

    cache = HttpCache(tmp_path / "http.sqlite3")
    http = make_http(server, FakeTime())
    http.cache = cache
    first = asyncio.run(http.get("https://feeds.test/a.xml"))
    second = asyncio.run(http.get("https://feeds.test/a.xml"))
    assert seen == [None, '"abc"']
    assert not first.not_modified and second.not_modified
    assert second.content == b"<rss/>" and second.validator == '"abc"'
    assert http.not_modified == 1
    cache.close()
    assert b"feeds.test" not in (tmp_path / "http.sqlite3").read_bytes(), "keys are hashed"


def test_a_304s_kept_body_is_read_only_when_asked_for_and_a_lost_one_is_said_plainly(tmp_path: Path) -> None:
    def server(request: httpx.Request) -> httpx.Response:
        if request.headers.get("if-none-match") == '"abc"':
            return httpx.Response(304, headers={"ETag": '"abc"'})
        return httpx.Response(200, content=b"<rss/>", headers={"ETag": '"abc"'})

    cache = HttpCache(tmp_path / "http.sqlite3")
    reads: list[str] = []
    read_body = cache.body
    cache.body = lambda url: reads.append(url) or read_body(url)  # type: ignore[method-assign]
    http = make_http(server, FakeTime())
    http.cache = cache
    asyncio.run(http.get("https://feeds.test/a.xml?key=s3cret"))
    unchanged = asyncio.run(http.get("https://feeds.test/a.xml?key=s3cret"))
    assert unchanged.not_modified and reads == []
    assert unchanged.content == b"<rss/>" and unchanged.content == b"<rss/>"
    assert len(reads) == 1, "read once, then kept"
    cache._db.execute("UPDATE responses SET body = x'00ff'")  # type: ignore[union-attr]
    damaged = asyncio.run(http.get("https://feeds.test/a.xml?key=s3cret"))
    with pytest.raises(BadPayload, match=r"^https://feeds.test/a.xml: answered 304, and the copy kept") as caught:
        _ = damaged.content
    assert "s3cret" not in str(caught.value)


def test_what_a_body_parsed_to_is_recalled_for_its_validator_and_release_only(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`remember_parsed` / `recall_parsed`, for plugins that keep what a body parsed to (the rss source keeps what
    it gave instead, in the pipeline)."""
    http = make_http(lambda r: httpx.Response(200), FakeTime())
    http.cache = HttpCache(tmp_path / "http.sqlite3")
    http.remember_parsed("https://feeds.test/a.xml", '"v1"', b"[1, 2]")
    assert http.recall_parsed("https://feeds.test/a.xml", '"v1"') == b"[1, 2]"
    assert http.recall_parsed("https://feeds.test/a.xml", '"v2"') is None
    monkeypatch.setattr("mentionwatch.cache.__version__", "99.0")
    assert http.recall_parsed("https://feeds.test/a.xml", '"v1"') is None, "another release parses anew"


def test_httpcore_finds_sniffio() -> None:
    # httpcore imports sniffio on every lock and event it sets up; a missing sniffio is a failed import (a
    # search of sys.path) each time: 1,323 of them in a 200-feed scan. It is a declared dependency for that.
    import importlib.util

    from httpcore._synchronization import current_async_library

    assert importlib.util.find_spec("sniffio") is not None

    async def detect() -> str:
        return current_async_library()

    assert asyncio.run(detect()) == "asyncio"


def test_a_request_waiting_for_a_slot_goes_out_before_the_answer_that_freed_it_is_worked_on() -> None:
    events: list[str] = []

    def server(request: httpx.Request) -> httpx.Response:
        events.append(f"send {request.url.path}")
        return httpx.Response(200, text="ok")

    http = SourceHttp(httpx.AsyncClient(transport=httpx.MockTransport(server)), limits=Limits(total=1, per_host=1))

    async def fetch(path: str) -> None:
        await http.get(f"http://feeds.test{path}")
        events.append(f"parse {path}")  # a feed's parsing: CPU work on the event loop

    async def scan() -> None:
        await asyncio.gather(fetch("/a"), fetch("/b"), fetch("/c"))

    asyncio.run(scan())
    # Network first: each freed slot is taken by the next request before the answer is parsed (without the
    # hand-over, each request would wait for the parsing of the one before: send a, parse a, send b, ...).
    assert events == ["send /a", "send /b", "send /c", "parse /a", "parse /b", "parse /c"]


def test_an_upgrade_to_https_is_another_origin_for_credentials() -> None:
    # httpx keeps Authorization on an http -> https redirect of the same host; the origin (RFC 6454) differs.
    def hop(url: str) -> httpx.Request:
        return httpx.Request("GET", url, headers={"Authorization": "Bearer t", "Cookie": "s=1"})

    original = hop("http://api.test/x")
    assert "authorization" not in keep_credentials_home(original, hop("https://api.test/x")).headers
    assert "cookie" not in keep_credentials_home(original, hop("http://api.test:8080/x")).headers
    kept = keep_credentials_home(original, hop("http://api.test:80/elsewhere"))
    assert kept.headers["authorization"] == "Bearer t" and kept.headers["cookie"] == "s=1"


def test_a_request_that_must_queue_for_a_slot_is_made_once_the_first_round_is_out() -> None:
    events: list[str] = []
    answer = asyncio.Event()

    async def server(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)  # a connection being made
        events.append(f"send {request.url.path}")
        await answer.wait()  # the network's latency
        return httpx.Response(200, text="ok")

    client = httpx.AsyncClient(transport=httpx.MockTransport(server))
    build = client.build_request

    def making(method: str, url: str, **kwargs: Any) -> httpx.Request:
        events.append(f"make {httpx.URL(url).path}")
        return build(method, url, **kwargs)

    client.build_request = making  # type: ignore[method-assign]
    http = SourceHttp(client, limits=Limits(total=1, per_host=1))

    async def scan() -> None:
        fetches = [asyncio.ensure_future(http.get(f"http://feeds.test/{name}")) for name in "abc"]
        await asyncio.sleep(0.05)  # the loop idle, /a waiting for its answer
        answer.set()
        await asyncio.gather(*fetches)

    asyncio.run(scan())
    # /b and /c would only queue for the one slot: made (URL parsed, validators read) once /a is out, not
    # before it, where making them would hold the first round back.
    assert events[:2] == ["make /a", "send /a"]
    assert events.index("make /b") > events.index("send /a")
    assert events.index("make /c") > events.index("send /a")
    assert [e for e in events if e.startswith("send")] == ["send /a", "send /b", "send /c"]


def test_a_queued_request_is_made_once_a_slot_frees_though_the_loop_is_never_idle(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(http_module, "_FIRST_ROUND_WITHIN", 60.0)  # the idle loop's limit out of the way
    sent: list[str] = []

    async def server(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0)
        sent.append(request.url.path)
        return httpx.Response(200, text="ok")

    http = SourceHttp(httpx.AsyncClient(transport=httpx.MockTransport(server)), limits=Limits(total=1, per_host=1))

    async def busy(stop: asyncio.Event) -> None:
        while not stop.is_set():
            time.sleep(0.003)  # CPU work between the loop's turns: a 1 ms sleep never comes back on time
            await asyncio.sleep(0)

    async def scan() -> None:
        stop = asyncio.Event()
        spinner = asyncio.ensure_future(busy(stop))
        try:
            await asyncio.wait_for(asyncio.gather(http.get("http://feeds.test/a"), http.get("http://feeds.test/b")), 10)
        finally:
            stop.set()
            await spinner

    asyncio.run(scan())
    assert sent == ["/a", "/b"]


def test_a_url_too_broken_to_split_fails_as_httpx_says_though_every_slot_is_taken() -> None:
    async def server(request: httpx.Request) -> httpx.Response:
        await asyncio.sleep(0.01)
        return httpx.Response(200, text="ok")

    http = SourceHttp(httpx.AsyncClient(transport=httpx.MockTransport(server)), limits=Limits(total=1, per_host=1))

    async def scan() -> BaseException | None:
        busy = asyncio.ensure_future(http.get("http://feeds.test/a"))
        await asyncio.sleep(0)  # /a holds the one slot
        try:
            await http.get("http://[::1/broken")
        except BaseException as exc:  # the very error is what is checked
            return exc
        finally:
            await busy
        return None

    error = asyncio.run(scan())
    assert isinstance(error, httpx.InvalidURL), repr(error)

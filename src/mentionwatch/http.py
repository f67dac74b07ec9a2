"""The shared HTTP client, and the per-source view of it that paces, retries, caps and explains.

Real APIs are slow, rate-limited, flaky and sometimes hostile. Everything a source asks for goes through
`SourceHttp.request`, which:
- waits for a slot (all sources together, and per host) and for the service's pace;
- sends a conditional request when it has a validator (ETag / Last-Modified) from an earlier run;
- retries transport errors, 429 and 5xx with exponential backoff and jitter, honouring Retry-After, up to a
  bounded number of attempts and a bounded total wait; a timeout only once (a dead host costs two timeouts,
  not the source's deadline); any other 4xx fails at once;
- holds every request to a host while that host has asked for a pause (Retry-After), not only the one that
  was told;
- follows redirects itself, so that credentials (the Authorization header, cookies, a request body) never
  go to another origin, and a redirect's own body is never read;
- reads the body streamed and cut at a size cap;
- reads the rate-limit headers services send and holds off until their reset when the budget is spent;
- turns every failure into a `FetchError` whose class is the source's health state.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import functools
import ipaddress
import json
import logging
import random
import re
import socket
import ssl
import time
import urllib.request
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlsplit

import httpx

from mentionwatch import USER_AGENT
from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, TransientError, Unauthorized
from mentionwatch.transport import AddressBlocked, StreamTransport

if TYPE_CHECKING:
    from concurrent.futures import Future

    from mentionwatch.cache import Cached, HttpCache

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_LOGIN_WALL = re.compile(rb"log ?in|sign ?in|captcha|access denied|blocked", re.IGNORECASE)
_RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
# Set on a request whose configured URL is itself internal (a loopback test server, an intranet feed):
# only then may it, or a redirect from it, reach an internal address. httpx carries extensions across redirects.
ALLOW_INTERNAL = "mentionwatch.allow_internal"


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_redirects: int = 5
    max_bytes: int = DEFAULT_MAX_BYTES
    user_agent: str = USER_AGENT
    concurrency: int = 16
    per_host: int = 6
    retries: int = 3
    # A timeout is retried at most this many times (and never more than `retries`): a host that accepts the
    # connection and never answers would otherwise cost `retries + 1` timeouts, longer than a source's deadline.
    timeout_retries: int = 1
    max_retry_wait: float = 60.0
    backoff: float = 0.5


def build_client(settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """One client for the whole scan, so connections are pooled across sources.

    Requests in flight are capped by `Limits` (a semaphore overall and per host), and the keep-alive pool by
    the scan's concurrency: firing hundreds of requests at once into a connection pool is CPU-bound and slow.
    """
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(
        headers={"User-Agent": settings.user_agent},
        timeout=timeout,
        # SourceHttp follows redirects itself (`follow_redirects=False` on each send): see `SourceHttp._follow`.
        follow_redirects=False,
        max_redirects=settings.max_redirects,
        transport=transport if transport is not None else network_transport(settings),
    )


def network_transport(settings: HttpSettings) -> httpx.AsyncBaseTransport:
    """The transport to the network: mentionwatch's own (`StreamTransport`), behind the `AddressGuard`."""
    proxies = Proxies.from_environment()
    direct = StreamTransport(
        tls_context, max_idle=settings.concurrency, proxy_for=proxies, allow_address=may_connect_to
    )
    return AddressGuard(direct, proxy_for=proxies)


def ask_if_changed(request: httpx.Request, cached: Cached) -> None:
    """Make `request` a conditional one, with the validators of the answer kept for it."""
    if cached.etag:
        request.headers["If-None-Match"] = cached.etag
    if cached.last_modified:
        request.headers["If-Modified-Since"] = cached.last_modified


def mark_internal(request: httpx.Request) -> None:
    """A configured URL that is itself internal (a loopback test server, an intranet feed) may reach an internal
    address: its request says so (`AddressGuard`)."""
    if host_is_internal(request.url.host):
        request.extensions[ALLOW_INTERNAL] = True


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One TLS context for every connection (loading the CA bundle costs ~15 ms), made on first use."""
    import certifi  # here: a scan of plain http:// feeds never loads it (3 ms of start-up, with importlib.resources)

    return ssl.create_default_context(cafile=certifi.where())


class Proxies:
    """The proxies the environment names (HTTP_PROXY, HTTPS_PROXY, ALL_PROXY; NO_PROXY bypasses them), read
    once: urllib re-reads every environment variable on each call (0.1 ms, twice a request)."""

    def __init__(self, table: dict[str, str]) -> None:
        self._table = table

    @classmethod
    def from_environment(cls) -> Proxies:
        return cls(urllib.request.getproxies())

    def __call__(self, url: httpx.URL) -> str | None:
        """The proxy for this URL, or None to go straight to its server."""
        proxy = self._table.get(url.scheme) or self._table.get("all")
        if not proxy or urllib.request.proxy_bypass(url.host):
            return None
        return proxy


def may_connect_to(request: httpx.Request, address: str) -> bool:
    """Whether the transport may keep a connection it made for `request` to `address`: the check of
    `AddressGuard` again, on the address actually connected to, so that a name answering a public address to
    the guard and an internal one a moment later (DNS rebinding) still gets nothing sent."""
    return bool(request.extensions.get(ALLOW_INTERNAL)) or not is_internal_address(address)


@functools.lru_cache(maxsize=4096)
def is_internal_address(address: str) -> bool:
    ip = ipaddress.ip_address(address.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return (
        ip.is_loopback
        or ip.is_private
        or ip.is_link_local
        or ip.is_reserved
        or ip.is_multicast
        or ip.is_unspecified
        or (isinstance(ip, ipaddress.IPv4Address) and ip in ipaddress.IPv4Network("100.64.0.0/10"))  # CGNAT
    )


@functools.lru_cache(maxsize=4096)  # asked for every request: parsing the address each time showed in profiles
def host_is_internal(host: str) -> bool:
    """True for `localhost` and internal IP literals (no lookup: used on the configured URL)."""
    if host.lower() in ("localhost", "localhost.localdomain") or host.lower().endswith(".localhost"):
        return True
    try:
        return is_internal_address(host.strip("[]"))
    except ValueError:
        return False


Resolver = Callable[[str, int], Awaitable[list[str]]]


async def resolve(host: str, port: int) -> list[str]:
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class AddressGuard(httpx.AsyncBaseTransport):
    """Refuses, before any connection is made, a request (or a redirect hop) to a loopback, private,
    link-local or reserved address, unless the configured URL was itself internal: a feed must not be able
    to make the monitor read a cloud metadata endpoint or an admin page on the local network.

    Requests sent through an HTTP proxy are resolved by the proxy, not here. The name is resolved here and
    again when the transport connects; the transport checks the address it reached too (`may_connect_to`),
    before a byte of the request is sent, so a DNS answer that changes in between (rebinding) gains nothing.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        resolver: Resolver = resolve,
        proxy_for: Callable[[httpx.URL], str | None] | None = None,
    ) -> None:
        self.inner = inner
        self.resolver = resolver
        # Which requests the proxy resolves: the same answer the transport acts on.
        self.proxy_for = proxy_for or Proxies.from_environment()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if not request.extensions.get(ALLOW_INTERNAL) and self.proxy_for(request.url) is None:
            host = request.url.host
            if host_is_internal(host):
                raise AddressBlocked(f"refused to connect to internal address {host}", request=request)
            try:
                addresses = await self.resolver(
                    host, request.url.port or (443 if request.url.scheme == "https" else 80)
                )
            except OSError as exc:
                raise httpx.ConnectError(f"cannot resolve {host}: {exc}", request=request) from None
            blocked = [a for a in addresses if is_internal_address(a)]
            if blocked:
                raise AddressBlocked(f"refused: {host} resolves to internal address {blocked[0]}", request=request)
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


# What a request is, to tell whether the scan's own is one sent ahead (`prefetch`): method, URL, headers (as sent),
# and whether it may reach an internal address.
Key = tuple[str, str, tuple[tuple[bytes, bytes], ...], bool]


@dataclass(frozen=True)
class Answer:
    """What the network answered a request sent ahead: status, headers and body (decoded, and without the headers
    that describe it as sent), and when it came (`time.monotonic()`)."""

    status: int
    headers: list[tuple[bytes, bytes]]
    body: bytes
    extensions: dict[str, Any]
    at: float


class NotAhead(Exception):
    """A request sent ahead that got no answer to take (the look ahead ended first): the scan sends its own."""


class Answers(Protocol):
    """The answers to the requests sent ahead (`prefetch.Prefetch`)."""

    taken: int

    def take(self, key: Key) -> Future[Answer] | None: ...

    def under_way(self, host: str | None = None) -> list[Future[Answer]]: ...

    def stop(self) -> None: ...


def key_of(request: httpx.Request) -> Key:
    """What tells one request from another (`prefetch`): method, URL, headers as sent but `Cookie`, and whether it
    may reach an internal address. Not `Cookie`: the scan's client sends a host's cookie once an answer set one (a
    load balancer's, a bot check's), which a request sent ahead, before any answer, cannot know; a feed's answer to
    a conditional request does not turn on it."""
    headers = tuple((k, v) for k, v in request.headers.raw if k.lower() != b"cookie")
    return (request.method, str(request.url), headers, bool(request.extensions.get(ALLOW_INTERNAL)))


class AnsweredAhead(httpx.AsyncBaseTransport):
    """The scan's transport when its command sent requests ahead (`prefetch`): a request that is one of them gets
    the answer that came to it, as the network gave it; any other goes to `inner`."""

    def __init__(self, inner: httpx.AsyncBaseTransport, ahead: Answers, settings: HttpSettings) -> None:
        self.inner = inner
        self.ahead = ahead
        self.settings = settings
        self.own = 0  # requests sent by `inner`, under way
        self._in_flight: dict[str, int] = {}  # by host: the scan's requests under way here, taken or its own

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        future = self.ahead.take(key_of(request))
        if future is not None:
            host = request.url.host
            self._in_flight[host] = self._in_flight.get(host, 0) + 1
            try:
                answer = await asyncio.wrap_future(future)
            except asyncio.CancelledError:
                task = asyncio.current_task()
                if task is not None and task.cancelling():
                    raise  # this scan is being stopped
                answer = None  # never sent: the look ahead stopped first
            except NotAhead:
                answer = None
            finally:
                self._in_flight[host] -= 1
            if answer is not None:
                self.ahead.taken += 1
                return httpx.Response(
                    answer.status,
                    headers=answer.headers,
                    stream=httpx.ByteStream(answer.body),
                    request=request,
                    extensions=answer.extensions,
                )
        # A request of the scan's own (a feed not asked ahead, a redirect, a retry, another source's): from now on
        # the scan sends everything not sent ahead yet itself, under its caps (`Limits`).
        self.ahead.stop()
        host = request.url.host
        await self._room(host)
        self.own += 1
        self._in_flight[host] = self._in_flight.get(host, 0) + 1
        try:
            return await self.inner.handle_async_request(request)
        finally:
            self.own -= 1
            self._in_flight[host] -= 1

    async def _room(self, host: str) -> None:
        """Wait while the requests sent ahead that the scan has not taken fill a cap with its own: `Limits` caps
        what passes here (taken and own), not what the look ahead sent before the scan began."""
        while True:
            ahead, to_host = self.ahead.under_way(), self.ahead.under_way(host)
            over_all = len(ahead) + sum(self._in_flight.values()) >= self.settings.concurrency
            over_host = len(to_host) + self._in_flight.get(host, 0) >= self.settings.per_host
            if not (over_all or over_host):
                return
            waiting = [asyncio.wrap_future(f) for f in (ahead if over_all else to_host)]
            for each in waiting:
                each.add_done_callback(_seen)
            # Re-checked as any of them is answered, or the scan's own end (a poll: they are not awaited here).
            await asyncio.wait(waiting, timeout=0.05, return_when=asyncio.FIRST_COMPLETED)

    async def aclose(self) -> None:
        self.ahead.stop()
        await self.inner.aclose()


def _seen(future: asyncio.Future[Any]) -> None:
    """An answer waited for here, not taken: its failure is the request's that takes it, not logged as unseen."""
    if not future.cancelled():
        future.exception()


class Response:
    """A fully read response body (capped), with what adapters need of the exchange.

    A 304's `content` is the body kept from an earlier run, read from the cache only when asked for: a feed
    source usually needs only what that body gave before."""

    __slots__ = ("_content", "_load", "headers", "not_modified", "status", "url")

    def __init__(
        self,
        status: int,
        url: str,
        headers: httpx.Headers,
        content: bytes | Callable[[], bytes],
        not_modified: bool = False,
    ) -> None:
        self.status = status
        self.url = url
        self.headers = headers
        self._content: bytes | None = content if isinstance(content, bytes) else None
        self._load: Callable[[], bytes] | None = None if isinstance(content, bytes) else content
        # True when the server answered 304 and `content` is the body cached from an earlier run.
        self.not_modified = not_modified

    @property
    def content(self) -> bytes:
        if self._content is None:
            assert self._load is not None
            self._content, self._load = self._load(), None
        return self._content

    def __repr__(self) -> str:
        return f"Response({self.status}, {self.url!r}{', not modified' if self.not_modified else ''})"

    def json(self) -> Any:
        return decode_json(self)

    @property
    def validator(self) -> str | None:
        """What identifies this version of the resource: its ETag, else its Last-Modified."""
        value = self.headers.get("etag") or self.headers.get("last-modified")
        return str(value) if value else None


def public_url(url: str | httpx.URL) -> str:
    """The URL without its query string, fragment and user info: those can carry API keys and passwords, and
    errors must not print them. (Asked for on every request: string work, not a URL rebuilt.)

    Anything that is not a URL with a host (a local feed path, `<stdin>`) comes back without its query only."""
    try:
        parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    except httpx.InvalidURL:
        parsed = None
    if parsed is None or not parsed.host:
        return str(url).split("?", 1)[0].split("#", 1)[0]
    host = parsed.raw_host.decode("ascii")
    host = f"[{host}]" if ":" in host else host
    port = f":{parsed.port}" if parsed.port is not None else ""
    path = parsed.raw_path.split(b"?", 1)[0].decode("ascii")
    return f"{parsed.scheme}://{host}{port}{path}"


def reject_html(resp: Response, expected: str) -> None:
    """An HTML page where an API answer was expected is a login wall, a block page or an error page,
    whatever its status: report it, never read it as "no results"."""
    ctype = resp.headers.get("content-type", "")
    head = resp.content[:2048].lstrip().lower()
    if "html" in ctype or head.startswith((b"<!doctype html", b"<html")):
        if _LOGIN_WALL.search(resp.content[:65536]):
            raise Unauthorized(f"{public_url(resp.url)} served an HTML login or block page instead of {expected}")
        raise BadPayload(f"{public_url(resp.url)} served an HTML page instead of {expected}")


def decode_json(resp: Response) -> Any:
    """Decode a JSON body, telling a login wall or an error page apart from a real answer."""
    reject_html(resp, "JSON")
    try:
        return json.loads(resp.content.decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise BadPayload(f"{public_url(resp.url)} sent a body that is not UTF-8 ({exc.reason})") from None
    except RecursionError:
        raise BadPayload(f"{public_url(resp.url)} sent JSON nested too deeply") from None
    except json.JSONDecodeError as exc:
        raise BadPayload(f"{public_url(resp.url)} sent invalid JSON ({exc.msg} at char {exc.pos})") from None


def seconds_until(value: str, now: float) -> float | None:
    """A reset or Retry-After value as seconds from `now` (epoch seconds).

    Services disagree: seconds to wait (Retry-After, Reddit's float X-Ratelimit-Reset), an epoch time
    (GitHub, X, Bluesky's RateLimit-Reset), an ISO date (Mastodon's X-RateLimit-Reset) or an HTTP date.
    """
    text = value.strip()
    try:
        number = float(text)
    except ValueError:
        number = None
    if number is not None:
        # No delay is a billion seconds long: a number that large is an epoch time.
        return max(0.0, number - now) if number > 1e9 else max(0.0, number)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError, IndexError):
            return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def retry_after(resp: Response, now: float) -> float | None:
    """The seconds a Retry-After header asks for (RFC 9110 10.2.3: seconds or an HTTP date), or None."""
    value = resp.headers.get("retry-after")
    return seconds_until(value, now) if value else None


_REMAINING = ("x-ratelimit-remaining", "ratelimit-remaining", "x-rate-limit-remaining")
_RESET = ("x-ratelimit-reset", "ratelimit-reset", "x-rate-limit-reset")


def rate_limit_pause(headers: httpx.Headers, now: float) -> float | None:
    """Seconds to hold off when the response says the budget is spent (remaining 0), else None."""
    remaining = next((headers[h] for h in _REMAINING if h in headers), None)
    if remaining is None:
        return None
    try:
        if float(remaining) >= 1:  # Reddit sends floats: "0.0" is spent, "597.0" is not
            return None
    except ValueError:
        return None
    reset = next((headers[h] for h in _RESET if h in headers), None)
    return seconds_until(reset, now) if reset is not None else None


@dataclass
class Pacer:
    """Keeps requests to one service under its documented rate, and holds them while its budget is spent.

    A token bucket: a minute's budget may go at once (services count per window, and a small scan should not
    wait), then requests are spaced at the rate. `per_minute` None or 0 means no pacing.
    """

    per_minute: float | None = None
    tokens: float = -1.0  # -1: not started; the bucket starts full
    updated: float = 0.0
    hold_until: float = 0.0
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def reserve(self, now: float, not_before: float = 0.0) -> float:
        """The monotonic time at which the caller may send (never before `not_before`: a host's pause)."""
        async with self.lock:
            start = max(now, self.hold_until, not_before)
            if not self.per_minute:
                return start
            capacity = max(1.0, self.per_minute)
            rate = self.per_minute / 60.0
            if self.tokens < 0:
                self.tokens, self.updated = capacity, start
            self.tokens = min(capacity, self.tokens + (start - self.updated) * rate)
            self.updated = start
            if self.tokens < 1:
                start += (1 - self.tokens) / rate
                self.tokens, self.updated = 1.0, start
            self.tokens -= 1
            return start


class Limits:
    """Caps shared by every source in a scan: requests in flight overall and per host, the pace of each
    service, and the pauses hosts ask for."""

    def __init__(self, total: int = 16, per_host: int = 6) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._pacers: dict[tuple[str, str, float | None], Pacer] = {}
        self._held: dict[str, float] = {}
        # Set once the requests that could go out at the start are under way (`first_round_out`).
        self._out = asyncio.Event()
        self._watch: asyncio.Future[None] | None = None

    def full(self, host: str) -> bool:
        """True when a request to `host` would wait for a slot. (A hint: a host named otherwise than httpx
        names it, an IDN, only has the overall cap checked.)"""
        host_sem = self._hosts.get(host)
        return self._total.locked() or (host_sem is not None and host_sem.locked())

    async def first_round_out(self) -> None:
        """Return once the requests that could go out at the start are under way: the event loop is idle (a
        short sleep comes back on time, twice), a slot has been freed, or `_FIRST_ROUND_WITHIN` seconds have
        passed.

        A request that would only queue for a slot is made ready here, not before: making one (its URL parsed,
        its validators read from the cache, ~0.1 ms) ahead of the requests that can go out held every one of
        them back (200 feeds at concurrency 100: the first request written ~7 ms later)."""
        if self._out.is_set():
            return
        if self._watch is None or self._watch.done():  # (done unset: cancelled with an earlier event loop)
            self._watch = asyncio.ensure_future(self._until_out())
        await self._out.wait()

    async def _until_out(self) -> None:
        await until_idle(_FIRST_ROUND_WITHIN, done=self._out.is_set)
        self._out.set()

    def hold(self, host: str, until: float) -> None:
        """The host asked for a pause (Retry-After on a 429 or 503): no request to it starts before `until`
        (monotonic time), whichever source sends it. Retry-After is about the client, not one request
        (RFC 9110 10.2.3), and services count 429s against the client that ignores it."""
        if until > self._held.get(host, 0.0):
            self._held[host] = until

    def held_until(self, host: str) -> float:
        return self._held.get(host, 0.0)

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        # Host first: a request waiting for its host must not hold one of the global slots meanwhile.
        host_sem = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        try:
            async with host_sem, self._total:
                yield
        finally:
            self._out.set()  # a slot is free: what queued for one need not wait for an idle loop to be made

    def pacer(self, service: str, host: str, per_minute: float | None) -> Pacer:
        # Sources of one service on one host with one budget share it (two anonymous Reddit sources share
        # Reddit's per-IP limit); an OAuth client's budget is its own.
        key = (service, host, per_minute)
        if key not in self._pacers:
            self._pacers[key] = Pacer(per_minute=per_minute)
        return self._pacers[key]


async def until_idle(limit: float, *, tick: float = 0.001, done: Callable[[], bool] = lambda: False) -> None:
    """Return once the event loop is idle (a sleep of `tick` comes back on time, twice: the requests that could
    be written are, and no answer is in), once `done()`, or after `limit` seconds."""
    end = asyncio.get_running_loop().time() + limit
    on_time = 0
    while not done() and on_time < 2 and asyncio.get_running_loop().time() < end:
        on_time = on_time + 1 if await came_back_on_time(tick) else 0


async def came_back_on_time(tick: float) -> bool:
    """Sleep `tick`; True when the loop ran this task again on time: nothing else was waiting to run. (A `sleep(0)`
    cannot tell: the task is run again before the callbacks of the answers that came in meanwhile.)"""
    loop = asyncio.get_running_loop()
    start = loop.time()
    await asyncio.sleep(tick)
    return loop.time() - start < 2 * tick


_FIRST_ROUND_WITHIN = 0.25


def _host_hint(url: str) -> str:
    """The host of `url` for `Limits.full`; "" for a URL too broken to split (httpx then says what is wrong)."""
    try:
        return urlsplit(url).hostname or ""
    except ValueError:
        return ""


class ExchangeRecorder(Protocol):
    """What `scan --record` keeps exchanges with (`replay.Recorder`): named here, so http need not import replay,
    which builds on it."""

    def record(
        self, source: str, request: httpx.Request, response: Response | None = None, error: FetchError | None = None
    ) -> None: ...


class ReplayedExchange(Protocol):
    status: int
    url: str
    headers: httpx.Headers
    content: bytes


class ExchangeReplayer(Protocol):
    """What `scan --replay` answers requests from (`replay.Replayer`)."""

    def reply(self, source: str, request: httpx.Request, max_bytes: int = ...) -> ReplayedExchange: ...


@dataclass
class SourceHttp:
    """One source's use of the shared client: counts its requests and maps failures to health states."""

    client: httpx.AsyncClient
    settings: HttpSettings = field(default_factory=HttpSettings)
    limits: Limits | None = None
    cache: HttpCache | None = None
    # The service's documented budget (the adapter's `requests_per_minute`) and its name for pacing.
    service: str = ""
    requests_per_minute: float | None = None
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    monotonic: Callable[[], float] = time.monotonic
    wall_clock: Callable[[], float] = time.time
    rng: random.Random = field(default_factory=random.Random)
    # Called after every request, so a progress display can follow along.
    observer: Callable[[], None] | None = None
    # `scan --record` / `scan --replay`: exchanges are kept, or answered from a recording, under this name.
    source: str = ""
    recorder: ExchangeRecorder | None = None
    replayer: ExchangeReplayer | None = None
    requests: int = 0
    # Of them, those that asked whether a cached answer had changed (If-None-Match / If-Modified-Since).
    conditional: int = 0
    not_modified: int = 0
    # The URLs of the GETs that are asking (or will ask) so, in order: what unchanged documents gave can be read
    # ahead for them while the network waits (`pipeline.WorkAhead`).
    asked: list[str] = field(default_factory=list)

    async def get(
        self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        return await self.request("GET", url, params=params, headers=headers)

    async def get_json(
        self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        return (await self.get(url, params=params, headers=headers)).json()

    async def post(
        self,
        url: str,
        *,
        data: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return await self.request("POST", url, data=data, json_body=json_body, headers=headers)

    async def request(
        self,
        method: str,
        url: str,
        *,
        params: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        data: dict[str, str] | None = None,
        json_body: Any = None,
    ) -> Response:
        """Send one logical request (retried as needed) and return its capped body, or raise a FetchError."""
        if self.limits is not None and self.limits.full(_host_hint(url)):
            await self.limits.first_round_out()
        request = self.client.build_request(method, url, params=params, headers=headers, data=data, json=json_body)
        mark_internal(request)
        cache_key = str(request.url) if method == "GET" and self.cache is not None else None
        cached = self.cache.validators(cache_key) if self.cache is not None and cache_key else None
        if cached is not None:
            ask_if_changed(request, cached)
            self.asked.append(url)
        where = public_url(request.url)
        host = request.url.host
        attempt = 0
        timeouts = 0
        waited = 0.0
        while True:
            await self._wait_turn(host, where)
            try:
                response = await self._send(request)
            except (TimedOut, TransientError) as exc:
                delay = self._backoff(attempt)
                timed_out = isinstance(exc, TimedOut)
                timeouts += 1 if timed_out else 0
                too_many = attempt >= self.settings.retries or timeouts > self.settings.timeout_retries
                if too_many or waited + delay > self.settings.max_retry_wait:
                    if timed_out:
                        raise TimedOut(f"{exc} ({_tries(attempt + 1)})") from None
                    raise FetchError(str(exc)) from None
                log.debug("%s: %s; retry %d in %.1fs", where, exc, attempt + 1, delay)
            else:
                if response.status == 304 and cached is not None and self.cache is not None and cache_key:
                    self.not_modified += 1
                    body = functools.partial(_cached_body, self.cache, cache_key)
                    return Response(200, response.url, httpx.Headers(cached.headers), body, not_modified=True)
                if response.status not in _RETRY_STATUSES:
                    check_status(response)
                    if self.cache is not None and cache_key and response.status == 200 and response.validator:
                        self.cache.put(cache_key, response.headers, response.content)
                    return response
                hinted = retry_after(response, self.wall_clock())
                delay = hinted if hinted is not None else self._backoff(attempt)
                if attempt >= self.settings.retries or waited + delay > self.settings.max_retry_wait:
                    if hinted is not None and waited + delay > self.settings.max_retry_wait:
                        raise RateLimited(f"{where}: HTTP {response.status}, asked to wait {hinted:.0f}s") from None
                    check_status(response, attempts=attempt + 1)
                log.debug("%s: HTTP %d; retry %d in %.1fs", where, response.status, attempt + 1, delay)
            attempt += 1
            waited += delay
            await self.sleep(delay)

    def recall_parsed(self, url: str, validator: str) -> bytes | None:
        """What an unchanged resource was parsed to last time (so a 304 costs no parsing)."""
        return self.cache.get_parsed(url, validator) if self.cache is not None else None

    def remember_parsed(self, url: str, validator: str, data: bytes) -> None:
        if self.cache is not None:
            self.cache.put_parsed(url, validator, data)

    def _backoff(self, attempt: int) -> float:
        # Exponential backoff with "equal jitter": never zero, never in lockstep with other clients.
        ceiling = self.settings.backoff * 2.0**attempt
        return ceiling / 2 + self.rng.uniform(0, ceiling / 2)

    async def _wait_turn(self, host: str, where: str) -> None:
        if self.limits is None:
            return
        pacer = self.limits.pacer(self.service, host, self.requests_per_minute)
        now = self.monotonic()
        held = self.limits.held_until(host)
        resets = max(pacer.hold_until, held) - now
        if resets > self.settings.max_retry_wait:
            raise RateLimited(f"{where}: rate limit spent; resets in {resets:.0f}s")
        start = await pacer.reserve(now, not_before=held)
        if start > now:
            await self.sleep(start - now)

    async def _sit_out(self, pause: float, request: httpx.Request) -> None:
        """Wait out a pause the host asked for while this request was queued for its slot."""
        if pause > self.settings.max_retry_wait:
            raise RateLimited(f"{public_url(request.url)}: the host asked for a pause of {pause:.0f}s")
        await self.sleep(pause)

    def _observe_limits(self, response: Response, host: str) -> None:
        """Note the pauses an answer asks for. Called before its slot is freed, so that no request queued for
        the slot goes out inside a pause just asked for."""
        if self.limits is None:
            return
        now = self.monotonic()
        if response.status in _RETRY_STATUSES:
            asked = retry_after(response, self.wall_clock())
            if asked:
                # Retry-After is the host's pause, for every request to it: not only this one waits it out.
                self.limits.hold(host, now + asked)
                log.debug("%s: HTTP %d; host paused %.1fs", public_url(response.url), response.status, asked)
        pause = rate_limit_pause(response.headers, self.wall_clock())
        if pause is not None:
            pacer = self.limits.pacer(self.service, host, self.requests_per_minute)
            pacer.hold_until = max(pacer.hold_until, now + pause)
            log.debug("%s: rate-limit budget spent; holding %.0fs", public_url(response.url), pause)

    async def _send(self, request: httpx.Request) -> Response:
        try:
            response = await self._exchange(request)
        except FetchError as exc:
            if self.recorder is not None:
                self.recorder.record(self.source, request, error=exc)
            raise
        finally:
            if self.observer is not None:
                self.observer()
        if self.recorder is not None:
            self.recorder.record(self.source, request, response)
        return response

    async def _exchange(self, request: httpx.Request) -> Response:
        if self.replayer is not None:
            self.requests += 1
            replayed = self.replayer.reply(self.source, request, max_bytes=self.settings.max_bytes)
            response = Response(replayed.status, replayed.url, replayed.headers, replayed.content)
            self._observe_limits(response, request.url.host)
            return response
        host = request.url.host
        limits = self.limits
        # The URL for an error message is worked out only when there is one to write (a few µs a request).
        try:
            while True:
                async with limits.slot(host) if limits is not None else contextlib.nullcontext():
                    # A request that queued for its slot while another was told to pause does not go out inside
                    # the pause: it is checked again here, once the slot is taken.
                    pause = limits.held_until(host) - self.monotonic() if limits is not None else 0.0
                    if pause <= 0:
                        self.requests += 1  # counted once under way, not while queued for a slot
                        if "if-none-match" in request.headers or "if-modified-since" in request.headers:
                            self.conditional += 1
                        resp = await self.client.send(request, stream=True, follow_redirects=False)
                        if resp.next_request is not None:  # a redirect (followed here: see `_follow`)
                            resp = await self._follow(request, resp)
                        try:
                            body = await self._read_capped(resp)
                        finally:
                            await resp.aclose()
                        response = Response(resp.status_code, str(resp.url), resp.headers, body)
                        # Before the slot is freed: a request queued for it must see a pause this answer asks for.
                        self._observe_limits(response, host)
                        break
                await self._sit_out(pause, request)
            if limits is not None:
                # The slot is free: let a request waiting for it go out before this answer is worked on
                # (network first; otherwise each round of requests waits for the last round's parsing).
                await asyncio.sleep(0)
            return response
        except httpx.TimeoutException as exc:
            raise TimedOut(f"{public_url(request.url)}: {_timeout_message(exc, request)}") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"{public_url(request.url)}: too many redirects") from None
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"{public_url(request.url)}: refused a redirect to a non-http(s) URL ({exc})") from None
        except (AddressBlocked, CredentialsWithheld) as exc:
            raise FetchError(f"{public_url(request.url)}: {exc}") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"{public_url(request.url)}: {type(exc).__name__}: {exc}") from None

    async def _follow(self, request: httpx.Request, resp: httpx.Response) -> httpx.Response:
        """Follow the redirect `resp` answered to `request`, and up to `max_redirects` in all; return the final
        answer, unread.

        Followed here rather than by httpx, for two reasons. httpx keeps a 307/308's method and body whatever
        the new origin, so a login's password would be re-sent to wherever the login redirects (it only drops
        `Authorization`); here credentials stay with the origin they were meant for (`keep_credentials_home`).
        And httpx reads each redirect's body whole, with no cap; here it is never read."""
        redirects = 0
        while (hop := resp.next_request) is not None:
            await resp.aclose()
            if redirects == self.settings.max_redirects:
                raise httpx.TooManyRedirects(f"more than {redirects} redirects", request=hop)
            redirects += 1
            resp = await self.client.send(keep_credentials_home(request, hop), stream=True, follow_redirects=False)
        return resp

    async def _read_capped(self, resp: httpx.Response) -> bytes:
        chunks: list[bytes] = []
        size = 0
        async for chunk in resp.aiter_bytes():
            size += len(chunk)
            if size > self.settings.max_bytes:
                raise BadPayload(
                    f"{public_url(resp.url)}: response larger than {self.settings.max_bytes} bytes, cut off"
                )
            chunks.append(chunk)
        return b"".join(chunks)


def _cached_body(cache: HttpCache, url: str) -> bytes:
    """The body kept for `url`, for a 304 whose caller asks for it."""
    body = cache.body(url)
    if body is None:  # removed or damaged since its validators were read (another scan, a full disk)
        raise BadPayload(f"{public_url(url)}: answered 304, and the copy kept of it cannot be read; try --no-cache")
    return body


class CredentialsWithheld(httpx.RequestError):
    """A redirect would have taken a request body to another origin."""


_DEFAULT_PORTS = {"http": 80, "https": 443}


def origin(url: httpx.URL) -> tuple[str, str, int | None]:
    """Scheme, host and port: what a credential is scoped to (RFC 6454)."""
    return url.scheme, url.host, url.port or _DEFAULT_PORTS.get(url.scheme)


def keep_credentials_home(original: httpx.Request, hop: httpx.Request) -> httpx.Request:
    """The next hop of a redirect of `original`, without its credentials if it leaves `original`'s origin.

    `Authorization` and cookies are dropped (cookies are scoped by host, not port or scheme, so the jar would
    send them on). A body cannot be dropped without changing the request: a 307/308 that would carry one to
    another origin (a login POST, its password in the body) is refused. Another scheme counts as another
    origin too: even http to https, where httpx keeps `Authorization`."""
    if origin(hop.url) == origin(original.url):
        return hop
    if hop.headers.get("content-length", "0") != "0" or "transfer-encoding" in hop.headers:
        raise CredentialsWithheld(
            f"refused to send the request body on to another origin ({public_url(hop.url)})", request=hop
        )
    for name in ("authorization", "cookie"):
        hop.headers.pop(name, None)
    return hop


def _tries(count: int) -> str:
    return "1 try" if count == 1 else f"{count} tries"


def _timeout_message(exc: httpx.TimeoutException, request: httpx.Request) -> str:
    limits: dict[str, float | None] = request.extensions.get("timeout", {})
    if isinstance(exc, httpx.ConnectTimeout):
        return f"no connection in {limits.get('connect') or 0:g} s"
    if isinstance(exc, httpx.WriteTimeout):
        return f"could not send the request in {limits.get('write') or 0:g} s"
    return f"no answer in {limits.get('read') or 0:g} s"


def check_status(resp: Response, attempts: int = 1) -> None:
    status = resp.status
    if status < 400:
        return
    where = public_url(resp.url)
    tries = f" after {attempts} attempts" if attempts > 1 else ""
    if status == 401:
        raise Unauthorized(f"{where}: HTTP 401, credentials missing or rejected", resp)
    if status == 403 and any(resp.headers.get(h) in ("0", "0.0") for h in _REMAINING):
        # GitHub answers a spent rate limit with 403, not 429 ("Exceeding the rate limit", REST docs).
        raise RateLimited(f"{where}: HTTP 403, rate limit spent", resp)
    if status == 403:
        raise Unauthorized(f"{where}: HTTP 403, blocked or forbidden", resp)
    if status == 429:
        raise RateLimited(f"{where}: HTTP 429, rate limited{tries}", resp)
    raise FetchError(f"{where}: HTTP {status}{tries}", resp)

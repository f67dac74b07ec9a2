"""The shared HTTP client, and the per-source view of it that paces, retries, caps and explains.

Real APIs are slow, rate-limited, flaky and sometimes hostile. Everything a source asks for goes through
`SourceHttp.request`, which:
- waits for a slot (all sources together, and per host) and for the service's pace;
- sends a conditional request when it has a validator (ETag / Last-Modified) from an earlier run;
- retries transport errors, 429 and 5xx with exponential backoff and jitter, honouring Retry-After, up to a
  bounded number of attempts and a bounded total wait; any other 4xx fails at once;
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
from typing import TYPE_CHECKING, Any

import certifi
import httpx

from mentionwatch import USER_AGENT
from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, TransientError, Unauthorized
from mentionwatch.transport import AddressBlocked, StreamTransport

if TYPE_CHECKING:
    from mentionwatch.cache import HttpCache
    from mentionwatch.replay import Recorder, Replayer

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
    max_retry_wait: float = 60.0
    backoff: float = 0.5


def build_client(settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """One client for the whole scan, so connections are pooled across sources.

    Requests in flight are capped by `Limits` (a semaphore overall and per host), and the keep-alive pool by
    the scan's concurrency: firing hundreds of requests at once into a connection pool is CPU-bound and slow.
    """
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    if transport is None:
        proxies = Proxies.from_environment()
        direct = StreamTransport(
            tls_context, max_idle=settings.concurrency, proxy_for=proxies, allow_address=may_connect_to
        )
        transport = AddressGuard(direct, proxy_for=proxies)
    return httpx.AsyncClient(
        headers={"User-Agent": settings.user_agent},
        timeout=timeout,
        follow_redirects=True,  # httpx refuses redirects to anything but http(s): a `file:` URL is never read
        max_redirects=settings.max_redirects,
        transport=transport,
    )


@functools.lru_cache(maxsize=1)
def tls_context() -> ssl.SSLContext:
    """One TLS context for every connection (loading the CA bundle costs ~15 ms), made on first use."""
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


@dataclass(frozen=True)
class Response:
    """A fully read response body (capped), with what adapters need of the exchange."""

    status: int
    url: str
    headers: httpx.Headers
    content: bytes
    # True when the server answered 304 and this is the body cached from an earlier run.
    not_modified: bool = False

    def json(self) -> Any:
        return decode_json(self)

    @property
    def validator(self) -> str | None:
        """What identifies this version of the resource: its ETag, else its Last-Modified."""
        value = self.headers.get("etag") or self.headers.get("last-modified")
        return str(value) if value else None


def public_url(url: str | httpx.URL) -> str:
    """The URL without its query string, fragment and user info: those can carry API keys and passwords, and
    errors must not print them. (Asked for on every request: string work, not a URL rebuilt.)"""
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
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

    async def reserve(self, now: float) -> float:
        """The monotonic time at which the caller may send."""
        async with self.lock:
            start = max(now, self.hold_until)
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
    """Caps shared by every source in a scan: requests in flight overall and per host, and the pace
    of each service."""

    def __init__(self, total: int = 16, per_host: int = 6) -> None:
        self._total = asyncio.Semaphore(total)
        self._per_host = per_host
        self._hosts: dict[str, asyncio.Semaphore] = {}
        self._pacers: dict[tuple[str, str, float | None], Pacer] = {}

    @contextlib.asynccontextmanager
    async def slot(self, host: str) -> AsyncIterator[None]:
        # Host first: a request waiting for its host must not hold one of the global slots meanwhile.
        host_sem = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        async with host_sem, self._total:
            yield

    def pacer(self, service: str, host: str, per_minute: float | None) -> Pacer:
        # Sources of one service on one host with one budget share it (two anonymous Reddit sources share
        # Reddit's per-IP limit); an OAuth client's budget is its own.
        key = (service, host, per_minute)
        if key not in self._pacers:
            self._pacers[key] = Pacer(per_minute=per_minute)
        return self._pacers[key]


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
    recorder: Recorder | None = None
    replayer: Replayer | None = None
    requests: int = 0
    not_modified: int = 0

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
        request = self.client.build_request(method, url, params=params, headers=headers, data=data, json=json_body)
        if host_is_internal(request.url.host):
            request.extensions[ALLOW_INTERNAL] = True
        cache_key = str(request.url) if method == "GET" and self.cache is not None else None
        cached = self.cache.get(cache_key) if self.cache is not None and cache_key else None
        if cached is not None:
            if cached.etag:
                request.headers["If-None-Match"] = cached.etag
            if cached.last_modified:
                request.headers["If-Modified-Since"] = cached.last_modified
        where = public_url(request.url)
        attempt = 0
        waited = 0.0
        while True:
            await self._wait_turn(request.url.host, where)
            try:
                response = await self._send(request)
            except (TimedOut, TransientError) as exc:
                delay = self._backoff(attempt)
                if attempt >= self.settings.retries or waited + delay > self.settings.max_retry_wait:
                    raise (exc if isinstance(exc, TimedOut) else FetchError(str(exc))) from None
                log.debug("%s: %s; retry %d in %.1fs", where, exc, attempt + 1, delay)
            else:
                self._observe_limits(response, request.url.host)
                if response.status == 304 and cached is not None:
                    self.not_modified += 1
                    return Response(200, response.url, httpx.Headers(cached.headers), cached.body, not_modified=True)
                if response.status not in _RETRY_STATUSES:
                    check_status(response)
                    if self.cache is not None and cache_key and response.status == 200 and response.validator:
                        self.cache.put(cache_key, response.headers, response.content)
                    return response
                retry_after = response.headers.get("retry-after")
                hinted = seconds_until(retry_after, self.wall_clock()) if retry_after else None
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
        if pacer.hold_until - now > self.settings.max_retry_wait:
            raise RateLimited(f"{where}: rate limit spent; resets in {pacer.hold_until - now:.0f}s")
        start = await pacer.reserve(now)
        if start > now:
            await self.sleep(start - now)

    def _observe_limits(self, response: Response, host: str) -> None:
        pause = rate_limit_pause(response.headers, self.wall_clock())
        if pause is None or self.limits is None:
            return
        pacer = self.limits.pacer(self.service, host, self.requests_per_minute)
        pacer.hold_until = max(pacer.hold_until, self.monotonic() + pause)
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
        where = public_url(request.url)
        if self.replayer is not None:
            self.requests += 1
            replayed = self.replayer.reply(self.source, request)
            if len(replayed.content) > self.settings.max_bytes:
                raise BadPayload(f"{where}: response larger than {self.settings.max_bytes} bytes, cut off")
            return Response(replayed.status, replayed.url, replayed.headers, replayed.content)
        try:
            async with self.limits.slot(request.url.host) if self.limits else contextlib.nullcontext():
                self.requests += 1  # counted once under way, not while queued for a slot
                resp = await self.client.send(request, stream=True)
                try:
                    body = await self._read_capped(resp)
                finally:
                    await resp.aclose()
            if self.limits is not None:
                # The slot is free: let a request waiting for it go out before this answer is worked on
                # (network first; otherwise each round of requests waits for the last round's parsing).
                await asyncio.sleep(0)
            return Response(resp.status_code, str(resp.url), resp.headers, body)
        except httpx.TimeoutException:
            raise TimedOut(f"{where} did not answer in time") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"{where}: too many redirects") from None
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"{where}: refused a redirect to a non-http(s) URL ({exc})") from None
        except AddressBlocked as exc:
            raise FetchError(f"{where}: {exc}") from None
        except httpx.HTTPError as exc:
            raise TransientError(f"{where}: {type(exc).__name__}: {exc}") from None

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

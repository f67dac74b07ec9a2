"""The shared HTTP client and the per-source view of it that turns HTTP trouble into source health."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import httpx

from mentionwatch import USER_AGENT
from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, Unauthorized

log = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 20 * 1024 * 1024
_LOGIN_WALL = re.compile(rb"log ?in|sign ?in|captcha|access denied|blocked", re.IGNORECASE)


@dataclass(frozen=True)
class HttpSettings:
    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    max_redirects: int = 5
    max_bytes: int = DEFAULT_MAX_BYTES
    user_agent: str = USER_AGENT


def build_client(settings: HttpSettings, transport: httpx.AsyncBaseTransport | None = None) -> httpx.AsyncClient:
    """One client for the whole scan, so connections are pooled across sources."""
    timeout = httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout)
    return httpx.AsyncClient(
        headers={"User-Agent": settings.user_agent},
        timeout=timeout,
        follow_redirects=True,  # httpx itself refuses redirects to anything but http(s)
        max_redirects=settings.max_redirects,
        transport=transport,
    )


@dataclass(frozen=True)
class Response:
    """A fully read response body (capped), with what adapters need of the exchange."""

    status: int
    url: str
    headers: httpx.Headers
    content: bytes

    def json(self) -> Any:
        return decode_json(self)


def public_url(url: str | httpx.URL) -> str:
    """The URL without its query string: queries can carry API keys, and errors must not print them."""
    parsed = httpx.URL(str(url))
    return str(parsed.copy_with(query=None, fragment=None))


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


@dataclass
class SourceHttp:
    """One source's use of the shared client: counts its requests and maps failures to health states."""

    client: httpx.AsyncClient
    settings: HttpSettings = field(default_factory=HttpSettings)
    # Shared by all sources: caps the requests in flight for the whole scan.
    limiter: asyncio.Semaphore | None = None
    requests: int = 0

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
        """Send one request and read its body (capped); HTTP and transport failures become FetchErrors."""
        self.requests += 1
        try:
            async with (
                self.limiter or contextlib.nullcontext(),
                self.client.stream(method, url, params=params, headers=headers, data=data, json=json_body) as resp,
            ):
                body = await self._read_capped(resp)
                response = Response(resp.status_code, str(resp.url), resp.headers, body)
        except httpx.TimeoutException:
            raise TimedOut(f"{public_url(url)} did not answer in time") from None
        except httpx.TooManyRedirects:
            raise FetchError(f"{public_url(url)}: too many redirects") from None
        except httpx.UnsupportedProtocol as exc:
            raise FetchError(f"{public_url(url)}: refused a redirect to a non-http(s) URL ({exc})") from None
        except httpx.HTTPError as exc:
            raise FetchError(f"{public_url(url)}: {type(exc).__name__}: {exc}") from None
        check_status(response)
        return response

    async def get(
        self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Response:
        return await self.request("GET", url, params=params, headers=headers)

    async def post(
        self,
        url: str,
        *,
        data: dict[str, str] | None = None,
        json_body: Any = None,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return await self.request("POST", url, data=data, json_body=json_body, headers=headers)

    async def get_json(
        self, url: str, *, params: dict[str, Any] | None = None, headers: dict[str, str] | None = None
    ) -> Any:
        return (await self.get(url, params=params, headers=headers)).json()

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


def check_status(resp: Response) -> None:
    status = resp.status
    if status < 400:
        return
    where = public_url(resp.url)
    if status == 401:
        raise Unauthorized(f"{where}: HTTP 401, credentials missing or rejected")
    if status == 403:
        raise Unauthorized(f"{where}: HTTP 403, blocked or forbidden")
    if status == 429:
        raise RateLimited(f"{where}: HTTP 429, rate limited")
    raise FetchError(f"{where}: HTTP {status}")

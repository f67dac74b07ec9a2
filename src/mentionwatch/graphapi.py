"""Meta's Graph API (graph.facebook.com): the conventions every one of its products shares, in one place.

The `facebook_page` and `instagram_account` sources both read it, and a source may import only the plugin API,
so the shared part lives here and the plugin API exports it (a third-party source for another Graph API
product, Threads or WhatsApp, meets the same conventions). What it does:

- sends the token as the documented `access_token` query parameter (the shared HTTP layer drops query strings
  from every message, and the HTTP cache hashes its keys, so the token reaches neither the output nor the disk);
- turns Graph's error body into the source's health: throttling codes are `rate-limited`, a refused token is
  `unauthorized` with a hint to renew it, and an edge the token may not read is an `EdgeUnavailable` naming
  the missing permission, which a source reports once and then reads its other edges;
- reads the usage headers (`X-App-Usage`, `X-Page-Usage`, `X-Business-Use-Case-Usage`) after every answer and
  paces the source before Meta throttles it: slower from 80% of a budget, stopped at 95%;
- walks `paging.next`, taking only the cursor from it: the request stays on the configured `base_url` (a test
  server, a proxy) and the token is never read back out of a URL the service wrote;
- addresses writes (a reply: `POST /{object-id}/comments`, `POST /{ig-comment-id}/replies`) with the token in
  the query string too, and classifies their errors as a read's are, naming the permission a write needs when
  Graph refuses one without saying which.

References: developers.facebook.com/docs/graph-api/guides/error-handling (error codes and subcodes),
.../docs/graph-api/overview/rate-limiting (usage headers, throttling codes), .../docs/graph-api/results
(cursor paging: "If `next` is not included, this is the last page of data").
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

import httpx

from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.http import Response, public_url
from mentionwatch.source import SourceContext, json_int

log = logging.getLogger(__name__)

# rate-limiting: "API Too Many Calls" 4 (app), "API User Too Many Calls" 17, Page-level throttling 32, custom
# rate limit 613, and the Business Use Case codes: 80001 Pages, 80002 Instagram, 80003 custom audiences, 80004
# ads management, 80005 LeadGen, 80006 Messenger, 80008 WhatsApp, 80009 catalog management, 80014 catalog batch.
# 341 ("Application limit reached", error-handling) is the same kind of temporary block.
THROTTLE_CODES = frozenset({4, 17, 32, 341, 613, 80001, 80002, 80003, 80004, 80005, 80006, 80008, 80009, 80014})
# error-handling: 190 "Access token has expired", 102 "API Session" (login status or token expired or invalid).
TOKEN_CODES = frozenset({102, 190})
# error-handling: 10 "API Permission Denied" and 200-299 "API Permission (multiple values depending on
# permission)"; 100 "Invalid parameter" also says "missing permission" for an edge the token may not read (the
# recorded answer, tests/fixtures/facebook_page/error_permission.json).
PERMISSION_CODES = frozenset({10, *range(200, 300)})
# The Recommendation reference: "Attempting to query an edge or field that returns a recommendation using v22.0
# or later will return error code 12" (deprecated field or edge).
DEPRECATED_CODE = 12
# 100 "Invalid parameter": also what an edge this Page or version does not have answers ("(#100) Tried accessing
# nonexisting field"), e.g. /visitor_posts on a Page moved to the New Pages Experience (reference/page/
# visitor_posts: "not supported for Pages that have been migrated"): that edge is unavailable, not the source.
INVALID_CODE = 100
# Any Graph id an answer may hold: digits, and `_` between the parts of a compound one (`{post}_{comment}`).
_GRAPH_ID = re.compile(r"\d+(?:_\d+)*")
# With 100, subcode 33: "Unsupported get/post request. Object with ID '...' does not exist, cannot be loaded due to
# missing permissions, or does not support this operation": what a comment or post deleted since the scan answers.
GONE_SUBCODE = 33
# error-handling: 1 "API Unknown" and 2 "API Service", "a temporary issue due to downtime": whatever their type.
TRANSIENT_CODES = frozenset({1, 2})
# The permission names Meta uses (`pages_read_engagement`, `instagram_manage_comments`, `business_management`...).
_PERMISSION = re.compile(r"\b((?:pages|instagram|business|ads|read|publish|user|catalog|whatsapp)_[a-z_]+)\b")

USAGE_HEADERS = ("x-app-usage", "x-page-usage", "x-business-use-case-usage")
_USAGE_FIGURES = ("call_count", "total_time", "total_cputime")
# From this share of a budget on, requests are spaced out; at STOP_AT the source stops and says why: a throttled
# app is refused everything for up to an hour (rate-limiting, "estimated_time_to_regain_access").
SLOW_AT = 80.0
STOP_AT = 95.0
MAX_PAUSE = 60.0  # seconds before the next request, reached just under STOP_AT


class EdgeUnavailable(FetchError):
    """One edge the token cannot read: a permission it lacks (`permission` names it) or an edge this API version
    no longer serves. The source reports it once and carries on with its other edges."""

    def __init__(
        self, message: str, response: Any = None, *, permission: str | None = None, reason: str = ""
    ) -> None:
        super().__init__(message, response)
        self.permission = permission
        # What Graph said, without the URL: what a health line quotes.
        self.reason = reason or message
        self.state = "unauthorized" if permission else "failed"


@dataclass(frozen=True)
class Usage:
    """The highest share of any Graph budget an answer reports, and how long a throttled budget stays shut."""

    percent: float
    # Which header and figure gave `percent`, e.g. "X-App-Usage call_count": what the health line names.
    source: str
    regain_minutes: float = 0.0


def read_usage(headers: httpx.Headers) -> Usage | None:
    """The usage headers of one answer, or None when it sent none (a quiet app often gets none at all).

    `X-App-Usage` and `X-Page-Usage` hold one object, `{"call_count": 28, "total_time": 25, "total_cputime": 25}`
    (percentages of the budget); `X-Business-Use-Case-Usage` holds, per business object id, a list of such
    objects with a `type` and `estimated_time_to_regain_access` in minutes (rate-limiting, "Headers")."""
    best: Usage | None = None
    regain = 0.0
    for name in USAGE_HEADERS:
        raw = headers.get(name)
        if not raw:
            continue
        try:
            value = json.loads(raw)
        except ValueError:
            log.debug("unreadable %s header: %.100r", name, raw)
            continue
        for figures in _usage_objects(value):
            regain = max(regain, float(json_int(figures.get("estimated_time_to_regain_access")) or 0))
            for figure in _USAGE_FIGURES:
                percent = json_int(figures.get(figure))
                if percent is not None and (best is None or percent > best.percent):
                    best = Usage(float(percent), f"{_title(name)} {figure}")
    if best is None:
        return Usage(0.0, "", regain) if regain else None
    return Usage(best.percent, best.source, regain)


def _usage_objects(value: Any, depth: int = 0) -> list[dict[str, Any]]:
    """Every object holding usage figures: the header's own, or those listed under business object ids."""
    if depth > 3:
        return []
    if isinstance(value, dict):
        if any(k in value for k in (*_USAGE_FIGURES, "estimated_time_to_regain_access")):
            return [value]
        return [o for v in value.values() for o in _usage_objects(v, depth + 1)]
    if isinstance(value, list):
        return [o for v in value for o in _usage_objects(v, depth + 1)]
    return []


def _title(header: str) -> str:
    return "-".join(part.capitalize() for part in header.split("-"))


def pause_for(usage: Usage | None) -> float:
    """Seconds to wait before the next request at this usage: none below SLOW_AT, then rising to MAX_PAUSE."""
    if usage is None or usage.percent < SLOW_AT:
        return 0.0
    share = min(1.0, (usage.percent - SLOW_AT) / (STOP_AT - SLOW_AT))
    return round(share * MAX_PAUSE, 1)


def error_body(response: Any) -> dict[str, Any] | None:
    """The `error` object of a Graph answer, or None when the body is not one."""
    if not isinstance(response, Response):
        return None
    try:
        payload = response.json()
    except FetchError:
        return None
    error = payload.get("error") if isinstance(payload, dict) else None
    return error if isinstance(error, dict) else None


def classify(error: dict[str, Any], where: str, response: Any = None) -> FetchError:
    """The health a Graph `error` object means (error-handling: "Error Codes"); checked in this order because
    type `OAuthException` comes with permission and throttling codes too, not only with token errors."""
    code = json_int(error.get("code"))
    subcode = json_int(error.get("error_subcode"))
    message = " ".join(str(error.get("message") or "").split())[:300]
    said = f"Graph API error {code}{f'/{subcode}' if subcode else ''}: {message}"
    if code in THROTTLE_CODES:
        return RateLimited(f"{where}: {said}", response)
    if code == INVALID_CODE and subcode == GONE_SUBCODE:
        # "Object with ID ... does not exist, cannot be loaded due to missing permissions, or does not support this
        # operation": the message names permissions, but this is what Graph says of a deleted comment or post.
        gone = f"{where}: {said} — it is gone (deleted) or hidden from this token"
        return EdgeUnavailable(gone, response, reason=said)
    if code in PERMISSION_CODES or (code == INVALID_CODE and "permission" in message.lower()):
        found = _PERMISSION.search(message)
        permission = found.group(1) if found else None
        return EdgeUnavailable(f"{where}: {said}", response, permission=permission or "unknown", reason=said)
    if code in (DEPRECATED_CODE, INVALID_CODE):
        return EdgeUnavailable(f"{where}: {said}", response, reason=said)
    if code in TOKEN_CODES or (error.get("type") == "OAuthException" and code not in TRANSIENT_CODES):
        return Unauthorized(
            f"{where}: {said} — the access token was refused (expired, revoked or invalid): renew it "
            "(a long-lived token: Graph API Explorer or a system user) and set it in `token`",
            response,
        )
    return FetchError(f"{where}: {said}", response)


def _needing(exc: FetchError, permission: str | None) -> FetchError:
    """A write's permission error, saying which permission the token lacks (the one Graph names, else the one
    the write needs): "the token lacks X" is what the user can act on."""
    if permission is None or not isinstance(exc, EdgeUnavailable) or exc.permission is None:
        return exc
    lacking = permission if exc.permission == "unknown" else exc.permission
    return EdgeUnavailable(
        f"{exc} — the token lacks the {lacking} permission", exc.response, permission=lacking, reason=exc.reason
    )


def next_params(payload: dict[str, Any]) -> dict[str, str] | None:
    """The query of the `paging.next` URL (its cursor: `after`, or `until` and `__paging_token` for time-based
    paging), without the token it echoes and without empty values (Graph writes `since&` for "unset"); None on
    the last page."""
    paging = payload.get("paging")
    nxt = paging.get("next") if isinstance(paging, dict) else None
    if not isinstance(nxt, str) or not nxt:
        return None
    try:
        pairs = parse_qsl(urlsplit(nxt).query)
    except ValueError:
        return None
    params = {k: v for k, v in pairs if v and k != "access_token"}
    return params or None


class GraphApi:
    """One token's view of the Graph API: GET with errors classified, usage paced, and cursor paging."""

    def __init__(self, context: SourceContext, *, base_url: str, api_version: str, token: str) -> None:
        self.context = context
        self.root = f"{base_url.rstrip('/')}/{api_version.strip('/')}"
        self._token = token
        self.usage: Usage | None = None
        self._slowed = False

    def url(self, path: str) -> str:
        return f"{self.root}/{path.lstrip('/')}"

    @staticmethod
    def is_id(value: Any) -> bool:
        """Whether `value` is a Graph id: digits, and `_` between the parts of a compound one."""
        return isinstance(value, str) and _GRAPH_ID.fullmatch(value) is not None

    @staticmethod
    def checked_id(value: Any) -> str:
        """An id from a Graph answer, checked: ids go into request paths (`/{object-id}/comments`) and web
        addresses, so one that is not a string of digits (a list, an object, a number, a string holding a `/`)
        makes its item unreadable, to be skipped and counted, never a request to some other path."""
        if not GraphApi.is_id(value):
            raise BadPayload(f"{str(value)[:60]!r} is not a Graph id")
        return str(value)

    async def get(self, path: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """The JSON object at `path`; raises RateLimited, Unauthorized, EdgeUnavailable or another FetchError."""
        await self._pace()
        query = {**(params or {}), "access_token": self._token}
        return await self.result(self.context.http.get(self.url(path), params=query))

    def write_url(self, path: str, params: dict[str, str] | None = None) -> str:
        """The address of a write (a POST) to `path`, the token in its query string as reads send it: the outbox
        stores a request's URL without its query (`public_url`), and what is printed or logged masks an
        `access_token=` value by its shape, so the request `--dry-run` shows and the store keeps never hold it."""
        return f"{self.url(path)}?{urlencode({**(params or {}), 'access_token': self._token})}"

    async def result(self, call: Awaitable[Response], *, permission: str | None = None) -> dict[str, Any]:
        """The JSON object a request (`call`, awaited once here: a write is never retried) was answered with;
        Graph's errors classified (`classify`). `permission`: what a write needs, named when Graph refuses it
        for a permission without saying which (error 200 "Permissions error")."""
        try:
            resp = await call
        except FetchError as exc:
            response = exc.response
            if isinstance(response, Response):
                self._observe(response.headers)
            error = error_body(response)
            if error is None:
                raise
            raise self._when_back(_needing(classify(error, public_url(response.url), response), permission)) from None
        self._observe(resp.headers)
        payload = resp.json()
        if not isinstance(payload, dict):
            raise BadPayload(f"{public_url(resp.url)}: the Graph API answered with no JSON object")
        if isinstance(payload.get("error"), dict):
            raise self._when_back(_needing(classify(payload["error"], public_url(resp.url), resp), permission))
        return payload

    def _when_back(self, exc: FetchError) -> FetchError:
        """A throttling error with the time Meta gives for access to come back (the usage header it came with)."""
        usage = self.usage
        if not isinstance(exc, RateLimited) or usage is None or usage.regain_minutes <= 0:
            return exc
        return RateLimited(
            f"{exc}; access is back in about {usage.regain_minutes:g} minutes (estimated_time_to_regain_access)",
            exc.response,
        )

    async def pages(self, path: str, params: dict[str, Any], *, max_pages: int) -> AsyncIterator[list[Any]]:
        """The `data` list of each page of an edge, following `paging.next` for at most `max_pages` pages."""
        query = dict(params)
        for _ in range(max_pages):
            payload = await self.get(path, query)
            data = payload.get("data")
            if not isinstance(data, list):
                raise BadPayload(f"{self.url(path)}: the Graph API answer has no `data` list")
            yield data
            cursor = next_params(payload)
            if cursor is None or not data:
                return
            query = {**query, **cursor}

    def _observe(self, headers: httpx.Headers) -> None:
        usage = read_usage(headers)
        if usage is not None:
            self.usage = usage

    async def _pace(self) -> None:
        usage = self.usage
        if usage is None:
            return
        if usage.regain_minutes > 0:
            raise RateLimited(
                f"{self.root}: the Graph API throttles this app or page; access is back in about "
                f"{usage.regain_minutes:g} minutes (estimated_time_to_regain_access)"
            )
        if usage.percent >= STOP_AT:
            raise RateLimited(
                f"{self.root}: stopped at {usage.percent:g}% of the Graph API budget ({usage.source}) before Meta "
                "throttles the app; the next run carries on"
            )
        pause = pause_for(usage)
        if pause <= 0:
            return
        if not self._slowed:
            self._slowed = True
            self.context.warnings.append(
                f"Graph API usage at {usage.percent:g}% ({usage.source}): requests slowed down to stay under it"
            )
        log.debug("%s: Graph API usage %g%% (%s); waiting %.1fs", self.root, usage.percent, usage.source, pause)
        await self.context.sleep(pause)

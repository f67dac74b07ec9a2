"""YouTube videos, through the YouTube Data API v3: `search.list` newest first, then one `videos.list` per page."""

from __future__ import annotations

import html
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

from pydantic import Field, SecretStr, field_validator

from mentionwatch.plugin import (
    BadPayload,
    FetchError,
    Mention,
    RateLimited,
    Response,
    Source,
    SourceConfig,
    Unauthorized,
    html_to_text,
    parse_time,
    public_url,
    read_items,
    since_split,
)
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

WATCH_URL = "https://www.youtube.com/watch?v={}"
PAGE_SIZE = 50  # search.list `maxResults`: 0..50

# developers.google.com/youtube/v3/docs/errors and the Google Cloud error model: the `errors[].reason` values
# (and, in newer answers, the `google.rpc.ErrorInfo` reasons in `details[]`) that mean "slow down / come back
# tomorrow" rather than "this key is wrong". Both arrive with HTTP 403 (or 400/429), so the body decides.
_RATE_REASONS = frozenset(
    {"quotaExceeded", "dailyLimitExceeded", "rateLimitExceeded", "userRateLimitExceeded", "RATE_LIMIT_EXCEEDED"}
)
_AUTH_REASONS = frozenset(
    {
        "keyInvalid",
        "keyExpired",
        "API_KEY_INVALID",
        "API_KEY_EXPIRED",
        "forbidden",
        "accessNotConfigured",
        "SERVICE_DISABLED",
        "ipRefererBlocked",
        "API_KEY_SERVICE_BLOCKED",
        "API_KEY_HTTP_REFERRER_BLOCKED",
        "API_KEY_IP_ADDRESS_BLOCKED",
    }
)


class YouTubeConfig(SourceConfig):
    base_url: str = "https://www.googleapis.com/youtube/v3"
    # Sent as the `key` query parameter, as the API wants it; the shared HTTP layer drops query strings from
    # every error message, so the key never reaches the output.
    key: SecretStr = Field(description="a YouTube Data API v3 key (Google Cloud console, API enabled)")
    max_pages: int = Field(
        1,
        ge=1,
        le=10,
        description="search pages of 50 per term; every page is a search.list call, the scarce part of the quota",
    )

    @field_validator("key")
    @classmethod
    def _key_not_empty(cls, key: SecretStr) -> SecretStr:
        if not key.get_secret_value().strip():
            raise ValueError("the YouTube API key is empty")
        return key


def format_time(value: datetime) -> str:
    """RFC 3339 in UTC, to the second, as `publishedAfter` takes it."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def search_items(payload: Any) -> tuple[list[dict[str, Any]], str | None]:
    """The video results of one `search.list` page and its `nextPageToken`."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BadPayload("YouTube search answer has no `items` list")
    items = []
    for item in payload["items"]:
        ident = item.get("id") if isinstance(item, dict) else None
        # `type=video` should leave only videos; a channel or playlist result has no `videoId` and is skipped.
        if isinstance(ident, dict) and ident.get("kind") == "youtube#video" and ident.get("videoId"):
            items.append(item)
    token = payload.get("nextPageToken")
    return items, token if isinstance(token, str) and token else None


def statistics_by_id(payload: Any) -> dict[str, dict[str, Any]]:
    """`videos.list?part=statistics`: each video's statistics by id (videos gone since the search are absent)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("items"), list):
        raise BadPayload("YouTube videos answer has no `items` list")
    out: dict[str, dict[str, Any]] = {}
    for item in payload["items"]:
        if isinstance(item, dict) and item.get("id") and isinstance(item.get("statistics"), dict):
            out[str(item["id"])] = item["statistics"]
    return out


def _count(statistics: dict[str, Any] | None, name: str) -> int | None:
    # The API sends counts as strings ("7920"), and leaves `likeCount` out when the owner hides likes and
    # `commentCount` out when comments are off: absent is "unknown", not 0.
    value = (statistics or {}).get(name)
    if isinstance(value, str) and value.isdecimal() and len(value) <= 16:  # not `isdigit`: int("²") fails
        value = int(value)
    return _int(value)


def to_mention(item: dict[str, Any], statistics: dict[str, Any] | None = None) -> Mention:
    """One `search.list` video result, with its `videos.list` statistics when there are any, as a Mention."""
    try:
        video_id = str(item["id"]["videoId"])
        snippet = item["snippet"]
        published = parse_time(str(snippet["publishedAt"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"YouTube search result without a video id or publication time ({exc!r})") from None
    live = snippet.get("liveBroadcastContent") in ("live", "upcoming")
    return Mention(
        source="",
        id=video_id,
        url=WATCH_URL.format(video_id),
        # search.list sends titles and descriptions HTML-entity-encoded ("It&#39;s", "&amp;", "&quot;").
        title=html_to_text(snippet.get("title")),
        text=html_to_text(snippet.get("description")),
        author=html.unescape(str(snippet.get("channelTitle") or "")),
        published_at=published,
        kind="live" if live else "video",
        views=_count(statistics, "viewCount"),
        likes=_count(statistics, "likeCount"),
        comments=_count(statistics, "commentCount"),
    )


def parse_page(search: Any, videos: Any = None, skipped: list[str] | None = None) -> tuple[list[Mention], str | None]:
    """The mentions of one search page, merged with that page's statistics, and the next page's token; a video
    that cannot be read is skipped (and why, appended to `skipped`)."""
    items, token = search_items(search)
    stats = statistics_by_id(videos) if videos is not None else {}
    return to_mentions(items, stats, skipped), token


def to_mentions(
    items: list[dict[str, Any]], stats: dict[str, dict[str, Any]], skipped: list[str] | None = None
) -> list[Mention]:
    """`search_items`' videos as mentions with their statistics; one that cannot be read is skipped."""
    return read_items(items, lambda item: to_mention(item, stats.get(str(item["id"]["videoId"]))), skipped)


def error_reasons(payload: Any) -> list[str]:
    """The reasons a Google API error body gives: `error.errors[].reason` and `error.details[].reason`."""
    error = payload.get("error") if isinstance(payload, dict) else None
    if not isinstance(error, dict):
        return []
    reasons = []
    for key in ("errors", "details"):
        for entry in error.get(key) or []:
            if isinstance(entry, dict) and isinstance(entry.get("reason"), str):
                reasons.append(entry["reason"])
    return reasons


def classify_error(status: int, url: str, payload: Any) -> FetchError | None:
    """The health an error answer really means, read from its body; None when the body does not say.

    A spent quota comes as `403 quotaExceeded` (docs/errors: "quotaExceeded (403)"), a bad key as
    `400 keyInvalid` / `API_KEY_INVALID`: the status alone would call the first "unauthorized" and the second
    a plain failure. Only the reason is reported; Google's message is not echoed.
    """
    reasons = error_reasons(payload)
    where = public_url(url)
    for reason in reasons:
        if reason in _RATE_REASONS:
            return RateLimited(f"{where}: HTTP {status}, {reason}: the YouTube API quota is spent until it resets")
    for reason in reasons:
        if reason in _AUTH_REASONS:
            return Unauthorized(f"{where}: HTTP {status}, {reason}: the API key was refused")
    return None


def reclassify(exc: FetchError) -> FetchError | None:
    """The error a failed request really is, read from the response the shared HTTP layer hands along with it."""
    # The shared layer raises on the status (403 -> Unauthorized, 400 -> FetchError) before an adapter sees the
    # body; `FetchError.response` keeps the answer so the body can say what the status cannot.
    response = exc.response
    if not isinstance(response, Response):
        return None
    try:
        payload = response.json()
    except FetchError:
        return None
    return classify_error(response.status, response.url, payload)


class YouTubeSource(Source[YouTubeConfig]):
    """YouTube videos matching a term, newest first (YouTube Data API v3; an API key is required).

    Quota (developers.google.com/youtube/v3/determine_quota_cost): a search.list call costs 100 of a project's
    10,000 daily units (the page's current wording gives search.list its own bucket of 100 calls a day instead):
    about 100 searches a day either way. The batched statistics call costs 1. Keep `max_pages` low and scans
    infrequent; a spent quota shows as "rate-limited" until the daily reset at midnight Pacific time.
    """

    type = "youtube"
    credentials = "yes"
    # The documented limit is a daily quota (above), not a rate: no per-minute pacing would keep within it.
    requests_per_minute = None

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        if not term:
            return
        cfg = self.config
        base = cfg.base_url.rstrip("/")
        key = cfg.key.get_secret_value()
        token: str | None = None
        for _ in range(cfg.max_pages):
            params: dict[str, Any] = {
                "part": "snippet",
                "type": "video",
                "q": term,
                "order": "date",
                # Server-side since filter; `order=date` is newest first.
                "publishedAfter": format_time(since),
                "maxResults": PAGE_SIZE,
                "key": key,
            }
            if token:
                params["pageToken"] = token
            search = await self._get_json(f"{base}/search", params)
            items, token = search_items(search)
            stats: dict[str, dict[str, Any]] = {}
            if items:
                # One batched videos.list for the whole page (up to 50 ids, 1 quota unit): search results carry
                # no view, like or comment counts.
                ids = ",".join(str(item["id"]["videoId"]) for item in items)
                videos = await self._get_json(f"{base}/videos", {"part": "statistics", "id": ids, "key": key})
                stats = statistics_by_id(videos)
            page = to_mentions(items, stats, self.context.skipped)
            fresh, older = since_split(page, since)
            for mention in fresh:
                yield mention
            if older or token is None:
                return

    async def _get_json(self, url: str, params: dict[str, Any]) -> Any:
        try:
            return await self.context.http.get_json(url, params=params)
        except FetchError as exc:
            better = reclassify(exc)
            if better is None:
                raise
            raise better from None

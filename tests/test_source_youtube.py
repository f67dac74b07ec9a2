from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from pydantic import ValidationError

from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.youtube import (
    YouTubeConfig,
    YouTubeSource,
    classify_error,
    parse_page,
    statistics_by_id,
    to_mention,
)

from conftest import fixture_path, load_json, mock_context

# Real search.list answer (5 videos, `nextPageToken`), HTML-entity-encoded titles.
SEARCH = load_json("youtube", "pyyoutube_search_by_dev.json")
# Real videos.list answer with `statistics` (counts as strings) for one video.
VIDEOS = load_json("youtube", "pyyoutube_videos_list_snippet_statistics.json")
# Real 403 body of a spent quota.
QUOTA_BODY = fixture_path("youtube", "error_403_quota_exceeded.json").read_bytes()
SEARCH_IDS = ["UeSupeagsKU", "KQvaSPUb5cE", "Ll7_yMGbfo8", "q0d20dDQdzo", "DTP__aPD0cA"]
KEY = "AIzaTESTKEY-not-a-real-one"

# Documented error bodies (developers.google.com/youtube/v3/docs/errors; Google API error model). The legacy form
# names `keyInvalid` in `errors[]`, the current one `API_KEY_INVALID` in an `ErrorInfo` of `details[]`; both 400.
KEY_INVALID_LEGACY = {
    "error": {
        "errors": [{"domain": "usageLimits", "reason": "keyInvalid", "message": "Bad Request"}],
        "code": 400,
        "message": "Bad Request",
    }
}
KEY_INVALID_CURRENT = {
    "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "errors": [
            {"message": "API key not valid. Please pass a valid API key.", "domain": "global", "reason": "badRequest"}
        ],
        "status": "INVALID_ARGUMENT",
        "details": [
            {
                "@type": "type.googleapis.com/google.rpc.ErrorInfo",
                "reason": "API_KEY_INVALID",
                "domain": "googleapis.com",
                "metadata": {"service": "youtube.googleapis.com"},
            }
        ],
    }
}


def test_parses_every_video_of_the_real_search_page() -> None:
    mentions, token = parse_page(SEARCH)
    assert [m.id for m in mentions] == SEARCH_IDS
    assert token == "CAUQAA"
    first = mentions[0]
    assert first.url == "https://www.youtube.com/watch?v=UeSupeagsKU"
    assert first.link is None
    assert first.author == "ABS-CBN Entertainment"
    assert first.published_at == datetime(2018, 3, 13, 12, 20, 20, tzinfo=UTC)
    assert first.kind == "video"
    assert first.text == (
        "Subscribe to ABS-CBN Entertainment channel! - http://bit.ly/ABS-CBNEntertainment "
        "Watch the full episodes of It's Showtime on TFC."
    )


def test_entity_encoded_titles_are_decoded() -> None:
    mentions, _ = parse_page(SEARCH)
    assert mentions[0].title == "It's Showtime Online - March 13, 2018"
    assert all("&#39;" not in m.title for m in mentions)


def test_without_statistics_the_counts_are_unknown_not_zero() -> None:
    mentions, _ = parse_page(SEARCH)
    assert all((m.views, m.likes, m.comments) == (None, None, None) for m in mentions)


def test_statistics_strings_become_counts() -> None:
    stats = statistics_by_id(VIDEOS)
    assert stats["D-lhorsDlUQ"]["viewCount"] == "7920"
    # Hand-made pairing: the recorded statistics block given to a recorded search result.
    mention = to_mention(SEARCH["items"][0], stats["D-lhorsDlUQ"])
    assert (mention.views, mention.likes, mention.comments) == (7920, 190, 32)


def test_hidden_likes_and_disabled_comments_stay_unknown() -> None:
    # Hand-made variation: YouTube leaves `likeCount` out when likes are hidden, `commentCount` when comments are off.
    stats = {k: v for k, v in statistics_by_id(VIDEOS)["D-lhorsDlUQ"].items() if k not in ("likeCount", "commentCount")}
    mention = to_mention(SEARCH["items"][0], stats)
    assert (mention.views, mention.likes, mention.comments) == (7920, None, None)


def test_parse_page_merges_statistics_by_video_id() -> None:
    # Hand-made variation: the recorded videos answer re-keyed to the second search result's id.
    videos = copy.deepcopy(VIDEOS)
    videos["items"][0]["id"] = "KQvaSPUb5cE"
    mentions, _ = parse_page(SEARCH, videos)
    by_id = {m.id: m for m in mentions}
    assert by_id["KQvaSPUb5cE"].views == 7920
    assert by_id["UeSupeagsKU"].views is None


def test_live_and_upcoming_broadcasts_are_kind_live() -> None:
    item = copy.deepcopy(SEARCH["items"][0])
    item["snippet"]["liveBroadcastContent"] = "upcoming"
    assert to_mention(item).kind == "live"


def test_a_search_answer_without_items_is_bad() -> None:
    with pytest.raises(BadPayload):
        parse_page({"kind": "youtube#searchListResponse"})


def test_a_videos_answer_without_items_is_bad() -> None:
    with pytest.raises(BadPayload):
        statistics_by_id({"kind": "youtube#videoListResponse"})


def test_quota_exceeded_body_means_rate_limited() -> None:
    error = classify_error(403, f"http://yt.test/youtube/v3/search?key={KEY}", json.loads(QUOTA_BODY))
    assert isinstance(error, RateLimited)
    assert "quotaExceeded" in str(error)
    assert KEY not in str(error)


@pytest.mark.parametrize("body", [KEY_INVALID_LEGACY, KEY_INVALID_CURRENT], ids=["keyInvalid", "API_KEY_INVALID"])
def test_an_invalid_key_body_means_unauthorized(body: dict[str, Any]) -> None:
    error = classify_error(400, f"http://yt.test/youtube/v3/search?key={KEY}", body)
    assert isinstance(error, Unauthorized)
    assert KEY not in str(error)


def test_an_error_body_with_another_reason_is_left_to_the_status() -> None:
    body = {"error": {"code": 400, "errors": [{"reason": "invalidPageToken", "domain": "youtube.parameter"}]}}
    assert classify_error(400, "http://yt.test/youtube/v3/search", body) is None


def test_the_key_is_required_and_must_not_be_empty() -> None:
    with pytest.raises(ValidationError, match="key"):
        YouTubeConfig.model_validate({"type": "youtube"})
    with pytest.raises(ValidationError, match="empty"):
        YouTubeConfig.model_validate({"type": "youtube", "key": " "})


Handler = Callable[[httpx.Request], httpx.Response]
SINCE = datetime(2018, 1, 1, tzinfo=UTC)


def _source(handler: Handler, **cfg: Any) -> YouTubeSource:
    ctx = mock_context(handler, lambda: datetime(2018, 7, 1, tzinfo=UTC))
    config = YouTubeConfig(type="youtube", base_url="http://yt.test/youtube/v3", key=KEY, **cfg)
    return YouTubeSource(config, ctx)


def _collect(source: YouTubeSource, term: str | None, since: datetime = SINCE) -> list[Mention]:
    async def run() -> list[Mention]:
        try:
            return [m async for m in source.fetch(term, since)]
        finally:
            await source.context.http.client.aclose()

    return asyncio.run(run())


def _second_page() -> dict[str, Any]:
    # Hand-made variation: the recorded page with ids made distinct and no further page.
    page: dict[str, Any] = copy.deepcopy(SEARCH)
    del page["nextPageToken"]
    for item in page["items"]:
        item["id"]["videoId"] += "-2"
    return page


def test_each_search_page_is_followed_by_one_batched_videos_call() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if request.url.path.endswith("/search"):
            return httpx.Response(200, json=_second_page() if "pageToken" in request.url.params else SEARCH)
        return httpx.Response(200, json=VIDEOS)

    mentions = _collect(_source(handler, max_pages=2), "showtime")
    assert len(mentions) == 10
    assert [r.url.path for r in seen] == [
        "/youtube/v3/search",
        "/youtube/v3/videos",
        "/youtube/v3/search",
        "/youtube/v3/videos",
    ]
    search = dict(seen[0].url.params)
    assert search == {
        "part": "snippet",
        "type": "video",
        "q": "showtime",
        "order": "date",
        "publishedAfter": "2018-01-01T00:00:00Z",
        "maxResults": "50",
        "key": KEY,
    }
    assert seen[2].url.params["pageToken"] == "CAUQAA"
    assert dict(seen[1].url.params) == {"part": "statistics", "id": ",".join(SEARCH_IDS), "key": KEY}
    assert seen[3].url.params["id"] == ",".join(f"{i}-2" for i in SEARCH_IDS)


def test_max_pages_defaults_to_one_search_call_per_term() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=SEARCH if request.url.path.endswith("/search") else VIDEOS)

    _collect(_source(handler), "showtime")
    # The answer offers a next page, but each search.list costs 100 quota units: one page unless asked for more.
    assert seen == ["/youtube/v3/search", "/youtube/v3/videos"]


def test_videos_older_than_since_are_dropped_and_end_the_walk() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=SEARCH if request.url.path.endswith("/search") else VIDEOS)

    mentions = _collect(_source(handler, max_pages=3), "showtime", since=datetime(2018, 3, 10, tzinfo=UTC))
    # 2018-03-07 is older than since; the page's other four are kept and no further page is asked for.
    assert [m.id for m in mentions] == ["UeSupeagsKU", "KQvaSPUb5cE", "Ll7_yMGbfo8", "DTP__aPD0cA"]
    assert seen == ["/youtube/v3/search", "/youtube/v3/videos"]


def test_an_empty_search_page_makes_no_videos_call() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=dict(SEARCH, items=[], nextPageToken=None))

    assert _collect(_source(handler, max_pages=3), "showtime") == []
    assert seen == ["/youtube/v3/search"]


def test_nothing_is_asked_without_a_term() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return httpx.Response(200, json=SEARCH)

    assert _collect(_source(handler), None) == []
    assert seen == []


def _reply(status: int, body: bytes, ctype: str = "application/json") -> Handler:
    return lambda request: httpx.Response(status, content=body, headers={"content-type": ctype})


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (_reply(401, b'{"error": {"code": 401, "errors": [{"reason": "required"}]}}'), Unauthorized),
        (_reply(429, b'{"error": {"code": 429}}'), RateLimited),
        (_reply(200, b"<html><head><title>Sign in - Google Accounts</title></head></html>", "text/html"), Unauthorized),
        (_reply(200, b'{"kind": "youtube#searchListResponse", "items": ['), BadPayload),
        (_reply(200, b'["not", "a", "search", "answer"]'), BadPayload),
        (_reply(500, b'{"error": {"code": 500, "errors": [{"reason": "backendError"}]}}'), FetchError),
    ],
    ids=["401", "429", "login-wall", "truncated-json", "wrong-shape", "500"],
)
def test_failures_raise_the_health_error(handler: Handler, error: type[FetchError]) -> None:
    with pytest.raises(FetchError) as caught:
        _collect(_source(handler), "showtime")
    assert type(caught.value) is error
    assert KEY not in str(caught.value)


def test_a_spent_quota_403_is_rate_limited_not_unauthorized() -> None:
    with pytest.raises(RateLimited, match="quotaExceeded") as caught:
        _collect(_source(_reply(403, QUOTA_BODY)), "showtime")
    assert KEY not in str(caught.value)


@pytest.mark.parametrize("body", [KEY_INVALID_LEGACY, KEY_INVALID_CURRENT], ids=["keyInvalid", "API_KEY_INVALID"])
def test_an_invalid_key_400_is_unauthorized(body: dict[str, Any]) -> None:
    with pytest.raises(Unauthorized) as caught:
        _collect(_source(_reply(400, json.dumps(body).encode())), "showtime")
    assert KEY not in str(caught.value)


def test_a_403_for_another_reason_stays_unauthorized() -> None:
    body = b'{"error": {"code": 403, "errors": [{"reason": "forbidden", "domain": "youtube.common"}]}}'
    with pytest.raises(Unauthorized):
        _collect(_source(_reply(403, body)), "showtime")


def test_a_400_for_another_reason_stays_a_plain_failure() -> None:
    body = b'{"error": {"code": 400, "errors": [{"reason": "invalidPageToken", "domain": "youtube.parameter"}]}}'
    with pytest.raises(FetchError) as caught:
        _collect(_source(_reply(400, body)), "showtime")
    assert type(caught.value) is FetchError
    assert KEY not in str(caught.value)


def test_an_unreadable_video_is_counted_in_the_source_and_the_page_kept() -> None:
    search = _second_page()
    search["items"][1]["snippet"]["publishedAt"] = "0001-01-01T00:00+05:00"  # no UTC equivalent

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=search if request.url.path.endswith("/search") else VIDEOS)

    source = _source(handler)
    mentions = _collect(source, "showtime")
    assert [m.id for m in mentions] == [i["id"]["videoId"] for n, i in enumerate(search["items"]) if n != 1]
    assert len(source.context.skipped) == 1


@pytest.mark.parametrize("count", ["²", "9" * 5000, "-3", 10**400, 1e400])
def test_a_count_that_is_no_count_is_unknown(count: Any) -> None:
    videos = copy.deepcopy(VIDEOS)
    videos["items"][0]["statistics"]["viewCount"] = count
    videos["items"][0]["id"] = "UeSupeagsKU"
    mentions, _ = parse_page(SEARCH, videos)
    assert mentions[0].views is None and mentions[0].likes == 190

from __future__ import annotations

import asyncio
import copy
import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError

from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.mastodon import (
    MastodonConfig,
    MastodonSource,
    next_max_id,
    parse_search,
    parse_statuses,
    to_mention,
)

from conftest import fixture_path, mock_context

NOW = datetime(2026, 8, 2, tzinfo=UTC)


def cassette(name: str) -> list[dict[str, Any]]:
    """The interactions of a vcrpy cassette (Mastodon.py's format)."""
    data = yaml.safe_load(fixture_path("mastodon", name).read_text(encoding="utf-8"))
    return list(data["interactions"])


def recorded(name: str, method: str, path: str) -> tuple[Any, dict[str, str]]:
    """The JSON body and headers of the first recorded response to `method path` (query ignored)."""
    for interaction in cassette(name):
        request = interaction["request"]
        if request["method"] == method and httpx.URL(request["uri"]).path == path:
            response = interaction["response"]
            headers = {k: v[0] for k, v in response["headers"].items()}
            return json.loads(response["body"]["string"]), headers
    raise LookupError(f"{method} {path} not in {name}")


HASHTAG, HASHTAG_HEADERS = recorded("mastodonpy_cassette_test_hashtag_tl.yaml", "GET", "/api/v1/timelines/tag/hoot")
PUBLIC, PUBLIC_HEADERS = recorded(
    "mastodonpy_cassette_test_public_tl_anonymous.yaml", "GET", "/api/v1/timelines/public"
)
SEARCH = next(
    json.loads(i["response"]["body"]["string"])
    for i in cassette("mastodonpy_cassette_test_search.yaml")
    if "type=statuses" in i["request"]["uri"]
)


# --- the parser, on the real payloads --------------------------------------------------------------------------


def test_mastodon_hashtag_status_maps_every_field() -> None:
    [(status_id, m)] = parse_statuses(HASHTAG)
    assert status_id == "117020593741189701"
    assert m.id == "http://localhost:3000/ap/users/117020566092212359/statuses/117020593741189701"
    assert m.url == "http://localhost:3000/@mastodonpy_test_2/117020593741189701"
    assert m.text == "#hoot (hashtag toot)"
    assert m.title == ""
    assert m.author == "mastodonpy_test_2@localhost:3000"
    assert m.published_at == datetime(2026, 8, 1, 13, 55, 55, 867000, tzinfo=UTC)
    assert m.kind == "post"
    assert m.lang == "ja"
    assert (m.comments, m.likes, m.reposts, m.quotes, m.followers) == (0, 0, 0, 0, 0)
    assert m.link is None


def test_mastodon_id_is_the_global_uri_and_url_falls_back_to_it_when_null() -> None:
    status = copy.deepcopy(HASHTAG[0])
    status["url"] = None  # the API allows a null `url` (e.g. some remote statuses)
    m = to_mention(status)
    assert m.id == status["uri"]
    assert m.url == status["uri"]


def test_mastodon_content_html_and_entities_become_clean_text() -> None:
    texts = [m.text for _, m in parse_statuses(PUBLIC)]
    assert "you can't say that on television" in texts
    assert "@mastodonpy_test beep beep I'm a jeep" in texts
    assert not any("<" in t or "&#39;" in t for t in texts)


def test_mastodon_follower_counts_come_from_the_account() -> None:
    by_author = {m.author: m.followers for _, m in parse_statuses(PUBLIC)}
    assert by_author == {"mastodonpy_test_2@localhost:3000": 0, "admin@localhost:3000": 1}


def test_mastodon_remote_acct_keeps_its_own_domain() -> None:
    status = copy.deepcopy(HASHTAG[0])
    status["account"]["acct"] = "mastodonpy_test_2@example.social"  # as a status from another server shows it
    assert to_mention(status).author == "mastodonpy_test_2@example.social"


def test_mastodon_content_warning_is_the_title_and_the_text_stays() -> None:
    status = copy.deepcopy(HASHTAG[0])
    status["spoiler_text"] = "spoilers &amp; more"
    m = to_mention(status)
    assert m.title == "spoilers & more"
    assert m.text == "#hoot (hashtag toot)"


def test_mastodon_quotes_are_unknown_on_servers_without_quote_posts() -> None:
    status = copy.deepcopy(HASHTAG[0])
    del status["quotes_count"]  # Mastodon before 4.5 does not send it
    assert to_mention(status).quotes is None


def test_mastodon_boost_is_read_as_the_original_status() -> None:
    original = HASHTAG[0]
    boost = dict(copy.deepcopy(PUBLIC[1]), content="", reblog=original)
    assert to_mention(boost).id == original["uri"]
    assert to_mention(boost).text == "#hoot (hashtag toot)"


def test_mastodon_reply_and_preview_card() -> None:
    status = copy.deepcopy(HASHTAG[0])
    status["in_reply_to_id"] = "117020592137523525"
    status["card"] = {"url": "https://example.com/article", "title": "An article"}
    m = to_mention(status)
    assert m.kind == "reply"
    assert m.link == "https://example.com/article"


def test_mastodon_search_answer_yields_only_statuses() -> None:
    assert parse_search(SEARCH) == []
    assert [m.id for _, m in parse_search(dict(SEARCH, statuses=HASHTAG))] == [HASHTAG[0]["uri"]]


@pytest.mark.parametrize("payload", [{"error": "Record not found"}, "[]", None])
def test_mastodon_timeline_that_is_not_a_list_is_bad(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse_statuses(payload)


def test_mastodon_search_without_statuses_is_bad() -> None:
    with pytest.raises(BadPayload):
        parse_search(PUBLIC)


def test_mastodon_next_page_cursor_comes_from_the_link_header() -> None:
    assert next_max_id(PUBLIC_HEADERS["link"]) == "117020574694606796"
    assert next_max_id(HASHTAG_HEADERS["link"]) == "117020593741189701"
    only_prev = '<http://localhost:3000/api/v1/timelines/public?min_id=117020593134559451>; rel="prev"'
    assert next_max_id(only_prev) is None
    assert next_max_id(None) is None


# --- fetching ------------------------------------------------------------------------------------------------------

Handler = Callable[[httpx.Request], httpx.Response]


def _source(handler: Handler, **cfg: Any) -> MastodonSource:
    ctx = mock_context(handler, lambda: NOW)
    return MastodonSource(MastodonConfig(type="mastodon", base_url="http://mastodon.test", **cfg), ctx)


async def _collect(source: MastodonSource, term: str | None, since: datetime) -> list[Mention]:
    return [m async for m in source.fetch(term, since)]


def _run(source: MastodonSource, term: str | None = "hoot", since: datetime = datetime(2026, 1, 1, tzinfo=UTC)) -> Any:
    return asyncio.run(_collect(source, term, since))


def _page(body: Any, link: str | None = None) -> httpx.Response:
    return httpx.Response(200, json=body, headers={"link": link} if link else {})


def test_mastodon_tag_timeline_pages_through_the_link_header() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "max_id" not in request.url.params:
            return _page(PUBLIC, PUBLIC_HEADERS["link"])
        return _page([])  # an empty page without a next link: the end

    mentions = _run(_source(handler, tags=["#hoot"]), term=None)
    assert len(mentions) == 8
    assert [r.url.path for r in seen] == ["/api/v1/timelines/tag/hoot"] * 2
    assert seen[0].url.params["limit"] == "40"
    # The next link carries only max_id: our own limit is kept alongside it.
    assert dict(seen[1].url.params) == {"limit": "40", "max_id": "117020574694606796"}
    assert "authorization" not in seen[0].headers


def test_mastodon_a_short_page_with_a_next_link_is_not_the_end() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "max_id" not in request.url.params:
            return _page(HASHTAG, HASHTAG_HEADERS["link"])  # 1 status of 40, and a next link
        return _page([])

    _run(_source(handler, tags=["hoot"]), term=None)
    assert len(seen) == 2


def test_mastodon_stops_paging_at_statuses_older_than_since() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return _page(PUBLIC, PUBLIC_HEADERS["link"])

    since = datetime(2026, 8, 1, 13, 54, 31, tzinfo=UTC)
    mentions = _run(_source(handler, tags=["hoot"]), term=None, since=since)
    assert [m.published_at.strftime("%H:%M:%S") for m in mentions] == ["13:55:46", "13:55:31", "13:55:06", "13:54:31"]
    assert calls == 1


def test_mastodon_max_pages_bounds_the_walk() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return _page(PUBLIC, PUBLIC_HEADERS["link"])

    _run(_source(handler, tags=["hoot"], max_pages=3), term=None)
    assert calls == 3


def test_mastodon_tags_are_read_once_for_all_terms_and_search_skipped_without_token(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request.url.path)
        return _page(HASHTAG)

    source = _source(handler, tags=["hoot", "toot"])

    async def three_terms() -> list[list[Mention]]:
        since = datetime(2026, 1, 1, tzinfo=UTC)
        return list(await asyncio.gather(*(_collect(source, t, since) for t in ("acme", "acme.io", "#acme"))))

    with caplog.at_level(logging.WARNING, logger="mentionwatch.sources.mastodon"):
        results = asyncio.run(three_terms())
    assert sorted(seen) == ["/api/v1/timelines/tag/hoot", "/api/v1/timelines/tag/toot"]
    assert sum(len(r) for r in results) == 2
    warnings = [r for r in caplog.records if "no token" in r.getMessage()]
    assert len(warnings) == 1


def test_mastodon_status_search_uses_v2_search_with_the_token_and_pages_by_max_id() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "max_id" not in request.url.params:
            return _page(dict(SEARCH, statuses=PUBLIC))  # the recorded answer, holding the recorded statuses
        return _page(SEARCH)  # the recorded answer as it is: no statuses, the end

    mentions = _run(_source(handler, token="secret-token"), term="television")
    assert len(mentions) == 8
    assert [r.url.path for r in seen] == ["/api/v2/search", "/api/v2/search"]
    first = seen[0]
    assert first.headers["authorization"] == "Bearer secret-token"
    assert dict(first.url.params) == {"q": "television", "type": "statuses", "limit": "40"}
    # No Link header on search: the next page is below the oldest status seen.
    assert seen[1].url.params["max_id"] == PUBLIC[-1]["id"]


def test_mastodon_token_is_sent_to_tag_timelines_too() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return _page(SEARCH if request.url.path == "/api/v2/search" else HASHTAG)

    _run(_source(handler, tags=["hoot"], token="secret-token"), term="hoot")
    assert {r.url.path for r in seen} == {"/api/v1/timelines/tag/hoot", "/api/v2/search"}
    assert all(r.headers["authorization"] == "Bearer secret-token" for r in seen)


def test_mastodon_unknown_hashtag_is_empty_not_a_failure() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(404, json={"error": "Record not found"})

    assert _run(_source(handler, tags=["neverusedtag"]), term=None) == []


def test_mastodon_one_failing_tag_does_not_lose_the_others() -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/broken"):
            return httpx.Response(500, json={"error": "boom"})
        return _page(HASHTAG)

    got: list[Mention] = []

    async def collect() -> None:
        async for m in _source(handler, tags=["broken", "hoot"]).fetch(None, datetime(2026, 1, 1, tzinfo=UTC)):
            got.append(m)

    with pytest.raises(FetchError, match="HTTP 500"):
        asyncio.run(collect())
    assert [m.id for m in got] == [HASHTAG[0]["uri"]]


# --- health --------------------------------------------------------------------------------------------------------


def _answer(response: httpx.Response) -> Handler:
    return lambda request: response


def test_mastodon_anonymous_401_says_the_instance_wants_a_token() -> None:
    response = httpx.Response(401, json={"error": "The access token is invalid"})
    with pytest.raises(Unauthorized, match="set `token`"):
        _run(_source(_answer(response), tags=["hoot"]), term=None)


def test_mastodon_rejected_token_is_unauthorized() -> None:
    response = httpx.Response(401, json={"error": "The access token is invalid"})
    with pytest.raises(Unauthorized):
        _run(_source(_answer(response), token="revoked"), term="hoot")


def test_mastodon_429_is_rate_limited() -> None:
    response = httpx.Response(429, json={"error": "Too many requests"})
    with pytest.raises(RateLimited):
        _run(_source(_answer(response), tags=["hoot"]), term=None)


def test_mastodon_login_page_is_unauthorized() -> None:
    page = b"<!DOCTYPE html><html><head><title>Log in - Mastodon</title></head><body>Log in</body></html>"
    response = httpx.Response(200, content=page, headers={"content-type": "text/html"})
    with pytest.raises(Unauthorized):
        _run(_source(_answer(response), tags=["hoot"]), term=None)


@pytest.mark.parametrize(
    ("body", "cfg"),
    [
        (b'[{"id": "1", ', {"tags": ["hoot"]}),
        (b'{"error": "nope"}', {"tags": ["hoot"]}),
        (b"[]", {"token": "secret-token"}),  # search must answer an object
    ],
)
def test_mastodon_garbage_or_wrong_shaped_json_is_bad_payload(body: bytes, cfg: dict[str, Any]) -> None:
    response = httpx.Response(200, content=body, headers={"content-type": "application/json"})
    with pytest.raises(BadPayload):
        _run(_source(_answer(response), **cfg), term="hoot")


# --- config --------------------------------------------------------------------------------------------------------


def test_mastodon_config_needs_tags_or_a_token() -> None:
    with pytest.raises(ValidationError, match="needs `tags`"):
        MastodonConfig(type="mastodon")
    assert MastodonConfig(type="mastodon", tags=["#Acme", "acme_cloud"]).tags == ["Acme", "acme_cloud"]
    assert MastodonConfig(type="mastodon", token="t").secret_values() == ["t"]


def test_mastodon_config_rejects_what_is_not_a_hashtag() -> None:
    with pytest.raises(ValidationError, match="not a hashtag"):
        MastodonConfig(type="mastodon", tags=["acme cloud"])


def test_mastodon_an_unreadable_status_is_counted_and_a_page_of_only_those_is_not_the_end() -> None:
    broken = [dict(status, created_at="9999-12-31T23:59:59-05:00") for status in PUBLIC]  # no UTC equivalent

    def handler(request: httpx.Request) -> httpx.Response:
        if "max_id" not in request.url.params:
            return _page(broken, PUBLIC_HEADERS["link"])
        return _page(PUBLIC)

    source = _source(handler, tags=["hoot"])
    mentions = _run(source, term=None)
    assert [m.id for m in mentions] == [s["uri"] for s in PUBLIC]
    assert len(source.context.skipped) == len(PUBLIC)


def test_mastodon_an_account_url_python_cannot_split_keeps_the_status() -> None:
    status = dict(HASHTAG[0], account=dict(HASHTAG[0]["account"], acct="alice", url="https://[::1/@alice"))
    assert to_mention(status).author == "alice"

from __future__ import annotations

import asyncio
import copy
import gzip
import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError

from mentionwatch.errors import BadPayload, FetchError, RateLimited, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.x import (
    TWEET_FIELDS,
    USER_FIELDS,
    XConfig,
    XSource,
    build_query,
    parse_page,
    snowflake_time,
    start_time,
    to_mention,
    users_by_id,
)

from conftest import fixture_path, load_json, mock_context


def cassette_body(name: str) -> Any:
    """The JSON body of a vcrpy cassette's first answer: `!!binary` (base64, undone by YAML), then gzip."""
    cassette = yaml.safe_load(fixture_path("x", name).read_text(encoding="utf-8"))
    raw = cassette["interactions"][0]["response"]["body"]["string"]
    assert isinstance(raw, bytes)
    return json.loads(gzip.decompress(raw))


# Real recent search, no fields asked for: only `id`, `text`, `edit_history_tweet_ids` and `meta`.
RECORDED_SEARCH = cassette_body("tweepy_cassette_search_recent_tweets.yaml")
# Real v2 answer with `tweet.fields` (public_metrics, created_at, author_id) and `includes.users` (public_metrics).
RECORDED_FIELDS = load_json("x", "twitter4j_v2_tweets_lookup_with_fields_2022.json")
# Documented recent-search examples: with `expansions=author_id`, and with `next_token` and escaped text.
DOCUMENTED_EXPANDED = load_json("x", "python_twitter_search_tweets_query.json")
DOCUMENTED_NYC = load_json("x", "python_twitter_search_tweets_for_nyc.json")
TOKEN = "AAAAAAAAAAAAAAAAAAAAAtest-bearer-token"


def test_a_search_without_fields_is_dated_from_the_post_ids() -> None:
    mentions, token = parse_page(RECORDED_SEARCH)
    assert len(mentions) == 10
    assert token == "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul"
    first = mentions[0]
    assert first.id == "1578516068309794817"
    assert first.text == "2022-10-07 22:42:12.637103 tweepy"
    assert first.published_at == datetime(2022, 10, 7, 22, 42, 12, 752000, tzinfo=UTC)
    assert first.undated is False
    # No author was expanded: the author-less permalink, and no figures rather than zeros.
    assert first.url == "https://x.com/i/web/status/1578516068309794817"
    assert first.author == ""
    assert (first.likes, first.reposts, first.followers) == (None, None, None)


def test_the_id_time_agrees_with_the_time_the_recorded_bot_wrote_into_each_post() -> None:
    for mention in parse_page(RECORDED_SEARCH)[0]:
        written = datetime.fromisoformat(mention.text.removesuffix(" tweepy")).replace(tzinfo=UTC)
        assert timedelta(0) <= mention.published_at - written < timedelta(seconds=1)


def test_snowflake_time_matches_a_recorded_created_at() -> None:
    # created_at has whole seconds; the id keeps the milliseconds.
    assert snowflake_time("1505488910205345795") == datetime(2022, 3, 20, 10, 18, 21, 481000, tzinfo=UTC)
    with pytest.raises(BadPayload):
        snowflake_time("not-an-id")


def test_recorded_fields_give_metrics_author_and_follower_reach() -> None:
    (tweet,) = RECORDED_FIELDS["data"]
    mention = to_mention(tweet, users_by_id(RECORDED_FIELDS))
    assert mention.id == "1505488910205345795"
    assert mention.url == "https://x.com/takke/status/1505488910205345795"
    assert mention.author == "takke"
    assert mention.text == "位置情報のてすと"
    assert mention.published_at == datetime(2022, 3, 20, 10, 18, 21, tzinfo=UTC)
    assert (mention.likes, mention.reposts, mention.comments, mention.quotes) == (1, 0, 0, 0)
    assert mention.followers == 1681
    assert mention.views is None
    assert mention.lang == "ja"
    assert mention.kind == "post"


def test_impression_count_is_the_views_when_x_sends_it() -> None:
    # Hand-made variation: `impression_count`, part of `public_metrics` since late 2022, added to the recording.
    tweet = copy.deepcopy(RECORDED_FIELDS["data"][0])
    tweet["public_metrics"]["impression_count"] = 310
    assert to_mention(tweet, users_by_id(RECORDED_FIELDS)).views == 310


def test_a_long_post_gives_its_full_note_tweet_text() -> None:
    # Hand-made variation: a post over 280 characters has its `text` cut and the whole in `note_tweet.text`.
    tweet = dict(RECORDED_FIELDS["data"][0], text="cut short…", note_tweet={"text": "the whole &amp; long text"})
    assert to_mention(tweet, {}).text == "the whole & long text"


def test_documented_expanded_search_resolves_authors_from_includes() -> None:
    mentions, token = parse_page(DOCUMENTED_EXPANDED)
    assert token is None
    assert [m.author for m in mentions] == ["happycamper", "snowman", "jellybeanjones", "snowman"]
    first = mentions[0]
    assert first.url == "https://x.com/happycamper/status/1276035977375477760"
    assert first.published_at == datetime(2020, 6, 25, 6, 14, 19, tzinfo=UTC)
    assert first.kind == "reply"
    # Its only URL entity is its own photo page on twitter.com: it points nowhere else.
    assert first.link is None
    # The users were expanded without `public_metrics`: reach is unknown.
    assert first.followers is None
    assert [m.lang for m in mentions] == ["en", "en", None, "en"]  # "und" names no language


def test_escaped_text_is_decoded_and_an_external_link_kept() -> None:
    mentions, token = parse_page(DOCUMENTED_NYC)
    assert token == "b26v89c19zqg8o3fo7gesq314zlbjb2xlwutmy72r47lp"
    by_id = {m.id: m for m in mentions}
    camps = by_id["1275840891014561796"]
    assert "allergies (not a worry in this setting) & kids from MD" in camps.text
    assert "&amp;" not in camps.text
    zerohedge = by_id["1275840876997050369"]
    assert zerohedge.link == "https://www.zerohedge.com/political/de-blasio-considers-laying-22000-nyc-employees"
    assert zerohedge.kind == "repost"
    # Without `includes.users` the author is the id, and the permalink the author-less one.
    assert zerohedge.author == "110578919"
    assert zerohedge.url == "https://x.com/i/web/status/1275840876997050369"


def test_a_repost_of_a_quote_is_a_repost() -> None:
    mentions, _ = parse_page(DOCUMENTED_NYC)
    assert {m.id: m.kind for m in mentions}["1275840875466305542"] == "repost"


def test_no_match_is_an_answer_without_data() -> None:
    # The documented empty answer: `{"meta": {"result_count": 0}}`, no `data` key.
    assert parse_page({"meta": {"result_count": 0}}) == ([], None)


@pytest.mark.parametrize(
    "payload",
    [
        {"data": RECORDED_SEARCH["data"]},
        {"data": {"id": "1"}, "meta": {"result_count": 1}},
        [RECORDED_SEARCH],
    ],
    ids=["no-meta", "data-not-a-list", "not-an-object"],
)
def test_a_wrong_shaped_answer_is_a_bad_payload(payload: Any) -> None:
    with pytest.raises(BadPayload):
        parse_page(payload)


def test_a_term_with_spaces_is_searched_as_a_phrase() -> None:
    assert build_query("Acme Cloud") == '"Acme Cloud"'
    assert build_query('"Acme Cloud"') == '"Acme Cloud"'
    assert build_query("@acme") == "@acme"
    assert build_query("#acme", "-is:retweet lang:en") == "#acme -is:retweet lang:en"


def test_start_time_is_clamped_to_the_seven_day_window() -> None:
    now = datetime(2022, 10, 8, tzinfo=UTC)
    assert start_time(datetime(2022, 10, 7, tzinfo=UTC), now) == datetime(2022, 10, 7, tzinfo=UTC)
    assert start_time(now - timedelta(days=30), now) == now - timedelta(days=7) + timedelta(minutes=1)


def test_the_bearer_token_is_required_and_must_not_be_empty() -> None:
    with pytest.raises(ValidationError, match="bearer_token"):
        XConfig.model_validate({"type": "x"})
    with pytest.raises(ValidationError, match="empty"):
        XConfig.model_validate({"type": "x", "bearer_token": ""})


Handler = Callable[[httpx.Request], httpx.Response]
NOW = datetime(2022, 10, 8, tzinfo=UTC)


def _source(handler: Handler, **cfg: Any) -> XSource:
    ctx = mock_context(handler, lambda: NOW)
    return XSource(XConfig(type="x", base_url="http://x.test/2", bearer_token=TOKEN, **cfg), ctx)


def _collect(source: XSource, term: str | None, since: datetime) -> list[Mention]:
    async def run() -> list[Mention]:
        try:
            return [m async for m in source.fetch(term, since)]
        finally:
            await source.context.http.client.aclose()

    return asyncio.run(run())


def _ten_minutes_earlier(page: dict[str, Any]) -> dict[str, Any]:
    # Hand-made variation: the recorded page, each id moved 10 minutes back in Snowflake time, no further page.
    shift = (10 * 60 * 1000) << 22
    data = [dict(t, id=str(int(t["id"]) - shift)) for t in page["data"]]
    return {"data": data, "meta": {"result_count": len(data)}}


def test_pages_by_next_token_with_bearer_auth_fields_and_a_start_time() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        if "next_token" in request.url.params:
            return httpx.Response(200, json=_ten_minutes_earlier(RECORDED_SEARCH))
        return httpx.Response(200, json=RECORDED_SEARCH)

    mentions = _collect(_source(handler), "tweepy", datetime(2022, 10, 7, tzinfo=UTC))
    assert len(mentions) == 20
    assert len({m.id for m in mentions}) == 20
    assert len(seen) == 2
    first = seen[0]
    assert first.url.path == "/2/tweets/search/recent"
    assert first.headers["authorization"] == f"Bearer {TOKEN}"
    assert dict(first.url.params) == {
        "query": "tweepy",
        "start_time": "2022-10-07T00:00:00Z",
        "max_results": "100",
        "tweet.fields": TWEET_FIELDS,
        "expansions": "author_id",
        "user.fields": USER_FIELDS,
    }
    assert "created_at" in TWEET_FIELDS.split(",") and "public_metrics" in USER_FIELDS.split(",")
    assert seen[1].url.params["next_token"] == "b26v89c19zqg8o3fpzbn1e0ffhxjiofzw6po136rvbnul"


def test_stops_at_the_first_post_older_than_since() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=RECORDED_SEARCH)

    # The recording runs from 22:42 back to 22:24, two minutes apart; the page offers a next one.
    since = datetime(2022, 10, 7, 22, 30, tzinfo=UTC)
    mentions = _collect(_source(handler), "tweepy", since)
    assert len(mentions) == 7
    assert all(m.published_at >= since for m in mentions)
    assert calls == 1


def test_a_since_beyond_seven_days_asks_from_the_window_start() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, json={"meta": {"result_count": 0}})

    assert _collect(_source(handler), "tweepy", NOW - timedelta(days=30)) == []
    assert seen[0].url.params["start_time"] == "2022-10-01T00:01:00Z"


def test_max_pages_bounds_the_walk() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=RECORDED_SEARCH)

    _collect(_source(handler, max_pages=3), "tweepy", datetime(2022, 10, 7, tzinfo=UTC))
    assert calls == 3


def test_nothing_is_asked_without_a_term() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, json=RECORDED_SEARCH)

    assert _collect(_source(handler), None, datetime(2022, 10, 7, tzinfo=UTC)) == []
    assert calls == 0


def _reply(status: int, body: bytes, ctype: str = "application/json") -> Handler:
    return lambda request: httpx.Response(status, content=body, headers={"content-type": ctype})


# X's documented problem bodies (docs.x.com "Response codes and errors").
_UNAUTHORIZED = b'{"title":"Unauthorized","type":"about:blank","status":401,"detail":"Unauthorized"}'
_TOO_MANY = b'{"title":"Too Many Requests","detail":"Too Many Requests","type":"about:blank","status":429}'


@pytest.mark.parametrize(
    ("handler", "error"),
    [
        (_reply(401, _UNAUTHORIZED), Unauthorized),
        (_reply(403, b'{"title":"Forbidden","type":"about:blank","status":403,"detail":"Forbidden"}'), Unauthorized),
        (_reply(429, _TOO_MANY), RateLimited),
        (_reply(200, b"<!DOCTYPE html><html><body>Log in to X</body></html>", "text/html"), Unauthorized),
        (_reply(200, b'{"data": [{"id": "1", "text": "cut'), BadPayload),
        (_reply(200, b'{"errors": [{"title": "Invalid Request"}]}'), BadPayload),
        (_reply(503, b"Service Unavailable", "text/plain"), FetchError),
    ],
    ids=["401", "403", "429", "login-wall", "truncated-json", "no-meta", "503"],
)
def test_failures_raise_the_health_error(handler: Handler, error: type[FetchError]) -> None:
    with pytest.raises(FetchError) as caught:
        _collect(_source(handler), "tweepy", datetime(2022, 10, 7, tzinfo=UTC))
    assert type(caught.value) is error
    assert TOKEN not in str(caught.value)


def test_an_unreadable_post_is_counted_in_the_source_and_the_page_kept() -> None:
    page = copy.deepcopy(DOCUMENTED_NYC)
    del page["meta"]["next_token"]
    page["data"][2]["created_at"] = "9999-12-31T23:59:59-05:00"  # no UTC equivalent

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, json=page)

    source = _source(handler)
    mentions = _collect(source, "nyc", datetime(2020, 6, 1, tzinfo=UTC))
    assert [m.id for m in mentions] == [t["id"] for i, t in enumerate(page["data"]) if i != 2]
    assert len(source.context.skipped) == 1


def test_a_link_python_cannot_split_is_passed_over() -> None:
    tweet = dict(DOCUMENTED_NYC["data"][0], entities={"urls": [{"expanded_url": "http://[::1/x"}]})
    assert to_mention(tweet, {}).link is None

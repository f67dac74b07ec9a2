from __future__ import annotations

import asyncio
import base64
import copy
import json
import stat
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from pydantic import ValidationError

from mentionwatch.errors import BadPayload, RateLimited, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.bluesky import (
    BlueskyConfig,
    BlueskySource,
    jwt_expiry,
    parse_page,
    parse_profiles,
    to_mention,
    web_url,
)

from conftest import fixture_path, load_json, mock_context


def vcr_body(name: str) -> Any:
    """The JSON body of the one recorded response in an R-vcr cassette (bskyr's format)."""
    data = yaml.safe_load(fixture_path("bluesky", name).read_text(encoding="utf-8"))
    return json.loads(data["http_interactions"][0]["response"]["body"]["string"])


SEARCH_2025 = vcr_body("bskyr_vcr_searchPosts_2025.yml")
PROFILES = vcr_body("bskyr_vcr_getProfiles_2025.yml")
SEARCH_2023 = load_json("bluesky", "searchPosts_response_2023.json")
THREAD_POST = load_json("bluesky", "getPostThread_postview_real.json")["thread"]["post"]
LEXICON = load_json("bluesky", "lexicon_app.bsky.feed.searchPosts.json")
NOW = datetime(2025, 5, 19, 18, 0, tzinfo=UTC)
KENNY = "did:plc:wpe35pganb6d4pg4ekmfy6u5"  # the account of the recorded getProfiles answer
HANDLE = "mentionwatch.bsky.social"
DID = "did:plc:5c2r73erhng4bszmxlfdtscf"  # the viewer of the recorded answers


# --- the parser, on the real payloads --------------------------------------------------------------------------


def test_bluesky_parses_the_real_2025_search_page() -> None:
    mentions, cursor = parse_page(SEARCH_2025)
    assert len(mentions) == 25
    assert cursor == "25"
    first = mentions[0]
    assert first.id == "at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.post/3lpk2u6qo222m"
    assert first.author == "socpaperbot.bsky.social"
    assert first.kind == "post"
    assert first.lang is None
    assert first.text.startswith(
        "Ends Versus Means: Public Opinion on Congressional Redistricting https://osf.io/v87fn"
    )
    assert (first.comments, first.likes, first.reposts, first.quotes) == (0, 0, 0, 0)


def test_bluesky_url_is_the_bsky_app_page_of_the_at_uri() -> None:
    first = parse_page(SEARCH_2025)[0][0]
    assert first.url == "https://bsky.app/profile/did:plc:kkergqgbhb56ptpwj2wenkje/post/3lpk2u6qo222m"
    with pytest.raises(ValueError):
        web_url("at://did:plc:kkergqgbhb56ptpwj2wenkje/app.bsky.feed.like/3lpk2u6qo222m")


def test_bluesky_created_at_keeps_microseconds_and_offsets_in_utc() -> None:
    mentions = {m.id.rsplit("/", 1)[1]: m for m in parse_page(SEARCH_2025)[0]}
    assert mentions["3lpk2u6qo222m"].published_at == datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC)
    # Written as `2025-05-19T02:03:20.286393+00:00` by its client.
    assert mentions["3lpii6nwbyt2m"].published_at == datetime(2025, 5, 19, 2, 3, 20, 286393, tzinfo=UTC)


def test_bluesky_created_at_beyond_microseconds_still_parses() -> None:
    post = copy.deepcopy(SEARCH_2025["posts"][0])
    post["record"]["createdAt"] = "2025-05-19T17:10:09.561858123Z"  # nanoseconds: valid per the datetime spec
    assert to_mention(post).published_at == datetime(2025, 5, 19, 17, 10, 9, 561858, tzinfo=UTC)


def test_bluesky_garbled_created_at_falls_back_to_indexed_at() -> None:
    post = copy.deepcopy(SEARCH_2025["posts"][0])
    post["record"]["createdAt"] = "yesterday"
    assert to_mention(post).published_at == datetime(2025, 5, 19, 17, 10, 9, 813000, tzinfo=UTC)


def test_bluesky_link_is_the_external_card_else_the_first_link_in_the_text() -> None:
    mentions = parse_page(SEARCH_2025)[0]
    # A facet link only:
    assert mentions[0].link == "https://osf.io/v87fn"
    # An external card (its text shows the link shortened to `open.substack.com/pub/christac...`):
    assert (
        mentions[1].link
        == "https://open.substack.com/pub/christackett/p/the-pawn-or-the-collaborator?r=92vnq&utm_medium=ios"
    )
    assert mentions[1].text.endswith("open.substack.com/pub/christac...")


def test_bluesky_engagement_and_replies() -> None:
    mentions = {m.id.rsplit("/", 1)[1]: m for m in parse_page(SEARCH_2025)[0]}
    nyhan = mentions["3lpjneeyp6c2w"]
    assert (nyhan.comments, nyhan.likes, nyhan.reposts, nyhan.quotes) == (2, 20, 5, 1)
    assert nyhan.kind == "post" and nyhan.lang == "en"
    assert mentions["3lpjzka2pzc2l"].kind == "reply"


def test_bluesky_quote_count_absent_in_2023_answers_is_unknown_not_zero() -> None:
    mentions, cursor = parse_page(SEARCH_2023)
    assert len(mentions) == 23
    assert cursor == "25"
    assert {m.quotes for m in mentions} == {None}
    takei = next(m for m in mentions if m.author == "georgetakei.bsky.social")
    assert (takei.likes, takei.reposts, takei.comments) == (130, 19, 3)
    # A `createdAt` without fractional seconds:
    progressive = next(m for m in mentions if m.author == "progressivepower.bsky.social")
    assert progressive.published_at == datetime(2023, 12, 13, 20, 37, 3, tzinfo=UTC)


def test_bluesky_record_with_media_post_parses() -> None:
    m = to_mention(THREAD_POST)
    assert m.id == "at://did:plc:kvwvcn5iqfooopmyzvb4qzba/app.bsky.feed.post/3kaheyt6vpc22"
    assert m.text == ""
    assert m.link is None  # images and a quoted post: nothing external
    assert m.author == "test.marshal.dev"
    assert m.quotes is None


def test_bluesky_external_card_inside_record_with_media_is_the_link() -> None:
    post = copy.deepcopy(THREAD_POST)
    # `recordWithMedia#view` may carry an external card as its media (edited in: the recording has images).
    post["embed"]["media"] = {
        "$type": "app.bsky.embed.external#view",
        "external": {"uri": "https://example.com/a", "title": "A", "description": ""},
    }
    assert to_mention(post).link == "https://example.com/a"


def test_bluesky_broken_posts_are_skipped_and_garbage_is_bad() -> None:
    page = copy.deepcopy(SEARCH_2025)
    del page["posts"][0]["record"]
    page["posts"].append("not a post")
    assert len(parse_page(page)[0]) == 24
    payload: Any
    for payload in ([], {"cursor": "25"}, {"posts": None}):
        with pytest.raises(BadPayload):
            parse_page(payload)


def test_bluesky_profiles_give_follower_counts_by_did() -> None:
    assert parse_profiles(PROFILES) == {KENNY: 554}
    with pytest.raises(BadPayload):
        parse_profiles({"error": "InvalidRequest"})


def fake_jwt(exp: datetime) -> str:
    """A token shaped like the PDS's (header.claims.signature, base64url); only `exp` matters to the client."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    header = part({"typ": "at+jwt", "alg": "ES256K"})
    claims = part({"scope": "com.atproto.appPass", "sub": DID, "exp": int(exp.timestamp())})
    return f"{header}.{claims}.c2ln"


def test_bluesky_jwt_expiry_is_read_from_the_exp_claim() -> None:
    assert jwt_expiry(fake_jwt(NOW)) == NOW
    assert jwt_expiry("opaque-token") is None
    assert jwt_expiry("a.!!!.c") is None


# --- fetching ------------------------------------------------------------------------------------------------------


def session_answer(access_exp: datetime, refresh_exp: datetime, tag: str = "1") -> dict[str, Any]:
    """A createSession/refreshSession answer with the four fields both lexicons require (tokens hand-made)."""
    return {
        "accessJwt": fake_jwt(access_exp) + f"-access{tag}",
        "refreshJwt": fake_jwt(refresh_exp) + f"-refresh{tag}",
        "handle": HANDLE,
        "did": DID,
    }


class FakePds:
    """bsky.social as the tests need it: sessions, and searchPosts/getProfiles answering recorded bodies."""

    def __init__(self) -> None:
        self.requests: list[httpx.Request] = []
        self.logins = 0
        self.refreshes = 0
        self.issued = 0
        self.search_pages: list[httpx.Response] = []
        self.profiles: httpx.Response | None = None
        self.login_answer: httpx.Response | None = None
        self.refresh_answer: httpx.Response | None = None

    def paths(self, name: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == f"/xrpc/{name}"]

    def _issue(self) -> httpx.Response:
        self.issued += 1
        return httpx.Response(
            200, json=session_answer(NOW + timedelta(hours=2), NOW + timedelta(days=60), str(self.issued))
        )

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        path = request.url.path
        if path == "/xrpc/com.atproto.server.createSession":
            self.logins += 1
            return self.login_answer or self._issue()
        if path == "/xrpc/com.atproto.server.refreshSession":
            self.refreshes += 1
            return self.refresh_answer or self._issue()
        if path == "/xrpc/app.bsky.feed.searchPosts":
            if self.search_pages:
                return self.search_pages.pop(0)
            return httpx.Response(200, json={"posts": []})
        if path == "/xrpc/app.bsky.actor.getProfiles":
            return self.profiles or httpx.Response(200, json=PROFILES)
        return httpx.Response(404, json={"error": "MethodNotImplemented"})


def _source(pds: FakePds, cache_dir: Path | None, now: datetime = NOW, **cfg: Any) -> BlueskySource:
    ctx = mock_context(pds, lambda: now, cache_dir=cache_dir)
    cfg.setdefault("followers", False)
    config = BlueskyConfig(
        type="bluesky", base_url="http://pds.test", handle=HANDLE, app_password="abcd-efgh-ijkl-mnop", **cfg
    )
    return BlueskySource(config, ctx)


async def _collect(source: BlueskySource, term: str, since: datetime) -> list[Mention]:
    return [m async for m in source.fetch(term, since)]


def _run(source: BlueskySource, term: str = "redistricting", since: datetime = datetime(2025, 5, 1, tzinfo=UTC)) -> Any:
    return asyncio.run(_collect(source, term, since))


def _cache_files(cache_dir: Path) -> list[Path]:
    return sorted(p for p in cache_dir.iterdir() if p.name.startswith("bluesky-session-"))


def test_bluesky_logs_in_searches_latest_with_a_server_side_since_and_pages_by_cursor(tmp_path: Path) -> None:
    pds = FakePds()
    pds.search_pages = [httpx.Response(200, json=SEARCH_2025), httpx.Response(200, json={"posts": []})]
    since = datetime(2025, 5, 1, tzinfo=UTC)
    mentions = _run(_source(pds, tmp_path), "redistricting", since)
    assert len(mentions) == 25

    [login] = pds.paths("com.atproto.server.createSession")
    assert login.method == "POST"
    assert json.loads(login.content) == {"identifier": HANDLE, "password": "abcd-efgh-ijkl-mnop"}
    first, second = pds.paths("app.bsky.feed.searchPosts")
    assert dict(first.url.params) == {
        "q": "redistricting",
        "sort": "latest",
        "since": "2025-05-01T00:00:00Z",
        "limit": "100",
    }
    assert first.headers["authorization"].startswith("Bearer ")
    assert first.headers["authorization"].endswith("-access1")
    assert second.url.params["cursor"] == "25"


def test_bluesky_sends_only_parameters_the_lexicon_declares() -> None:
    pds = FakePds()
    _run(_source(pds, None, lang="en"))
    [request] = pds.paths("app.bsky.feed.searchPosts")
    declared = LEXICON["defs"]["main"]["parameters"]["properties"]
    assert set(request.url.params) <= set(declared)
    assert request.url.params["sort"] in declared["sort"]["knownValues"]
    assert int(request.url.params["limit"]) <= declared["limit"]["maximum"]
    assert request.url.params["lang"] == "en"


def test_bluesky_session_is_cached_0600_without_the_password(tmp_path: Path) -> None:
    pds = FakePds()
    _run(_source(pds, tmp_path / "cache"))
    [path] = _cache_files(tmp_path / "cache")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    saved = json.loads(path.read_text())
    assert saved["refreshJwt"].endswith("-refresh1")
    assert "abcd-efgh-ijkl-mnop" not in path.read_text()
    assert HANDLE not in path.name


def test_bluesky_next_run_reuses_the_cached_session_without_logging_in(tmp_path: Path) -> None:
    pds = FakePds()
    _run(_source(pds, tmp_path))
    _run(_source(pds, tmp_path))  # a new scan: a new source instance, the same cache folder
    assert pds.logins == 1
    assert pds.refreshes == 0
    assert all(r.headers["authorization"].endswith("-access1") for r in pds.paths("app.bsky.feed.searchPosts"))


def test_bluesky_expired_access_token_is_refreshed_with_the_refresh_token(tmp_path: Path) -> None:
    pds = FakePds()
    _run(_source(pds, tmp_path))
    later = NOW + timedelta(hours=3)  # the access token (2 h) has expired, the refresh token (60 d) has not
    _run(_source(pds, tmp_path, now=later))
    assert (pds.logins, pds.refreshes) == (1, 1)
    [refresh] = pds.paths("com.atproto.server.refreshSession")
    assert refresh.method == "POST"
    assert refresh.headers["authorization"].endswith("-refresh1")
    assert pds.paths("app.bsky.feed.searchPosts")[-1].headers["authorization"].endswith("-access2")
    assert json.loads(_cache_files(tmp_path)[0].read_text())["accessJwt"].endswith("-access2")


def test_bluesky_logs_in_again_when_the_refresh_token_has_expired_too(tmp_path: Path) -> None:
    pds = FakePds()
    _run(_source(pds, tmp_path))
    _run(_source(pds, tmp_path, now=NOW + timedelta(days=61)))
    assert (pds.logins, pds.refreshes) == (2, 0)


def test_bluesky_logs_in_again_when_the_refresh_is_refused(tmp_path: Path) -> None:
    pds = FakePds()
    _run(_source(pds, tmp_path))
    pds.refresh_answer = httpx.Response(400, json={"error": "ExpiredToken", "message": "Token has been revoked"})
    _run(_source(pds, tmp_path, now=NOW + timedelta(hours=3)))
    assert (pds.logins, pds.refreshes) == (2, 1)


def test_bluesky_a_refused_token_is_renewed_once_then_the_search_retried(tmp_path: Path) -> None:
    pds = FakePds()
    pds.search_pages = [
        httpx.Response(401, json={"error": "ExpiredToken", "message": "Token has expired"}),
        httpx.Response(200, json=SEARCH_2025),
    ]
    mentions = _run(_source(pds, tmp_path, max_pages=1))
    assert len(mentions) == 25
    assert (pds.logins, pds.refreshes) == (1, 1)
    searches = pds.paths("app.bsky.feed.searchPosts")
    assert [r.headers["authorization"][-8:] for r in searches] == ["-access1", "-access2"]


def test_bluesky_concurrent_terms_share_one_login(tmp_path: Path) -> None:
    pds = FakePds()
    source = _source(pds, tmp_path)

    async def three() -> None:
        since = datetime(2025, 5, 1, tzinfo=UTC)
        await asyncio.gather(*(_collect(source, t, since) for t in ("acme", "acme.io", "#acme")))

    asyncio.run(three())
    assert pds.logins == 1
    assert len(pds.paths("app.bsky.feed.searchPosts")) == 3


def test_bluesky_without_a_cache_folder_keeps_the_session_in_memory() -> None:
    pds = FakePds()
    source = _source(pds, None)
    _run(source, "acme")
    _run(source, "acme.io")
    assert pds.logins == 1


def test_bluesky_drops_posts_older_than_since_that_the_server_let_through() -> None:
    pds = FakePds()
    pds.search_pages = [httpx.Response(200, json=SEARCH_2025)]  # then an empty page: the end
    since = datetime(2025, 5, 19, 12, 0, tzinfo=UTC)
    mentions = _run(_source(pds, None), since=since)
    assert len(mentions) == 15
    assert all(m.published_at >= since for m in mentions)
    assert len(pds.paths("app.bsky.feed.searchPosts")) == 2


def test_bluesky_stops_on_a_page_wholly_older_than_since() -> None:
    pds = FakePds()
    # A server ignoring `since` (older AppViews, other implementations) would page back forever.
    pds.search_pages = [httpx.Response(200, json=SEARCH_2025)] * 3
    assert _run(_source(pds, None), since=datetime(2025, 5, 20, tzinfo=UTC)) == []
    assert len(pds.paths("app.bsky.feed.searchPosts")) == 1


def test_bluesky_max_pages_bounds_the_walk() -> None:
    pds = FakePds()
    pds.search_pages = [httpx.Response(200, json=SEARCH_2025)] * 5
    _run(_source(pds, None, max_pages=2))
    assert len(pds.paths("app.bsky.feed.searchPosts")) == 2


def test_bluesky_followers_come_from_get_profiles_in_batches_of_25_at_most() -> None:
    page = copy.deepcopy(SEARCH_2025)
    # The first post made Chris Kenny's (the recorded profile's account), so its reach is known: edited here.
    first = page["posts"][0]
    first["uri"] = first["uri"].replace("did:plc:kkergqgbhb56ptpwj2wenkje", KENNY)
    first["author"]["did"] = KENNY
    pds = FakePds()
    pds.search_pages = [httpx.Response(200, json=page)]
    mentions = _run(_source(pds, None, followers=True))
    assert mentions[0].followers == 554
    assert {m.followers for m in mentions[1:]} == {None}
    lookups = pds.paths("app.bsky.actor.getProfiles")
    actors = [a for r in lookups for a in r.url.params.get_list("actors")]
    assert all(len(r.url.params.get_list("actors")) <= 25 for r in lookups)
    assert len(actors) == len(set(actors)) == len({m.id.split("/")[2] for m in mentions})
    assert KENNY in actors


def test_bluesky_follower_lookup_failure_keeps_the_posts() -> None:
    pds = FakePds()
    pds.search_pages = [httpx.Response(200, json=SEARCH_2025)]
    pds.profiles = httpx.Response(502, text="Bad Gateway")
    mentions = _run(_source(pds, None, followers=True))
    assert len(mentions) == 25
    assert {m.followers for m in mentions} == {None}


# --- health --------------------------------------------------------------------------------------------------------


def test_bluesky_wrong_app_password_is_unauthorized_and_names_the_settings() -> None:
    pds = FakePds()
    pds.login_answer = httpx.Response(
        401, json={"error": "AuthenticationRequired", "message": "Invalid identifier or password"}
    )
    with pytest.raises(Unauthorized, match="app_password"):
        _run(_source(pds, None))
    assert pds.paths("app.bsky.feed.searchPosts") == []


def test_bluesky_login_rate_limit_is_rate_limited() -> None:
    pds = FakePds()
    pds.login_answer = httpx.Response(429, json={"error": "RateLimitExceeded", "message": "Rate Limit Exceeded"})
    with pytest.raises(RateLimited):
        _run(_source(pds, None))


@pytest.mark.parametrize(
    ("answer", "error"),
    [
        (httpx.Response(429, json={"error": "RateLimitExceeded"}), RateLimited),
        (httpx.Response(403, text="<html><body>403 Forbidden</body></html>"), Unauthorized),
        (
            httpx.Response(200, text="<!doctype html><html><body>Sign in to Bluesky</body></html>"),
            Unauthorized,
        ),
        (httpx.Response(200, content=b'{"posts": [{"uri": ', headers={"content-type": "application/json"}), BadPayload),
        (httpx.Response(200, json={"feed": []}), BadPayload),
    ],
)
def test_bluesky_search_failures_map_to_health_states(answer: httpx.Response, error: type[Exception]) -> None:
    pds = FakePds()
    # Every search gets the failing answer (a refusal is retried once, after renewing the session).
    pds.search_pages = [answer] * 10
    with pytest.raises(error):
        _run(_source(pds, None))


def test_bluesky_unreadable_session_cache_means_a_new_login(tmp_path: Path) -> None:
    pds = FakePds()
    _run(_source(pds, tmp_path))
    _cache_files(tmp_path)[0].write_text("{not json")
    _run(_source(pds, tmp_path))
    assert pds.logins == 2


# --- config --------------------------------------------------------------------------------------------------------


def test_bluesky_config_needs_a_handle_and_an_app_password() -> None:
    with pytest.raises(ValidationError, match="app_password"):
        BlueskyConfig(type="bluesky", handle=HANDLE)  # type: ignore[call-arg]
    config = BlueskyConfig(type="bluesky", handle="@" + HANDLE, app_password="abcd-efgh-ijkl-mnop")
    assert config.handle == HANDLE
    assert config.secret_values() == ["abcd-efgh-ijkl-mnop"]
    assert config.base_url == "https://bsky.social"


def test_bluesky_an_unreadable_post_is_counted_in_the_source_and_the_page_kept(tmp_path: Path) -> None:
    page = copy.deepcopy(SEARCH_2025)
    page.pop("cursor", None)
    # Both times out of range: a garbled `createdAt` alone falls back to `indexedAt`.
    page["posts"][0]["record"]["createdAt"] = page["posts"][0]["indexedAt"] = "9999-12-31T23:59:59-05:00"
    pds = FakePds()
    pds.search_pages = [httpx.Response(200, json=page)]
    source = _source(pds, tmp_path)
    mentions = _run(source, since=datetime(2000, 1, 1, tzinfo=UTC))
    assert [m.id for m in mentions] == [p["uri"] for p in page["posts"][1:]]
    assert len(source.context.skipped) == 1


@pytest.mark.parametrize("exp", [1e20, 10**400, float("inf")])
def test_bluesky_a_token_expiry_out_of_range_is_no_expiry(exp: float) -> None:
    claims = base64.urlsafe_b64encode(json.dumps({"exp": exp}).encode()).decode().rstrip("=")
    assert jwt_expiry(f"e30.{claims}.sig") is None

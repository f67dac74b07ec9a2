"""The `facebook_page` source: its pure parsers on recorded Graph API answers, the shared Graph API conventions
(`mentionwatch.graphapi`: errors, usage headers, cursors), and whole scans against a loopback Graph API that
serves the recordings (the test's clock is set to the recordings' time)."""

from __future__ import annotations

import asyncio
import copy
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import pytest
from pydantic import ValidationError

from mentionwatch.config import BrandConfig, Config, ConfiguredSource, HttpConfig, ScoringConfig
from mentionwatch.errors import BadPayload, RateLimited, Unauthorized
from mentionwatch.graphapi import (
    EdgeUnavailable,
    Usage,
    _needing,
    classify,
    next_params,
    pause_for,
    read_usage,
)
from mentionwatch.pipeline import ScanEnv, ScanRequest, ScanResult, run_scan
from mentionwatch.sources.facebook_page import (
    FacebookPageConfig,
    FacebookPageSource,
    comment_id,
    created_comment,
    edge_warning,
    parse_comments,
    parse_posts,
    parse_ratings,
    post_url,
)
from mentionwatch.store import MentionStore, memory_store

from conftest import LoopbackServer, Reply, Request, load_json

PAGE_ID = "19292868552"  # the Page whose post the recorded comments are under
COMMENTS_P1 = load_json("facebook_page", "comments_comments_p1.json")
COMMENTS_P2 = load_json("facebook_page", "comments_comments_p2.json")
COMMENT_INFO = load_json("facebook_page", "comments_comment_info.json")
POSTS = load_json("facebook_page", "posts_feed_fields_p1.json")
TAGGED = load_json("facebook_page", "posts_tagged_posts.json")
ERROR = load_json("facebook_page", "error_permission.json")
JSON = {"Content-Type": "application/json; charset=UTF-8"}
TOKEN = "fb-test-page-token-Qz81"


# --- the parsers, on the recordings -------------------------------------------------------------------------------


def test_recorded_comments_become_mentions_with_their_counts_and_permalinks() -> None:
    mentions = parse_comments(COMMENTS_P1["data"], page_id=PAGE_ID)
    assert len(mentions) == 10
    first = mentions[0]
    assert first.text.startswith("Boa noite peço ajuda")
    assert first.url == (
        "https://www.facebook.com/19292868552/posts/10158407654328553/?comment_id=10158407835073553"
    )
    assert first.published_at == datetime(2021, 8, 10, 18, 45, 3, tzinfo=UTC)  # "2021-08-10T18:45:03+0000"
    assert (first.likes, first.comments, first.kind) == (0, 1, "comment")


def test_replies_in_the_flat_stream_are_told_by_their_reply_comment_id() -> None:
    kinds = {m.id: m.kind for m in parse_comments(COMMENTS_P1["data"], page_id=PAGE_ID)}
    assert kinds["10158407654328553_10158409983033553"] == "reply"
    assert kinds["10158407654328553_10158407903973553"] == "comment"
    assert sorted(kinds.values()).count("reply") == 4


def test_a_comment_without_an_id_takes_the_one_its_permalink_carries() -> None:
    # The recorded comment that has both shows how they relate: `{post}_{comment}`.
    without = {k: v for k, v in COMMENT_INFO.items() if k != "id"}
    assert comment_id(without) == COMMENT_INFO["id"] == "10158371815748553_10158371930463553"
    assert comment_id(COMMENT_INFO) == COMMENT_INFO["id"]


def test_a_comment_with_neither_id_nor_usable_permalink_is_skipped_alone() -> None:
    broken = dict(COMMENTS_P1["data"][0], permalink_url="https://www.facebook.com/19292868552/")
    skipped: list[str] = []
    mentions = parse_comments([broken, *COMMENTS_P1["data"][1:]], page_id=PAGE_ID, skipped=skipped)
    assert len(mentions) == 9 and len(skipped) == 1


def test_the_pages_own_answers_are_not_mentions() -> None:
    # `from` is a documented Comment field the recording does not hold; the variation is made here.
    ours = [dict(c, **{"from": {"id": PAGE_ID, "name": "Facebook for Developers"}}) for c in COMMENTS_P1["data"][5:]]
    theirs = [dict(c, **{"from": {"id": "100", "name": "Ana"}}) for c in COMMENTS_P1["data"][:5]]
    mentions = parse_comments(theirs + ours, page_id=PAGE_ID)
    assert len(mentions) == 5 and {m.author for m in mentions} == {"Ana"}


def test_a_posts_address_follows_from_its_id_as_the_recorded_comments_show() -> None:
    # The recorded comments are under post 19292868552_10158407654328553 (their `next` URL's path).
    assert "/19292868552_10158407654328553/comments" in COMMENTS_P1["paging"]["next"]
    url = post_url("19292868552_10158407654328553")
    assert url == "https://www.facebook.com/19292868552/posts/10158407654328553"
    assert all(c["permalink_url"].startswith(url + "/") for c in COMMENTS_P1["data"])


def test_recorded_tagged_posts_are_tagged_mentions_at_their_posts_address() -> None:
    mentions = parse_posts(TAGGED["data"], kind="tagged", page_id=PAGE_ID)
    assert [m.text for m in mentions] == ["So MyLife to go. haha", "我测试一下 MyLife", "ha MyLife"]
    assert mentions[0].url == "https://www.facebook.com/2121008874780932/posts/2427414477473702"
    assert {m.kind for m in mentions} == {"tagged"}
    assert mentions[0].author == ""  # `from` is sent only to the post's author (reference/page/tagged)


def test_a_rating_reads_the_documented_recommendation_fields() -> None:
    # No recording of /ratings was found; the shape is the Recommendation reference's field list
    # (created_time, recommendation_type, review_text, reviewer, open_graph_story), written here in the open.
    documented = {
        "created_time": "2021-08-12T10:00:00+0000",
        "recommendation_type": "negative",
        "review_text": "Waited an hour",
        "reviewer": {"id": "1", "name": "Ana"},
        "open_graph_story": {"id": "1234567890"},
    }
    [mention] = parse_ratings([documented])
    assert (mention.id, mention.url, mention.kind) == ("1234567890", "https://www.facebook.com/1234567890", "review")
    assert (mention.title, mention.text, mention.author) == ("Does not recommend", "Waited an hour", "Ana")
    skipped: list[str] = []
    assert parse_ratings([{k: v for k, v in documented.items() if k != "open_graph_story"}], skipped) == []
    assert len(skipped) == 1


# An id as a payload can get it wrong: wrapped in a list or an object, a number, or a string that is a path.
NOT_IDS = (
    lambda v: [v],
    lambda v: {"v": v},
    lambda v: int(v.rpartition("_")[2]),
    lambda v: f"{v}/../../me/accounts",
    lambda v: "",
)


@pytest.mark.parametrize("wrong", NOT_IDS, ids=["list", "object", "number", "path", "empty"])
def test_a_post_comment_or_rating_whose_id_is_not_a_graph_id_is_skipped_and_counted(wrong: Any) -> None:
    posts = copy.deepcopy(TAGGED["data"])
    posts[1]["id"] = wrong(posts[1]["id"])
    skipped: list[str] = []
    mentions = parse_posts(posts, kind="tagged", page_id=PAGE_ID, skipped=skipped)
    assert [m.id for m in mentions] == [TAGGED["data"][0]["id"], TAGGED["data"][2]["id"]]
    assert len(skipped) == 1
    if wrong(COMMENT_INFO["id"]):  # an empty id: the comment's permalink gives it (as when `id` is not sent)
        comment = dict(COMMENT_INFO, id=wrong(COMMENT_INFO["id"]))
        assert parse_comments([comment], page_id=PAGE_ID, skipped=skipped) == []
        assert len(skipped) == 2
    created = load_json("facebook_page", "comments_create_resp.json")
    with pytest.raises(BadPayload):
        created_comment(dict(created, id=wrong(created["id"])), parent_url="", now=NOW)


def test_config_takes_the_issue_keys_and_checks_them() -> None:
    cfg = FacebookPageConfig(type="facebook_page", page_id=PAGE_ID, token=TOKEN)  # type: ignore[arg-type]
    assert (cfg.base_url, cfg.api_version) == ("https://graph.facebook.com", "v27.0")
    for bad in ({"api_version": "27"}, {"page_id": "../me"}, {"page_id": "acme.page"}, {"token": " "}):
        with pytest.raises(ValidationError):
            FacebookPageConfig.model_validate({"type": "facebook_page", "page_id": PAGE_ID, "token": TOKEN, **bad})


# --- the Graph API conventions (mentionwatch.graphapi) -------------------------------------------------------------


def _error(code: int, message: str, **extra: Any) -> dict[str, Any]:
    """The recorded error envelope with another code and message (the variation is visible here)."""
    body = copy.deepcopy(ERROR)
    body["error"].update(code=code, message=message, **extra)
    return body


def test_the_recorded_permission_error_names_the_missing_permission() -> None:
    exc = classify(ERROR["error"], "https://graph.facebook.com/v27.0/1/ratings")
    assert isinstance(exc, EdgeUnavailable)
    assert exc.permission == "pages_read_engagement" and exc.state == "unauthorized"
    assert edge_warning("ratings", exc) == "ratings not read: the token lacks the pages_read_engagement permission"


@pytest.mark.parametrize("code", [4, 17, 32, 613, 80001, 80002])
def test_throttling_codes_are_rate_limited(code: int) -> None:
    exc = classify(_error(code, "(#4) Application request limit reached")["error"], "https://graph/x")
    assert isinstance(exc, RateLimited) and f"Graph API error {code}" in str(exc)


@pytest.mark.parametrize(("code", "kind"), [(190, "OAuthException"), (102, "OAuthException"), (190, "")])
def test_token_errors_are_unauthorized_with_a_hint_to_renew_it(code: int, kind: str) -> None:
    exc = classify(_error(code, "Error validating access token", type=kind)["error"], "https://graph/x")
    assert isinstance(exc, Unauthorized) and not isinstance(exc, EdgeUnavailable)
    assert "renew" in str(exc)


@pytest.mark.parametrize("code", [1, 2])
def test_downtime_errors_are_plain_failures_even_as_oauthexception(code: int) -> None:
    exc = classify(_error(code, "An unknown error occurred")["error"], "https://graph/x")
    assert type(exc).__name__ == "FetchError" and exc.state == "failed"


@pytest.mark.parametrize("code", [10, 200, 283, 299])
def test_permission_codes_name_the_permission_their_message_gives(code: int) -> None:
    exc = classify(_error(code, f"(#{code}) Requires pages_read_user_content permission")["error"], "https://g/x")
    assert isinstance(exc, EdgeUnavailable) and exc.permission == "pages_read_user_content"


def test_a_deprecated_edge_is_unavailable_with_its_own_explanation() -> None:
    exc = classify(_error(12, "(#12) deprecated for versions v22.0 and higher", type="GraphMethodException")["error"], "u")
    assert isinstance(exc, EdgeUnavailable) and exc.permission is None
    assert "error 12" in edge_warning("ratings", exc) and "ratings: false" in edge_warning("ratings", exc)


def test_usage_headers_of_every_kind_are_read_and_the_highest_share_counts() -> None:
    headers = httpx.Headers(
        {
            "X-App-Usage": '{"call_count":28,"total_time":25,"total_cputime":25}',
            "X-Business-Use-Case-Usage": json.dumps(
                {"112": [{"type": "pages", "call_count": 9, "total_cputime": 87, "total_time": 40,
                          "estimated_time_to_regain_access": 0}]}
            ),
        }
    )
    assert read_usage(headers) == Usage(87.0, "X-Business-Use-Case-Usage total_cputime", 0.0)
    throttled = httpx.Headers({"X-Page-Usage": '{"call_count":100,"estimated_time_to_regain_access":17}'})
    assert read_usage(throttled) == Usage(100.0, "X-Page-Usage call_count", 17.0)
    assert read_usage(httpx.Headers({"X-App-Usage": "not json"})) is None
    assert read_usage(httpx.Headers()) is None


def test_pacing_starts_at_80_percent_and_grows_to_a_minute() -> None:
    assert pause_for(None) == pause_for(Usage(79.9, "x")) == pause_for(Usage(80.0, "x")) == 0.0
    assert pause_for(Usage(85.0, "x")) == 20.0
    assert pause_for(Usage(94.9, "x")) == pytest.approx(59.6)


def test_the_next_cursor_is_taken_without_the_token_or_blank_values() -> None:
    # Time-based paging (the recorded feed): `until` and `__paging_token`; `since` is written blank there.
    assert next_params(POSTS) == {
        "pretty": "0",
        "fields": "id,message,created_time",
        "until": "1624385168",
        "__paging_token": "__paging_token",
    }
    assert next_params(COMMENTS_P1)["after"] == "after"  # type: ignore[index]
    assert next_params(COMMENTS_P2) is None  # only `previous`: the last page
    assert next_params(TAGGED) is None  # cursors but no `next`: the last page


# --- whole scans against a loopback Graph API ----------------------------------------------------------------------

NOW = datetime(2021, 8, 15, tzinfo=UTC)  # just after the recorded comments
SINCE = datetime(2019, 1, 1, tzinfo=UTC)  # before the recorded tagged posts
POST = POSTS["data"][0]["id"]  # "4_10113477241177441": the recorded posts are the Page's own
ROOT = f"/v27.0/{PAGE_ID}"
# The documented answer of an edge with nothing on it (reference/user/feed: `{"data": [], "paging": {}}`).
NOTHING = {"data": [], "paging": {}}


def ok(body: Any, headers: dict[str, str] | None = None) -> Reply:
    return Reply(200, json.dumps(body).encode(), {**JSON, **(headers or {})})


def comments(usage: dict[str, str] | None = None, then: Reply | None = None) -> Any:
    """The recorded comments: page 1, then (asked with the recorded `after` cursor) `then`, else page 2."""

    def answer(request: Request) -> Reply:
        if "after=after" in request.query:
            return then or ok(COMMENTS_P2)
        return ok(COMMENTS_P1, usage)

    return answer


def serve_page(server: LoopbackServer, **overrides: Any) -> None:
    routes: dict[str, Any] = {
        f"{ROOT}/published_posts": ok(POSTS),
        f"/v27.0/{POST}/comments": comments(),
        f"{ROOT}/visitor_posts": ok(NOTHING),
        f"{ROOT}/tagged": ok(TAGGED),
        f"{ROOT}/ratings": Reply(400, json.dumps(ERROR).encode(), JSON),
    }
    routes.update({f"{ROOT}/{k}" if not k.startswith("/") else k: v for k, v in overrides.items()})
    for path, answer in routes.items():
        server.route(path, answer)


def scan(
    server: LoopbackServer, sleeps: list[float] | None = None, store: MentionStore | None = None, **options: Any
) -> ScanResult:
    source = FacebookPageConfig.model_validate(
        {
            "type": "facebook_page",
            "base_url": server.url,
            "page_id": PAGE_ID,
            "token": TOKEN,
            "brand": "Acme",
            "max_posts": 1,
            **options,
        }
    )
    config = Config(
        path=Path("x.yaml"),
        since=None,
        # Terms no recorded comment holds: what the Page's visitors say is Acme's whatever the words.
        brands=[BrandConfig(name="Acme", terms=["AcmeCloud"]), BrandConfig(name="Other", terms=["Instagram"])],
        sources=[ConfiguredSource(FacebookPageSource, source)],
        http=HttpConfig(retries=0),
        scoring=ScoringConfig(),
    )
    request = ScanRequest(since=SINCE, brands=config.brands, sources=config.sources)
    recorded = sleeps if sleeps is not None else []

    async def sleep(seconds: float) -> None:
        recorded.append(seconds)

    env = ScanEnv(now=lambda: NOW, store=store or memory_store(), sleep=sleep)
    return asyncio.run(run_scan(config, request, env))


def queries(server: LoopbackServer, path: str) -> list[dict[str, list[str]]]:
    return [parse_qs(r.query) for r in server.requests if r.path == path]


def test_a_scan_reads_every_edge_pages_the_comments_and_names_the_missing_permission(server: LoopbackServer) -> None:
    serve_page(server)
    result = scan(server)
    [health] = result.health
    assert health.state == "ok", health
    assert health.warnings == ["ratings not read: the token lacks the pages_read_engagement permission"]
    acme = [m for m in result.mentions if m.brand == "Acme"]
    # 15 recorded comments and replies over two cursor pages (two of them word for word the same: one is kept and
    # the other folded into it), and 3 tagged posts: all Acme's though none says "AcmeCloud".
    assert len(acme) == 17 and sum(m.duplicates for m in acme) == 1
    assert {m.kind for m in acme} == {"comment", "reply", "tagged"}
    assert all(m.matched_terms == [] and m.source_type == "facebook_page" for m in acme)
    # Term matching still runs for the other brands: the comments that say "Instagram" are Other's as well.
    assert {m.brand for m in result.mentions} == {"Acme", "Other"}
    # The comments edge: stream, newest first, the recorded `after` cursor on our own base URL, the token as a param.
    first, second = queries(server, f"/v27.0/{POST}/comments")
    assert first["filter"] == ["stream"] and first["order"] == ["reverse_chronological"]
    assert first["fields"] == ["id,message,from,created_time,like_count,comment_count,permalink_url"]
    assert second["after"] == ["after"] and second["access_token"] == [TOKEN]
    [tagged] = queries(server, f"{ROOT}/tagged")
    assert tagged["since"] == [str(int(SINCE.timestamp()))]
    assert len(queries(server, f"{ROOT}/visitor_posts")) == 1


def test_a_source_that_could_not_read_an_edge_keeps_its_watermark(server: LoopbackServer) -> None:
    # What the refused edge (ratings, in the recorded answers) held since the last run is in no other edge: a
    # watermark moved to the newest comment would have `--since last` skip it once the permission is granted.
    store = memory_store()
    serve_page(server)
    [health] = scan(server, store=store).health
    assert health.state == "ok" and health.warnings and store.watermarks() == {}
    serve_page(server, ratings=ok(NOTHING))
    [health] = scan(server, store=store).health
    assert health.state == "ok" and not health.warnings
    assert {brand for _source, brand in store.watermarks()} == {"Acme", "Other"}


def test_usage_past_80_percent_slows_the_source_and_a_throttling_error_stops_it(server: LoopbackServer) -> None:
    throttled = _error(4, "(#4) Application request limit reached")
    serve_page(
        server,
        **{
            f"/v27.0/{POST}/comments": comments(
                usage={"X-App-Usage": '{"call_count":85,"total_time":20,"total_cputime":12}'},
                then=Reply(403, json.dumps(throttled).encode(), JSON),
            )
        },
    )
    sleeps: list[float] = []
    result = scan(server, sleeps)
    [health] = result.health
    assert health.state == "rate-limited"
    assert "Graph API error 4" in (health.error or "")
    # At 85% of the app's budget the next request waited 20 s (the fake sleep records it) ...
    assert sleeps == [20.0]
    assert health.warnings == ["Graph API usage at 85% (X-App-Usage call_count): requests slowed down to stay under it"]
    # ... and what the first page held is kept; nothing after the throttle was asked for.
    assert health.items == 10
    assert not queries(server, f"{ROOT}/tagged")


def test_a_throttling_error_says_when_access_comes_back_as_meta_gives_it(server: LoopbackServer) -> None:
    throttled = _error(80001, "(#80001) There have been too many calls to this Page account")
    usage = {"X-Business-Use-Case-Usage": json.dumps({PAGE_ID: [{"type": "pages", "call_count": 100,
             "total_cputime": 10, "total_time": 12, "estimated_time_to_regain_access": 19}]})}  # fmt: skip
    serve_page(server, published_posts=Reply(400, json.dumps(throttled).encode(), {**JSON, **usage}))
    [health] = scan(server).health
    assert health.state == "rate-limited"
    assert "Graph API error 80001" in (health.error or "") and "access is back in about 19 minutes" in (health.error or "")


def test_an_object_deleted_since_the_scan_is_said_to_be_gone_not_a_missing_permission() -> None:
    # Graph's answer for a deleted comment names permissions among its possible causes (code 100, subcode 33).
    gone = _error(
        100,
        "Unsupported post request. Object with ID '10158407835073553' does not exist, cannot be loaded due to"
        " missing permissions, or does not support this operation.",
        type="GraphMethodException",
        error_subcode=33,
    )
    exc = _needing(classify(gone["error"], "u"), "pages_manage_engagement")
    assert isinstance(exc, EdgeUnavailable) and exc.permission is None
    assert "gone (deleted)" in str(exc) and "lacks" not in str(exc)


def test_usage_at_95_percent_stops_the_source_before_it_is_throttled(server: LoopbackServer) -> None:
    usage = {"X-Business-Use-Case-Usage": json.dumps({PAGE_ID: [{"type": "pages", "call_count": 96}]})}
    serve_page(server, **{f"/v27.0/{POST}/comments": comments(usage=usage)})
    result = scan(server)
    [health] = result.health
    assert health.state == "rate-limited" and "stopped at 96%" in (health.error or "")
    assert health.items == 10 and len(queries(server, f"/v27.0/{POST}/comments")) == 1


def test_an_expired_token_is_unauthorized_with_a_hint_to_renew_it(server: LoopbackServer) -> None:
    expired = _error(190, "Error validating access token: Session has expired", error_subcode=463)
    serve_page(server, published_posts=Reply(400, json.dumps(expired).encode(), JSON))
    [health] = scan(server).health
    assert health.state == "unauthorized"
    assert "Graph API error 190/463" in (health.error or "") and "renew it" in (health.error or "")
    assert TOKEN not in (health.error or "")
    assert len(server.requests) == 1  # a refused token is not tried on the other edges


def test_every_edge_refused_for_permissions_fails_the_source(server: LoopbackServer) -> None:
    refused = Reply(400, json.dumps(ERROR).encode(), JSON)
    serve_page(server, published_posts=refused, visitor_posts=refused, tagged=refused)
    [health] = scan(server).health
    assert health.state == "unauthorized"
    assert len(health.warnings) == 4


def test_ratings_can_be_left_out(server: LoopbackServer) -> None:
    serve_page(server)
    [health] = scan(server, ratings=False).health
    assert health.warnings == [] and not queries(server, f"{ROOT}/ratings")


def test_the_token_echoed_in_paging_links_never_reaches_a_recording(tmp_path: Path, server: LoopbackServer) -> None:
    from mentionwatch.redaction import Redactor
    from mentionwatch.replay import Recorder

    echoed = copy.deepcopy(COMMENTS_P1)
    echoed["paging"]["next"] = echoed["paging"]["next"].replace("access_token=access_token", f"access_token={TOKEN}")
    serve_page(server, **{f"/v27.0/{POST}/comments": ok(echoed)})
    recorder = Recorder(tmp_path / "bundle", Redactor([TOKEN]), NOW)
    source = FacebookPageConfig.model_validate(
        {"type": "facebook_page", "base_url": server.url, "page_id": PAGE_ID, "token": TOKEN, "max_posts": 1}
    )
    config = Config(
        path=Path("x.yaml"),
        since=None,
        brands=[BrandConfig(name="Acme", terms=["x"])],
        sources=[ConfiguredSource(FacebookPageSource, source.model_copy(update={"brand": "Acme"}))],
        http=HttpConfig(retries=0),
        scoring=ScoringConfig(),
    )
    request = ScanRequest(since=SINCE, brands=config.brands, sources=config.sources)
    asyncio.run(run_scan(config, request, ScanEnv(now=lambda: NOW, store=memory_store(), recorder=recorder)))
    recorder.close()
    written = "".join(p.read_text(encoding="utf-8") for p in (tmp_path / "bundle").rglob("*") if p.is_file())
    assert "access_token=****" in written and TOKEN not in written



def test_an_edge_the_page_does_not_have_is_skipped_with_what_graph_said(server: LoopbackServer) -> None:
    # /visitor_posts is "not supported for Pages that have been migrated to the New Pages Experience"
    # (reference/page/visitor_posts); Graph's answer for an edge a node lacks is error 100.
    missing = _error(100, "(#100) Tried accessing nonexisting field (visitor_posts) on node type (Page)")
    serve_page(server, visitor_posts=Reply(400, json.dumps(missing).encode(), JSON))
    [health] = scan(server, ratings=False).health
    assert health.state == "ok" and health.items == 18
    assert health.warnings == [
        "visitor_posts not read: Graph API error 100: (#100) Tried accessing nonexisting field (visitor_posts) on "
        "node type (Page)"
    ]


def test_a_post_whose_id_is_not_a_graph_id_is_skipped_and_counted_never_requested(server: LoopbackServer) -> None:
    """The recorded posts with every value wrapped in a list: the post's id was the path of its comments' request
    (`/['4_10113477241177441']/comments`, a 404 that failed the whole source)."""
    wrapped = {**POSTS, "data": [{k: [v] for k, v in post.items()} for post in POSTS["data"]]}
    serve_page(server, published_posts=ok(wrapped))
    result = scan(server)
    [health] = result.health
    assert (health.state, health.skipped) == ("ok", 1)  # `max_posts: 1`: one post was to be read
    assert health.warnings == ["ratings not read: the token lacks the pages_read_engagement permission"]
    assert sorted(m.kind for m in result.mentions if m.brand == "Acme") == ["tagged"] * 3
    assert {r.path for r in server.requests} <= set(server.routes)


def test_a_question_on_the_pages_own_post_needs_a_reply_whatever_its_words(server: LoopbackServer) -> None:
    # Everything said on the Page is Acme's without naming it, so a question there is to Acme, in any language.
    serve_page(server)
    acme = [m for m in scan(server).mentions if m.brand == "Acme"]
    questions = [m for m in acme if "?" in m.text]
    assert questions, "the recorded comments hold questions"
    assert all(m.needs_reply for m in questions)
    assert not all(m.needs_reply for m in acme), "not every comment"

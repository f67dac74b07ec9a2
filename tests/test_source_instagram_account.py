"""The `instagram_account` source: its pure parsers on recorded Graph API answers, the 30-hashtags-a-week
budget, and whole scans against a loopback Graph API serving the recordings (the test's clock is set to the
recordings' time)."""

from __future__ import annotations

import asyncio
import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
from pydantic import ValidationError

from mentionwatch.config import BrandConfig, Config, ConfiguredSource, HttpConfig, ScoringConfig
from mentionwatch.errors import BadPayload
from mentionwatch.pipeline import ScanEnv, ScanRequest, ScanResult, run_scan
from mentionwatch.sources.instagram_account import (
    HASHTAG_BUDGET,
    HashtagBudget,
    InstagramAccountConfig,
    InstagramAccountSource,
    comment_url,
    commented_media,
    hashtag_id,
    parse_comments,
    parse_media,
)
from mentionwatch.store import memory_store

from conftest import LoopbackServer, Reply, Request, load_json

IG_USER = "17841406338772941"  # the account of the recordings (their `paging.next` URLs name it)
MEDIA = load_json("instagram_account", "users_medias_p1.json")
COMMENTS_P1 = load_json("instagram_account", "medias_comments_p1.json")
COMMENTS_P2 = load_json("instagram_account", "medias_comments_p2.json")
REPLIES = load_json("instagram_account", "comments_replies.json")
ONE_COMMENT = load_json("instagram_account", "comments_comment_fields.json")
TAGGED = load_json("instagram_account", "users_tagged_medias.json")
SEARCH = load_json("instagram_account", "users_hashtag_search.json")
HASHTAG_P1 = load_json("instagram_account", "hashtags_hashtag_recent_medias_p1.json")
HASHTAG_P2 = load_json("instagram_account", "hashtags_hashtag_recent_medias_p2.json")
PERMALINK = "https://www.instagram.com/p/B8gQCApHMT-/"  # the tagged media the recorded comments are under
NOW = datetime(2021, 8, 20, tzinfo=UTC)  # just after the recordings
TOKEN = "ig-test-token-Lp30"


# --- the parsers, on the recordings -------------------------------------------------------------------------------


def test_recorded_comments_are_mentions_each_at_its_own_address() -> None:
    mentions = parse_comments(COMMENTS_P1["data"], media_permalink=PERMALINK, own_id=IG_USER)
    assert [m.id for m in mentions] == ["17858154961981086", "17874875428706419"]
    assert mentions[0].url == "https://www.instagram.com/p/B8gQCApHMT-/c/17858154961981086/"
    assert mentions[0].text == "Beautiful!" and mentions[0].kind == "comment"
    assert mentions[0].published_at == datetime(2020, 6, 1, 10, 56, 52, tzinfo=UTC)
    # Two comments with the same words stay two mentions: their addresses differ.
    assert len({m.url for m in mentions}) == 2


def test_a_recorded_comment_with_its_fields_gives_author_and_likes() -> None:
    [mention] = parse_comments([ONE_COMMENT], media_permalink=PERMALINK, own_id=IG_USER)
    assert (mention.author, mention.likes, mention.text) == ("ikroskun", 1, "@ikroskun Hey, guys")


def test_recorded_replies_are_replies_under_their_comment() -> None:
    [reply] = parse_comments(REPLIES["data"], media_permalink=PERMALINK, own_id=IG_USER, parent_id="178")
    assert reply.kind == "reply"
    assert reply.url == "https://www.instagram.com/p/B8gQCApHMT-/c/178/r/17847314687296283/"
    assert comment_url(PERMALINK, "1") == "https://www.instagram.com/p/B8gQCApHMT-/c/1/"


def test_the_accounts_own_answers_are_not_mentions() -> None:
    # `from` is a documented IG Comment field the recordings do not hold; the variation is made here.
    ours = dict(COMMENTS_P1["data"][0], **{"from": {"id": IG_USER, "username": "acme"}})
    mentions = parse_comments([ours, COMMENTS_P1["data"][1]], media_permalink=PERMALINK, own_id=IG_USER)
    assert [m.id for m in mentions] == [COMMENTS_P1["data"][1]["id"]]


def test_recorded_tagged_media_are_tagged_mentions() -> None:
    mentions = parse_media(TAGGED["data"], kind="tagged", now=NOW)
    assert len(mentions) == 5 and {m.kind for m in mentions} == {"tagged"}
    cute = next(m for m in mentions if m.id == "17846368219941692")
    assert (cute.url, cute.text) == ("https://www.instagram.com/p/B8gQCApHMT-/", "Cute.. #cute #loveyou  @ikroskun")
    assert (cute.likes, cute.comments) == (3, 6)
    assert next(m for m in mentions if m.id == "17978630677077508").text == ""  # recorded without a caption


def test_recorded_hashtag_media_without_a_permalink_are_skipped_and_counted() -> None:
    # The recording asked only for id, media_type, comments_count and like_count: no address to give a mention.
    skipped: list[str] = []
    assert parse_media(HASHTAG_P1["data"], kind="post", now=NOW, skipped=skipped) == []
    assert len(skipped) == 5 and all("permalink" in why for why in skipped)


def test_media_without_a_timestamp_are_undated_and_get_the_time_given() -> None:
    item = dict(TAGGED["data"][0])
    del item["timestamp"]
    [mention] = parse_media([item], kind="post", now=NOW)
    assert mention.undated and mention.published_at == NOW


def test_the_recorded_hashtag_search_gives_the_hashtags_id() -> None:
    assert hashtag_id(SEARCH) == "17841562426109234"
    assert hashtag_id({"data": []}) is None


# An id as a payload can get it wrong: wrapped in a list or an object, a number, or a string that is a path.
NOT_IDS = (
    lambda v: [v],
    lambda v: {"v": v},
    lambda v: int(v),
    lambda v: f"{v}/../../me/accounts",
    lambda v: "",
)


@pytest.mark.parametrize("wrong", NOT_IDS, ids=["list", "object", "number", "path", "empty"])
def test_a_comment_or_media_whose_id_is_not_a_graph_id_is_skipped_and_counted(wrong: Any) -> None:
    skipped: list[str] = []
    comments = [dict(COMMENTS_P1["data"][0], id=wrong(FIRST_COMMENT)), COMMENTS_P1["data"][1]]
    mentions = parse_comments(comments, media_permalink=PERMALINK, own_id=IG_USER, skipped=skipped)
    assert [m.id for m in mentions] == [COMMENTS_P1["data"][1]["id"]] and len(skipped) == 1
    media = [dict(TAGGED["data"][0], id=wrong(TAGGED["data"][0]["id"])), *TAGGED["data"][1:]]
    assert len(parse_media(media, kind="tagged", now=NOW, skipped=skipped)) == 4 and len(skipped) == 2
    assert commented_media(MEDIA["data"][1]) == (COMMENTED, MEDIA["data"][1]["permalink"])
    with pytest.raises(BadPayload):
        commented_media(dict(MEDIA["data"][1], id=wrong(COMMENTED)))


@pytest.mark.parametrize("wrong", NOT_IDS[:4], ids=["list", "object", "number", "path"])
def test_a_hashtag_id_that_is_not_a_graph_id_is_refused_and_never_kept(wrong: Any) -> None:
    found = {**SEARCH, "data": [dict(SEARCH["data"][0], id=wrong(TAG_ID))]}
    with pytest.raises(BadPayload, match="not a Graph id"):
        hashtag_id(found)
    kept = json.loads(HashtagBudget(ids={"developers": TAG_ID, "other": "1784"}).to_json())
    kept["ids"]["developers"] = wrong(TAG_ID)
    assert HashtagBudget.from_json(json.dumps(kept)).ids == {"other": "1784"}  # searched again instead


def test_config_normalises_hashtags_and_refuses_more_than_a_weeks_budget() -> None:
    base = {"type": "instagram_account", "ig_user_id": IG_USER, "token": TOKEN}
    cfg = InstagramAccountConfig.model_validate({**base, "hashtags": ["#Acme", "acme", "acme_cloud"]})
    assert cfg.hashtags == ["acme", "acme_cloud"]
    with pytest.raises(ValidationError, match="30 unique hashtags a week"):
        InstagramAccountConfig.model_validate({**base, "hashtags": [f"t{i}" for i in range(31)]})
    for bad in ({"hashtags": ["two words"]}, {"ig_user_id": "@acme"}, {"api_version": "latest"}):
        with pytest.raises(ValidationError):
            InstagramAccountConfig.model_validate({**base, **bad})


# --- the hashtag budget -------------------------------------------------------------------------------------------


def test_a_hashtag_holds_its_slot_for_7_days_from_its_first_query() -> None:
    budget = HashtagBudget()
    budget.record("acme", NOW)
    budget.record("acme", NOW + timedelta(days=3))  # a later query does not reset the window
    assert budget.windows["acme"] == NOW
    assert budget.in_use(NOW + timedelta(days=6, hours=23)) == {"acme": NOW}
    assert budget.in_use(NOW + timedelta(days=7)) == {}


def test_the_31st_unique_hashtag_of_a_week_is_refused_and_the_next_free_slot_known() -> None:
    budget = HashtagBudget()
    for i in range(HASHTAG_BUDGET):
        budget.record(f"t{i}", NOW + timedelta(hours=i))
    assert not budget.can_query("new", NOW + timedelta(days=1))
    assert budget.can_query("t3", NOW + timedelta(days=1))  # in use already: costs nothing more
    assert budget.next_free(NOW + timedelta(days=1)) == NOW + timedelta(days=7)
    assert budget.can_query("new", NOW + timedelta(days=7))


def test_the_budget_survives_a_round_trip_through_its_file() -> None:
    budget = HashtagBudget(ids={"acme": "1784"})
    budget.record("acme", NOW)
    assert HashtagBudget.from_json(budget.to_json()) == budget


# --- whole scans against a loopback Graph API ----------------------------------------------------------------------

SINCE = datetime(2018, 1, 1, tzinfo=UTC)
COMMENTED = MEDIA["data"][1]["id"]  # the recorded media with comments (the other has comments_count 0)
FIRST_COMMENT = COMMENTS_P1["data"][0]["id"]
TAG_ID = SEARCH["data"][0]["id"]
JSON = {"Content-Type": "application/json; charset=UTF-8"}
NOTHING = {"data": [], "paging": {}}  # an edge with nothing on it (reference/user/feed)
ROOT = f"/v27.0/{IG_USER}"


def ok(body: Any) -> Reply:
    return Reply(200, json.dumps(body).encode(), JSON)


def two_pages(first: Any, second: Any) -> Any:
    def answer(request: Request) -> Reply:
        return ok(second if "after=after" in request.query else first)

    return answer


def serve_account(server: LoopbackServer) -> None:
    server.route(f"{ROOT}/media", ok(MEDIA))
    server.route(f"/v27.0/{COMMENTED}/comments", two_pages(COMMENTS_P1, COMMENTS_P2))
    for comment in [*COMMENTS_P1["data"], *COMMENTS_P2["data"]]:
        server.route(f"/v27.0/{comment['id']}/replies", ok(REPLIES if comment["id"] == FIRST_COMMENT else NOTHING))
    server.route(f"{ROOT}/tags", ok(TAGGED))
    server.route("/v27.0/ig_hashtag_search", ok(SEARCH))
    server.route(f"/v27.0/{TAG_ID}/recent_media", two_pages(HASHTAG_P1, HASHTAG_P2))


def scan(server: LoopbackServer, cache_dir: Path | None, hashtags: list[str]) -> ScanResult:
    source = InstagramAccountConfig.model_validate(
        {
            "type": "instagram_account",
            "base_url": server.url,
            "ig_user_id": IG_USER,
            "token": TOKEN,
            "hashtags": hashtags,
            "brand": "Acme",
        }
    )
    config = Config(
        path=Path("x.yaml"),
        since=None,
        brands=[BrandConfig(name="Acme", terms=["AcmeCloud"])],
        sources=[ConfiguredSource(InstagramAccountSource, source)],
        http=HttpConfig(retries=0),
        scoring=ScoringConfig(),
    )
    request = ScanRequest(since=SINCE, brands=config.brands, sources=config.sources)

    async def sleep(_seconds: float) -> None:
        return None

    env = ScanEnv(now=lambda: NOW, store=memory_store(), sleep=sleep, cache_dir=cache_dir)
    return asyncio.run(run_scan(config, request, env))


def paths(server: LoopbackServer) -> list[str]:
    return [r.path for r in server.requests]


def test_a_scan_reads_comments_replies_tags_and_a_hashtag(server: LoopbackServer, tmp_path: Path) -> None:
    serve_account(server)
    result = scan(server, tmp_path, ["developers"])
    [health] = result.health
    assert health.state == "ok" and health.warnings == []
    kinds = sorted(m.kind for m in result.mentions)
    # 4 comments over two cursor pages (two of them say the same "Beautiful!"; their addresses keep them apart),
    # 1 reply, 5 tagged media: every one Acme's though none says "AcmeCloud".
    assert kinds == ["comment"] * 4 + ["reply"] + ["tagged"] * 5
    assert {m.brand for m in result.mentions} == {"Acme"}
    # The recorded hashtag media have no permalink: read, and each skipped on its own, counted in the health line.
    assert health.skipped == 10
    seen = paths(server)
    assert f"/v27.0/{MEDIA['data'][0]['id']}/comments" not in seen  # comments_count 0: not asked
    assert seen.count(f"/v27.0/{COMMENTED}/comments") == 2
    [search] = [parse_qs(r.query) for r in server.requests if r.path == "/v27.0/ig_hashtag_search"]
    assert (search["q"], search["user_id"], search["access_token"]) == (["developers"], [IG_USER], [TOKEN])
    recent = [parse_qs(r.query) for r in server.requests if r.path == f"/v27.0/{TAG_ID}/recent_media"]
    assert [q.get("after") for q in recent] == [None, ["after"]] and recent[0]["user_id"] == [IG_USER]


def test_a_hashtag_is_searched_once_and_its_id_kept_for_the_next_runs(server: LoopbackServer, tmp_path: Path) -> None:
    serve_account(server)
    scan(server, tmp_path, ["developers"])
    scan(server, tmp_path, ["developers"])
    assert paths(server).count("/v27.0/ig_hashtag_search") == 1
    assert paths(server).count(f"/v27.0/{TAG_ID}/recent_media") == 4
    [kept] = tmp_path.glob("instagram-hashtags-*.json")
    assert IG_USER not in kept.name
    assert json.loads(kept.read_text(encoding="utf-8"))["ids"] == {"developers": TAG_ID}


def _spend(tmp_path: Path, used: int) -> None:
    """A budget file from earlier runs with `used` other hashtags queried in the last 7 days."""
    budget = HashtagBudget()
    for i in range(used):
        budget.record(f"earlier{i}", NOW - timedelta(days=6) + timedelta(minutes=i))
    key = hashlib.sha256(IG_USER.encode()).hexdigest()[:16]
    (tmp_path / f"instagram-hashtags-{key}.json").write_text(budget.to_json(), encoding="utf-8")


def test_the_budget_is_reported_before_it_is_spent(server: LoopbackServer, tmp_path: Path) -> None:
    serve_account(server)
    _spend(tmp_path, 26)
    [health] = scan(server, tmp_path, ["developers"]).health
    assert health.state == "ok"
    assert health.warnings == [
        "Instagram hashtag budget: 27 of 30 unique hashtags used in the last 7 days "
        "(the next is free from 2021-08-21T00:00:00Z)"
    ]


def test_a_hashtag_past_the_budget_is_refused_without_asking(server: LoopbackServer, tmp_path: Path) -> None:
    serve_account(server)
    _spend(tmp_path, 29)
    [health] = scan(server, tmp_path, ["developers", "latecomer"]).health
    assert health.state == "ok"
    assert health.warnings[0] == (
        "#latecomer not read: all 30 of Instagram's unique hashtags for 7 days are in use "
        "(the next is free from 2021-08-21T00:00:00Z)"
    )
    assert health.warnings[1].startswith("Instagram hashtag budget: 30 of 30")
    searched = [parse_qs(r.query)["q"] for r in server.requests if r.path == "/v27.0/ig_hashtag_search"]
    assert searched == [["developers"]]


def test_a_missing_permission_on_the_tags_edge_costs_only_that_edge(server: LoopbackServer) -> None:
    serve_account(server)
    error = load_json("facebook_page", "error_permission.json")
    error["error"]["message"] = error["error"]["message"].replace("pages_read_engagement", "instagram_manage_comments")
    server.route(f"{ROOT}/tags", Reply(400, json.dumps(error).encode(), JSON))
    [health] = scan(server, None, []).health
    assert health.state == "ok" and health.items == 5
    assert health.warnings == ["tags not read: the token lacks the instagram_manage_comments permission"]


def test_media_whose_ids_are_not_graph_ids_are_skipped_and_counted_never_requested(
    server: LoopbackServer, tmp_path: Path
) -> None:
    """The recorded media with every value wrapped in an object: the media's id was the path of its comments'
    request (`/%7B'v':...%7D/comments`, a 404 that failed the whole source); so was the hashtag's."""
    serve_account(server)
    server.route(f"{ROOT}/media", ok({**MEDIA, "data": [{k: {"v": v} for k, v in m.items()} for m in MEDIA["data"]]}))
    wrapped_search = {**SEARCH, "data": [{"id": {"v": TAG_ID}}]}
    server.route("/v27.0/ig_hashtag_search", ok(wrapped_search))
    result = scan(server, tmp_path, ["developers"])
    [health] = result.health
    assert health.state == "ok"
    assert health.skipped == 2  # both media: neither permalink nor id can be read
    assert health.warnings == [
        "#developers not read: the ig_hashtag_search answer's id \"{'v': '17841562426109234'}\" is not a Graph id"
    ]
    assert sorted(m.kind for m in result.mentions) == ["tagged"] * 5
    assert {r.path for r in server.requests} <= set(server.routes)
    [kept] = tmp_path.glob("instagram-hashtags-*.json")
    assert json.loads(kept.read_text(encoding="utf-8"))["ids"] == {}

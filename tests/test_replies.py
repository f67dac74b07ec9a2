"""`mentionwatch reply`: each platform's request exactly as its API documents it, against a loopback emulation
serving real payloads; resolve-then-reply on Mastodon; Bluesky's reply refs and facets; length limits; dry runs
that send nothing; a reply never sent twice; replies made elsewhere; templates."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest
import yaml

from e2e_server import E2EServer, Received
from mentionwatch.store import open_store

from conftest import Reply, Run, fixture_path, load_json
from platforms import (
    JSON,
    ORIGINAL_URL,
    GitHubApi,
    MastodonApi,
    github_mention,
    mastodon_mention,
    mention,
    original_status,
    seed,
    write_config,
)

TOKEN = "mastodon-token-4f2e3cb65f86c986"
GH_TOKEN = "ghp_replyTokenForTests0123456789"


@pytest.fixture
def e2e() -> Iterator[E2EServer]:
    with E2EServer(lifetime=60) as srv:
        yield srv


def form(request: Received) -> dict[str, list[str]]:
    return parse_qs(request.body.decode(), keep_blank_values=True)


def stored(db: Path, item_id: str) -> Any:
    store = open_store(str(db))
    try:
        keys = store.resolve(item_id)
        return store.mention(keys[0])
    finally:
        store.close()


def mastodon_setup(tmp_path: Path, e2e: E2EServer, **api: Any) -> tuple[MastodonApi, Path, Path]:
    server = MastodonApi(e2e, **api)
    config = write_config(
        tmp_path / "mw.yaml", f"  - type: mastodon\n    base_url: {e2e.url}\n    token: ${{MASTODON_TOKEN}}\n"
    )
    db = tmp_path / "m.sqlite3"
    seed(db, mastodon_mention())
    return server, config, db


def run_reply(cli: Callable[..., Run], config: Path, db: Path, *args: str) -> Run:
    env = {"MASTODON_TOKEN": TOKEN, "GH_TOKEN": GH_TOKEN}
    return cli("reply", *args, "-c", str(config), "--db", str(db), env=env)


# --- Mastodon ------------------------------------------------------------------------------------------------


def test_mastodon_resolves_the_status_on_the_users_instance_then_replies_to_its_local_id(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e)
    item = mastodon_mention().id
    run = run_reply(cli, config, db, item, "--text", "Thanks! Webhooks landed in 2.1.")
    assert run.code == 0, run.stderr
    # Resolved first: the status from another instance, by its URL, on the user's own instance.
    [search] = e2e.received("GET", "/api/v2/search")
    assert search.query == {"q": [ORIGINAL_URL], "resolve": ["true"], "type": ["statuses"], "limit": ["1"]}
    assert search.headers["authorization"] == f"Bearer {TOKEN}"
    # Then POST /api/v1/statuses, in reply to the *local* id, mentioning the author, visibility as the original's.
    [post] = api.posts()
    assert form(post) == {
        "status": ["@mastodonpy_test_2@social.example Thanks! Webhooks landed in 2.1."],
        "in_reply_to_id": ["117020600000000001"],
        "visibility": ["public"],
    }
    assert post.headers["authorization"] == f"Bearer {TOKEN}"
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert len(post.headers["idempotency-key"]) == 64
    reply_url = api.replies[0]["url"]
    assert run.stdout == reply_url + "\n"
    replied = stored(db, item)
    assert (replied.status, replied.reply_url) == ("replied", reply_url)
    assert replied.replied_at is not None


def test_mastodon_reply_keeps_a_private_originals_visibility_unless_told(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e, original=original_status(visibility="private"))
    item = mastodon_mention().id
    dry = run_reply(cli, config, db, item, "--text", "DM us?", "--dry-run")
    assert parse_qs(dry.stdout.partition("\n\n")[2].strip())["visibility"] == ["private"]
    assert run_reply(cli, config, db, item, "--text", "On it", "--visibility", "direct").code == 0
    [post] = api.posts()
    assert form(post)["visibility"] == ["direct"]


def test_mastodon_visibility_defaults_to_the_originals(tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e, original=original_status(visibility="unlisted"))
    assert run_reply(cli, config, db, mastodon_mention().id, "--text", "Thanks").code == 0
    assert form(api.posts()[0])["visibility"] == ["unlisted"]


def test_mastodon_length_is_the_instances_limit_and_the_error_says_by_how_much(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e, max_characters=100)
    # The mention prefix counts as `@mastodonpy_test_2` (18 characters, the domain is free) plus a space; a URL
    # counts 23 whatever its length.
    text = "x" * 60 + " https://example.com/" + "a" * 200
    run = run_reply(cli, config, db, mastodon_mention().id, "--text", text)
    assert run.code == 2
    assert "the reply is 103 characters long, 3 over your Mastodon instance's limit of 100" in run.stderr
    assert api.posts() == []


def test_dry_run_prints_exactly_the_request_with_secrets_masked_and_sends_nothing(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e)
    run = run_reply(cli, config, db, mastodon_mention().id, "--text", "Merci, ça marche ✨", "--dry-run")
    assert run.code == 0, run.stderr
    assert api.posts() == []
    head, _, body = run.stdout.partition("\n\n")
    assert head.splitlines()[0] == f"POST {e2e.url}/api/v1/statuses"
    assert "authorization: Bearer ****" in head.splitlines()
    assert TOKEN not in run.stdout + run.stderr
    assert parse_qs(body.strip()) == {
        "status": ["@mastodonpy_test_2@social.example Merci, ça marche ✨"],
        "in_reply_to_id": ["117020600000000001"],
        "visibility": ["public"],
    }
    assert "nothing was sent" in run.stderr
    assert stored(db, mastodon_mention().id).status == "new"


# --- never twice -------------------------------------------------------------------------------------------------


def test_a_mention_already_answered_is_not_answered_again(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e)
    item = mastodon_mention().id
    assert run_reply(cli, config, db, item, "--text", "Thanks").code == 0
    again = run_reply(cli, config, db, item, "--text", "Thanks")
    assert again.code == 2
    assert "already answered" in again.stderr and api.replies[0]["url"] in again.stderr
    assert len(api.posts()) == 1


def test_a_refused_reply_posts_nothing_records_nothing_and_can_be_sent_again(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e)
    api.post_status = 422
    item = mastodon_mention().id
    refused = run_reply(cli, config, db, item, "--text", "Thanks")
    assert refused.code == 7
    assert "refused the reply" in refused.stderr and "character limit" in refused.stderr
    assert stored(db, item).status == "new"
    api.post_status = 200
    assert run_reply(cli, config, db, item, "--text", "Thanks").code == 0
    assert len(api.replies) == 1


def test_no_answer_to_the_post_leaves_it_pending_and_the_next_run_finds_it_on_the_platform(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e)
    # The instance posts the status but its answer is a 502 from a proxy in front of it.
    posted = e2e.routes[("POST", "/api/v1/statuses")]
    e2e.route("POST", "/api/v1/statuses", lambda r: (posted(r), Reply(502, b"<html>Bad Gateway</html>"))[1])
    item = mastodon_mention().id
    lost = run_reply(cli, config, db, item, "--text", "Thanks")
    assert lost.code == 7 and "may have been posted" in lost.stderr
    assert stored(db, item).status == "new"
    found = run_reply(cli, config, db, item, "--text", "Thanks")
    assert found.code == 0, found.stderr
    assert "posted after all" in found.stderr
    assert len(api.posts()) == 1, "the reply was found on the platform, not sent again"
    assert e2e.received("GET", "/api/v1/accounts/verify_credentials")
    assert found.stdout == api.replies[0]["url"] + "\n"
    assert stored(db, item).status == "replied"


def test_a_pending_reply_the_platform_never_got_is_forgotten_and_the_mention_waits_again(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api, config, db = mastodon_setup(tmp_path, e2e)
    api.drop_posts = True
    e2e.route("POST", "/api/v1/statuses", Reply(504, b"<html>Gateway Timeout</html>"))
    item = mastodon_mention().id
    assert run_reply(cli, config, db, item, "--text", "Thanks").code == 7
    settle = run_reply(cli, config, db, item)
    assert settle.code == 0
    assert "never reached the platform" in settle.stderr
    assert open_store(str(db)).pending_replies() == []


# --- GitHub --------------------------------------------------------------------------------------------------


def test_github_reply_is_an_issue_comment(tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer) -> None:
    api = GitHubApi(e2e)
    config = write_config(
        tmp_path / "mw.yaml", f"  - type: github\n    base_url: {e2e.url}\n    token: ${{GH_TOKEN}}\n"
    )
    db = tmp_path / "m.sqlite3"
    seed(db, github_mention(api))
    run = run_reply(cli, config, db, "1296269", "--text", "Fixed in **2.1**, see #12.")
    assert run.code == 0, run.stderr
    [post] = api.posts()
    assert json.loads(post.body) == {"body": "Fixed in **2.1**, see #12."}
    assert post.headers["authorization"] == f"Bearer {GH_TOKEN}"
    assert post.headers["accept"] == "application/vnd.github+json"
    assert post.headers["x-github-api-version"] == "2022-11-28"
    assert run.stdout == f"{api.web}#issuecomment-1000000\n"


def test_github_without_a_token_says_what_replying_needs(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    api = GitHubApi(e2e)
    config = write_config(tmp_path / "mw.yaml", f"  - type: github\n    base_url: {e2e.url}\n")
    db = tmp_path / "m.sqlite3"
    seed(db, github_mention(api))
    run = run_reply(cli, config, db, "1296269", "--text", "hi")
    assert run.code == 2 and "replying needs `token`" in run.stderr
    assert api.posts() == []


# --- Bluesky -------------------------------------------------------------------------------------------------

HANDLE = "acme.bsky.social"
ME_DID = "did:plc:5c2r73erhng4bszmxlfdtscf"
ALICE_DID = "did:plc:kvwvcn5iqfooopmyzvb4qzba"


def _vcr_posts() -> list[dict[str, Any]]:
    data = yaml.safe_load(fixture_path("bluesky", "bskyr_vcr_searchPosts_2025.yml").read_text(encoding="utf-8"))
    return list(json.loads(data["http_interactions"][0]["response"]["body"]["string"])["posts"])


# A recorded post that is itself a reply (its record carries `reply.root` and `reply.parent`), and one that is not.
THREAD_REPLY = next(p for p in _vcr_posts() if p["record"].get("reply"))
TOP_POST = load_json("bluesky", "getPostThread_postview_real.json")["thread"]["post"]


class BlueskyApi:
    """A PDS: createSession, getPosts (a recorded postView), resolveHandle, createRecord, getRecord (lexicons
    com.atproto.server.createSession, app.bsky.feed.getPosts, com.atproto.identity.resolveHandle,
    com.atproto.repo.createRecord and getRecord give the shapes of the answers made here)."""

    def __init__(self, server: E2EServer, post: dict[str, Any]) -> None:
        self.records: dict[str, dict[str, Any]] = {}
        session = {"accessJwt": "access-jwt-0001", "refreshJwt": "refresh-jwt-0001", "handle": HANDLE, "did": ME_DID}
        server.route("POST", "/xrpc/com.atproto.server.createSession", Reply(200, json.dumps(session).encode(), JSON))
        server.route("GET", "/xrpc/app.bsky.feed.getPosts", Reply(200, json.dumps({"posts": [post]}).encode(), JSON))
        server.route("GET", "/xrpc/com.atproto.identity.resolveHandle", self._resolve)
        server.route("POST", "/xrpc/com.atproto.repo.createRecord", self._create)

    def _resolve(self, request: Received) -> Reply:
        if request.param("handle") == "alice.bsky.social":
            return Reply(200, json.dumps({"did": ALICE_DID}).encode(), JSON)
        return Reply(400, b'{"error":"InvalidRequest","message":"Unable to resolve handle"}', JSON)

    def _create(self, request: Received) -> Reply:
        body = json.loads(request.body)
        uri = f"at://{body['repo']}/{body['collection']}/{body['rkey']}"
        self.records[body["rkey"]] = body["record"]
        answer = {
            "uri": uri,
            "cid": "bafyreihqff4vmp7k7ldtvzsirl7g65e7gaxizjb4nffkgfjrqehwm4q4vm",
            "commit": {"cid": "bafyreigb666sdjyyaczcahxmf5tzh7dec6bwr3nhdab7llebn7vhsxzgr4", "rev": "3lpjzka2pzc2l"},
            "validationStatus": "valid",
        }
        return Reply(200, json.dumps(answer).encode(), JSON)


def bluesky_setup(tmp_path: Path, e2e: E2EServer, post: dict[str, Any]) -> tuple[BlueskyApi, Path, Path]:
    api = BlueskyApi(e2e, post)
    config = write_config(
        tmp_path / "mw.yaml",
        f"  - type: bluesky\n    base_url: {e2e.url}\n    handle: {HANDLE}\n    app_password: ${{BSKY_PW}}\n",
    )
    db = tmp_path / "m.sqlite3"
    seed(
        db,
        mention(
            source="bluesky",
            source_type="bluesky",
            id=post["uri"],
            url="https://bsky.app/profile/x/post/y",
            author=post["author"]["handle"],
        ),
    )
    return api, config, db


def bluesky_reply(cli: Callable[..., Run], config: Path, db: Path, item: str, text: str) -> Run:
    return cli("reply", item, "--text", text, "-c", str(config), "--db", str(db), env={"BSKY_PW": "app-pass-xyz"})


def test_bluesky_reply_to_a_reply_takes_its_root_from_the_posts_record(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    _api, config, db = bluesky_setup(tmp_path, e2e, THREAD_REPLY)
    run = bluesky_reply(cli, config, db, THREAD_REPLY["uri"], "Thanks for the brief!")
    assert run.code == 0, run.stderr
    [create] = e2e.received("POST", "/xrpc/com.atproto.repo.createRecord")
    body = json.loads(create.body)
    assert create.headers["authorization"] == "Bearer access-jwt-0001"
    assert (body["repo"], body["collection"]) == (ME_DID, "app.bsky.feed.post")
    assert len(body["rkey"]) == 13
    record = body["record"]
    assert record["$type"] == "app.bsky.feed.post" and record["text"] == "Thanks for the brief!"
    assert record["reply"] == {
        "root": THREAD_REPLY["record"]["reply"]["root"],
        "parent": {"uri": THREAD_REPLY["uri"], "cid": THREAD_REPLY["cid"]},
    }
    assert "facets" not in record
    assert run.stdout == f"https://bsky.app/profile/{ME_DID}/post/{body['rkey']}\n"


def test_bluesky_facets_are_utf8_byte_offsets_for_mentions_and_links_in_non_ascii_text(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    _api, config, db = bluesky_setup(tmp_path, e2e, TOP_POST)
    text = "Merci @alice.bsky.social ✨ — voir https://acme.example/déjà-vu (et @nobody.example)"
    run = bluesky_reply(cli, config, db, TOP_POST["uri"], text)
    assert run.code == 0, run.stderr
    [create] = e2e.received("POST", "/xrpc/com.atproto.repo.createRecord")
    record = json.loads(create.body)["record"]
    # A top-level post: the reply's root and parent are both the post.
    ref = {"uri": TOP_POST["uri"], "cid": TOP_POST["cid"]}
    assert record["reply"] == {"root": ref, "parent": ref}
    data = text.encode("utf-8")
    mention_facet, link_facet = record["facets"]
    assert mention_facet["features"] == [{"$type": "app.bsky.richtext.facet#mention", "did": ALICE_DID}]
    assert link_facet["features"] == [{"$type": "app.bsky.richtext.facet#link", "uri": "https://acme.example/déjà-vu"}]
    span = mention_facet["index"]
    assert (span["byteStart"], span["byteEnd"]) == (6, 24)
    assert data[span["byteStart"] : span["byteEnd"]].decode() == "@alice.bsky.social"
    span = link_facet["index"]
    # ✨ is 3 bytes and — 3 more: byte offsets run past the character offsets (34 and 62 in characters).
    assert (span["byteStart"], span["byteEnd"]) == (38, 68)
    assert data[span["byteStart"] : span["byteEnd"]].decode() == "https://acme.example/déjà-vu"
    # @nobody.example resolves to no DID: it stays plain text, as in Bluesky's own app.
    assert len(record["facets"]) == 2


def test_bluesky_counts_graphemes_not_code_points(tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer) -> None:
    _api, config, db = bluesky_setup(tmp_path, e2e, TOP_POST)
    family = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"  # 7 code points, 1 grapheme
    base = ["reply", TOP_POST["uri"], "--dry-run", "-c", str(config), "--db", str(db)]
    env = {"BSKY_PW": "app-pass-xyz"}
    assert cli(*base, "--text", family * 300, env=env).code == 0
    over = cli(*base, "--text", family * 302, env=env)
    assert over.code == 2
    assert "302 graphemes long, 2 over Bluesky's limit of 300" in over.stderr


# --- Reddit --------------------------------------------------------------------------------------------------

TOKEN_ANSWER = json.loads(
    load_json("reddit", "praw_cassette_r_all_search.json")["interactions"][0]["response"]["body"]["string"]
)
RECORDED_COMMENT = load_json("reddit", "user_comments_listing_t1.json")["data"]["children"][0]


def reddit_setup(
    tmp_path: Path, e2e: E2EServer, answer: Any, *, credentials: tuple[str, str, str] = ("id1", "s2", "pw3")
) -> tuple[Path, Path]:
    """A script app's token and `answer` to POST /api/comment; a config for it and a store holding one post."""
    e2e.route("POST", "/api/v1/access_token", Reply(200, json.dumps(TOKEN_ANSWER).encode(), JSON))
    e2e.route("POST", "/api/comment", Reply(200, json.dumps(answer).encode(), JSON))
    client_id, secret, password = credentials
    config = write_config(
        tmp_path / "mw.yaml",
        f"  - type: reddit\n    base_url: {e2e.url}\n    oauth_base_url: {e2e.url}\n    client_id: {client_id}\n"
        f"    client_secret: {secret}\n    username: acme_support\n    password: {password}\n",
    )
    db = tmp_path / "m.sqlite3"
    post = mention(source="reddit", source_type="reddit", id="t3_d7ejpn", url="https://www.reddit.com/r/apple/comments/d7ejpn/x/")
    seed(db, post)
    return config, db


def test_reddit_reply_is_api_comment_with_a_script_apps_user_token(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    comment = copy.deepcopy(RECORDED_COMMENT)
    # `api_type=json` wraps the new thing as reddit.com/dev/api#POST_api_comment documents it.
    answer = {"json": {"errors": [], "data": {"things": [comment]}}}
    config, db = reddit_setup(tmp_path, e2e, answer, credentials=("${RID}", "${RSECRET}", "${RPW}"))
    env = {"RID": "client-id-1", "RSECRET": "client-secret-2", "RPW": "hunter2-password"}
    run = cli("reply", "t3_d7ejpn", "--text", "We're on it.", "-c", str(config), "--db", str(db), env=env)
    assert run.code == 0, run.stderr
    [login] = e2e.received("POST", "/api/v1/access_token")
    assert form(login) == {"grant_type": ["password"], "username": ["acme_support"], "password": ["hunter2-password"]}
    assert login.headers["authorization"].startswith("Basic ")
    [post] = e2e.received("POST", "/api/comment")
    assert form(post) == {"api_type": ["json"], "thing_id": ["t3_d7ejpn"], "text": ["We're on it."]}
    assert post.headers["authorization"] == "bearer <ACCESS_TOKEN>"
    assert run.stdout == "https://www.reddit.com" + comment["data"]["permalink"] + "\n"


def test_reddit_says_no_with_http_200_and_that_is_a_refusal(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    answer = {"json": {"errors": [["THREAD_LOCKED", "Comments are locked.", "parent"]]}}
    config, db = reddit_setup(tmp_path, e2e, answer)
    run = cli("reply", "t3_d7ejpn", "--text", "hi", "-c", str(config), "--db", str(db))
    assert run.code == 7 and "THREAD_LOCKED Comments are locked." in run.stderr
    assert open_store(str(db)).pending_replies() == []


@pytest.mark.parametrize("missing", ["created_utc", "name"])
def test_a_posted_reply_whose_answer_cannot_be_read_may_have_been_posted_and_is_left_pending(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer, missing: str
) -> None:
    comment = copy.deepcopy(RECORDED_COMMENT)
    del comment["data"][missing]  # an answer not in the shape reddit.com/dev/api documents
    answer = {"json": {"errors": [], "data": {"things": [comment]}}}
    config, db = reddit_setup(tmp_path, e2e, answer)
    run = cli("reply", "t3_d7ejpn", "--text", "hi", "-c", str(config), "--db", str(db))
    assert run.code == 7, run.stderr
    assert "Traceback" not in run.stderr
    assert "cannot read" in run.stderr and "may have been posted" in run.stderr
    assert [r.id for r in open_store(str(db)).pending_replies()] == ["t3_d7ejpn"]
    # A dry run now says that a real one would settle that pending reply first.
    dry = cli("reply", "t3_d7ejpn", "--text", "other words", "--dry-run", "-c", str(config), "--db", str(db))
    assert dry.code == 0, dry.stderr
    assert "left pending" in dry.stderr and "asks the platform" in dry.stderr
    assert len(e2e.received("POST", "/api/comment")) == 1


# --- Stack Exchange ------------------------------------------------------------------------------------------

SE_DB = load_json("stackexchange", "questions_with_body_comments_answers_jsonserver_db.json")["questions"]


def test_stack_exchange_reply_is_a_comment_with_token_key_and_site(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    question = next(q for q in SE_DB["items"] if q.get("comments"))
    comment = copy.deepcopy(question["comments"][0])
    wrapper = {"items": [comment], "has_more": False, "quota_max": 10000, "quota_remaining": 9889}
    path = f"/2.3/posts/{comment['post_id']}/comments/add"
    e2e.route("POST", path, Reply(200, json.dumps(wrapper).encode(), JSON))
    config = write_config(
        tmp_path / "mw.yaml",
        f"  - type: stackexchange\n    base_url: {e2e.url}\n    key: ${{SE_KEY}}\n    access_token: ${{SE_TOKEN}}\n",
    )
    db = tmp_path / "m.sqlite3"
    seed(
        db,
        mention(source="stackexchange", source_type="stackexchange", id=str(comment["post_id"]), url=question["link"]),
    )
    env = {"SE_KEY": "app-key-0123", "SE_TOKEN": "write-token-4567"}
    run = cli(
        "reply", str(comment["post_id"]), "--text", "Acme 2.1 fixes this.", "-c", str(config), "--db", str(db), env=env
    )
    assert run.code == 0, run.stderr
    [post] = e2e.received("POST", path)
    assert form(post) == {
        "body": ["Acme 2.1 fixes this."],
        "access_token": ["write-token-4567"],
        "key": ["app-key-0123"],
        "site": ["stackoverflow"],
    }
    assert run.stdout == f"{question['link']}#comment{comment['comment_id']}_{comment['post_id']}\n"
    dry = cli(
        "reply", str(comment["post_id"]), "--text", "x" * 20, "--dry-run", "-c", str(config), "--db", str(db), env=env
    )
    assert dry.code == 2, "answered already"


def test_stack_exchange_comments_are_600_characters_at_most(tmp_path: Path, cli: Callable[..., Run]) -> None:
    config = write_config(tmp_path / "mw.yaml", "  - type: stackexchange\n    key: k1234\n    access_token: t5678\n")
    db = tmp_path / "m.sqlite3"
    seed(
        db,
        mention(
            source="stackexchange",
            source_type="stackexchange",
            id="48813300",
            url="https://stackoverflow.com/questions/48813300/x",
        ),
    )
    run = cli("reply", "48813300", "--text", "y" * 650, "--dry-run", "-c", str(config), "--db", str(db))
    assert run.code == 2 and "650 characters long, 50 over Stack Exchange (comments)'s limit of 600" in run.stderr


# --- sources that take no reply, replies made elsewhere, templates -------------------------------------------


def test_hacker_news_cannot_take_a_reply_so_it_says_so_and_prints_the_url(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    config = write_config(tmp_path / "mw.yaml", "  - type: hackernews\n    name: hn\n")
    db = tmp_path / "m.sqlite3"
    seed(db, mention())
    run = cli("reply", "15353312", "--text", "hi", "-c", str(config), "--db", str(db))
    assert run.code == 2
    assert "takes no replies through its API" in run.stderr and "--url" in run.stderr
    assert run.stdout == "https://news.ycombinator.com/item?id=15353312\n"


def test_a_reply_made_elsewhere_is_recorded_with_url_and_the_mention_leaves_the_inbox(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    config = write_config(tmp_path / "mw.yaml", "  - type: hackernews\n    name: hn\n")
    db = tmp_path / "m.sqlite3"
    seed(db, mention())
    elsewhere = "https://news.ycombinator.com/item?id=15353400"
    run = cli("reply", "15353312", "--url", elsewhere, "-c", str(config), "--db", str(db))
    assert run.code == 0 and run.stdout == elsewhere + "\n"
    listed = json.loads(cli("list", "--db", str(db), "-f", "jsonl").stdout)
    assert (listed["status"], listed["reply_url"]) == ("replied", elsewhere)
    assert listed["replied_at"] is not None
    assert cli("inbox", "--db", str(db), "-f", "jsonl").stdout == ""
    assert cli("reply", "15353312", "--url", "javascript:alert(1)", "-c", str(config), "--db", str(db)).code == 2


def test_a_dry_run_of_a_reply_made_elsewhere_records_nothing(tmp_path: Path, cli: Callable[..., Run]) -> None:
    config = write_config(tmp_path / "mw.yaml", "  - type: hackernews\n    name: hn\n")
    db = tmp_path / "m.sqlite3"
    seed(db, mention())
    elsewhere = "https://news.ycombinator.com/item?id=15353400"
    dry = cli("reply", "15353312", "--url", elsewhere, "--dry-run", "-c", str(config), "--db", str(db))
    assert dry.code == 0 and dry.stdout == elsewhere + "\n"
    assert "dry run" in dry.stderr and "nothing was recorded" in dry.stderr
    assert stored(db, "15353312").status == "new"
    assert open_store(str(db)).reply_record("hackernews", "15353312") is None
    # ... so the real one still can be recorded.
    assert cli("reply", "15353312", "--url", elsewhere, "-c", str(config), "--db", str(db)).code == 0
    assert stored(db, "15353312").status == "replied"


def test_a_template_fills_in_author_brand_and_url(tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer) -> None:
    api = GitHubApi(e2e)
    config = write_config(
        tmp_path / "mw.yaml",
        f"  - type: github\n    base_url: {e2e.url}\n    token: ${{GH_TOKEN}}\n",
        templates='  thanks: "Thanks @{author}! {brand} tracks this at {url}. {{curly}}"\n',
    )
    db = tmp_path / "m.sqlite3"
    seed(db, github_mention(api))
    assert run_reply(cli, config, db, "1296269", "--template", "thanks").code == 0
    assert json.loads(api.posts()[0].body)["body"] == f"Thanks @octocat! Acme tracks this at {api.web}. {{curly}}"
    unknown = run_reply(cli, config, db, "1296269", "--template", "sorry")
    assert unknown.code == 2 and "no such template" in unknown.stderr and "thanks" in unknown.stderr


def test_an_unknown_placeholder_is_a_config_error_naming_file_and_line(tmp_path: Path, cli: Callable[..., Run]) -> None:
    config = write_config(
        tmp_path / "mw.yaml",
        "  - type: hackernews\n",
        templates='  thanks: "Thanks {author}"\n  oops: "Hi {name}"\n',
    )
    run = cli("check", "-c", str(config))
    assert run.code == 2
    assert f"{config}:8: templates.oops: unknown placeholder {{name}}" in run.stderr


def test_text_template_and_url_are_one_choice(tmp_path: Path, cli: Callable[..., Run]) -> None:
    run = cli("reply", "1", "--text", "a", "--url", "https://x.example/1")
    assert run.code == 2 and "give one of --text, --template and --url" in run.stderr


# --- counting as the platforms count --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Ground truth from Mastodon.py's tests/test_status_length.py (checked there against a Mastodon server).
        ("hello", 5),
        ("@alice", 6),
        ("@bob@example.com", 4),
        ("hey @me@example.com look at https://example.com/a-b_c~d?e=f#g and @you  ", 50),
        ("a: \U0001f1ea\U0001f1ea", 4),
        ("f\u0301", 1),
        ("(see https://example.com.)", 30),
    ],
)
def test_mastodon_counts_a_status_as_mastodon_does(text: str, expected: int) -> None:
    from mentionwatch.sources.mastodon import status_length

    assert status_length(text) == expected


def test_bluesky_record_keys_are_13_character_tids_that_sort_by_time() -> None:
    from datetime import UTC, datetime

    from mentionwatch.sources.bluesky import tid

    early, late = tid(datetime(2024, 1, 1, tzinfo=UTC), 5), tid(datetime(2024, 1, 1, 0, 0, 1, tzinfo=UTC), 0)
    assert len(early) == len(late) == 13 and early < late
    assert set(early) <= set("234567abcdefghijklmnopqrstuvwxyz")

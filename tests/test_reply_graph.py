"""`mentionwatch reply` on the business's own Facebook Page and Instagram account: each request exactly as the Graph
API documents it, against loopback emulations serving the recorded (or documented) answers; the reply's own id and
permalink kept; the kinds no API reply reaches sent to the browser; dry runs that send nothing; the token in no
output, log or store; Graph's refusals named; length limits; a run killed between sending and recording settled by
asking the platform, never by sending again."""

from __future__ import annotations

import copy
import json
import signal
import threading
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import pytest

from e2e_server import E2EServer, Received
from mentionwatch.models import Mention
from mentionwatch.sources.facebook_page import (
    CREATED_FIELDS,
    comment_permalink,
    parse_comments,
    parse_posts,
    reply_object,
)
from mentionwatch.sources.instagram_account import comment_address, comment_url, parse_media
from mentionwatch.sources.instagram_account import parse_comments as ig_parse_comments
from mentionwatch.store import open_store

from conftest import Reply, Run, load_json
from platforms import JSON, killed_on_post, mention, seed, write_config

VERSION = "v27.0"
FB_TOKEN = "EAAfbPageToken0123456789reply"
IG_TOKEN = "EAAigUserToken9876543210reply"
ENV = {"FB_TOKEN": FB_TOKEN, "IG_TOKEN": IG_TOKEN}

# --- the recordings ------------------------------------------------------------------------------------------------

PAGE_ID = "19292868552"  # the Page whose post the recorded comments are under
PAGE_NAME = "Facebook for Developers"
COMMENTS_P1 = load_json("facebook_page", "comments_comments_p1.json")
COMMENTS_P2 = load_json("facebook_page", "comments_comments_p2.json")
CREATE_RESP = load_json("facebook_page", "comments_create_resp.json")
FB_ERROR = load_json("facebook_page", "error_permission.json")
TAGGED = load_json("facebook_page", "posts_tagged_posts.json")

IG_USER = load_json("instagram_account", "users_user_default_fields.json")  # 17841406338772941, "ikroskun"
IG_MEDIA = load_json("instagram_account", "users_medias_p1.json")["data"][1]  # the media with comments
IG_COMMENTS = load_json("instagram_account", "medias_comments_p1.json")
IG_REPLIES = load_json("instagram_account", "comments_replies.json")
IG_TAGGED = load_json("instagram_account", "users_tagged_medias.json")
# IG Comment Replies, "Sample Response" (no recording of this answer was found; fixtures README).
IG_REPLY_ANSWER = {"id": "17873440459141021"}

# The recorded comments as the source reads them: a top-level comment and a reply under another one.
FB_MENTIONS = parse_comments(COMMENTS_P1["data"], page_id=PAGE_ID)
FB_COMMENT = next(m for m in FB_MENTIONS if m.kind == "comment")
FB_REPLY = next(m for m in FB_MENTIONS if m.kind == "reply")
FB_TAGGED = parse_posts(TAGGED["data"], kind="tagged", page_id=PAGE_ID)[0]
# No recording of /visitor_posts exists; visitors' posts are Post objects like the tagged ones (fixtures README).
FB_VISITOR_POST = parse_posts(TAGGED["data"], kind="post", page_id=PAGE_ID)[1]
IG_COMMENT = ig_parse_comments(
    IG_COMMENTS["data"], media_permalink=IG_MEDIA["permalink"], own_id=IG_USER["id"]
)[0]
IG_REPLY = ig_parse_comments(
    IG_REPLIES["data"], media_permalink=IG_MEDIA["permalink"], own_id=IG_USER["id"], parent_id=IG_COMMENT.id
)[0]
IG_TAGGED_MEDIA = parse_media(IG_TAGGED["data"], kind="tagged", now=datetime.now(UTC))[2]


def stamp(moment: datetime) -> str:
    """Graph's time format, as the recordings write it ("2023-07-14T10:45:55+0000")."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")


def graph_error(code: int, message: str, status: int = 400, **extra: Any) -> Reply:
    """The recorded error envelope (error_permission.json) with another code and message, visible here."""
    body = copy.deepcopy(FB_ERROR)
    body["error"].update(code=code, message=message, **extra)
    return Reply(status, json.dumps(body).encode(), JSON)


# --- the emulations --------------------------------------------------------------------------------------------------


class FacebookGraph:
    """A Page's objects: `POST /{object-id}/comments` answers as comments_create_resp.json does (read-after-write
    fields; id, text, time and permalink adjusted), and `GET /{object-id}/comments` lists what was posted, newest
    first, before the recorded comments of comments_comments_p2.json (in its envelope), each Page comment with the
    documented `from` (reference/comment) naming the Page."""

    def __init__(self, server: E2EServer, *objects: str) -> None:
        self.server = server
        self.posted: dict[str, list[dict[str, Any]]] = {o: [] for o in objects}
        self.answer: Reply | None = None  # served instead of the created comment (an error, a bare id)
        self.drop_posts = False
        self.on_post: Callable[[], None] | None = None
        self._lock = threading.Lock()
        for obj in objects:
            server.route("POST", f"/{VERSION}/{obj}/comments", lambda r, o=obj: self._create(o, r))
            server.route("GET", f"/{VERSION}/{obj}/comments", lambda r, o=obj: self._list(o))

    def _create(self, obj: str, request: Received) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        with self._lock:
            created = copy.deepcopy(CREATE_RESP)
            post, _, parent = obj.partition("_")
            own = str(10158500000000000 + sum(len(v) for v in self.posted.values()))
            created["id"] = f"{post}_{own}"
            created["message"] = form.get("message", "")
            created["created_time"] = stamp(datetime.now(UTC))
            where = f"https://www.facebook.com/{PAGE_ID}/posts/{post}"
            created["permalink_url"] = (
                f"{where}?comment_id={parent}&reply_comment_id={own}" if parent else f"{where}?comment_id={own}"
            )
            if not self.drop_posts:
                self.posted[obj].insert(0, {**created, "from": {"id": PAGE_ID, "name": PAGE_NAME}})
        if self.on_post is not None:
            self.on_post()
        if self.answer is not None:
            return self.answer
        return Reply(200, json.dumps(created).encode(), JSON)

    def _list(self, obj: str) -> Reply:
        with self._lock:
            listing = {**COMMENTS_P2, "data": [*self.posted[obj], *COMMENTS_P2["data"]]}
        return Reply(200, json.dumps(listing).encode(), JSON)

    def posts(self, obj: str) -> list[Received]:
        return self.server.received("POST", f"/{VERSION}/{obj}/comments")


class InstagramGraph:
    """An account's comments: `POST /{ig-comment-id}/replies` answers the documented `{"id"}`; `GET
    /{ig-comment-id}/replies` lists the recorded replies (comments_replies.json) and what was posted, each with
    the documented `username` (reference/ig-comment; comments_comment_fields.json holds it); `GET /{ig-user-id}`
    answers the recorded account's id and username."""

    def __init__(self, server: E2EServer, comment: str) -> None:
        self.server = server
        self.comment = comment
        self.posted: list[dict[str, Any]] = []
        self.answer: Reply | None = None
        self.drop_posts = False
        self.on_post: Callable[[], None] | None = None
        self._lock = threading.Lock()
        server.route("POST", f"/{VERSION}/{comment}/replies", self._create)
        server.route("GET", f"/{VERSION}/{comment}/replies", self._list)
        me = {"username": IG_USER["username"], "id": IG_USER["id"]}
        server.route("GET", f"/{VERSION}/{IG_USER['id']}", Reply(200, json.dumps(me).encode(), JSON))

    def _create(self, request: Received) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        with self._lock:
            ident = str(int(IG_REPLY_ANSWER["id"]) + len(self.posted))
            reply = {
                "timestamp": stamp(datetime.now(UTC)),
                "text": form.get("message", ""),
                "id": ident,
                "username": IG_USER["username"],
            }
            if not self.drop_posts:
                self.posted.append(reply)
        if self.on_post is not None:
            self.on_post()
        if self.answer is not None:
            return self.answer
        return Reply(200, json.dumps({**IG_REPLY_ANSWER, "id": ident}).encode(), JSON)

    def _list(self, request: Received) -> Reply:
        with self._lock:
            listing = {**IG_REPLIES, "data": [*IG_REPLIES["data"], *self.posted]}
        return Reply(200, json.dumps(listing).encode(), JSON)

    def posts(self) -> list[Received]:
        return self.server.received("POST", f"/{VERSION}/{self.comment}/replies")


# --- set-up ----------------------------------------------------------------------------------------------------------


@pytest.fixture
def e2e() -> Iterator[E2EServer]:
    with E2EServer(lifetime=120) as srv:
        yield srv


def stored_mention(source: str, source_type: str, m: Mention) -> Mention:
    """A mention as a scan of the source would have stored it (the parser's id, address, kind and text)."""
    return mention(source=source, source_type=source_type, id=m.id, url=m.url, kind=m.kind, text=m.text)


def fb_setup(tmp_path: Path, e2e: E2EServer, *mentions: Mention) -> tuple[Path, Path]:
    config = write_config(
        tmp_path / "mw.yaml",
        f'  - type: facebook_page\n    name: page\n    base_url: {e2e.url}\n    page_id: "{PAGE_ID}"\n'
        "    token: ${FB_TOKEN}\n",
    )
    db = tmp_path / "m.sqlite3"
    seed(db, *(stored_mention("page", "facebook_page", m) for m in mentions))
    return config, db


def ig_setup(tmp_path: Path, e2e: E2EServer, *mentions: Mention) -> tuple[Path, Path]:
    config = write_config(
        tmp_path / "mw.yaml",
        f'  - type: instagram_account\n    name: insta\n    base_url: {e2e.url}\n    ig_user_id: "{IG_USER["id"]}"\n'
        "    token: ${IG_TOKEN}\n",
    )
    db = tmp_path / "m.sqlite3"
    seed(db, *(stored_mention("insta", "instagram_account", m) for m in mentions))
    return config, db


def reply(cli: Callable[..., Run], config: Path, db: Path, *args: str) -> Run:
    return cli("reply", *args, "-c", str(config), "--db", str(db), env=ENV)


def form(request: Received) -> dict[str, list[str]]:
    return parse_qs(request.body.decode(), keep_blank_values=True)


def record(db: Path, source_type: str, item: str) -> Any:
    store = open_store(str(db))
    try:
        return store.reply_record(source_type, item)
    finally:
        store.close()


def status(db: Path, item: str) -> str:
    store = open_store(str(db))
    try:
        found = store.mention(store.resolve(item)[0])
        assert found is not None
        return found.status
    finally:
        store.close()


# --- Facebook --------------------------------------------------------------------------------------------------------


def test_a_facebook_comment_is_answered_under_it_as_the_page_and_the_replys_id_and_permalink_are_kept(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    run = reply(cli, config, db, FB_COMMENT.id, "--text", "Olá! Veja o guia: https://example.com/ajuda ✨")
    assert run.code == 0, run.stderr
    [post] = graph.posts(FB_COMMENT.id)
    # POST /{object-id}/comments with `message`; the new comment's fields asked back; the token as Graph's
    # documented `access_token` parameter, never in a header.
    assert form(post) == {"message": ["Olá! Veja o guia: https://example.com/ajuda ✨"]}
    assert post.query == {"fields": [CREATED_FIELDS], "access_token": [FB_TOKEN]}
    assert post.headers["content-type"] == "application/x-www-form-urlencoded"
    assert "authorization" not in post.headers
    created = graph.posted[FB_COMMENT.id][0]
    assert run.stdout == created["permalink_url"] + "\n"
    assert created["permalink_url"].endswith(f"?comment_id={FB_COMMENT.id.split('_')[1]}&reply_comment_id="
                                             f"{created['id'].split('_')[1]}")
    kept = record(db, "facebook_page", FB_COMMENT.id)
    assert (kept.state, kept.reply_id, kept.reply_url) == ("sent", created["id"], created["permalink_url"])
    assert kept.sent_at == datetime.strptime(created["created_time"], "%Y-%m-%dT%H:%M:%S%z")
    assert status(db, FB_COMMENT.id) == "replied"


def test_a_reply_to_a_reply_goes_under_the_comment_it_answers(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    # The recorded reply's permalink names its comment: ?comment_id=10158407835073553&reply_comment_id=...
    parent = reply_object(FB_REPLY)
    assert parent == f"{FB_REPLY.id.split('_')[0]}_{FB_REPLY.url.split('comment_id=')[1].split('&')[0]}"
    assert parent != FB_REPLY.id
    graph = FacebookGraph(e2e, parent)
    config, db = fb_setup(tmp_path, e2e, FB_REPLY)
    run = reply(cli, config, db, FB_REPLY.id, "--text", "Thanks, we're on it")
    assert run.code == 0, run.stderr
    assert len(graph.posts(parent)) == 1
    assert e2e.received("POST", f"/{VERSION}/{FB_REPLY.id}/comments") == []


def test_a_visitors_post_takes_the_pages_comment_under_the_post(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = FacebookGraph(e2e, FB_VISITOR_POST.id)
    config, db = fb_setup(tmp_path, e2e, FB_VISITOR_POST)
    run = reply(cli, config, db, FB_VISITOR_POST.id, "--text", "Glad you like it!")
    assert run.code == 0, run.stderr
    assert form(graph.posts(FB_VISITOR_POST.id)[0]) == {"message": ["Glad you like it!"]}


def test_an_answer_without_the_fields_still_gives_the_reply_an_address_built_as_the_recorded_ones(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    # The comments edge's documented return type is the bare struct `{"id": numeric string}`.
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    post, comment = FB_COMMENT.id.split("_")
    graph.answer = Reply(200, json.dumps({"id": f"{post}_10158500000000777"}).encode(), JSON)
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    run = reply(cli, config, db, FB_COMMENT.id, "--text", "Hello")
    assert run.code == 0, run.stderr
    assert run.stdout == (
        f"https://www.facebook.com/{PAGE_ID}/posts/{post}/?comment_id={comment}&reply_comment_id=10158500000000777\n"
    )
    assert record(db, "facebook_page", FB_COMMENT.id).reply_id == f"{post}_10158500000000777"


def test_a_new_comment_under_a_post_is_addressed_as_the_recorded_comments_are() -> None:
    # comments_comments_p1.json: /19292868552/posts/10158407654328553/?comment_id=10158407835073553
    post = "https://www.facebook.com/19292868552/posts/10158407654328553"
    assert comment_permalink(post, "10158407654328553_10158407835073553") == COMMENTS_P1["data"][0]["permalink_url"]


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (FB_TAGGED, "only on its own posts"),
        (
            mention(id="1234567890", url="https://www.facebook.com/1234567890", kind="review"),
            "recommendations and reviews take no comment",
        ),
    ],
    ids=["tagged", "review"],
)
def test_posts_that_tag_the_page_and_reviews_print_their_url_to_answer_by_hand(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer, item: Mention, why: str
) -> None:
    config, db = fb_setup(tmp_path, e2e, item)
    run = reply(cli, config, db, item.id, "--text", "Thanks!")
    assert run.code == 2
    assert why in run.stderr and f"reply {item.id} --url" in run.stderr
    assert run.stdout == item.url + "\n"
    assert [r for r in e2e.requests if r.method == "POST"] == []
    assert record(db, "facebook_page", item.id) is None


# --- Instagram -------------------------------------------------------------------------------------------------------


def test_an_instagram_comment_is_answered_with_a_reply_and_its_address_is_built_like_the_sources(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = InstagramGraph(e2e, IG_COMMENT.id)
    config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
    run = reply(cli, config, db, IG_COMMENT.id, "--text", "Thank you! 🙏")
    assert run.code == 0, run.stderr
    [post] = graph.posts()
    assert form(post) == {"message": ["Thank you! 🙏"]}
    assert post.query == {"access_token": [IG_TOKEN]}
    assert "authorization" not in post.headers
    new_id = IG_REPLY_ANSWER["id"]
    url = comment_url(IG_MEDIA["permalink"], new_id, IG_COMMENT.id)
    assert url == f"https://www.instagram.com/p/CSgdWACBeKr/c/{IG_COMMENT.id}/r/{new_id}/"
    assert run.stdout == url + "\n"
    kept = record(db, "instagram_account", IG_COMMENT.id)
    assert (kept.state, kept.reply_id, kept.reply_url) == ("sent", new_id, url)


def test_an_instagram_reply_to_a_reply_goes_to_the_top_level_comment(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    assert comment_address(IG_REPLY.url) == (IG_MEDIA["permalink"], IG_COMMENT.id)
    graph = InstagramGraph(e2e, IG_COMMENT.id)
    config, db = ig_setup(tmp_path, e2e, IG_REPLY)
    run = reply(cli, config, db, IG_REPLY.id, "--text", "@lixiangguodu123 hello!")
    assert run.code == 0, run.stderr
    assert len(graph.posts()) == 1
    assert e2e.received("POST", f"/{VERSION}/{IG_REPLY.id}/replies") == []


@pytest.mark.parametrize(
    ("item", "why"),
    [
        (IG_TAGGED_MEDIA, "Commenting on photos in which you were tagged is not supported"),
        (
            mention(id="18088158883149835", url="https://www.instagram.com/p/CMeo7rcJvTi/", kind="post"),
            "comments only on the account's own media",
        ),
    ],
    ids=["tagged", "hashtag-media"],
)
def test_tagged_and_hashtag_media_print_their_url_to_answer_by_hand(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer, item: Mention, why: str
) -> None:
    config, db = ig_setup(tmp_path, e2e, item)
    run = reply(cli, config, db, item.id, "--text", "Thanks!")
    assert run.code == 2
    assert why in run.stderr and "--url" in run.stderr
    assert run.stdout == item.url + "\n"
    assert e2e.requests == []


# --- dry runs, secrets ------------------------------------------------------------------------------------------------


def test_dry_run_prints_the_facebook_request_with_the_token_masked_and_sends_nothing(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    run = reply(cli, config, db, FB_COMMENT.id, "--text", "Merci & à bientôt", "--dry-run")
    assert run.code == 0, run.stderr
    head, _, body = run.stdout.partition("\n\n")
    assert head.splitlines()[0] == (
        f"POST {e2e.url}/{VERSION}/{FB_COMMENT.id}/comments?fields=id%2Cmessage%2Cpermalink_url%2Ccreated_time"
        "&access_token=****"
    )
    assert parse_qs(body.strip()) == {"message": ["Merci & à bientôt"]}
    assert FB_TOKEN not in run.stdout + run.stderr
    assert graph.posts(FB_COMMENT.id) == [] and e2e.requests == []
    assert "nothing was sent" in run.stderr and status(db, FB_COMMENT.id) == "new"


def test_dry_run_prints_the_instagram_request_with_the_token_masked_and_sends_nothing(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    InstagramGraph(e2e, IG_COMMENT.id)
    config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
    run = reply(cli, config, db, IG_COMMENT.id, "--text", "Thanks!", "--dry-run")
    assert run.code == 0, run.stderr
    assert run.stdout.splitlines()[0] == f"POST {e2e.url}/{VERSION}/{IG_COMMENT.id}/replies?access_token=****"
    assert IG_TOKEN not in run.stdout + run.stderr
    assert e2e.requests == []


def test_the_token_reaches_no_log_and_no_stored_request(tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    graph.answer = Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    run = reply(cli, config, db, FB_COMMENT.id, "--text", "Thanks", "-v")
    assert run.code == 7 and "may have been posted" in run.stderr
    assert f"/{VERSION}/{FB_COMMENT.id}/comments" in run.stderr, "the verbose log names the request"
    assert FB_TOKEN not in run.stdout + run.stderr
    pending = record(db, "facebook_page", FB_COMMENT.id)
    assert pending.state == "pending"
    assert FB_TOKEN not in pending.request and "access_token" not in pending.request
    assert json.loads(pending.request)["form"] == {"message": "Thanks"}


# --- Graph's refusals -------------------------------------------------------------------------------------------------


def test_a_missing_permission_is_named_and_nothing_is_recorded(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    graph.drop_posts = True
    # Error 200 is "API Permission" (error-handling); this answer names no permission, so the one replying needs
    # is named.
    graph.answer = graph_error(200, "(#200) Permissions error", status=403)
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    run = reply(cli, config, db, FB_COMMENT.id, "--text", "Thanks")
    assert run.code == 7
    assert "refused the reply" in run.stderr and "nothing was posted" in run.stderr
    assert "the token lacks the pages_manage_engagement permission" in run.stderr
    assert record(db, "facebook_page", FB_COMMENT.id) is None


def test_the_recorded_permission_error_names_the_permission_it_gives(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = InstagramGraph(e2e, IG_COMMENT.id)
    graph.drop_posts = True
    graph.answer = Reply(400, json.dumps(FB_ERROR).encode(), JSON)
    config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
    run = reply(cli, config, db, IG_COMMENT.id, "--text", "Thanks")
    assert run.code == 7 and "the token lacks the pages_read_engagement permission" in run.stderr


def test_instagram_names_instagram_manage_comments_when_graph_names_nothing(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = InstagramGraph(e2e, IG_COMMENT.id)
    graph.drop_posts = True
    graph.answer = graph_error(10, "(#10) Application does not have permission for this action", status=403)
    config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
    run = reply(cli, config, db, IG_COMMENT.id, "--text", "Thanks")
    assert run.code == 7 and "the token lacks the instagram_manage_comments permission" in run.stderr


def test_an_expired_token_says_to_renew_it(tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    graph.drop_posts = True
    graph.answer = graph_error(190, "Error validating access token: Session has expired", error_subcode=463)
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    run = reply(cli, config, db, FB_COMMENT.id, "--text", "Thanks")
    assert run.code == 7
    assert "Graph API error 190/463" in run.stderr and "renew it" in run.stderr
    assert FB_TOKEN not in run.stderr
    assert record(db, "facebook_page", FB_COMMENT.id) is None


# --- length limits ----------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("platform", "limit", "words"),
    [("facebook", 8000, "Facebook (comments)'s limit of 8000"), ("instagram", 2200, "Instagram (comments)'s limit of 2200")],
)
def test_comment_lengths_are_checked_before_anything_is_sent(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer, platform: str, limit: int, words: str
) -> None:
    if platform == "facebook":
        config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
        item = FB_COMMENT.id
    else:
        config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
        item = IG_COMMENT.id
    assert reply(cli, config, db, item, "--text", "é" * limit, "--dry-run").code == 0
    over = reply(cli, config, db, item, "--text", "é" * (limit + 3), "--dry-run")
    assert over.code == 2
    assert f"{limit + 3} characters long, 3 over {words}" in over.stderr
    assert e2e.requests == []


# --- never twice ------------------------------------------------------------------------------------------------------


def test_a_reply_left_pending_is_found_on_facebook_by_the_pages_id_and_its_text(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    graph.answer = Reply(504, b"<html>Gateway Timeout</html>", {"Content-Type": "text/html"})
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    assert reply(cli, config, db, FB_COMMENT.id, "--text", "Thanks").code == 7
    graph.answer = None
    settled = reply(cli, config, db, FB_COMMENT.id)
    assert settled.code == 0, settled.stderr
    [listing] = e2e.received("GET", f"/{VERSION}/{FB_COMMENT.id}/comments")
    assert listing.param("order") == "reverse_chronological" and listing.param("access_token") == FB_TOKEN
    assert "from" in listing.param("fields").split(",")
    created = graph.posted[FB_COMMENT.id][0]
    assert settled.stdout == created["permalink_url"] + "\n"
    assert len(graph.posts(FB_COMMENT.id)) == 1
    assert record(db, "facebook_page", FB_COMMENT.id).reply_id == created["id"]


def test_a_page_comment_with_the_same_text_from_before_the_attempt_is_not_taken_for_it(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    graph.answer = Reply(504, b"<html>Gateway Timeout</html>", {"Content-Type": "text/html"})
    graph.drop_posts = True
    # An answer of the Page's, same text, a day before: an earlier conversation, not this attempt's reply.
    earlier = {**CREATE_RESP, "message": "Thanks", "created_time": "2021-08-10T19:00:00+0000"}
    graph.posted[FB_COMMENT.id].append({**earlier, "from": {"id": PAGE_ID, "name": PAGE_NAME}})
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    assert reply(cli, config, db, FB_COMMENT.id, "--text", "Thanks").code == 7
    settled = reply(cli, config, db, FB_COMMENT.id)
    assert settled.code == 0 and "never reached the platform" in settled.stderr
    assert record(db, "facebook_page", FB_COMMENT.id) is None


def test_a_reply_left_pending_is_found_on_instagram_by_the_accounts_username(
    tmp_path: Path, cli: Callable[..., Run], e2e: E2EServer
) -> None:
    graph = InstagramGraph(e2e, IG_COMMENT.id)
    graph.answer = Reply(502, b"<html>Bad Gateway</html>", {"Content-Type": "text/html"})
    config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
    assert reply(cli, config, db, IG_COMMENT.id, "--text", "Thanks").code == 7
    graph.answer = None
    again = reply(cli, config, db, IG_COMMENT.id, "--text", "Thanks")
    assert again.code == 0, again.stderr
    assert "posted after all" in again.stderr
    [me] = e2e.received("GET", f"/{VERSION}/{IG_USER['id']}")
    assert me.param("fields") == "username"
    assert len(graph.posts()) == 1
    assert again.stdout == comment_url(IG_MEDIA["permalink"], graph.posted[0]["id"], IG_COMMENT.id) + "\n"


@pytest.mark.e2e
def test_a_facebook_reply_killed_after_sending_is_found_on_the_page_next_run(
    tmp_path: Path, e2e: E2EServer, run_cli: Callable[..., Run]
) -> None:
    graph = FacebookGraph(e2e, FB_COMMENT.id)
    config, db = fb_setup(tmp_path, e2e, FB_COMMENT)
    args = [FB_COMMENT.id, "--text", "Thanks, fixed!", "-c", str(config), "--db", str(db)]
    assert killed_on_post(tmp_path, args, ENV, graph) == -signal.SIGKILL
    pending = record(db, "facebook_page", FB_COMMENT.id)
    assert pending.state == "pending" and FB_TOKEN not in pending.request
    again = run_cli("reply", *args, env=ENV)
    assert again.code == 0, again.stderr
    assert "posted after all" in again.stderr
    assert len(graph.posts(FB_COMMENT.id)) == 1, "settled by asking the platform, never by sending again"
    created = graph.posted[FB_COMMENT.id][0]
    assert again.stdout == created["permalink_url"] + "\n"
    kept = record(db, "facebook_page", FB_COMMENT.id)
    assert (kept.state, kept.reply_id) == ("sent", created["id"])


@pytest.mark.e2e
def test_an_instagram_reply_killed_before_instagram_kept_it_is_sent_once_next_run(
    tmp_path: Path, e2e: E2EServer, run_cli: Callable[..., Run]
) -> None:
    graph = InstagramGraph(e2e, IG_COMMENT.id)
    graph.drop_posts = True  # the first post never lands: the replies list will not have it
    config, db = ig_setup(tmp_path, e2e, IG_COMMENT)
    args = [IG_COMMENT.id, "--text", "Thanks, fixed!", "-c", str(config), "--db", str(db)]
    assert killed_on_post(tmp_path, args, ENV, graph) == -signal.SIGKILL
    graph.drop_posts = False
    again = run_cli("reply", *args, env=ENV)
    assert again.code == 0, again.stderr
    assert e2e.received("GET", f"/{VERSION}/{IG_COMMENT.id}/replies"), "Instagram was asked first"
    assert len(graph.posts()) == 2 and len(graph.posted) == 1, "the lost reply was sent again, once"
    assert again.stdout == comment_url(IG_MEDIA["permalink"], graph.posted[0]["id"], IG_COMMENT.id) + "\n"

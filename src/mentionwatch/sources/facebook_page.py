"""The business's own Facebook Page, through the Graph API with the Page's token: what people say there, and the
Page's answers to it."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Callable
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, urlencode, urlsplit

from pydantic import Field, SecretStr, field_validator

from mentionwatch.plugin import (
    BadPayload,
    EdgeUnavailable,
    GraphApi,
    Mention,
    OwnedSourceConfig,
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRequest,
    Source,
    check_length,
    json_dict,
    parse_time,
    read_items,
    send_request,
    since_split,
)
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

# The current Graph API version: v27.0, introduced November 4, 2026 (developers.facebook.com/docs/graph-api/
# changelog, "Available Graph API Versions"; blog post "Introducing Graph API v27.0", 2026-11-04).
API_VERSION = "v27.0"
WEB_ROOT = "https://www.facebook.com"
_VERSION = re.compile(r"^v\d+\.\d+$")
_ID = re.compile(r"^\d+$")
# A Graph object id as this source stores them: a Page, post or comment id, `{post}_{comment}`, `{page}_{post}`.
_OBJECT_ID = re.compile(r"^\d+(?:_\d+)?$")

# /{object-id}/comments: `message, from, created_time, like_count, comment_count, permalink_url` (the issue's
# list). The recording has all but `from`, which the Comment reference documents ("from: The person that made
# this comment", developers.facebook.com/docs/graph-api/reference/comment); it is how the Page's own answers are
# told apart. `id` is asked for but not always sent (below).
COMMENT_FIELDS = "id,message,from,created_time,like_count,comment_count,permalink_url"
# Posts by visitors and posts that tag the Page: Post fields (reference/post). The recordings hold `id, message,
# created_time` (and `updated_time`); `from` and `permalink_url` are documented Post fields ("For user posts, the
# from field will only be returned if the user making the request is the same user who created the post":
# reference/page/tagged), so both are read when sent and neither is required.
POST_FIELDS = "id,message,from,created_time,permalink_url"
# /{page-id}/ratings returns Recommendations: `created_time, recommendation_type (positive | negative),
# review_text, reviewer, open_graph_story` (reference/recommendation; no recording holds one).
RATING_FIELDS = "created_time,recommendation_type,review_text,reviewer,open_graph_story"
PAGE_SIZE = 100
# Where each edge is documented to need more than the Page token's basics, for when an error names none.
EDGE_PERMISSION = {
    "comments": "pages_read_engagement",
    "visitor_posts": "pages_read_user_content",
    "tagged": "pages_read_user_content",
    "ratings": "pages_read_user_content",
}


class FacebookPageConfig(OwnedSourceConfig):
    base_url: str = "https://graph.facebook.com"
    api_version: str = Field(API_VERSION, description="the Graph API version to call (vXX.0)")
    page_id: str = Field(description="the Page's numeric id (Page > About > Page transparency, or /me?fields=id)")
    token: SecretStr = Field(description="the Page's access token (long-lived: a system user's, or from /me/accounts)")
    max_posts: int = Field(10, ge=1, le=100, description="the Page's latest posts whose comments and replies are read")
    ratings: bool = Field(True, description="read recommendations and reviews (/ratings; Graph API v21.0 and older)")
    max_pages: int = Field(3, ge=1, le=50, description="pages of 100 to read per edge, and per post's comments")

    @field_validator("api_version")
    @classmethod
    def _a_version(cls, value: str) -> str:
        if not _VERSION.match(value.strip()):
            raise ValueError(f"{value!r} is not a Graph API version (write it as {API_VERSION})")
        return value.strip()

    @field_validator("page_id")
    @classmethod
    def _an_id(cls, value: str) -> str:
        if not _ID.match(value.strip()):
            # Digits: the Page's own answers are told apart by `from.id`, which is always the numeric id.
            raise ValueError(f"{value!r} is not a Page id (digits, as the Page's About section shows it)")
        return value.strip()

    @field_validator("token")
    @classmethod
    def _token_not_empty(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("the Page access token is empty")
        return token


# Checked before an id goes into a request path or a web address (GraphApi.checked_id).
is_graph_id = GraphApi.is_id
graph_id = GraphApi.checked_id


def post_url(post_id: str) -> str:
    """The web address of a post from its Graph id `{owner-id}_{post-id}`: the recorded comments show the pair,
    /19292868552_10158407654328553/comments holding permalinks under /19292868552/posts/10158407654328553/."""
    owner, _, post = post_id.partition("_")
    return f"{WEB_ROOT}/{owner}/posts/{post}" if owner and post else f"{WEB_ROOT}/{post_id}"


def comment_id(item: dict[str, Any]) -> str:
    """A comment's Graph id: `id` when sent, else read from its permalink. The comments edge stops sending `id` to
    apps reading through Page Public Content Access (reference/object/comments: "To access the comment IDs for
    a Page post you must be able to perform the MODERATE task"), and the recording has none; its permalink
    carries the same two numbers, `/posts/{post}/?comment_id={comment}` for the id `{post}_{comment}`
    (comments_comment_info.json holds both), with `reply_comment_id` for a reply."""
    if item.get("id"):
        return graph_id(item["id"])
    url = urlsplit(str(item["permalink_url"]))
    query = parse_qs(url.query)
    comment = (query.get("reply_comment_id") or query.get("comment_id") or [""])[0]
    parts = [p for p in url.path.split("/") if p]
    post = parts[parts.index("posts") + 1] if "posts" in parts[:-1] else ""
    if not (comment and post):
        raise KeyError("id")
    return graph_id(f"{post}_{comment}")


def _author(item: dict[str, Any]) -> str:
    return str(json_dict(item.get("from")).get("name") or "")


def _is_from(item: Any, page_id: str) -> bool:
    return isinstance(item, dict) and str(json_dict(item.get("from")).get("id") or "") == page_id


def comment_to_mention(item: dict[str, Any]) -> Mention:
    """One comment or reply under a Page post as a Mention."""
    permalink = str(item["permalink_url"])
    reply = "reply_comment_id" in parse_qs(urlsplit(permalink).query) or isinstance(item.get("parent"), dict)
    return Mention(
        source="",
        id=comment_id(item),
        url=permalink,
        text=str(item.get("message") or "").strip(),
        author=_author(item),
        published_at=parse_time(str(item["created_time"])),
        kind="reply" if reply else "comment",
        likes=_int(item.get("like_count")),
        comments=_int(item.get("comment_count")),
    )


def post_to_mention(item: dict[str, Any], kind: str) -> Mention:
    """One post by a visitor, or one that tags the Page, as a Mention."""
    post_id = graph_id(item["id"])
    return Mention(
        source="",
        id=post_id,
        url=str(item.get("permalink_url") or post_url(post_id)),
        text=str(item.get("message") or "").strip(),
        author=_author(item),
        published_at=parse_time(str(item["created_time"])),
        kind=kind,
    )


def rating_to_mention(item: dict[str, Any]) -> Mention:
    """One recommendation or review of the Page as a Mention (fields: reference/recommendation). Its story is the
    review's own object: its id is the mention's, and its address the review's."""
    story = json_dict(item.get("open_graph_story"))
    if not story.get("id"):
        raise BadPayload("a rating without its open_graph_story id")
    story_id = graph_id(story["id"])
    kind = item.get("recommendation_type")
    return Mention(
        source="",
        id=story_id,
        url=f"{WEB_ROOT}/{story_id}",
        title={"positive": "Recommends", "negative": "Does not recommend"}.get(str(kind), ""),
        text=str(item.get("review_text") or "").strip(),
        author=str(json_dict(item.get("reviewer")).get("name") or ""),
        published_at=parse_time(str(item["created_time"])),
        kind="review",
    )


def parse_comments(data: list[Any], *, page_id: str, skipped: list[str] | None = None) -> list[Mention]:
    """The comments of one page of `/{object-id}/comments`, without the Page's own (its answers are not
    mentions); one that cannot be read is skipped (and why, appended to `skipped`)."""
    return read_items([c for c in data if not _is_from(c, page_id)], comment_to_mention, skipped)


def parse_posts(data: list[Any], *, kind: str, page_id: str, skipped: list[str] | None = None) -> list[Mention]:
    """The posts of one page of `/visitor_posts` or `/tagged` (`kind`: post or tagged)."""
    return read_items([p for p in data if not _is_from(p, page_id)], lambda p: post_to_mention(p, kind), skipped)


def parse_ratings(data: list[Any], skipped: list[str] | None = None) -> list[Mention]:
    """The recommendations and reviews of one page of `/ratings`."""
    return read_items(data, rating_to_mention, skipped)


def edge_warning(edge: str, exc: EdgeUnavailable) -> str:
    """The health line's note for an edge that could not be read."""
    if exc.permission:
        permission = exc.permission if exc.permission != "unknown" else EDGE_PERMISSION.get(edge, "unknown")
        return f"{edge} not read: the token lacks the {permission} permission"
    if edge == "ratings" and "error 12" in exc.reason:
        return (
            "ratings not read: Graph API v22.0 and later no longer serve /ratings (error 12); "
            "set `ratings: false`, or an `api_version` of v21.0 while Meta still serves it"
        )
    return f"{edge} not read: {exc.reason}"


# --- replies: the Page's comments ---------------------------------------------------------------------------------

# Pages API, "Comments and @mentions" (developers.facebook.com/docs/pages-api/comments-mentions): "You can comment on
# a Page post or a comment on a comment. The author of the comment will be the Page", with a Page token that has
# pages_manage_engagement (and pages_read_engagement, pages_read_user_engagement), of someone who can perform the
# MODERATE and CREATE_CONTENT tasks. A refusal that names no permission names this one.
REPLY_PERMISSION = "pages_manage_engagement"
# Meta's reference states no limit for a comment's `message`; 8,000 characters is the limit of Facebook's comment
# box as social-media tools publish and enforce it (GoHighLevel's Social Planner API, "Create a comment or reply":
# "Facebook 8000"; typecount.com and postonce.to's Facebook limits: "Comment 8,000"). Counted in code points: no
# counting rule is documented, and a text Facebook finds too long is refused (nothing is posted).
COMMENT_LIMIT = 8000
# Read-after-write (Graph API changelog, v2.9): "If a fields parameter is specified, the request will first do the
# write, then read the created or updated object, selecting fields using the fields parameter, as the response".
# comments_create_resp.json is such an answer: `id, message, permalink_url, created_time`.
CREATED_FIELDS = "id,message,permalink_url,created_time"
# What finding the Page's reply after a crash reads of each comment under the object (reference/comment).
FOUND_FIELDS = "id,message,from,created_time,permalink_url"
# A reply found on Facebook is this attempt's if it was made at most this long before the attempt began (the two
# clocks differ); an older one with the same text is an earlier answer.
CLOCK_SLACK = timedelta(minutes=5)
# The kinds of mention no reply reaches through the Graph API, and why.
UNANSWERABLE = {
    "tagged": (
        "a post that tags the Page is someone else's, on their profile or Page, and the Graph API lets a Page "
        "comment only on its own posts and the comments under them (Pages API, \"Comments and @mentions\": \"You "
        "can comment on a Page post or a comment on a comment\")"
    ),
    "review": (
        "recommendations and reviews take no comment through the Graph API (reference/recommendation: read-only, "
        "\"cannot be queried directly\", and gone from v22.0)"
    ),
}


def reply_object(mention: Mention) -> str:
    """The object a reply to `mention` is posted under: the comment or the visitor's post itself, or for a reply,
    the comment it answers. Facebook threads comments one level deep (reference/object/comments: a comment's own
    /comments edge holds its replies), and a reply's permalink names both, `?comment_id={comment}&reply_comment_id=
    {reply}` (comments_comments_p2.json), with the post's id in front of each: `{post}_{comment}`."""
    if not _OBJECT_ID.match(mention.id):
        raise BadPayload(f"{mention.id!r} is not a Facebook post or comment id")
    if mention.kind != "reply":
        return mention.id
    post = mention.id.partition("_")[0]
    comment = parse_qs(urlsplit(mention.url).query).get("comment_id", [""])[0]
    if not comment.isdigit():
        raise BadPayload(f"{mention.url}: the comment this reply answers is not in its permalink")
    return f"{post}_{comment}"


def comment_permalink(parent_url: str, new_id: str) -> str:
    """The address of a comment just made under `parent_url`, when Facebook's answer gives none: built as the
    recorded permalinks are (a comment under a post is `{post-url}/?comment_id={c}`, a reply under a comment
    `...?comment_id={comment}&reply_comment_id={c}`: comments_comments_p1.json and p2)."""
    own = new_id.rpartition("_")[2]
    url = urlsplit(parent_url)
    query = parse_qs(url.query)
    if query.get("comment_id"):
        return url._replace(query=urlencode({"comment_id": query["comment_id"][0], "reply_comment_id": own})).geturl()
    return url._replace(path=url.path.rstrip("/") + "/", query=urlencode({"comment_id": own})).geturl()


def created_comment(answer: dict[str, Any], *, parent_url: str, now: datetime) -> PostedReply:
    """The Page's new comment as Facebook answered its creation (comments_create_resp.json; a bare `{"id"}` when
    the fields were not sent back)."""
    if not answer.get("id"):
        raise BadPayload("Facebook answered the reply with no comment id")
    ident = graph_id(answer["id"])
    stamp = answer.get("created_time")
    return PostedReply(
        id=ident,
        url=str(answer.get("permalink_url") or comment_permalink(parent_url, ident)),
        at=parse_time(str(stamp)) if stamp else now,
    )


def own_comment(data: list[Any], *, page_id: str, text: str, after: datetime) -> tuple[PostedReply | None, bool]:
    """The Page's comment with this text made since `after` on one page of `/{object-id}/comments` (newest first),
    and whether the page reached comments older than `after` (the walk can stop there)."""
    older = False
    for item in data:
        info = json_dict(item)
        try:
            created = parse_time(str(info["created_time"]))
        except (KeyError, ValueError):
            continue
        if created < after:
            older = True
            continue
        same = str(info.get("message") or "").strip() == text.strip()
        if _is_from(info, page_id) and same and is_graph_id(info.get("id")):
            return PostedReply(str(info["id"]), str(info.get("permalink_url") or ""), created), older
    return None, older


Edge = Callable[[GraphApi, datetime], AsyncIterator[Mention]]


class FacebookPageSource(Source[FacebookPageConfig], Replier):
    """A Facebook Page's conversation, read with the Page's own token (Graph API): comments and replies under its
    latest posts, posts by visitors, posts that tag the Page, and recommendations and reviews.

    Everything said there is a mention of the Page's brand, whether or not it names it (`brand:`). An edge the
    token may not read is named in the health line with the permission it needs, and the others are read.
    Comments, replies and visitors' posts are answered as the Page (`reply`); posts that tag the Page and reviews
    are not answerable through the API.
    Paced by the Graph API's usage headers rather than a fixed rate: Pages requests made with a Page token count
    against the Page's Business Use Case budget (rate-limiting).
    """

    type = "facebook_page"
    credentials = "yes"
    searchable: ClassVar[bool] = False
    # No fixed rate is documented (the budget scales with the Page's engaged users): the usage headers pace it.
    requests_per_minute: ClassVar[float | None] = None

    def _graph(self) -> GraphApi:
        cfg = self.config
        return GraphApi(
            self.context, base_url=cfg.base_url, api_version=cfg.api_version, token=cfg.token.get_secret_value()
        )

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        graph = self._graph()
        cfg = self.config
        edges: list[tuple[str, Edge]] = [
            ("comments", self._comments),
            ("visitor_posts", self._visitor_posts),
            ("tagged", self._tagged),
        ]
        if cfg.ratings:
            edges.append(("ratings", self._ratings))
        unavailable: list[EdgeUnavailable] = []
        for name, edge in edges:
            try:
                async for mention in edge(graph, since):
                    yield mention
            except EdgeUnavailable as exc:
                # One edge the token may not read costs only that edge; said once, in the health line.
                unavailable.append(exc)
                self.context.warnings.append(edge_warning(name, exc))
                self.context.incomplete = True
        if len(unavailable) == len(edges):
            raise unavailable[0]

    async def _comments(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        # The latest posts, whatever their age: a comment arrives under an old post as well as a new one.
        posts = await graph.get(f"{cfg.page_id}/published_posts", {"fields": "id", "limit": cfg.max_posts})
        data = posts.get("data")
        if not isinstance(data, list):
            raise BadPayload(f"{graph.url(cfg.page_id)}/published_posts: the answer has no `data` list")
        # A post whose id cannot be read is skipped and counted: its id would be the path of the next request.
        for post_id in read_items(data[: cfg.max_posts], lambda post: graph_id(post["id"]), self.context.skipped):
            params = {
                "fields": COMMENT_FIELDS,
                # reference/object/comments: `stream` returns every comment, replies included, flat; `order` sets
                # their order, newest first here so the walk stops at `since`.
                "filter": "stream",
                "order": "reverse_chronological",
                "limit": PAGE_SIZE,
            }
            async for page in graph.pages(f"{post_id}/comments", params, max_pages=cfg.max_pages):
                comments = parse_comments(page, page_id=cfg.page_id, skipped=self.context.skipped)
                fresh, older = since_split(comments, since)
                for mention in fresh:
                    yield mention
                if older:
                    break

    async def _visitor_posts(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        async for mention in self._posts(graph, "visitor_posts", "post", since):
            yield mention

    async def _tagged(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        async for mention in self._posts(graph, "tagged", "tagged", since):
            yield mention

    async def _posts(self, graph: GraphApi, edge: str, kind: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        # Feed-like edges page by time (their `next` links carry `since`/`until`: posts_feed_fields_p1.json), so
        # `since` is sent; what comes back is checked again here.
        params = {"fields": POST_FIELDS, "since": int(since.timestamp()), "limit": PAGE_SIZE}
        async for page in graph.pages(f"{cfg.page_id}/{edge}", params, max_pages=cfg.max_pages):
            mentions = parse_posts(page, kind=kind, page_id=cfg.page_id, skipped=self.context.skipped)
            fresh, _ = since_split(mentions, since)
            for mention in fresh:
                yield mention
            if not fresh:
                return

    async def _ratings(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        params = {"fields": RATING_FIELDS, "limit": PAGE_SIZE}
        async for page in graph.pages(f"{cfg.page_id}/ratings", params, max_pages=cfg.max_pages):
            fresh, _ = since_split(parse_ratings(page, self.context.skipped), since)
            for mention in fresh:
                yield mention
            if not fresh:
                return

    # --- replies: the Page's comments -------------------------------------------------------------------------

    def reply_problem(self) -> str | None:
        # `token` is required: a Page token is all replying takes (its permissions are named if Graph refuses).
        return None

    def mention_problem(self, mention: Mention) -> str | None:
        return UNANSWERABLE.get(mention.kind)

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`POST /{object-id}/comments` with `message` (reference/object/comments, "Publishing"), asking for the new
        comment's permalink back (`fields`, read-after-write); a reply to a reply goes under the comment it
        answers. Nothing is looked up: the object is in the mention's id and permalink."""
        check_length(len(text), COMMENT_LIMIT, unit="characters", platform="Facebook (comments)")
        target = reply_object(mention)
        return ReplyRequest(
            method="POST",
            url=self._graph().write_url(f"{target}/comments", {"fields": CREATED_FIELDS}),
            form={"message": text},
            anchor={"object": target, "url": mention.url},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        answer = await self._graph().result(send_request(self.context.http, request), permission=REPLY_PERMISSION)
        return created_comment(answer, parent_url=request.anchor.get("url", ""), now=self.context.now())

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The Page's own comment with this text under the object, made since the attempt began: its comments
        newest first (`GET /{object-id}/comments?order=reverse_chronological`), the Page's told by `from.id`."""
        target, text = request.anchor.get("object"), (request.form or {}).get("message")
        if not target or text is None:
            return None
        graph = self._graph()
        params = {"fields": FOUND_FIELDS, "order": "reverse_chronological", "limit": PAGE_SIZE}
        # A failure to look (a FetchError) is not "not there": the outbox keeps the reply pending, sends nothing.
        async for page in graph.pages(f"{target}/comments", params, max_pages=self.config.max_pages):
            found, older = own_comment(page, page_id=self.config.page_id, text=text, after=since - CLOCK_SLACK)
            if found is not None:
                url = found.url or comment_permalink(request.anchor.get("url", ""), found.id)
                return PostedReply(found.id, url, found.at)
            if older:
                return None
        return None

"""The business's own Instagram account, through the Graph API: comments, tags, and watched hashtags, and the
account's replies to its comments."""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

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
    format_time,
    json_dict,
    parse_time,
    read_items,
    send_request,
    since_split,
)
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

# The current Graph API version (developers.facebook.com/docs/graph-api/changelog: v27.0, November 4, 2026).
API_VERSION = "v27.0"
_VERSION = re.compile(r"^v\d+\.\d+$")
_ID = re.compile(r"^\d+$")
# Any Graph id an answer may hold (IG User, Media, Comment, Hashtag ids are digits; `_` joins compound ones).
# Hashtag Search: "Emojis in hashtag queries are not supported"; Instagram hashtags are letters, digits and _.
_TAG = re.compile(r"^\w+$")

# Hashtag Search (developers.facebook.com/docs/instagram-platform/instagram-api-with-facebook-login/
# hashtag-search): "You can query a maximum of 30 unique hashtags on behalf of an Instagram Business or Creator
# Account within a rolling, 7 day period. Once you query a hashtag, it will count against this limit for 7 days.
# Subsequent queries on the same hashtag within this time frame will not count against your limit, and will not
# reset its initial query 7 day timer."
HASHTAG_BUDGET = 30
HASHTAG_WINDOW = timedelta(days=7)
# Said in the health line once this few are left, before the budget is spent.
HASHTAGS_LOW = 5

# IG Comment fields (reference/ig-comment): the recordings hold `id, text, timestamp` (and `like_count`,
# `username` in comments_comment_fields.json); `from` ("id and username of the Instagram user who created the
# comment") is how the account's own answers are told apart.
COMMENT_FIELDS = "id,text,timestamp,username,like_count,from"
# IG Media fields (reference/instagram-media), as users_tagged_medias.json holds them; `username` is documented
# there ("Username of user who created the media") and sent for tagged media, not for hashtag media (recent_media:
# "Does not return the username field on returned media objects").
MEDIA_FIELDS = "id,caption,comments_count,like_count,media_type,permalink,timestamp,username"
HASHTAG_MEDIA_FIELDS = "id,caption,comments_count,like_count,media_type,permalink,timestamp"
OWN_MEDIA_FIELDS = "id,permalink,timestamp,comments_count"
PAGE_SIZE = 50  # recent_media: "a limit of 50 results per page"
# --- replies ---
# IG Comment Replies (reference/ig-comment/replies): `POST /{ig-comment-id}/replies?message=`, answered `{"id"}`,
# with instagram_basic, instagram_manage_comments, pages_show_list and pages_read_engagement. A refusal that names
# no permission names this one.
REPLY_PERMISSION = "instagram_manage_comments"
# Meta's Graph API reference states no limit for a comment's `message` (it gives 2,200 characters for captions:
# content publishing). 2,200 is Instagram's comment limit as tools built on this API enforce it (exileum/meta-mcp
# #251: an overlong comment "only failed at the Meta API with a generic `(#100) The message is too long`";
# GoHighLevel's Social Planner API: "Instagram 2200"). The rules of the retired Instagram API (api.instagram.com/v1,
# "POST /media/{media-id}/comments": 300 characters, at most 4 hashtags and 1 URL, not all capitals) are not
# documented for the Graph API and not checked here: Instagram refuses what it will not take, and nothing is posted.
COMMENT_LIMIT = 2200
# What finding the account's reply after a crash reads of each reply (reference/ig-comment: `username` is who
# wrote it; comments_comment_fields.json holds it).
FOUND_FIELDS = "id,text,timestamp,username"
# A reply found on Instagram is this attempt's if it was made at most this long before the attempt began (the two
# clocks differ); an older one with the same text is an earlier answer.
CLOCK_SLACK = timedelta(minutes=5)
# The kinds of mention no reply reaches through the API, and why.
UNANSWERABLE = {
    "tagged": (
        "Instagram's API takes no comment on media the account is tagged in (reference/ig-user/mentions: "
        "\"Commenting on photos in which you were tagged is not supported\")"
    ),
    "post": (
        "a hashtag's media belongs to another account, and the API comments only on the account's own media "
        "(Comment Moderation guide: comments \"on Instagram Media owned by your app users\")"
    ),
}
# An address `comment_url` built: the media's permalink, the comment, and for a reply the reply itself.
_COMMENT_ADDRESS = re.compile(r"^(?P<media>.+?)/c/(?P<comment>\d+)/(?:r/(?P<reply>\d+)/)?$")

EDGE_PERMISSION = {
    "comments": "instagram_manage_comments",
    "tags": "instagram_manage_comments",
    "hashtags": "instagram_basic",
}


class InstagramAccountConfig(OwnedSourceConfig):
    base_url: str = "https://graph.facebook.com"
    api_version: str = Field(API_VERSION, description="the Graph API version to call (vXX.0)")
    ig_user_id: str = Field(description="the account's IG User id (/{page-id}?fields=instagram_business_account)")
    token: SecretStr = Field(description="an access token of someone with a task on the account's Facebook Page")
    hashtags: list[str] = Field(
        default_factory=list, description="hashtags whose recent public media are read (30 unique ones a week at most)"
    )
    max_media: int = Field(10, ge=1, le=100, description="the account's latest media whose comments are read")
    max_pages: int = Field(3, ge=1, le=50, description="pages to read per edge, per media's comments and per hashtag")

    @field_validator("api_version")
    @classmethod
    def _a_version(cls, value: str) -> str:
        if not _VERSION.match(value.strip()):
            raise ValueError(f"{value!r} is not a Graph API version (write it as {API_VERSION})")
        return value.strip()

    @field_validator("ig_user_id")
    @classmethod
    def _an_id(cls, value: str) -> str:
        if not _ID.match(value.strip()):
            raise ValueError(f"{value!r} is not an Instagram account id (digits: the IG User id, not the @name)")
        return value.strip()

    @field_validator("token")
    @classmethod
    def _token_not_empty(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("the access token is empty")
        return token

    @field_validator("hashtags")
    @classmethod
    def _hashtag_names(cls, value: list[str]) -> list[str]:
        names: list[str] = []
        for raw in value:
            name = raw.strip().removeprefix("#").casefold()
            if not _TAG.match(name):
                raise ValueError(f"{raw!r} is not a hashtag (letters, digits and _ only)")
            if name not in names:
                names.append(name)
        if len(names) > HASHTAG_BUDGET:
            raise ValueError(
                f"{len(names)} hashtags: Instagram lets an account query {HASHTAG_BUDGET} unique hashtags a week"
            )
        return names


# --- the pure parsers --------------------------------------------------------------------------------------------


# Checked before an id goes into a request path or a web address (GraphApi.checked_id).
is_graph_id = GraphApi.is_id
graph_id = GraphApi.checked_id


def comment_url(media_permalink: str, comment_id: str, parent_id: str | None = None) -> str:
    """The web address of a comment (or a reply) under a media: the API gives comments no permalink, and the
    media's own would fold every comment under it into one (mentions with one URL are one post). Instagram's web
    app addresses a comment as `/p/{shortcode}/c/{comment-id}/`, a reply as `.../c/{parent-id}/r/{reply-id}/`
    (not in the Graph API reference: the form Instagram's own comment links take, which comment-lookup APIs
    document and instaloader-based tools build)."""
    base = media_permalink.rstrip("/")
    if parent_id:
        return f"{base}/c/{parent_id}/r/{comment_id}/"
    return f"{base}/c/{comment_id}/"


def comment_address(url: str) -> tuple[str, str]:
    """The media's permalink and the top-level comment a reply to the comment at `url` (an address `comment_url`
    built) goes under: the comment itself, or for a reply, the comment it answers. IG Comment Replies: "You can
    only reply to top-level comments; replies to a reply will be added to the top-level comment"."""
    found = _COMMENT_ADDRESS.match(url)
    if found is None:
        raise BadPayload(f"{url}: not the address of a comment on the account's media")
    return found.group("media") + "/", found.group("comment")


def comment_to_mention(item: dict[str, Any], *, media_permalink: str, parent_id: str | None = None) -> Mention:
    """One comment on the account's media (or, with `parent_id`, one reply to a comment) as a Mention."""
    ident = graph_id(item["id"])
    author = item.get("username") or json_dict(item.get("from")).get("username") or ""
    return Mention(
        source="",
        id=ident,
        url=comment_url(media_permalink, ident, parent_id),
        text=str(item.get("text") or "").strip(),
        author=str(author),
        published_at=parse_time(str(item["timestamp"])),
        kind="reply" if parent_id else "comment",
        likes=_int(item.get("like_count")),
    )


def media_to_mention(item: dict[str, Any], *, kind: str, now: datetime) -> Mention:
    """One IG Media (where the account is tagged, or with a watched hashtag) as a Mention. A media without a
    `timestamp` gets `now` and `undated=True` (the adapter then uses when it was first seen)."""
    if not item.get("permalink"):
        raise BadPayload("media without a permalink (was `permalink` in the fields asked for?)")
    stamp = item.get("timestamp")
    return Mention(
        source="",
        id=graph_id(item["id"]),
        url=str(item["permalink"]),
        text=str(item.get("caption") or "").strip(),
        author=str(item.get("username") or ""),
        published_at=parse_time(str(stamp)) if stamp else now,
        undated=not stamp,
        kind=kind,
        likes=_int(item.get("like_count")),
        comments=_int(item.get("comments_count")),
    )


def _is_from(item: Any, user_id: str) -> bool:
    return isinstance(item, dict) and str(json_dict(item.get("from")).get("id") or "") == user_id


def parse_comments(
    data: list[Any],
    *,
    media_permalink: str,
    own_id: str,
    parent_id: str | None = None,
    skipped: list[str] | None = None,
) -> list[Mention]:
    """The comments (or replies) of one page, without the account's own (its answers are not mentions)."""
    return read_items(
        [c for c in data if not _is_from(c, own_id)],
        lambda c: comment_to_mention(c, media_permalink=media_permalink, parent_id=parent_id),
        skipped,
    )


def parse_media(data: list[Any], *, kind: str, now: datetime, skipped: list[str] | None = None) -> list[Mention]:
    """The media of one page of `/tags` (kind `tagged`) or `/recent_media` (kind `post`)."""
    return read_items(data, lambda m: media_to_mention(m, kind=kind, now=now), skipped)


def commented_media(item: Any) -> tuple[str, str] | None:
    """The id and permalink of one of the account's media (`/{ig-user-id}/media`) whose comments are to be read;
    None when there is nothing to read under it, or no address to give its comments (a media holding copyrighted
    material has no `permalink`: reference/instagram-media)."""
    info = json_dict(item)
    permalink = info.get("permalink")
    if _int(info.get("comments_count")) == 0 or not permalink:
        return None
    if not isinstance(permalink, str):
        raise BadPayload(f"a media permalink that is not a string: {str(permalink)[:60]!r}")
    return graph_id(info.get("id")), permalink


def hashtag_id(payload: dict[str, Any]) -> str | None:
    """The id `/ig_hashtag_search` found (`{"data": [{"id": ...}]}`), or None when it knows no such hashtag."""
    data = payload.get("data")
    if not isinstance(data, list):
        raise BadPayload("the ig_hashtag_search answer has no `data` list")
    for item in data:
        found = json_dict(item).get("id")
        if found:
            if not is_graph_id(found):  # it would be the path of the next request, and kept for a week
                raise BadPayload(f"the ig_hashtag_search answer's id {str(found)[:60]!r} is not a Graph id")
            return str(found)
    return None


@dataclass
class HashtagBudget:
    """Which hashtags the account has queried in the last 7 days (each holds one of its 30 weekly slots from its
    first query for 7 days), and the id of every hashtag ever searched: "IDs are static and global"
    (reference/ig-hashtag), so `/ig_hashtag_search` is asked once per tag."""

    ids: dict[str, str] = field(default_factory=dict)
    # Tag -> when its current 7-day window began.
    windows: dict[str, datetime] = field(default_factory=dict)

    def in_use(self, now: datetime) -> dict[str, datetime]:
        return {tag: start for tag, start in self.windows.items() if start + HASHTAG_WINDOW > now}

    def can_query(self, tag: str, now: datetime) -> bool:
        used = self.in_use(now)
        return tag in used or len(used) < HASHTAG_BUDGET

    def record(self, tag: str, now: datetime) -> None:
        """Count a query of `tag`: it opens a window unless one is open (a later query does not reset it)."""
        if tag not in self.in_use(now):
            self.windows[tag] = now

    def next_free(self, now: datetime) -> datetime | None:
        used = self.in_use(now)
        return min(used.values()) + HASHTAG_WINDOW if used else None

    def to_json(self) -> str:
        windows = {tag: format_time(start) for tag, start in sorted(self.windows.items())}
        return json.dumps({"ids": dict(sorted(self.ids.items())), "windows": windows}, indent=2) + "\n"

    @classmethod
    def from_json(cls, text: str) -> HashtagBudget:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("not an object")
        # An id that is not one (a damaged file) is dropped: the hashtag is searched again.
        ids = {str(k): v for k, v in json_dict(data.get("ids")).items() if is_graph_id(v)}
        windows = {str(k): parse_time(str(v)) for k, v in json_dict(data.get("windows")).items()}
        return cls(ids, windows)


def edge_warning(edge: str, exc: EdgeUnavailable) -> str:
    """The health line's note for an edge that could not be read."""
    permission = exc.permission if exc.permission != "unknown" else EDGE_PERMISSION.get(edge, "unknown")
    if permission:
        return f"{edge} not read: the token lacks the {permission} permission"
    return f"{edge} not read: {exc.reason}"


def own_reply(data: list[Any], *, username: str, text: str, after: datetime) -> dict[str, Any] | None:
    """The account's reply with this text made since `after`, on one page of `/{ig-comment-id}/replies`."""
    for item in data:
        info = json_dict(item)
        try:
            made = parse_time(str(info["timestamp"]))
        except (KeyError, ValueError):
            continue
        ours = str(info.get("username") or "").casefold() == username.casefold()
        same = str(info.get("text") or "").strip() == text.strip()
        if ours and made >= after and same and is_graph_id(info.get("id")):
            return info
    return None


Edge = Callable[[GraphApi, datetime], AsyncIterator[Mention]]


class InstagramAccountSource(Source[InstagramAccountConfig], Replier):
    """An Instagram professional account's conversation, read with the Graph API (Instagram API with Facebook
    Login): comments and replies on its latest media, media in which it is tagged, and recent public media of
    the configured hashtags.

    Everything read here is a mention of the account's brand (`brand:`), whether or not it names it. @-mentions
    in other people's captions and comments are not polled: the API delivers them only through webhooks
    (reference/ig-user/mentioned_media takes the media id a webhook sent). Hashtags cost one of the account's 30
    unique hashtags a week each; the budget is kept in the cache folder between runs, and the health line says
    when it runs low, before a hashtag is refused. Comments and replies are answered as the account (`reply`);
    tagged and hashtag media are not answerable through the API.
    """

    type = "instagram_account"
    credentials = "yes"
    searchable: ClassVar[bool] = False
    # Instagram requests count against the account's Business Use Case budget (rate-limiting): no fixed rate to
    # pace to; the usage headers pace it.
    requests_per_minute: ClassVar[float | None] = None

    def _graph(self) -> GraphApi:
        cfg = self.config
        return GraphApi(
            self.context, base_url=cfg.base_url, api_version=cfg.api_version, token=cfg.token.get_secret_value()
        )

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        graph = self._graph()
        edges: list[tuple[str, Edge]] = [("comments", self._comments), ("tags", self._tags)]
        if cfg.hashtags:
            edges.append(("hashtags", self._hashtags))
        unavailable: list[EdgeUnavailable] = []
        for name, edge in edges:
            try:
                async for mention in edge(graph, since):
                    yield mention
            except EdgeUnavailable as exc:
                unavailable.append(exc)
                self.context.warnings.append(edge_warning(name, exc))
                self.context.incomplete = True
        if len(unavailable) == len(edges):
            raise unavailable[0]

    async def _comments(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        media = await graph.get(f"{cfg.ig_user_id}/media", {"fields": OWN_MEDIA_FIELDS, "limit": cfg.max_media})
        data = media.get("data")
        if not isinstance(data, list):
            raise BadPayload(f"{graph.url(cfg.ig_user_id)}/media: the answer has no `data` list")
        # A media whose id or permalink cannot be read is skipped and counted: its id would be the path of the next
        # request, its permalink the address of every comment under it.
        for found in read_items(data[: cfg.max_media], commented_media, self.context.skipped):
            if found is not None:
                async for mention in self._media_comments(graph, *found, since):
                    yield mention

    async def _media_comments(
        self, graph: GraphApi, media_id: str, permalink: str, since: datetime
    ) -> AsyncIterator[Mention]:
        cfg = self.config
        params = {"fields": COMMENT_FIELDS, "limit": PAGE_SIZE}
        # Comments come newest first (medias_comments_p1.json, then p2): the walk stops at `since`.
        async for page in graph.pages(f"{media_id}/comments", params, max_pages=cfg.max_pages):
            comments = parse_comments(
                page, media_permalink=permalink, own_id=cfg.ig_user_id, skipped=self.context.skipped
            )
            fresh, older = since_split(comments, since)
            for comment in fresh:
                yield comment
                async for reply in self._replies(graph, comment.id, permalink, since):
                    yield reply
            if older:
                return

    async def _replies(self, graph: GraphApi, parent: str, permalink: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        params = {"fields": COMMENT_FIELDS, "limit": PAGE_SIZE}
        async for page in graph.pages(f"{parent}/replies", params, max_pages=cfg.max_pages):
            replies = parse_comments(
                page, media_permalink=permalink, own_id=cfg.ig_user_id, parent_id=parent, skipped=self.context.skipped
            )
            for reply in since_split(replies, since)[0]:
                yield reply

    async def _tags(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        params = {"fields": MEDIA_FIELDS, "limit": PAGE_SIZE}
        async for page in graph.pages(f"{cfg.ig_user_id}/tags", params, max_pages=cfg.max_pages):
            media = parse_media(page, kind="tagged", now=self.context.now(), skipped=self.context.skipped)
            # Not strictly newest first (users_tagged_medias.json ends 2018-10-08, 2018-10-09): the walk stops at a
            # page with nothing new, not at the first older item.
            fresh, _ = since_split(media, since)
            for mention in fresh:
                yield mention
            if not fresh:
                return

    async def _hashtags(self, graph: GraphApi, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        now = self.context.now()
        budget = self._read_budget()
        try:
            for tag in cfg.hashtags:
                if not budget.can_query(tag, now):
                    self.context.incomplete = True
                    self.context.warnings.append(
                        f"#{tag} not read: all {HASHTAG_BUDGET} of Instagram's unique hashtags for 7 days are in use "
                        f"(the next is free from {_when(budget.next_free(now))})"
                    )
                    continue
                found = budget.ids.get(tag)
                budget.record(tag, now)
                if found is None:
                    answer = await graph.get("ig_hashtag_search", {"user_id": cfg.ig_user_id, "q": tag})
                    try:
                        found = hashtag_id(answer)
                    except BadPayload as exc:  # this hashtag's answer only: the other hashtags are read
                        self.context.warnings.append(f"#{tag} not read: {exc}")
                        self.context.incomplete = True
                        continue
                    if found is None:
                        self.context.warnings.append(f"#{tag} not read: Instagram knows no such hashtag")
                        continue
                    budget.ids[tag] = found
                async for mention in self._recent_media(graph, found, since):
                    yield mention
        finally:
            self._write_budget(budget)
        used = len(budget.in_use(now))
        if used > HASHTAG_BUDGET - HASHTAGS_LOW:
            self.context.warnings.append(
                f"Instagram hashtag budget: {used} of {HASHTAG_BUDGET} unique hashtags used in the last 7 days "
                f"(the next is free from {_when(budget.next_free(now))})"
            )

    async def _recent_media(self, graph: GraphApi, tag_id: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        params = {"user_id": cfg.ig_user_id, "fields": HASHTAG_MEDIA_FIELDS, "limit": PAGE_SIZE}
        async for page in graph.pages(f"{tag_id}/recent_media", params, max_pages=cfg.max_pages):
            for mention in parse_media(page, kind="post", now=self.context.now(), skipped=self.context.skipped):
                if mention.undated and self.context.first_seen is not None:
                    mention.published_at = self.context.first_seen(self.name, mention.id, mention.published_at)
                if mention.published_at >= since:
                    yield mention

    # --- replies: the account's answers to comments ------------------------------------------------------------

    def reply_problem(self) -> str | None:
        # `token` is required: it is all replying takes (its permissions are named if Graph refuses).
        return None

    def mention_problem(self, mention: Mention) -> str | None:
        return UNANSWERABLE.get(mention.kind)

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`POST /{ig-comment-id}/replies` with `message` (reference/ig-comment/replies), under the top-level
        comment (a reply to a reply goes there, as Instagram would put it anyway). Nothing is looked up: the
        comment is in the mention's address."""
        check_length(len(text), COMMENT_LIMIT, unit="characters", platform="Instagram (comments)")
        media, comment = comment_address(mention.url)
        return ReplyRequest(
            method="POST",
            url=self._graph().write_url(f"{comment}/replies"),
            form={"message": text},
            anchor={"comment": comment, "media": media},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        """The reply's id is all Instagram answers (`{"id": ...}`): its address is built as the source builds
        every comment's (`comment_url`), and its time is the clock's."""
        answer = await self._graph().result(send_request(self.context.http, request), permission=REPLY_PERMISSION)
        if not answer.get("id"):
            raise BadPayload("Instagram answered the reply with no comment id")
        ident = graph_id(answer["id"])
        url = comment_url(request.anchor.get("media", ""), ident, request.anchor.get("comment"))
        return PostedReply(ident, url, self.context.now())

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The account's own reply with this text under the comment, made since the attempt began
        (`GET /{ig-comment-id}/replies`), the account being told by its `username` (`GET /{ig-user-id}
        ?fields=username`, reference/ig-user)."""
        comment, text = request.anchor.get("comment"), (request.form or {}).get("message")
        if not comment or text is None:
            return None
        graph = self._graph()
        me = str((await graph.get(self.config.ig_user_id, {"fields": "username"})).get("username") or "")
        if not me:
            raise BadPayload("the account's username was not in Instagram's answer: cannot tell its replies")
        params = {"fields": FOUND_FIELDS, "limit": PAGE_SIZE}
        # A failure to look (a FetchError) is not "not there": the outbox keeps the reply pending, sends nothing.
        async for page in graph.pages(f"{comment}/replies", params, max_pages=self.config.max_pages):
            found = own_reply(page, username=me, text=text, after=since - CLOCK_SLACK)
            if found is not None:
                url = comment_url(request.anchor.get("media", ""), str(found["id"]), comment)
                return PostedReply(str(found["id"]), url, parse_time(str(found["timestamp"])))
        return None

    # --- the hashtag budget, kept between runs ---------------------------------------------------------------

    def _budget_path(self) -> Path | None:
        if self.context.cache_dir is None:
            return None
        # The budget is the account's, whichever config or server asks: one file per account.
        key = hashlib.sha256(self.config.ig_user_id.encode()).hexdigest()[:16]
        return self.context.cache_dir / f"instagram-hashtags-{key}.json"

    def _read_budget(self) -> HashtagBudget:
        path = self._budget_path()
        if path is None or not path.exists():
            return HashtagBudget()
        try:
            return HashtagBudget.from_json(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            log.warning("%s: ignoring an unreadable hashtag budget %s (%s)", self.name, path, exc)
            return HashtagBudget()

    def _write_budget(self, budget: HashtagBudget) -> None:
        path = self._budget_path()
        if path is None:
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(path.name + ".tmp")
            tmp.write_text(budget.to_json(), encoding="utf-8")
            os.replace(tmp, path)
        except OSError as exc:
            log.warning("%s: could not keep the hashtag budget in %s (%s)", self.name, path, exc)


def _when(moment: datetime | None) -> str:
    return format_time(moment) if moment is not None else "now"

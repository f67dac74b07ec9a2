"""Reddit posts, through Reddit's search API: OAuth when credentials are set, the public JSON otherwise; replies
are comments (`POST /api/comment`) with a script app's user login."""

from __future__ import annotations

import asyncio
import base64
import html
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from mentionwatch.plugin import (
    BadPayload,
    Mention,
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyRequest,
    Source,
    SourceConfig,
    SourceContext,
    Unauthorized,
    check_length,
    from_epoch,
    html_to_text,
    read_items,
    send_request,
    since_split,
)
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

# Permalinks are site-relative; the post's own page is always on www.reddit.com, whatever API root was used.
WEB_ROOT = "https://www.reddit.com"
# What Reddit puts in place of the body or the author of a deleted or moderator-removed thing.
_GONE = frozenset({"[deleted]", "[removed]"})
# Subreddit names: 2-21 letters, digits and underscores (3+ for new ones; a few old ones are 2 long).
_SUBREDDIT = re.compile(r"^[A-Za-z0-9_]{2,21}$")
# Refresh an OAuth token this long before Reddit says it expires.
_TOKEN_MARGIN = timedelta(seconds=60)
# A comment's body may be 10,000 characters (Reddit answers longer ones with the TOO_LONG error).
COMMENT_LIMIT = 10_000


class RedditConfig(SourceConfig):
    # The public site: `/search.json` for anonymous reads, `/api/v1/access_token` for OAuth tokens.
    base_url: str = "https://www.reddit.com"
    oauth_base_url: str = Field(
        "https://oauth.reddit.com", description="the OAuth API root, used once client_id and client_secret are set"
    )
    client_id: SecretStr | None = Field(
        None, description="a Reddit app's client id (reddit.com/prefs/apps, type 'script'): enables OAuth"
    )
    client_secret: SecretStr | None = Field(None, description="that app's secret")
    subreddits: list[str] = Field(
        default_factory=list, description="search only these subreddits (names, without r/); empty: all of Reddit"
    )
    username: str | None = Field(
        None,
        description="your Reddit username: replies are posted as you (script app)",
        json_schema_extra={"reply": True},
    )
    password: SecretStr | None = Field(None, description="your Reddit password (a script app's password grant)")
    max_pages: int = Field(5, ge=1, le=50, description="pages of 100 results to read per term at most")

    @field_validator("subreddits")
    @classmethod
    def _subreddit_names(cls, value: list[str]) -> list[str]:
        names = []
        for raw in value:
            name = raw.strip().removeprefix("/").removeprefix("r/")
            if not _SUBREDDIT.match(name):
                raise ValueError(f"{raw!r} is not a subreddit name (letters, digits and _, without r/)")
            names.append(name)
        return names

    @model_validator(mode="after")
    def _both_or_neither(self) -> RedditConfig:
        if _secret(self.client_id) and not _secret(self.client_secret):
            raise ValueError("client_id is set but client_secret is not: OAuth needs both")
        if _secret(self.client_secret) and not _secret(self.client_id):
            raise ValueError("client_secret is set but client_id is not: OAuth needs both")
        if bool(self.username) != bool(_secret(self.password)):
            raise ValueError("replying needs both `username` and `password` (or neither)")
        return self

    @property
    def uses_oauth(self) -> bool:
        return bool(_secret(self.client_id) and _secret(self.client_secret))


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _web_url(path_or_url: str) -> str:
    """An absolute reddit.com URL for a permalink; the query (`?ref=search_posts` in older answers) is dropped
    so the same post always gets the same URL."""
    parts = urlsplit(path_or_url)
    path = parts.path if parts.path.startswith("/") else "/" + parts.path
    return WEB_ROOT + path


def _markup_to_text(rendered: Any, markdown: Any) -> str:
    """Clean text of a body: from Reddit's rendered HTML when present, else the raw Markdown."""
    if isinstance(rendered, str) and rendered:
        # Without `raw_json=1` Reddit entity-escapes the HTML once more (`&lt;div class="md"&gt;`): undo that
        # first, or the tags would survive as text. With `raw_json=1` (what we send) it is plain HTML.
        if "<" not in rendered and "&lt;" in rendered:
            rendered = html.unescape(rendered)
        text = html_to_text(rendered)
    else:
        text = str(markdown or "").strip()
    return "" if text in _GONE else text


def _comment_permalink(data: dict[str, Any]) -> str:
    """Older comments (a 2016 recording) carry no `permalink`: rebuild it from the post and comment ids (Reddit
    accepts any title slug between them)."""
    post = str(data["link_id"]).removeprefix("t3_")
    return f"/r/{data['subreddit']}/comments/{post}/_/{data['id']}/"


def to_mention(kind: str, data: dict[str, Any]) -> Mention:
    """One Listing child (`t3` post or `t1` comment) as a Mention. Raises KeyError/TypeError on a broken one."""
    author = str(data.get("author") or "")
    published = from_epoch(float(data["created_utc"]))
    if kind == "t1":
        url = _web_url(str(data.get("permalink") or _comment_permalink(data)))
        # A comment's `link_url` is the page its post points at (the post itself for a self post).
        link_url = data.get("link_url")
        return Mention(
            source="",
            id=str(data["name"]),
            url=url,
            link=str(link_url) if link_url and link_url != data.get("link_permalink") else None,
            text=_markup_to_text(data.get("body_html"), data.get("body")),
            author="" if author in _GONE else author,
            published_at=published,
            kind="comment",
            # A comment's `num_comments` is its post's count, not replies to the comment: not mapped.
            score=_int(data.get("score")),
        )
    url = _web_url(str(data["permalink"]))
    # Reddit's `url` is the linked page, not the post: the post is `permalink`. A self post's `url` is its own
    # permalink, so it links nowhere else; a crosspost's is the original post's site-relative permalink.
    link: str | None = None
    target = data.get("url_overridden_by_dest") or data.get("url")
    if not data.get("is_self") and isinstance(target, str) and target:
        link = _web_url(target) if target.startswith("/") else target
    return Mention(
        source="",
        id=str(data["name"]),
        url=url,
        link=link,
        title=str(data.get("title") or ""),
        text=_markup_to_text(data.get("selftext_html"), data.get("selftext")),
        author="" if author in _GONE else author,
        published_at=published,
        kind="post",
        score=_int(data.get("score")),
        comments=_int(data.get("num_comments")),
        # No `followers`: listings give no author follower count, and `subreddit_subscribers` is the venue's
        # audience, not the author's (a 1-point post in r/AskReddit would weigh like an author with 24.6M
        # followers, and a loud negative one would need a reply). No Mention field holds a venue's size.
    )


def _child_to_mention(child: dict[str, Any]) -> Mention:
    if not isinstance(child["data"], dict):
        raise TypeError(f"a {child['kind']} child whose `data` is not an object")
    return to_mention(child["kind"], child["data"])


def _is_mention_kind(child: Any) -> bool:
    # Posts (t3) and comments (t1) are mentions; a subreddit (t5) or a "more" stub is not. A child that is not
    # even an object is kept here, to be counted as unreadable.
    return not isinstance(child, dict) or child.get("kind") in ("t1", "t3")


def parse_listing(payload: Any, skipped: list[str] | None = None) -> tuple[list[Mention], str | None]:
    """The posts and comments on one Listing page, and the `after` cursor to the next page (None: the end). A
    post or comment that cannot be read is skipped (and why, appended to `skipped`)."""
    if payload == {}:
        # Reddit's search sometimes answers a bare `{}` when nothing matches (reddit-api-doc-notes, search).
        return [], None
    if not isinstance(payload, dict):
        raise BadPayload("Reddit answer is not a Listing object")
    if "error" in payload and "data" not in payload:
        raise BadPayload(f"Reddit answered an error: {payload.get('message') or payload['error']}")
    data = payload.get("data")
    if payload.get("kind") != "Listing" or not isinstance(data, dict) or not isinstance(data.get("children"), list):
        raise BadPayload("Reddit answer is not a Listing with `data.children`")
    mentions = read_items(filter(_is_mention_kind, data["children"]), _child_to_mention, skipped)
    after = data.get("after")
    return mentions, after if isinstance(after, str) and after else None


def parse_comment_answer(payload: Any) -> dict[str, Any]:
    """The new comment in `POST /api/comment`'s answer with `api_type=json`: `{"json": {"errors": [...],
    "data": {"things": [{"kind": "t1", "data": {...}}]}}}`. Reddit says no with HTTP 200 and `json.errors`
    (`[["RATELIMIT", "you are doing that too much...", "ratelimit"]]`, THREAD_LOCKED, TOO_LONG, DELETED_COMMENT)."""
    answer = payload.get("json") if isinstance(payload, dict) else None
    if not isinstance(answer, dict):
        raise BadPayload("Reddit answered the comment with no `json` object")
    errors = answer.get("errors")
    if isinstance(errors, list) and errors:
        raise ReplyRefused("Reddit: " + "; ".join(" ".join(str(part) for part in e[:2]) for e in errors))
    things = (answer.get("data") or {}).get("things") if isinstance(answer.get("data"), dict) else None
    if not isinstance(things, list) or not things or not isinstance(things[0], dict):
        raise BadPayload("Reddit answered the comment with no comment in `json.data.things`")
    data = things[0].get("data")
    if not isinstance(data, dict):
        raise BadPayload("Reddit's new comment has no `data`")
    return data


def _posted(comment: dict[str, Any]) -> PostedReply:
    permalink = comment.get("permalink")
    url = _web_url(str(permalink)) if permalink else _web_url(_comment_permalink(comment))
    return PostedReply(str(comment["name"]), url, from_epoch(float(comment["created_utc"])))


class RedditSource(Source[RedditConfig], Replier):
    """Reddit posts matching a term, newest first (search API; OAuth app credentials optional).

    Without `client_id`/`client_secret` it reads the public `www.reddit.com/search.json`, which Reddit limits
    hard and blocks from many networks; with them it gets an app-only OAuth token (client credentials grant)
    and searches `oauth.reddit.com`. `subreddits` restricts the search to those communities.
    """

    type = "reddit"
    credentials = "optional"
    # Reddit Data API Wiki (support.reddithelp.com, in force since 2023-07-01): 100 queries per minute per OAuth
    # client id, 10 per minute without OAuth. The class states the anonymous one; `rate_per_minute` the OAuth one.
    requests_per_minute: ClassVar[float | None] = 10

    def rate_per_minute(self) -> float | None:
        return 100 if self.config.uses_oauth else self.requests_per_minute

    def __init__(self, config: RedditConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self._token: str | None = None
        self._token_expires: datetime | None = None
        # Terms are fetched concurrently: one token request serves them all.
        self._token_lock = asyncio.Lock()
        self._user_token: str | None = None

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        # `/r/a+b/search` with `restrict_sr=1` searches several subreddits at once (a multireddit path).
        scope = f"/r/{'+'.join(cfg.subreddits)}" if cfg.subreddits else ""
        if cfg.uses_oauth:
            url = f"{cfg.oauth_base_url.rstrip('/')}{scope}/search"
        else:
            url = f"{cfg.base_url.rstrip('/')}{scope}/search.json"
        params: dict[str, Any] = {
            "q": term or "",
            # Newest first: Reddit search has no date filter, so paging stops at the first post older than `since`.
            "sort": "new",
            "type": "link",
            # Unescaped `&`, `<`, `>` in titles and bodies (Reddit escapes them for legacy clients otherwise).
            "raw_json": 1,
            "limit": 100,
        }
        if cfg.subreddits:
            params["restrict_sr"] = 1
        for _ in range(cfg.max_pages):
            payload = await self._get(url, params)
            mentions, after = parse_listing(payload, self.context.skipped)
            fresh, reached_since = since_split(mentions, since)
            for mention in fresh:
                yield mention
            # The end is Reddit saying so (`after: null`), never a short page.
            if reached_since or after is None or not mentions:
                return
            params["after"] = after

    async def _get(self, url: str, params: dict[str, Any]) -> Any:
        if not self.config.uses_oauth:
            try:
                return await self.context.http.get_json(url, params=params)
            except Unauthorized as exc:
                # Anonymous reads carry no credentials to reject: a 403 or an HTML wall here is Reddit blocking
                # this client or network, which must never read as "no mentions".
                raise Unauthorized(
                    f"Reddit blocked the anonymous request ({exc}); set client_id and client_secret to use OAuth"
                ) from None
        token = await self._access_token()
        try:
            return await self.context.http.get_json(url, params=params, headers={"Authorization": f"bearer {token}"})
        except Unauthorized:
            # A token can be revoked before its `expires_in`: get a new one once, then let a second refusal stand.
            self._forget(token)
            token = await self._access_token()
            return await self.context.http.get_json(url, params=params, headers={"Authorization": f"bearer {token}"})

    def _forget(self, token: str) -> None:
        if self._token == token:
            self._token = None
            self._token_expires = None

    async def _access_token(self) -> str:
        """An app-only OAuth token (Reddit OAuth2 wiki, "Application Only OAuth": client credentials grant)."""
        cfg = self.config
        async with self._token_lock:
            now = self.context.now()
            if self._token and self._token_expires and now < self._token_expires:
                return self._token
            basic = base64.b64encode(f"{_secret(cfg.client_id)}:{_secret(cfg.client_secret)}".encode()).decode()
            resp = await self.context.http.post(
                f"{cfg.base_url.rstrip('/')}/api/v1/access_token",
                data={"grant_type": "client_credentials"},
                headers={"Authorization": f"Basic {basic}"},
            )
            body = resp.json()
            token = body.get("access_token") if isinstance(body, dict) else None
            if not isinstance(token, str) or not token:
                # Reddit may answer 200 with `{"error": "invalid_grant"}` instead of a status code.
                reason = body.get("error") if isinstance(body, dict) else None
                raise Unauthorized(f"Reddit refused an OAuth token ({reason or 'no access_token in the answer'})")
            lifetime = _int(body.get("expires_in"))
            # A lifetime no token has (none, negative, beyond a year, `1e400`) is taken as Reddit's usual hour.
            seconds = float(lifetime) if lifetime is not None and 0 < lifetime <= 366 * 86400 else 3600.0
            self._token = token
            self._token_expires = now + timedelta(seconds=seconds) - _TOKEN_MARGIN
            return token

    # --- replies: a comment on the post or under the comment -----------------------------------------------------

    def reply_problem(self) -> str | None:
        cfg = self.config
        if cfg.uses_oauth and cfg.username and _secret(cfg.password):
            return None
        return (
            "replying needs a script app's `client_id` and `client_secret` (reddit.com/prefs/apps, type "
            "'script') and your `username` and `password`"
        )

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`POST /api/comment` with the parent's fullname (`thing_id`: `t3_` a post, `t1_` a comment) and the
        Markdown `text`, on oauth.reddit.com with a user token (reddit.com/dev/api#POST_api_comment; the token
        needs the `submit` scope, which a script app's password grant has)."""
        check_length(len(text), COMMENT_LIMIT, unit="characters", platform="Reddit")
        token = await self._password_token()
        return ReplyRequest(
            method="POST",
            url=f"{self.config.oauth_base_url.rstrip('/')}/api/comment",
            form={"api_type": "json", "thing_id": mention.id, "text": text},
            headers={"Authorization": f"bearer {token}"},
            anchor={"thing_id": mention.id},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        return _posted(parse_comment_answer((await send_request(self.context.http, request)).json()))

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The user's comment under the parent among their newest comments (`GET /user/{username}/comments`)."""
        parent = request.anchor.get("thing_id")
        if not parent or not self.config.username:
            return None
        token = await self._password_token()
        payload = await self.context.http.get_json(
            f"{self.config.oauth_base_url.rstrip('/')}/user/{self.config.username}/comments",
            params={"sort": "new", "limit": 100, "raw_json": 1},
            headers={"Authorization": f"bearer {token}"},
        )
        data = payload.get("data") if isinstance(payload, dict) else None
        children = data.get("children") if isinstance(data, dict) else None
        for child in children if isinstance(children, list) else []:
            comment = child.get("data") if isinstance(child, dict) else None
            if isinstance(comment, dict) and comment.get("parent_id") == parent:
                posted = _posted(comment)
                if posted.at >= since - timedelta(minutes=5):
                    return posted
        return None

    async def _password_token(self) -> str:
        """A user token through a script app's password grant (github.com/reddit-archive/reddit/wiki/OAuth2,
        "Application Only OAuth" is the scan's; "Script" apps log in as their developer with this grant)."""
        if self._user_token is not None:
            return self._user_token
        cfg = self.config
        basic = base64.b64encode(f"{_secret(cfg.client_id)}:{_secret(cfg.client_secret)}".encode()).decode()
        resp = await self.context.http.post(
            f"{cfg.base_url.rstrip('/')}/api/v1/access_token",
            data={"grant_type": "password", "username": cfg.username or "", "password": _secret(cfg.password)},
            headers={"Authorization": f"Basic {basic}"},
        )
        body = resp.json()
        token = body.get("access_token") if isinstance(body, dict) else None
        if not isinstance(token, str) or not token:
            reason = body.get("error") if isinstance(body, dict) else None
            raise Unauthorized(f"Reddit refused the login of {cfg.username} ({reason or 'no access_token'})")
        self._user_token = token
        return token

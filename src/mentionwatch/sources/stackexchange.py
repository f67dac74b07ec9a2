"""Stack Overflow and the other Stack Exchange sites, through the API's `/search/advanced` (questions, newest first);
replies are comments or answers, posted with a `write_access` token."""

from __future__ import annotations

import asyncio
import html
import logging
import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr

from mentionwatch.plugin import (
    BadPayload,
    FetchError,
    Mention,
    PostedReply,
    RateLimited,
    Replier,
    ReplyOptions,
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
from mentionwatch.plugin import json_dict as _dict
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # the API's maximum
# api.stackexchange.com/docs/error-handling: the error_id values that mean "your credentials" and "slow down".
_UNAUTHORIZED_ERRORS = frozenset({401, 402, 403, 405, 406})
_THROTTLE_ERROR = 502  # throttle_violation
# The sites' own limits: a comment is 15 to 600 characters, an answer's body at most 30,000.
LIMITS = {"comment": 600, "answer": 30_000}


class StackExchangeConfig(SourceConfig):
    base_url: str = "https://api.stackexchange.com"
    site: str = Field("stackoverflow", description="the site's API name: stackoverflow, superuser, serverfault, ...")
    key: SecretStr | None = Field(
        None, description="a stackapps.com app key: raises the shared daily quota from 300 to 10,000 requests"
    )
    # `withbody` is a built-in filter: the default fields plus `body` (api.stackexchange.com/docs/filters).
    filter: str = Field("withbody", description="an API filter; it must include `body`")
    max_pages: int = Field(5, ge=1, le=25, description="pages of 100 per term at most")
    min_quota: int = Field(
        10, ge=0, description="stop paging (keeping what was found) once `quota_remaining` falls to this"
    )
    access_token: SecretStr | None = Field(
        None,
        description="an OAuth access token with write_access (and no_expiry) for your app `key`: enables replies",
    )
    reply_as: Literal["comment", "answer"] = Field(
        "comment",
        description="what a reply to a question is: a comment on it, or an answer",
        json_schema_extra={"reply": True},
    )


def to_mention(item: dict[str, Any]) -> Mention:
    """One question (as `/search/advanced` or `/questions` return it, with a filter including `body`) as a Mention."""
    owner = _dict(item.get("owner"))
    if item["question_id"] is None:
        raise KeyError("question_id")
    return Mention(
        source="",
        id=str(item["question_id"]),
        # `link` is the question's own permalink; a question points at no external page.
        url=str(item["link"]),
        # Titles and display names come HTML-entity-encoded (`&quot;`, `&#39;`): decode, they are plain text.
        title=html.unescape(str(item.get("title") or "")),
        text=html_to_text(item.get("body")),
        author=html.unescape(str(owner.get("display_name") or "")),
        published_at=from_epoch(int(item["creation_date"])),  # epoch seconds, UTC
        kind="question",
        score=_int(item.get("score")),
        comments=_int(item.get("answer_count")),
        views=_int(item.get("view_count")),
        # `owner.reputation` measures the asker's standing, not who sees the question: it is no audience, so
        # `followers` stays empty and reach is the question's `view_count` (the pipeline falls back to views).
    )


def check_wrapper(payload: Any) -> dict[str, Any]:
    """The common response wrapper, or the error it reports raised as the matching health state."""
    if not isinstance(payload, dict):
        raise BadPayload("Stack Exchange answer is not a JSON object")
    error_id = payload.get("error_id")
    if error_id is not None:
        # Errors are reported on the wrapper in error_id / error_name / error_message (docs: error-handling).
        what = f"Stack Exchange error {error_id} {payload.get('error_name', '')}: {payload.get('error_message', '')}"
        if error_id == _THROTTLE_ERROR:
            raise RateLimited(what)
        if error_id in _UNAUTHORIZED_ERRORS:
            raise Unauthorized(what)
        raise FetchError(what)
    if not isinstance(payload.get("items"), list):
        raise BadPayload("Stack Exchange answer has no `items` list")
    return payload


def parse_page(payload: Any, skipped: list[str] | None = None) -> tuple[list[Mention], bool]:
    """The questions on one page and the API's `has_more` (the only reliable end-of-results signal); a
    question that cannot be read is skipped (and why, appended to `skipped`)."""
    wrapper = check_wrapper(payload)
    return read_items(wrapper["items"], to_mention, skipped), wrapper.get("has_more") is True


def _number(value: Any) -> float | None:
    if not isinstance(value, (int, float)) or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float
        return None
    # NaN and infinity parse from JSON too (`NaN`, `1e400`): no quota or wait is either.
    return number if math.isfinite(number) else None


def _posted(item: Any, kind: str, question_url: str) -> PostedReply:
    """A comment or answer the API returned, with its page: the item's `link` when the filter gave one, else the
    site's permalink form (`/a/ID` for an answer, `#commentID_POSTID` on the question for a comment)."""
    if not isinstance(item, dict):
        raise BadPayload(f"Stack Exchange answered with no {kind}")
    parts = urlsplit(question_url)
    site = f"{parts.scheme}://{parts.netloc}"
    if kind == "answer":
        ident = str(item["answer_id"])
        url = str(item.get("link") or f"{site}/a/{ident}")
    else:
        ident = str(item["comment_id"])
        url = str(item.get("link") or f"{question_url.split('#')[0]}#comment{ident}_{item['post_id']}")
    return PostedReply(ident, url, from_epoch(int(item["creation_date"])))


class StackExchangeSource(Source[StackExchangeConfig], Replier):
    """Stack Overflow (or any Stack Exchange site) questions mentioning a term. App key optional."""

    type = "stackexchange"
    credentials = "optional"
    # api.stackexchange.com/docs/throttle: more than 30 requests a second from one IP are dropped. The daily quota
    # (300 without a key, 10,000 with one) is watched through `quota_remaining` instead.
    requests_per_minute = 30 * 60

    def __init__(self, config: StackExchangeConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        # `backoff` applies to the method, whichever term asked: terms are fetched concurrently, so the wait
        # and the request it guards are serialised through one lock.
        self._lock = asyncio.Lock()
        self._backoff = 0.0
        self._quota_low = False

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        if not term:
            return
        url = f"{cfg.base_url.rstrip('/')}/2.3/search/advanced"
        for page in range(1, cfg.max_pages + 1):
            if self._quota_low:
                return
            params: dict[str, Any] = {
                "q": term,
                # Server-side since filter (epoch seconds), newest questions first.
                "fromdate": int(since.timestamp()),
                "sort": "creation",
                "order": "desc",
                "site": cfg.site,
                "filter": cfg.filter,
                "pagesize": PAGE_SIZE,
                "page": page,
            }
            if cfg.key and cfg.key.get_secret_value():
                params["key"] = cfg.key.get_secret_value()
            payload = await self._call(url, params)
            mentions, has_more = parse_page(payload, self.context.skipped)
            fresh, older = since_split(mentions, since)
            for mention in fresh:
                yield mention
            if self._check_quota(payload) or older or not has_more:
                return

    async def _call(self, url: str, params: dict[str, Any]) -> Any:
        async with self._lock:
            if self._backoff > 0:
                wait, self._backoff = self._backoff, 0.0
                await self.context.sleep(wait)
            payload = await self.context.http.get_json(url, params=params)
            if isinstance(payload, dict):
                # "If an application receives a response with the backoff field set, it must wait that many
                # seconds before hitting the same method again" (api.stackexchange.com/docs/throttle).
                backoff = _number(payload.get("backoff"))
                if backoff is not None and backoff > 0:
                    self._backoff = backoff
            return payload

    def _check_quota(self, payload: dict[str, Any]) -> bool:
        """True when the daily quota is (nearly) spent: stop here and keep what was found."""
        remaining = _number(payload.get("quota_remaining"))
        if remaining is None or remaining > self.config.min_quota:
            return False
        if not self._quota_low:
            log.warning(
                "Stack Exchange quota nearly spent (%d of %s requests left today): stopping early%s",
                remaining,
                payload.get("quota_max", "?"),
                "" if self.config.key else "; an app `key` raises the quota",
            )
        self._quota_low = True
        return True

    # --- replies: a comment on the question, or an answer ----------------------------------------------------

    def _write_params(self) -> dict[str, str]:
        cfg = self.config
        return {
            "access_token": cfg.access_token.get_secret_value() if cfg.access_token else "",
            "key": cfg.key.get_secret_value() if cfg.key else "",
            "site": cfg.site,
        }

    def reply_problem(self) -> str | None:
        params = self._write_params()
        if params["access_token"] and params["key"]:
            return None
        return (
            "replying needs your app's `key` and an `access_token` with the write_access scope "
            "(stackapps.com: register an app, then authorize it with scope=write_access,no_expiry)"
        )

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`POST /2.3/posts/{id}/comments/add` (api.stackexchange.com/docs/create-comment) or
        `POST /2.3/questions/{id}/answers/add` (/docs/create-answer), with `body` and the token, key and site as
        form fields; both need `write_access`."""
        kind = self.config.reply_as
        check_length(len(text), LIMITS[kind], unit="characters", platform=f"Stack Exchange ({kind}s)")
        root = self.config.base_url.rstrip("/")
        path = f"posts/{mention.id}/comments/add" if kind == "comment" else f"questions/{mention.id}/answers/add"
        return ReplyRequest(
            method="POST",
            url=f"{root}/2.3/{path}",
            form={"body": text, **self._write_params()},
            anchor={"post_id": mention.id, "kind": kind, "question_url": mention.url},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        wrapper = check_wrapper((await send_request(self.context.http, request)).json())
        if not wrapper["items"]:
            raise BadPayload("Stack Exchange answered with no item")
        return _posted(wrapper["items"][0], request.anchor.get("kind", "comment"), request.anchor["question_url"])

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The user's own comment on the question (`GET /2.3/me/comments`) or answer to it (`/2.3/me/answers`),
        created since the attempt began."""
        kind, post = request.anchor.get("kind", "comment"), request.anchor.get("post_id")
        if not post:
            return None
        params: dict[str, Any] = {
            **self._write_params(),
            "fromdate": int((since - timedelta(minutes=5)).timestamp()),
            "sort": "creation",
            "order": "desc",
        }
        root = self.config.base_url.rstrip("/")
        wrapper = check_wrapper(await self.context.http.get_json(f"{root}/2.3/me/{kind}s", params=params))
        field = "post_id" if kind == "comment" else "question_id"
        for item in wrapper["items"]:
            if isinstance(item, dict) and str(item.get(field)) == post:
                return _posted(item, kind, request.anchor.get("question_url", ""))
        return None

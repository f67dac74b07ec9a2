"""Mastodon (and API-compatible servers): hashtag timelines, status search with an account token, and replies."""

from __future__ import annotations

import hashlib
import logging
import re
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import parse_qs, quote, urlsplit

from pydantic import Field, SecretStr, field_validator, model_validator

from mentionwatch.plugin import (
    BadPayload,
    FetchError,
    Mention,
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRequest,
    Source,
    SourceConfig,
    SourceContext,
    Unauthorized,
    check_length,
    count_graphemes,
    html_to_text,
    parse_time,
    read_items,
    send_request,
    since_split,
)
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

# One `<url>; rel="next"` entry of an RFC 8288 Link header.
_LINK = re.compile(r"<([^>]*)>\s*;[^,]*?\brel=\"?([^\",;]+)\"?")
# Hashtag names: letters, digits, underscores and middle dots, as Mastodon's Tag model accepts them.
_TAG = re.compile(r"^[\w·]+$")


class MastodonConfig(SourceConfig):
    # One instance's API root (the instance's web address). There is no global Mastodon: pick the instance
    # whose federated view suits you; mastodon.social is the largest.
    base_url: str = "https://mastodon.social"
    tags: list[str] = Field(
        default_factory=list, description="hashtags whose public timelines are read (no login needed)"
    )
    token: SecretStr | None = Field(
        None,
        description="an access token with read:search (Preferences > Development); enables status search, and "
        "with write:statuses and read:accounts, replies",
    )
    max_pages: int = Field(5, ge=1, le=50, description="pages of 40 statuses to read per tag or term at most")

    @field_validator("tags")
    @classmethod
    def _tag_names(cls, value: list[str]) -> list[str]:
        names = []
        for raw in value:
            name = raw.strip().removeprefix("#")
            if not _TAG.match(name):
                raise ValueError(f"{raw!r} is not a hashtag (letters, digits and _ only)")
            names.append(name)
        return names

    @model_validator(mode="after")
    def _has_something_to_read(self) -> MastodonConfig:
        if not self.tags and not _secret(self.token):
            raise ValueError(
                "a mastodon source needs `tags` (hashtag timelines, readable without login) or a `token`: "
                "GET /api/v2/search finds statuses only for a logged-in account"
            )
        return self


def _secret(value: SecretStr | None) -> str:
    return value.get_secret_value() if value is not None else ""


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _author(account: dict[str, Any]) -> str:
    """`user@domain`: `acct` is bare for the instance's own users, so their domain is taken from their URL."""
    acct = str(account.get("acct") or account.get("username") or "")
    if not acct or "@" in acct:
        return acct
    try:
        host = urlsplit(str(account.get("url") or "")).netloc
    except ValueError:  # a profile URL Python cannot split (`https://[x`): the bare name still says who
        return acct
    return f"{acct}@{host}" if host else acct


def to_mention(status: dict[str, Any]) -> Mention:
    """One Status entity as a Mention. Raises KeyError/TypeError/ValueError on a broken one."""
    if isinstance(status.get("reblog"), dict):
        # A boost wraps the original status (its own `content` is empty): the original is the mention.
        status = status["reblog"]
    # `uri` is the ActivityPub id, the same on every instance the status reaches: the id that dedupes.
    # `url` (the HTML page) may be null, e.g. for some remote statuses; the `uri` then stands in.
    uri = str(status["uri"])
    account = _object(status.get("account"))
    card = _object(status.get("card"))
    lang = status.get("language")
    return Mention(
        source="",
        id=uri,
        url=str(status.get("url") or uri),
        link=str(card["url"]) if card.get("url") else None,
        # The content warning (`spoiler_text`) is the status's visible summary line: kept as its title.
        title=html_to_text(status.get("spoiler_text")),
        text=html_to_text(status.get("content")),
        author=_author(account),
        published_at=parse_time(str(status["created_at"])),
        kind="reply" if status.get("in_reply_to_id") else "post",
        lang=lang if isinstance(lang, str) and lang else None,
        comments=_int(status.get("replies_count")),
        likes=_int(status.get("favourites_count")),
        reposts=_int(status.get("reblogs_count")),
        # `quotes_count` only exists on servers with quote posts (Mastodon 4.5+).
        quotes=_int(status.get("quotes_count")),
        followers=_int(account.get("followers_count")),
    )


def _with_id(status: dict[str, Any]) -> tuple[str, Mention]:
    if status["id"] is None:
        raise KeyError("id")
    return str(status["id"]), to_mention(status)


def parse_statuses(payload: Any, skipped: list[str] | None = None) -> list[tuple[str, Mention]]:
    """The statuses of a timeline page as (status id, Mention); the id is the instance-local paging cursor. A
    status that cannot be read is skipped (and why, appended to `skipped`)."""
    if not isinstance(payload, list):
        raise BadPayload("Mastodon timeline answer is not a list of statuses")
    return read_items(payload, _with_id, skipped)


def parse_search(payload: Any, skipped: list[str] | None = None) -> list[tuple[str, Mention]]:
    """The statuses of a `/api/v2/search` answer (the `accounts` and `hashtags` are not mentions)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("statuses"), list):
        raise BadPayload("Mastodon search answer has no `statuses` list")
    return parse_statuses(payload["statuses"], skipped)


def next_max_id(link_header: str | None) -> str | None:
    """The `max_id` of the `rel="next"` page in a timeline's Link header; None when there is no next page."""
    for url, rel in _LINK.findall(link_header or ""):
        if "next" in rel.split():
            values = parse_qs(urlsplit(url).query).get("max_id")
            return values[0] if values else None
    return None


# Mastodon's StatusLengthValidator counts a URL as `characters_reserved_per_url` (23) whatever its length, and a
# mention of a remote account by its username only (`@alice@example.social` counts as `@alice`); the rest in
# grapheme clusters. Only URLs with a scheme count as URLs (`extract_url_without_protocol: false`).
# A URL does not end in the punctuation around it: `(see https://example.com.)` counts the `.)` apart.
_URL = re.compile(r"https?://[^\s<>\"]*[^\s<>\".,;:!?)\]'}]", re.IGNORECASE)
_MENTION = re.compile(r"(?<![\w/])@(\w+)@[\w.-]*\w")


def status_length(text: str, url_length: int = 23) -> int:
    """How long Mastodon counts a status to be (app/validators/status_length_validator.rb)."""
    counted = _MENTION.sub(lambda m: "@" + m.group(1), _URL.sub("x" * url_length, text))
    return count_graphemes(counted)


def _posted(status: Any) -> PostedReply:
    """A posted status (the Status entity `POST /api/v1/statuses` answers) as a PostedReply."""
    if not isinstance(status, dict) or not status.get("id"):
        raise BadPayload("Mastodon answered the reply with no status")
    return PostedReply(
        id=str(status["id"]),
        url=str(status.get("url") or status.get("uri") or ""),
        at=parse_time(str(status["created_at"])),
    )


def _status_of(exc: FetchError) -> int | None:
    """The HTTP status a FetchError reports. http.check_status writes it into the message (`...: HTTP 404`);
    a `status` attribute is preferred should FetchError ever carry one."""
    status = getattr(exc, "status", None)
    if isinstance(status, int):
        return status
    found = re.search(r": HTTP (\d{3})\b", str(exc))
    return int(found.group(1)) if found else None


class MastodonSource(Source[MastodonConfig], Replier):
    """Mastodon statuses: public hashtag timelines (no login), and full-text status search with a token.

    Hashtag timelines are read once per scan whatever the terms (their statuses are matched locally); search
    runs per term and needs an account token, since Mastodon's search finds no statuses for anonymous callers
    (`SearchService#full_text_searchable?` requires an account). Even then it only finds statuses of accounts
    that opted in to search (Mastodon 4.2+) and statuses the account interacted with.
    """

    type = "mastodon"
    credentials = "optional"
    reply_options = frozenset({"visibility"})
    # docs.joinmastodon.org/api/rate-limits: 300 requests per 5 minutes per account (or per IP without one).
    requests_per_minute: ClassVar[float | None] = 60

    def __init__(self, config: MastodonConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self._tags_read = False
        self._warned_no_token = False

    def _headers(self) -> dict[str, str]:
        token = _secret(self.config.token)
        return {"Authorization": f"Bearer {token}"} if token else {}

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        errors: list[FetchError] = []
        # Terms are fetched concurrently on one instance; the first call reads the tags for all of them
        # (the check-and-set has no await in between, so it cannot race).
        read_tags = bool(cfg.tags) and not self._tags_read
        self._tags_read = True
        if read_tags:
            for tag in cfg.tags:
                try:
                    async for mention in self._tag_timeline(tag, since):
                        yield mention
                except FetchError as exc:
                    # One broken tag does not lose the others; the first failure is the source's health.
                    errors.append(exc)
        if term:
            if _secret(cfg.token):
                try:
                    async for mention in self._search(term, since):
                        yield mention
                except FetchError as exc:
                    errors.append(exc)
            elif not self._warned_no_token:
                self._warned_no_token = True
                log.warning(
                    "%s: no token, so status search is skipped and only the tags are read "
                    "(Mastodon's search finds no statuses without a logged-in account)",
                    self.name,
                )
        if errors:
            raise errors[0]

    async def _tag_timeline(self, tag: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/api/v1/timelines/tag/{quote(tag, safe='')}"
        params: dict[str, Any] = {"limit": 40}
        for _ in range(cfg.max_pages):
            try:
                resp = await self.context.http.get(url, params=params, headers=self._headers())
            except Unauthorized as exc:
                if _secret(cfg.token):
                    raise
                raise Unauthorized(
                    f"{exc}; this instance hides hashtag timelines from anonymous readers: set `token`"
                ) from None
            except FetchError as exc:
                if _status_of(exc) == 404:
                    # Newer Mastodon answers 404 for a hashtag nobody has used yet: no statuses, not a failure.
                    return
                raise
            statuses = resp.json()
            page = parse_statuses(statuses, self.context.skipped)
            fresh, reached_since = since_split((mention for _status_id, mention in page), since)
            for mention in fresh:
                yield mention
            # Timelines page through the Link header's rel="next" (its URL carries only `max_id`, so our own
            # URL and `limit` are kept and just the cursor taken). No next link is the end, not a short page.
            cursor = next_max_id(resp.headers.get("link"))
            if reached_since or not statuses or cursor is None:
                return
            params["max_id"] = cursor

    async def _search(self, term: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/api/v2/search"
        params: dict[str, Any] = {"q": term, "type": "statuses", "limit": 40}
        for _ in range(cfg.max_pages):
            payload = await self.context.http.get_json(url, params=params, headers=self._headers())
            page = parse_search(payload, self.context.skipped)
            fresh, reached_since = since_split((mention for _status_id, mention in page), since)
            for mention in fresh:
                yield mention
            # Search sends no Link header. Since 4.2 results come newest first (StatusesSearchService orders by
            # id desc) and `max_id` pages below the oldest one seen; an empty page is the end.
            if reached_since or not page:
                return
            params["max_id"] = page[-1][0]

    # --- replies -----------------------------------------------------------------------------------------------

    @property
    def _root(self) -> str:
        return self.config.base_url.rstrip("/")

    def reply_problem(self) -> str | None:
        if _secret(self.config.token):
            return None
        return "replying needs `token`: an access token of your account with write:statuses and read:accounts"

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`POST /api/v1/statuses` with `in_reply_to_id` (docs.joinmastodon.org/methods/statuses/#create). The id
        is the status's id on the user's own instance: a status from anywhere is first resolved there with
        `GET /api/v2/search?resolve=true` (docs.joinmastodon.org/methods/search/#v2)."""
        status = await self._resolve(mention)
        account = _object(status.get("account"))
        acct = str(account.get("acct") or "")
        # Mastodon notifies the author of a reply only when the reply mentions them (its web app adds the
        # mention the same way); a `direct` reply reaches no one else.
        body = text if not acct or f"@{acct}".casefold() in text.casefold() else f"@{acct} {text}"
        limit, per_url = await self._limits()
        check_length(status_length(body, per_url), limit, unit="characters", platform="your Mastodon instance")
        visibility = options.visibility or str(status.get("visibility") or "public")
        status_id = str(status["id"])
        return ReplyRequest(
            method="POST",
            url=f"{self._root}/api/v1/statuses",
            form={"status": body, "in_reply_to_id": status_id, "visibility": visibility},
            headers={
                **self._headers(),
                # The same reply asked for twice within an hour gets the first status back, not a second one
                # (docs.joinmastodon.org/methods/statuses/#create, "Idempotency-Key").
                "Idempotency-Key": hashlib.sha256(f"{mention.id}\n{body}".encode()).hexdigest(),
            },
            anchor={"in_reply_to_id": status_id},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        return _posted((await send_request(self.context.http, request)).json())

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The user's own reply among the status's descendants (`GET /api/v1/statuses/:id/context`), the user
        being who the token belongs to (`GET /api/v1/accounts/verify_credentials`)."""
        parent = request.anchor.get("in_reply_to_id")
        if not parent:
            return None
        me = await self.context.http.get_json(
            f"{self._root}/api/v1/accounts/verify_credentials", headers=self._headers()
        )
        my_id = str(_object(me).get("id") or "")
        context = await self.context.http.get_json(
            f"{self._root}/api/v1/statuses/{quote(parent, safe='')}/context", headers=self._headers()
        )
        descendants = _object(context).get("descendants")
        for status in descendants if isinstance(descendants, list) else []:
            if not isinstance(status, dict) or str(status.get("in_reply_to_id")) != parent:
                continue
            if str(_object(status.get("account")).get("id")) != my_id:
                continue
            posted = _posted(status)
            # A reply of the user's from before this attempt began is an earlier answer, not this one.
            if posted.at >= since - timedelta(minutes=5):
                return posted
        return None

    async def _resolve(self, mention: Mention) -> dict[str, Any]:
        """The mention's status as the user's instance knows it (its local id, visibility and author)."""
        payload = await self.context.http.get_json(
            f"{self._root}/api/v2/search",
            params={"q": mention.url or mention.id, "resolve": "true", "type": "statuses", "limit": 1},
            headers=self._headers(),
        )
        statuses = _object(payload).get("statuses")
        if not isinstance(statuses, list) or not statuses or not isinstance(statuses[0], dict):
            raise FetchError(
                f"your instance ({self._root}) could not find {mention.url}: it may be deleted, or private to "
                "accounts yours does not follow"
            )
        return statuses[0]

    async def _limits(self) -> tuple[int, int]:
        """The instance's status length limit and what a URL counts for (`GET /api/v2/instance`,
        `configuration.statuses`); Mastodon's defaults, 500 and 23, when it does not say."""
        try:
            payload = await self.context.http.get_json(f"{self._root}/api/v2/instance")
        except FetchError as exc:
            log.info("%s: instance limits unavailable (%s); using Mastodon's defaults", self.name, exc)
            return 500, 23
        statuses = _object(_object(_object(payload).get("configuration")).get("statuses"))
        return _int(statuses.get("max_characters")) or 500, _int(statuses.get("characters_reserved_per_url")) or 23

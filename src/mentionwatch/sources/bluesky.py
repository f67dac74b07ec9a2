"""Bluesky posts, through the AT Protocol's `app.bsky.feed.searchPosts`, logged in with an app password; replies
are `app.bsky.feed.post` records with reply refs and facets."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import hashlib
import json
import logging
import os
import random
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from pydantic import Field, SecretStr, field_validator

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
    TimedOut,
    Unauthorized,
    check_length,
    count_graphemes,
    format_time,
    from_epoch,
    normalize_space,
    parse_time,
    read_items,
    send_request,
)
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

WEB_ROOT = "https://bsky.app"
# at://<did>/app.bsky.feed.post/<rkey>: the record's address; the web page is /profile/<did>/post/<rkey>.
_AT_POST = re.compile(r"^at://([^/]+)/app\.bsky\.feed\.post/([^/?#]+)$")
# Datetimes with more than microsecond precision (the lexicon allows it; Python parses at most 6 digits).
_SUBMICRO = re.compile(r"(\.\d{6})\d+")
# Renew a token this long before its `exp`, so it does not expire between the check and the request.
_EXPIRY_MARGIN = timedelta(seconds=60)
# app.bsky.actor.getProfiles takes at most 25 actors per call (its lexicon: `actors`, maxLength 25).
_PROFILES_PER_CALL = 25
# app.bsky.feed.post's lexicon: `text` maxGraphemes 300 (maxLength 3000 bytes).
POST_GRAPHEMES = 300
# Mentions and links in a post's text, found in its UTF-8 bytes, so a match's offsets are the facet's byteStart and
# byteEnd (docs.bsky.app/docs/advanced-guides/post-richtext: the handle syntax of atproto.com/specs/handle, and
# the docs' URL pattern), preceded by the start of the text or a character that is not part of a word.
_MENTION_BYTES = re.compile(
    rb"(?:^|(?<=[^\w]))(@([a-zA-Z0-9]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?\.)+[a-zA-Z]([a-zA-Z0-9-]{0,61}[a-zA-Z0-9])?)"
)
# Two changes to the docs' URL pattern: a top-level domain may be longer than 6 letters (`.example`, `.museum`),
# and a path may hold non-ASCII characters (their UTF-8 bytes, 0x80-0xFF), as `/déjà-vu` does.
_LINK_BYTES = re.compile(
    rb"(?:^|(?<=[^\w]))(https?://(www\.)?[-a-zA-Z0-9@:%._+~#=]{1,256}\.[a-zA-Z0-9()]{1,63}\b"
    rb"([-a-zA-Z0-9()@:%_+.~#?&/=\x80-\xff]*[-a-zA-Z0-9@%_+~#/=\x80-\xff])?)"
)
# Record keys are TIDs (atproto.com/specs/tid): 53 bits of microseconds since the epoch and a 10-bit clock id,
# written in this base32 alphabet, 13 characters.
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"


class BlueskyConfig(SourceConfig):
    # The PDS (or entryway) that logs you in; it proxies authenticated `app.bsky.*` calls to the Bluesky AppView,
    # so one root serves both (docs.bsky.app "API Hosts and Auth"). bsky.social is the entryway of every account
    # Bluesky hosts ("PDS Entryway"); a self-hosted PDS is its own root.
    base_url: str = "https://bsky.social"
    handle: str = Field(description="your handle (you.bsky.social), or your DID")
    app_password: SecretStr = Field(description="an app password (Settings > Privacy and security > App passwords)")
    lang: str | None = Field(None, description="only posts in this language (ISO code, e.g. en)")
    followers: bool = Field(True, description="look up authors' follower counts (one extra request per 25 authors)")
    max_pages: int = Field(5, ge=1, le=50, description="pages of 100 posts to read per term at most")

    @field_validator("handle")
    @classmethod
    def _bare_handle(cls, value: str) -> str:
        handle = value.strip().removeprefix("@")
        if not handle:
            raise ValueError("handle is empty")
        return handle


@dataclass(frozen=True)
class Session:
    """What `com.atproto.server.createSession` and `refreshSession` answer (both lexicons require these four)."""

    access_jwt: str
    refresh_jwt: str
    did: str
    handle: str

    @classmethod
    def from_api(cls, payload: Any) -> Session:
        if not isinstance(payload, dict):
            raise BadPayload("Bluesky session answer is not an object")
        values = [payload.get(k) for k in ("accessJwt", "refreshJwt", "did", "handle")]
        if not all(isinstance(v, str) and v for v in values):
            raise BadPayload("Bluesky session answer lacks accessJwt, refreshJwt, did or handle")
        return cls(*(str(v) for v in values))

    def to_api(self) -> dict[str, str]:
        return {"accessJwt": self.access_jwt, "refreshJwt": self.refresh_jwt, "did": self.did, "handle": self.handle}


def jwt_expiry(token: str) -> datetime | None:
    """The `exp` claim of a JWT, read without verifying it (only the server can); None if it has none."""
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        claims = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
    except ValueError:  # bad base64, bad UTF-8 and bad JSON are all ValueErrors
        return None
    exp = claims.get("exp") if isinstance(claims, dict) else None
    if isinstance(exp, (int, float)) and not isinstance(exp, bool):
        try:
            return from_epoch(exp)
        except ValueError:  # out of datetime's range: as good as none
            return None
    return None


def _expired(token: str, now: datetime) -> bool:
    exp = jwt_expiry(token)
    # No readable `exp`: assume it is good; a refusal then renews it.
    return exp is not None and exp - _EXPIRY_MARGIN <= now


def web_url(at_uri: str) -> str:
    """The bsky.app page of a post, from its at:// URI."""
    found = _AT_POST.match(at_uri)
    if not found:
        raise ValueError(f"not an app.bsky.feed.post URI: {at_uri}")
    return f"{WEB_ROOT}/profile/{found.group(1)}/post/{found.group(2)}"


def did_of(at_uri: str) -> str:
    """The repository (author) of an at:// URI: its authority, a DID in every AppView answer."""
    return at_uri.removeprefix("at://").split("/", 1)[0]


def _time(value: Any) -> datetime:
    # `createdAt` is whatever the posting client wrote: millis, micros (`…09.561858Z`), `+00:00` or `Z`.
    return parse_time(_SUBMICRO.sub(r"\1", str(value)))


def _external_link(post: dict[str, Any], record: dict[str, Any]) -> str | None:
    """The external page a post points at: its link card, else the first link in its text."""
    embed = post.get("embed")
    if isinstance(embed, dict):
        # `app.bsky.embed.external#view` holds `external`; `recordWithMedia#view` holds it under `media`.
        for view in (embed, embed.get("media")):
            external = view.get("external") if isinstance(view, dict) else None
            if isinstance(external, dict) and external.get("uri"):
                return str(external["uri"])
    for facet in record.get("facets") or []:
        features = facet.get("features") if isinstance(facet, dict) else None
        for feature in features or []:
            if (
                isinstance(feature, dict)
                and feature.get("$type") == "app.bsky.richtext.facet#link"
                and feature.get("uri")
            ):
                return str(feature["uri"])
    return None


def to_mention(post: dict[str, Any]) -> Mention:
    """One `app.bsky.feed.defs#postView` as a Mention. Raises KeyError/TypeError/ValueError on a broken one."""
    uri = str(post["uri"])
    record = post["record"]
    author: dict[str, Any] = post["author"] if isinstance(post.get("author"), dict) else {}
    try:
        published = _time(record["createdAt"])
    except (KeyError, ValueError):
        # A record with a missing or garbled `createdAt`: when the AppView indexed it is the next best time.
        published = _time(post["indexedAt"])
    langs = record.get("langs")
    return Mention(
        source="",
        # The at:// URI is the post's global, permanent address.
        id=uri,
        url=web_url(uri),
        link=_external_link(post, record),
        text=normalize_space(str(record.get("text") or "")),
        author=str(author.get("handle") or ""),
        published_at=published,
        kind="reply" if isinstance(record.get("reply"), dict) else "post",
        lang=str(langs[0]) if isinstance(langs, list) and langs else None,
        comments=_int(post.get("replyCount")),
        likes=_int(post.get("likeCount")),
        reposts=_int(post.get("repostCount")),
        # `quoteCount` came to postView in 2024: older answers (and other AppViews) may not send it.
        quotes=_int(post.get("quoteCount")),
    )


def tid(at: datetime, clock_id: int) -> str:
    """A record key for a record created `at` (atproto.com/specs/tid)."""
    value = (int(at.timestamp() * 1_000_000) << 10) | (clock_id & 0x3FF)
    return "".join(_TID_ALPHABET[(value >> (5 * i)) & 31] for i in reversed(range(13)))


def facet_spans(text: str) -> tuple[list[tuple[int, int, str]], list[tuple[int, int, str]]]:
    """The (byteStart, byteEnd, handle) of each @mention and the (byteStart, byteEnd, url) of each link in
    `text`: UTF-8 byte offsets, end exclusive, as app.bsky.richtext.facet#byteSlice counts them."""
    data = text.encode("utf-8")
    mentions = [(m.start(1), m.end(1), m.group(1)[1:].decode("utf-8")) for m in _MENTION_BYTES.finditer(data)]
    links = [(m.start(1), m.end(1), m.group(1).decode("utf-8")) for m in _LINK_BYTES.finditer(data)]
    return mentions, links


def strong_ref(post: dict[str, Any]) -> dict[str, str]:
    """A com.atproto.repo.strongRef (uri + cid) of a postView."""
    if not isinstance(post.get("uri"), str) or not isinstance(post.get("cid"), str):
        raise BadPayload("Bluesky post has no uri and cid to refer to")
    return {"uri": post["uri"], "cid": post["cid"]}


def reply_refs(post: dict[str, Any]) -> dict[str, dict[str, str]]:
    """The `reply` of a post answering `post` (a postView): its parent is that post, its root the root of that
    post's thread: the post's own `record.reply.root` when it is itself a reply, else the post (lexicon
    app.bsky.feed.post#replyRef)."""
    parent = strong_ref(post)
    record = post.get("record") if isinstance(post.get("record"), dict) else {}
    reply = record.get("reply") if isinstance(record, dict) else None
    root = reply.get("root") if isinstance(reply, dict) else None
    if isinstance(root, dict) and isinstance(root.get("uri"), str) and isinstance(root.get("cid"), str):
        return {"root": {"uri": root["uri"], "cid": root["cid"]}, "parent": parent}
    return {"root": parent, "parent": parent}


def parse_page(payload: Any, skipped: list[str] | None = None) -> tuple[list[Mention], str | None]:
    """The posts of one searchPosts answer and its `cursor` (None: no further page); a post that cannot be
    read is skipped (and why, appended to `skipped`)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("posts"), list):
        raise BadPayload("Bluesky searchPosts answer has no `posts` list")
    mentions = read_items(payload["posts"], to_mention, skipped)
    cursor = payload.get("cursor")
    return mentions, cursor if isinstance(cursor, str) and cursor else None


def parse_profiles(payload: Any) -> dict[str, int]:
    """DID -> followersCount from an `app.bsky.actor.getProfiles` answer."""
    if not isinstance(payload, dict) or not isinstance(payload.get("profiles"), list):
        raise BadPayload("Bluesky getProfiles answer has no `profiles` list")
    out = {}
    for profile in payload["profiles"]:
        if isinstance(profile, dict) and isinstance(profile.get("did"), str):
            count = _int(profile.get("followersCount"))
            if count is not None:
                out[profile["did"]] = count
    return out


class BlueskySource(Source[BlueskyConfig], Replier):
    """Bluesky posts matching a term, newest first (searchPosts; needs a handle and an app password).

    Search needs a login: the public AppView (public.api.bsky.app) has refused anonymous `searchPosts` with 403
    on and off since January 2025, and never served `cursor` pages anonymously ("we frequently disable public
    post search all-together": bsky-docs#296; bluesky-social/atproto#3423, #3891). The session is kept in the
    cache folder and renewed with `refreshSession`, so a scan does not log in again: `createSession` is
    limited to 30 per 5 minutes and 300 a day per account (docs.bsky.app, "Rate Limits").
    """

    type = "bluesky"
    credentials = "yes"
    # docs.bsky.app "Rate Limits": 3000 requests per 5 minutes per IP across all routes (the recorded answers
    # carry `RateLimit-Policy: 3000;w=300`).
    requests_per_minute: ClassVar[float | None] = 600

    def __init__(self, config: BlueskyConfig, context: SourceContext) -> None:
        super().__init__(config, context)
        self._session: Session | None = None
        self._cache_read = False
        # Terms are fetched concurrently: one lock, so they share one login or refresh.
        self._lock = asyncio.Lock()
        self._followers: dict[str, int | None] = {}
        self._followers_off = False
        # Terms run concurrently and share authors: one lookup at a time, so no DID is asked for twice.
        self._profiles_lock = asyncio.Lock()

    @property
    def _root(self) -> str:
        return self.config.base_url.rstrip("/")

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        if not term:
            return
        url = f"{self._root}/xrpc/app.bsky.feed.searchPosts"
        params: dict[str, Any] = {
            "q": term,
            "sort": "latest",
            # Server-side since filter (inclusive; on the AppView's `sortAt`, which can differ from `createdAt`,
            # so items are still checked below).
            "since": format_time(since),
            "limit": 100,
        }
        if cfg.lang:
            params["lang"] = cfg.lang
        for _ in range(cfg.max_pages):
            mentions, cursor = parse_page(await self._get_json(url, params), self.context.skipped)
            fresh = [m for m in mentions if m.published_at >= since]
            if cfg.followers and fresh:
                await self._add_followers(fresh)
            for mention in fresh:
                yield mention
            # The cursor says whether there is more; a page wholly older than `since` means the server ignored
            # the filter, and paging further would only go further back.
            if cursor is None or not mentions or not fresh:
                return
            params["cursor"] = cursor

    async def _get_json(self, url: str, params: dict[str, Any]) -> Any:
        session = await self._current_session()
        try:
            return await self.context.http.get_json(url, params=params, headers=_bearer(session.access_jwt))
        except Unauthorized:
            # The token may have been revoked or expired early: renew once, then let a second refusal stand.
            session = await self._renew(session)
            return await self.context.http.get_json(url, params=params, headers=_bearer(session.access_jwt))

    async def _add_followers(self, mentions: list[Mention]) -> None:
        """Reach for each author, best effort: search results carry no follower counts, getProfiles does."""
        async with self._profiles_lock:
            await self._look_up_followers(mentions)
        for mention in mentions:
            mention.followers = self._followers.get(did_of(mention.id))

    async def _look_up_followers(self, mentions: list[Mention]) -> None:
        wanted = list(dict.fromkeys(did_of(m.id) for m in mentions if did_of(m.id) not in self._followers))
        for start in range(0, len(wanted), _PROFILES_PER_CALL):
            if self._followers_off:
                break
            batch = wanted[start : start + _PROFILES_PER_CALL]
            try:
                found = parse_profiles(
                    await self._get_json(f"{self._root}/xrpc/app.bsky.actor.getProfiles", {"actors": batch})
                )
            except FetchError as exc:
                # Reach is a nice-to-have: its failure must not cost the mentions themselves.
                log.warning("%s: follower counts unavailable (%s); posts are kept without them", self.name, exc)
                self._followers_off = True
                break
            for did in batch:
                self._followers[did] = found.get(did)

    # --- replies -------------------------------------------------------------------------------------------------

    def reply_problem(self) -> str | None:
        return None  # the handle and app password the source needs anyway can post

    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """`com.atproto.repo.createRecord` of an `app.bsky.feed.post` with `reply` refs and facets
        (docs.bsky.app/docs/advanced-guides/posts#replies), under a record key chosen here: a second send of the
        same request cannot make a second post, and the key is how the post is found again."""
        check_length(count_graphemes(text), POST_GRAPHEMES, unit="graphemes", platform="Bluesky")
        session = await self._current_session()
        found = await self._get_json(f"{self._root}/xrpc/app.bsky.feed.getPosts", {"uris": [mention.id]})
        posts = found.get("posts") if isinstance(found, dict) else None
        if not isinstance(posts, list) or not posts or not isinstance(posts[0], dict):
            raise FetchError(f"Bluesky no longer has {mention.url}: it may have been deleted")
        now = self.context.now()
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            # The lexicon's datetime: RFC 3339 with a time zone; Bluesky's own app writes milliseconds and `Z`.
            "createdAt": now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "reply": reply_refs(posts[0]),
        }
        facets = await self._facets(text)
        if facets:
            record["facets"] = facets
        rkey = tid(now, random.randrange(1024))
        return ReplyRequest(
            method="POST",
            url=f"{self._root}/xrpc/com.atproto.repo.createRecord",
            json_body={"repo": session.did, "collection": "app.bsky.feed.post", "rkey": rkey, "record": record},
            headers=_bearer(session.access_jwt),
            anchor={"repo": session.did, "rkey": rkey},
        )

    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        try:
            resp = await send_request(self.context.http, request)
        except Unauthorized:
            # The access token expired since the request was prepared: renew and send the same record again. Its
            # record key is fixed, so this can never make a second post.
            stale = request.headers.get("Authorization", "").removeprefix("Bearer ")
            session = await self._renew(Session(stale, "", "", ""))
            resp = await send_request(
                self.context.http, dataclasses.replace(request, headers=_bearer(session.access_jwt))
            )
        created = resp.json()
        if not isinstance(created, dict) or not isinstance(created.get("uri"), str):
            raise BadPayload("Bluesky answered createRecord with no uri")
        body = request.json_body if isinstance(request.json_body, dict) else {}
        record: dict[str, Any] = body["record"] if isinstance(body.get("record"), dict) else {}
        return PostedReply(created["uri"], web_url(created["uri"]), _time(record.get("createdAt")))

    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The record under the key the request chose (`com.atproto.repo.getRecord`): there, or not."""
        repo, rkey = request.anchor.get("repo"), request.anchor.get("rkey")
        if not repo or not rkey:
            return None
        params = {"repo": repo, "collection": "app.bsky.feed.post", "rkey": rkey}
        try:
            found = await self._get_json(f"{self._root}/xrpc/com.atproto.repo.getRecord", params)
        except FetchError as exc:
            # "RecordNotFound" comes as HTTP 400 with an XRPC error body (lexicon com.atproto.repo.getRecord).
            if exc.status == 400 and b"RecordNotFound" in (getattr(exc.response, "content", b"") or b""):
                return None
            raise
        if not isinstance(found, dict) or not isinstance(found.get("uri"), str):
            raise BadPayload("Bluesky answered getRecord with no uri")
        value: dict[str, Any] = found["value"] if isinstance(found.get("value"), dict) else {}
        return PostedReply(found["uri"], web_url(found["uri"]), _time(value.get("createdAt") or format_time(since)))

    async def _facets(self, text: str) -> list[dict[str, Any]]:
        """Rich-text facets: a mention of a handle that resolves to a DID (`com.atproto.identity.resolveHandle`;
        one that does not stays plain text, as Bluesky's own app does), and every link."""
        mentions, links = facet_spans(text)
        facets: list[dict[str, Any]] = []
        for start, end, handle in mentions:
            try:
                resolved = await self._get_json(
                    f"{self._root}/xrpc/com.atproto.identity.resolveHandle", {"handle": handle}
                )
            except FetchError as exc:
                log.info("%s: @%s is not a handle Bluesky knows (%s): left as text", self.name, handle, exc)
                continue
            did = resolved.get("did") if isinstance(resolved, dict) else None
            if isinstance(did, str) and did:
                feature = {"$type": "app.bsky.richtext.facet#mention", "did": did}
                facets.append({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]})
        for start, end, url in links:
            feature = {"$type": "app.bsky.richtext.facet#link", "uri": url}
            facets.append({"index": {"byteStart": start, "byteEnd": end}, "features": [feature]})
        return sorted(facets, key=lambda f: f["index"]["byteStart"])

    # --- session ---------------------------------------------------------------------------------------------

    async def _current_session(self) -> Session:
        async with self._lock:
            if not self._cache_read:
                self._cache_read = True
                self._session = self._read_cache()
            session = self._session
            if session is not None and not _expired(session.access_jwt, self.context.now()):
                return session
            return await self._refresh_or_login(session)

    async def _renew(self, stale: Session) -> Session:
        async with self._lock:
            current = self._session
            if current is not None and current.access_jwt != stale.access_jwt:
                return current  # another term renewed it meanwhile
            return await self._refresh_or_login(current)

    async def _refresh_or_login(self, session: Session | None) -> Session:
        fresh: Session | None = None
        if session is not None and not _expired(session.refresh_jwt, self.context.now()):
            try:
                fresh = await self._refresh(session)
            except (RateLimited, TimedOut):
                raise
            except FetchError as exc:
                # A revoked app password or refresh token: the PDS answers 400 (InvalidToken/ExpiredToken).
                log.info("%s: session refresh refused (%s); logging in again", self.name, exc)
        if fresh is None:
            fresh = await self._login()
        self._session = fresh
        self._write_cache(fresh)
        return fresh

    async def _refresh(self, session: Session) -> Session:
        # refreshSession authenticates with the refresh token, not the access token (its lexicon says so).
        resp = await self.context.http.post(
            f"{self._root}/xrpc/com.atproto.server.refreshSession", headers=_bearer(session.refresh_jwt)
        )
        return Session.from_api(resp.json())

    async def _login(self) -> Session:
        cfg = self.config
        try:
            resp = await self.context.http.post(
                f"{self._root}/xrpc/com.atproto.server.createSession",
                json_body={"identifier": cfg.handle, "password": cfg.app_password.get_secret_value()},
            )
        except Unauthorized as exc:
            raise Unauthorized(
                f"Bluesky refused the login of {cfg.handle} ({exc}): check `handle` and `app_password`"
            ) from None
        return Session.from_api(resp.json())

    def _cache_path(self) -> Path | None:
        if self.context.cache_dir is None:
            return None
        # One file per account and server; the name reveals neither.
        key = hashlib.sha256(f"{self._root}\n{self.config.handle}".encode()).hexdigest()[:16]
        return self.context.cache_dir / f"bluesky-session-{key}.json"

    def _read_cache(self) -> Session | None:
        path = self._cache_path()
        if path is None or not path.exists():
            return None
        try:
            return Session.from_api(json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, BadPayload) as exc:
            log.info("%s: ignoring unreadable session cache %s (%s)", self.name, path, exc)
            return None

    def _write_cache(self, session: Session) -> None:
        path = self._cache_path()
        if path is None:
            return
        try:
            write_private(path, json.dumps(session.to_api()))
        except OSError as exc:
            log.warning("%s: could not keep the session in %s (%s); the next run logs in again", self.name, path, exc)


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner can read (0600), replacing it atomically: it holds session tokens."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
    # O_CREAT's mode applies only to a new file: a leftover temp file keeps its own, so set it explicitly.
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)

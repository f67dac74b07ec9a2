"""X (Twitter) posts, through the X API v2 recent search (`GET /2/tweets/search/recent`, the last 7 days)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, field_validator

from mentionwatch.plugin import (
    BadPayload,
    Mention,
    Source,
    SourceConfig,
    from_epoch,
    html_to_text,
    parse_time,
    read_items,
)
from mentionwatch.plugin import json_dict as _dict
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

POST_URL = "https://x.com/{}/status/{}"
# The author-less permalink X itself uses (v1.1 entities link truncated posts to `twitter.com/i/web/status/<id>`).
WEB_URL = "https://x.com/i/web/status/{}"
PAGE_SIZE = 100  # `max_results`: 10..100
# "The recent search endpoint returns Tweets from the last seven days" (GET /2/tweets/search/recent reference);
# an older `start_time` is a 400. The margin keeps a start computed here inside the window the server checks.
WINDOW = timedelta(days=7)
WINDOW_MARGIN = timedelta(minutes=1)
# Post ids are Snowflake ids: the top bits are milliseconds since this epoch (github.com/twitter-archive/snowflake,
# "Twitter IDs" in the X developer docs).
SNOWFLAKE_EPOCH_MS = 1288834974657
# `note_tweet` carries the full text of a post longer than 280 characters, whose `text` is cut short.
TWEET_FIELDS = "created_at,public_metrics,author_id,entities,lang,referenced_tweets,note_tweet"
USER_FIELDS = "username,public_metrics"
_X_HOSTS = frozenset({"x.com", "twitter.com", "mobile.twitter.com", "mobile.x.com", "t.co"})
# `lang` values that name no language: undetermined, media/emoji/hashtag-only posts (X API data dictionary).
_NO_LANG = frozenset({"und", "qme", "qam", "qct", "qht", "qst", "zxx"})


class XConfig(SourceConfig):
    # developer.x.com documents `https://api.x.com/2/...`; the older `https://api.twitter.com/2` answers the
    # same API (the recorded fixture was made against it), so either works as base_url.
    base_url: str = "https://api.x.com/2"
    bearer_token: SecretStr = Field(description="the App's Bearer Token (app-only auth) from the X developer console")
    query_suffix: str = Field(
        "", description="search operators added to every term, e.g. '-is:retweet lang:en' (X query syntax)"
    )
    max_pages: int = Field(5, ge=1, le=100, description="pages of 100 posts per term at most")

    @field_validator("bearer_token")
    @classmethod
    def _token_not_empty(cls, token: SecretStr) -> SecretStr:
        if not token.get_secret_value().strip():
            raise ValueError("the X bearer token is empty")
        return token


def snowflake_time(post_id: str) -> datetime:
    """When a post was created, from its id alone (Snowflake: `(id >> 22) + epoch` milliseconds)."""
    try:
        millis = (int(post_id) >> 22) + SNOWFLAKE_EPOCH_MS
    except ValueError:
        raise BadPayload(f"X post id {post_id!r} is not a number") from None
    return from_epoch(millis / 1000)


def format_time(value: datetime) -> str:
    """`YYYY-MM-DDTHH:mm:ssZ`, the only form `start_time` takes (second granularity, inclusive)."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def start_time(since: datetime, now: datetime) -> datetime:
    """`since`, clamped to the 7-day window the recent search endpoint serves."""
    return max(since, now - WINDOW + WINDOW_MARGIN)


def build_query(term: str, suffix: str = "") -> str:
    """The X search query for a term: a term with spaces is quoted, so it matches as a phrase, not as words."""
    query = term.strip()
    if any(ch.isspace() for ch in query) and not (query.startswith('"') and query.endswith('"')):
        query = '"' + query.replace('"', "") + '"'
    return f"{query} {suffix.strip()}".strip()


def users_by_id(payload: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """`includes.users` (present with `expansions=author_id`) by user id."""
    users = _dict(payload.get("includes")).get("users")
    if not isinstance(users, list):
        return {}
    return {str(u["id"]): u for u in users if isinstance(u, dict) and u.get("id") is not None}


def _link(tweet: dict[str, Any]) -> str | None:
    # `entities.urls` has the t.co links expanded; media and quoted posts expand to x.com/twitter.com pages of the
    # post itself, which are not what it points to. `unwound_url` (when X followed redirects) is the final page.
    for entry in _dict(tweet.get("entities")).get("urls") or []:
        if not isinstance(entry, dict):
            continue
        for key in ("unwound_url", "expanded_url"):
            value = entry.get(key)
            if isinstance(value, str) and value.startswith(("http://", "https://")):
                try:
                    host = (urlsplit(value).hostname or "").lower().removeprefix("www.")
                except ValueError:  # a URL Python cannot split (`http://[::1/x`) is no page to point to
                    continue
                if host not in _X_HOSTS:
                    return value
    return None


def _kind(tweet: dict[str, Any]) -> str:
    # A repost of a quote lists both "quoted" and "retweeted": being a repost is what matters.
    types = {ref.get("type") for ref in tweet.get("referenced_tweets") or [] if isinstance(ref, dict)}
    if "retweeted" in types:
        return "repost"
    if "quoted" in types:
        return "quote"
    if "replied_to" in types:
        return "reply"
    return "post"


def to_mention(tweet: dict[str, Any], users: dict[str, dict[str, Any]]) -> Mention:
    """One post of a v2 answer as a Mention; `users` are the answer's `includes.users` by id."""
    if tweet.get("id") is None:
        raise BadPayload("X post without an id")
    post_id = str(tweet["id"])
    created = tweet.get("created_at")
    try:
        # The adapter always asks for `created_at`. When an answer lacks it anyway (no `tweet.fields`, as in the
        # recorded tweepy cassette), the id still tells the creation time to the millisecond, so the mention
        # stays dated, exactly, and `since` can be applied: neither a failure nor a guessed "now".
        published = parse_time(str(created)) if created else snowflake_time(post_id)
    except ValueError:
        raise BadPayload(f"X post {post_id} has an unreadable created_at {created!r}") from None
    author_id = str(tweet.get("author_id") or "")
    user = users.get(author_id, {})
    username = str(user.get("username") or "")
    metrics = _dict(tweet.get("public_metrics"))
    user_metrics = _dict(user.get("public_metrics"))
    lang = tweet.get("lang")
    return Mention(
        source="",
        id=post_id,
        url=POST_URL.format(username, post_id) if username else WEB_URL.format(post_id),
        link=_link(tweet),
        # Post text comes with `&`, `<` and `>` HTML-escaped (`&amp;`, `&lt;`, `&gt;`).
        text=html_to_text(str(_dict(tweet.get("note_tweet")).get("text") or tweet.get("text") or "")),
        author=username or author_id,
        published_at=published,
        kind=_kind(tweet),
        lang=lang if isinstance(lang, str) and lang and lang not in _NO_LANG else None,
        likes=_int(metrics.get("like_count")),
        comments=_int(metrics.get("reply_count")),
        reposts=_int(metrics.get("retweet_count")),
        quotes=_int(metrics.get("quote_count")),
        # `impression_count` joined `public_metrics` in 2022; older answers do not have it.
        views=_int(metrics.get("impression_count")),
        followers=_int(user_metrics.get("followers_count")),
    )


def parse_page(payload: Any, skipped: list[str] | None = None) -> tuple[list[Mention], str | None]:
    """The mentions on one recent-search page and `meta.next_token` (None on the last page); a post that
    cannot be read is skipped (and why, appended to `skipped`)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("meta"), dict):
        raise BadPayload("X search answer has no `meta` object")
    # No match is `{"meta": {"result_count": 0}}`: no `data` key at all.
    data = payload.get("data", [])
    if not isinstance(data, list):
        raise BadPayload("X search answer's `data` is not a list")
    users = users_by_id(payload)
    mentions = read_items(data, lambda tweet: to_mention(tweet, users), skipped)
    token = payload["meta"].get("next_token")
    return mentions, token if isinstance(token, str) and token else None


class XSource(Source[XConfig]):
    """X (Twitter) posts matching a term from the last 7 days (API v2 recent search; a bearer token is required)."""

    type = "x"
    credentials = "yes"
    # developer.x.com GET /2/tweets/search/recent reference: "450 requests per 15-minute window" with app-only
    # auth (the recorded answer's `x-rate-limit-limit: 450`), i.e. 30 a minute. Lower plans allow less; their 429s
    # show as "rate-limited", and the shared layer holds off on `x-rate-limit-remaining: 0`.
    requests_per_minute = 30.0
    _told_window = False

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        if not term:
            return
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/tweets/search/recent"
        start = start_time(since, self.context.now())
        if start > since and not self._told_window:
            self._told_window = True  # once per scan, not once per term
            log.info("X recent search only reaches back 7 days: searching from %s, not %s", start, since)
        headers = {"Authorization": f"Bearer {cfg.bearer_token.get_secret_value()}"}
        token: str | None = None
        for _ in range(cfg.max_pages):
            params: dict[str, Any] = {
                "query": build_query(term, cfg.query_suffix),
                # Server-side since filter. Results are reverse-chronological within and across pages
                # (docs.x.com/x-api/posts/search/integrate/paginate), so the first older post ends the walk.
                "start_time": format_time(start),
                "max_results": PAGE_SIZE,
                "tweet.fields": TWEET_FIELDS,
                "expansions": "author_id",
                "user.fields": USER_FIELDS,
            }
            if token:
                params["next_token"] = token
            payload = await self.context.http.get_json(url, params=params, headers=headers)
            mentions, token = parse_page(payload, self.context.skipped)
            for mention in mentions:
                if mention.published_at < since:
                    return
                yield mention
            if token is None:
                return

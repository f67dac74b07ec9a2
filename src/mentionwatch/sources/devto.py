"""DEV Community (dev.to) articles, through the Forem API v1: the newest of the whole site, or of chosen tags."""

from __future__ import annotations

import logging
import math
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

from pydantic import Field, field_validator

from mentionwatch.plugin import BadPayload, Mention, Source, SourceConfig, normalize_space, parse_time, read_items
from mentionwatch.plugin import json_int as _int

log = logging.getLogger(__name__)

# developers.forem.com/api/v1: "All endpoints can be accessed with the 'api-key' header and a accept header";
# without this Accept header Forem answers with the deprecated v0 API.
ACCEPT = "application/vnd.forem.api-v1+json"


class DevtoConfig(SourceConfig):
    # A Forem instance's root: dev.to, or any other Forem community (same API below /api).
    base_url: str = "https://dev.to"
    tags: list[str] = Field(
        default_factory=list,
        description="read these tags' articles (last `since` days) instead of the whole site's newest articles",
    )
    # The whole site publishes hundreds of articles a day: the largest page Forem serves (`perPageParam30to1000`)
    # keeps a scan of the latest articles to a request or two.
    per_page: int = Field(1000, ge=1, le=1000, description="articles per page (Forem allows 1..1000)")
    max_pages: int = Field(5, ge=1, le=100, description="pages to read at most (per tag, when `tags` is set)")

    @field_validator("tags")
    @classmethod
    def _clean_tags(cls, tags: list[str]) -> list[str]:
        out: list[str] = []
        for tag in tags:
            # DEV tags are lower-case words; people write them as "#Python" in their config.
            clean = tag.strip().lstrip("#").lower()
            if not clean:
                raise ValueError("a tag must not be empty")
            if clean not in out:
                out.append(clean)
        return out


def to_mention(article: dict[str, Any]) -> Mention:
    """One article of a Forem article list (`/api/articles`, `/api/articles/latest`) as a Mention.

    The list endpoints carry no body: the article's `description` (its summary or the first lines) is the text.
    """
    try:
        article_id = article["id"]
        if article_id is None:
            raise KeyError("id")
        url = str(article["url"])
        # `published_at` has millis in older answers ("2019-09-03T11:07:53.827Z"); `published_timestamp` is the
        # same moment to the second and is the fallback.
        published = parse_time(str(article.get("published_at") or article["published_timestamp"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise BadPayload(f"DEV article without a usable id, url or publication time ({exc!r})") from None
    user = article.get("user")
    username = user.get("username") if isinstance(user, dict) else None
    canonical = article.get("canonical_url")
    # A cross-posted article names the original blog post as its canonical URL: that is what it points to.
    link = str(canonical) if canonical and canonical != url else None
    # `public_reactions_count` replaced `positive_reactions_count` (2021); answers recorded before only have the
    # latter, and current ones still send both.
    likes = _int(article.get("public_reactions_count"))
    if likes is None:
        likes = _int(article.get("positive_reactions_count"))
    language = article.get("language")
    return Mention(
        source="",
        id=str(article_id),
        url=url,
        link=link,
        # Titles and descriptions are plain text in the API (not HTML): only whitespace is tidied, so a title
        # such as "Why <div> soup hurts" keeps its `<div>`.
        title=normalize_space(str(article.get("title") or "")),
        text=normalize_space(str(article.get("description") or "")),
        author=str(username or ""),
        published_at=published,
        kind="article",
        lang=language if isinstance(language, str) and language else None,
        likes=likes,
        comments=_int(article.get("comments_count")),
    )


def parse_page(payload: Any, skipped: list[str] | None = None) -> list[Mention]:
    """The articles on one page of a Forem article list (a JSON array); an article that cannot be read is
    skipped (and why, appended to `skipped`)."""
    if not isinstance(payload, list):
        raise BadPayload(f"DEV answered {type(payload).__name__} where a list of articles was expected")
    return read_items(payload, to_mention, skipped)


def top_days(since: datetime, now: datetime) -> int:
    """Forem's `top=N` keeps articles published in the last N whole days: the smallest N that covers `since`."""
    return max(1, math.ceil((now - since) / timedelta(days=1)))


class DevtoSource(Source[DevtoConfig]):
    """DEV Community (dev.to) articles: the site's newest, or chosen tags'. No credentials.

    Not searchable: the public API has no full-text search, so the articles are read once per scan and the
    pipeline matches them against the brand terms.
    """

    type = "devto"
    searchable = False
    credentials = "no"
    # forem/forem config/initializers/rack_attack.rb: `throttle("api_throttle", limit: 3, period: 1)` on GET /api/*
    # per IP, i.e. 180 requests a minute.
    requests_per_minute = 180.0

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        if not self.config.tags:
            async for mention in self._latest(since):
                yield mention
            return
        seen: set[str] = set()
        for tag in self.config.tags:
            async for mention in self._tagged(tag, since):
                # An article carries up to four tags: report it once.
                if mention.id not in seen:
                    seen.add(mention.id)
                    yield mention

    async def _latest(self, since: datetime) -> AsyncIterator[Mention]:
        """`/api/articles/latest`: every published article, newest first (`sort=desc` on the index)."""
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/api/articles/latest"
        for page in range(1, cfg.max_pages + 1):
            mentions, more = await self._page(url, {"page": page, "per_page": cfg.per_page})
            # Forem pages by number and sends no total: only an empty page marks the end, not a short one.
            if not more:
                return
            for mention in mentions:
                if mention.published_at < since:
                    return
                yield mention
        log.info("DEV: stopped after %d pages of the latest articles (max_pages)", cfg.max_pages)

    async def _tagged(self, tag: str, since: datetime) -> AsyncIterator[Mention]:
        """`/api/articles?tag=...&top=N`: the tag's articles of the last N days.

        Forem ignores the `sort` of `/latest` once `tag` is given and orders a tag by popularity
        (forem/forem app/services/article_api_index_service.rb, `tag_articles`): there is no newest-first order
        to stop in, so `top` is the server-side since filter (whole days) and every page is read, filtered here.
        """
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/api/articles"
        days = top_days(since, self.context.now())
        for page in range(1, cfg.max_pages + 1):
            params = {"tag": tag, "top": days, "page": page, "per_page": cfg.per_page}
            mentions, more = await self._page(url, params)
            if not more:
                return
            for mention in mentions:
                if mention.published_at >= since:
                    yield mention
        log.info("DEV: stopped after %d pages of tag %r (max_pages)", cfg.max_pages, tag)

    async def _page(self, url: str, params: dict[str, Any]) -> tuple[list[Mention], bool]:
        """A page's mentions, and whether it held any article at all (a page of unreadable ones is not the end)."""
        payload = await self.context.http.get_json(url, params=params, headers={"Accept": ACCEPT})
        return parse_page(payload, self.context.skipped), bool(payload)

"""Hacker News, through Algolia's HN Search API (stories and comments, newest first)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from pydantic import Field

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
from mentionwatch.plugin import json_int as _int

ITEM_URL = "https://news.ycombinator.com/item?id={}"


class HackerNewsConfig(SourceConfig):
    base_url: str = "https://hn.algolia.com/api/v1"
    tags: str = Field("(story,comment)", description="Algolia tags filter: story, comment, show_hn, ask_hn, ...")
    hits_per_page: int = Field(100, ge=1, le=1000)
    max_pages: int = Field(10, ge=1, le=50, description="pages to read per term at most")


def to_mention(hit: dict[str, Any]) -> Mention:
    """One Algolia hit as a Mention. Works for the 2017 format (`created_at` with millis) and the current one.
    Raises KeyError/TypeError/ValueError on a broken one."""
    if hit["objectID"] is None:
        raise KeyError("objectID")
    object_id = str(hit["objectID"])
    tags = hit.get("_tags") or []
    is_comment = "comment" in tags or (hit.get("comment_text") is not None and not hit.get("title"))
    if hit.get("created_at_i") is not None:
        published = from_epoch(int(hit["created_at_i"]))
    else:
        published = parse_time(str(hit["created_at"]))
    if is_comment:
        # Comments have no URL of their own in the API: their permalink is the item page, and what they
        # point at is the story's link.
        text = html_to_text(hit.get("comment_text"))
        title = ""
        link = hit.get("story_url") or None
        kind = "comment"
    else:
        text = html_to_text(hit.get("story_text"))
        title = html_to_text(hit.get("title"))
        link = hit.get("url") or None
        kind = "story"
    return Mention(
        source="",
        id=object_id,
        url=ITEM_URL.format(object_id),
        link=link,
        title=title,
        text=text,
        author=str(hit.get("author") or ""),
        published_at=published,
        kind=kind,
        score=_int(hit.get("points")),
        comments=_int(hit.get("num_comments")),
    )


def parse_page(payload: Any, skipped: list[str] | None = None) -> tuple[list[Mention], int]:
    """The mentions on one search page and the number of pages Algolia says there are; a hit that cannot be
    read is skipped (and why, appended to `skipped`)."""
    if not isinstance(payload, dict) or not isinstance(payload.get("hits"), list):
        raise BadPayload("Algolia answer has no `hits` list")
    return read_items(payload["hits"], to_mention, skipped), _int(payload.get("nbPages")) or 0


class HackerNewsSource(Source[HackerNewsConfig]):
    """Hacker News stories and comments via hn.algolia.com `search_by_date`. No credentials."""

    type = "hackernews"
    # hn.algolia.com/api: "limited to 10,000 requests per hour per IP address".
    requests_per_minute = 10_000 / 60

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/search_by_date"
        page = 0
        while page < cfg.max_pages:
            params: dict[str, Any] = {
                "query": term or "",
                "tags": cfg.tags,
                # Server-side since filter; `search_by_date` already sorts newest first.
                "numericFilters": f"created_at_i>={int(since.timestamp())}",
                "hitsPerPage": cfg.hits_per_page,
                "page": page,
            }
            payload = await self.context.http.get_json(url, params=params)
            mentions, nb_pages = parse_page(payload, self.context.skipped)
            for mention in mentions:
                if mention.published_at < since:
                    return
                yield mention
            page += 1
            # Algolia says how many pages there are; a short page alone is not trusted as the end.
            if page >= nb_pages:
                return

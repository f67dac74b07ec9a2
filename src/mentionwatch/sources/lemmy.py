"""Lemmy, the federated link aggregator, through an instance's `/api/v3/search` (posts, optionally comments)."""

from __future__ import annotations

import html
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import Any

from pydantic import Field

from mentionwatch.plugin import (
    BadPayload,
    Mention,
    Source,
    SourceConfig,
    markdown_to_text,
    parse_time,
    read_items,
    since_split,
)
from mentionwatch.plugin import json_dict as _dict
from mentionwatch.plugin import json_int as _int

PAGE_LIMIT = 50  # the largest `limit` Lemmy accepts


class LemmyConfig(SourceConfig):
    # Any instance searches everything it federates with; lemmy.world is the largest.
    base_url: str = "https://lemmy.world"
    include_comments: bool = Field(False, description="also search comments (a second query per term)")
    max_pages: int = Field(5, ge=1, le=50, description="pages of 50 per term and type at most")


def _view_parts(view: dict[str, Any], key: str) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    item = view.get(key)
    if not isinstance(item, dict):
        raise KeyError(key)
    return item, _dict(view.get("creator")), _dict(view.get("counts"))


def post_to_mention(view: dict[str, Any]) -> Mention:
    """One PostView (`{post, creator, community, counts, ...}`) as a Mention."""
    post, creator, counts = _view_parts(view, "post")
    # `ap_id` is the post's ActivityPub id: its permalink on the instance it was posted to, the same whichever
    # instance is searched. `post.id` is only this instance's row number (a federated post has a different one on
    # every instance), so `ap_id` is both the id and the url.
    ap_id = str(post["ap_id"])
    return Mention(
        source="",
        id=ap_id,
        url=ap_id,
        # `post.url` is the page a link post points to; text posts have none.
        link=str(post["url"]) if post.get("url") else None,
        # Lemmy 0.18.3-0.18.x stored `&` as `&amp;` in titles and bodies (LemmyNet/lemmy#3754, #3987; fixed in
        # 0.19), and posts from that time keep it: decode.
        title=html.unescape(str(post.get("name") or "")),
        text=markdown_to_text(post.get("body")),
        author=str(creator.get("name") or ""),
        # Lemmy up to 0.18 sends naive timestamps (UTC); 0.19 adds a `Z`. parse_time takes both as UTC.
        published_at=parse_time(str(post["published"])),
        kind="post",
        score=_int(counts.get("score")),
        comments=_int(counts.get("comments")),
    )


def comment_to_mention(view: dict[str, Any]) -> Mention:
    """One CommentView (`{comment, creator, post, community, counts, ...}`) as a Mention."""
    comment, creator, counts = _view_parts(view, "comment")
    post = _dict(view.get("post"))
    ap_id = str(comment["ap_id"])
    return Mention(
        source="",
        id=ap_id,
        url=ap_id,
        # What the comment is about: the link of the post it answers, if that is a link post.
        link=str(post["url"]) if post.get("url") else None,
        text=markdown_to_text(comment.get("content")),
        author=str(creator.get("name") or ""),
        published_at=parse_time(str(comment["published"])),
        kind="comment",
        score=_int(counts.get("score")),
        # Replies to the comment; `score` already nets up- and downvotes, so `upvotes` is not added again.
        comments=_int(counts.get("child_count")),
    )


def _gone(view: Any, key: str) -> bool:
    # Deleted and removed items stay in results with their text blanked: nothing to report.
    item = view.get(key) if isinstance(view, dict) else None
    return isinstance(item, dict) and (item.get("deleted") is True or item.get("removed") is True)


_KINDS: dict[str, tuple[str, str, Callable[[dict[str, Any]], Mention]]] = {
    "Posts": ("posts", "post", post_to_mention),
    "Comments": ("comments", "comment", comment_to_mention),
}


def parse_page(payload: Any, type_: str = "Posts", skipped: list[str] | None = None) -> list[Mention]:
    """The posts (`type_="Posts"`) or comments (`"Comments"`) on one SearchResponse page; one that cannot be
    read is skipped (and why, appended to `skipped`)."""
    key, item_key, convert = _KINDS[type_]
    if not isinstance(payload, dict) or not isinstance(payload.get(key), list):
        raise BadPayload(f"Lemmy search answer has no `{key}` list")
    return read_items((view for view in payload[key] if not _gone(view, item_key)), convert, skipped)


class LemmySource(Source[LemmyConfig]):
    """Lemmy posts (and optionally comments) mentioning a term, via any instance's search. No credentials."""

    type = "lemmy"
    credentials = "no"
    # Lemmy's default search rate limit is 60 requests per 600 s per IP (local_site_rate_limit.search /
    # search_per_second); each instance's admin can change it.
    requests_per_minute = 6

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        if not term:
            return
        types = ("Posts", "Comments") if self.config.include_comments else ("Posts",)
        for type_ in types:
            async for mention in self._search(term, type_, since):
                yield mention

    async def _search(self, term: str, type_: str, since: datetime) -> AsyncIterator[Mention]:
        cfg = self.config
        url = f"{cfg.base_url.rstrip('/')}/api/v3/search"
        for page in range(1, cfg.max_pages + 1):
            # No server-side date filter and no total: newest first, stop at `since` or at an empty page.
            params = {"q": term, "type_": type_, "sort": "New", "limit": PAGE_LIMIT, "page": page}
            payload = await self.context.http.get_json(url, params=params)
            mentions = parse_page(payload, type_, self.context.skipped)
            returned = payload[_KINDS[type_][0]]  # before deleted and removed items were dropped
            fresh, older = since_split(mentions, since)
            for mention in fresh:
                yield mention
            # Lemmy's page/limit paging says nothing about the end except by returning an empty page.
            if older or not returned:
                return

"""RSS 0.9x/1.0/2.0 and Atom feeds, Google Alerts feeds and Google News search feeds."""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import hashlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urljoin, urlsplit

from pydantic import Field, model_validator

from mentionwatch.dedupe import unwrap_redirect
from mentionwatch.errors import BadPayload, FetchError
from mentionwatch.http import Response, reject_html
from mentionwatch.models import Mention
from mentionwatch.source import Source, SourceConfig
from mentionwatch.text import html_to_text

_GNEWS_ARTICLE = re.compile(r"/(?:__i/rss/rd/)?(?:rss/)?articles/([A-Za-z0-9_-]+)")
_EMBEDDED_URL = re.compile(rb"https?://[\x21-\x7e]+")


class RssConfig(SourceConfig):
    # Used for `google_news`: the Google News root, with `/rss/search` below it.
    base_url: str = "https://news.google.com"
    urls: list[str] = Field(default_factory=list, description="feed URLs, or paths relative to the config file")
    google_news: str | None = Field(None, description="a Google News search query; its RSS feed is read")
    google_news_locale: str = Field("en-US", pattern=r"^[a-z]{2}-[A-Z]{2}$")

    @model_validator(mode="after")
    def _has_a_feed(self) -> RssConfig:
        if not self.urls and not self.google_news:
            raise ValueError("an rss source needs `urls` or `google_news`")
        return self

    def feed_urls(self) -> list[str]:
        out = list(self.urls)
        if self.google_news:
            lang, country = self.google_news_locale.split("-")
            out.append(
                f"{self.base_url.rstrip('/')}/rss/search?q={quote_plus(self.google_news)}"
                f"&hl={self.google_news_locale}&gl={country}&ceid={country}:{lang}"
            )
        return out


def decode_google_news_link(url: str) -> str:
    """The publisher URL inside an old-style Google News article link, when it carries one in clear.

    Links like `news.google.com/__i/rss/rd/articles/CBMi...` are base64url protobuf holding the target URL;
    newer opaque ids do not decode to a URL and are returned unchanged.
    """
    parts = urlsplit(url)
    if parts.hostname != "news.google.com":
        return url
    found = _GNEWS_ARTICLE.search(parts.path)
    if not found:
        return url
    token = found.group(1)
    try:
        raw = base64.urlsafe_b64decode(token + "=" * (-len(token) % 4))
    except (binascii.Error, ValueError):
        return url
    embedded = _EMBEDDED_URL.search(raw)
    return embedded.group(0).decode("ascii") if embedded else url


def _entry_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        value = entry.get(key)
        if value:
            # feedparser normalises every date format to a UTC struct_time.
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


def _entry_author(entry: Any, feed_title: str, url: str, aggregator: bool) -> str:
    author = (entry.get("author") or "").strip()
    if author:
        return html_to_text(author)
    source = entry.get("source") or {}
    # Google News names the outlet in <source url="...">Publisher</source>.
    if source.get("title"):
        return str(source["title"]).strip()
    if aggregator:
        # Google Alerts sends an empty <author><name>; the publisher's site is the honest byline.
        host = urlsplit(url).hostname or ""
        return host.removeprefix("www.")
    return feed_title


def parse_feed(content: bytes, feed_url: str, now: datetime) -> list[Mention]:
    """Every entry of a feed as a Mention. Entries without a date get `now` and `undated=True`."""
    import feedparser  # heavy import, kept off the start-up path

    # No content-location: feedparser would then also "resolve" plain guids like `h1` into URLs, changing
    # ids. Relative entry links are joined to the feed URL below instead.
    parsed = feedparser.parse(content)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        raise BadPayload(f"{feed_url} is not an RSS or Atom feed ({reason or 'no entries, no feed element'})")
    feed_title = html_to_text(parsed.feed.get("title", ""))
    aggregator = str(parsed.feed.get("id", "")).startswith("tag:google.com") or "news.google.com" in feed_url
    out = []
    for entry in parsed.entries:
        link = entry.get("link") or ""
        if link and feed_url.startswith(("http://", "https://")):
            link = urljoin(feed_url, link)
        url = decode_google_news_link(unwrap_redirect(link)) if link else ""
        title = html_to_text(entry.get("title"))
        content_html = ""
        if entry.get("content"):
            content_html = entry["content"][0].get("value", "")
        text = html_to_text(content_html or entry.get("summary"))
        entry_id = entry.get("id") or link or hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
        published = _entry_time(entry)
        out.append(
            Mention(
                source="",
                id=str(entry_id),
                url=url or feed_url,
                title=title,
                text=text,
                author=_entry_author(entry, feed_title, url, aggregator),
                published_at=published or now,
                undated=published is None,
                kind="article",
            )
        )
    return out


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/"))  # C:\ paths


class RssSource(Source):
    """Any RSS or Atom feed: news sites, blogs, Google Alerts (feed delivery), Google News searches."""

    type = "rss"
    Config = RssConfig
    searchable = False

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        assert isinstance(self.config, RssConfig)
        urls = self.config.feed_urls()
        results = await asyncio.gather(*(self._read(u) for u in urls), return_exceptions=True)
        errors: list[BaseException] = []
        for result in results:
            if isinstance(result, BaseException):
                errors.append(result)
                continue
            for mention in result:
                if mention.undated and self.context.first_seen is not None:
                    mention.published_at = self.context.first_seen(self.name, mention.id, mention.published_at)
                if mention.published_at >= since:
                    yield mention
        if errors:
            # The healthy feeds' entries were yielded above; the first failure is this source's health.
            raise errors[0]

    async def _read(self, url: str) -> list[Mention]:
        now = self.context.now()
        if _is_local(url):
            path = Path(url.removeprefix("file://"))
            path = path if path.is_absolute() else self.context.base_dir / path
            try:
                content = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                raise FetchError(f"cannot read feed file {path}: {exc.strerror}") from None
            return await asyncio.to_thread(parse_feed, content, str(path), now)
        resp: Response = await self.context.http.get(url)
        # Sniff the body, not the header: plenty of real feeds are served as text/html.
        if resp.content.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            reject_html(resp, "a feed")
        # Parsing costs milliseconds per feed: off the event loop, so other sources keep fetching.
        return await asyncio.to_thread(parse_feed, resp.content, resp.url, now)

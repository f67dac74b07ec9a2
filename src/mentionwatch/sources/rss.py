"""RSS 0.9x/1.0/2.0 and Atom feeds, Google Alerts feeds and Google News search feeds."""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import email.utils
import hashlib
import html
import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote_plus, urljoin, urlsplit
from xml.etree import ElementTree

from pydantic import Field, model_validator

from mentionwatch.errors import BadPayload, FetchError
from mentionwatch.http import Response, public_url, reject_html
from mentionwatch.models import Mention
from mentionwatch.source import Source, SourceConfig
from mentionwatch.text import html_to_text
from mentionwatch.urls import unwrap_redirect

# Feeds up to this size are parsed on the event loop (64 KB: a few milliseconds); bigger ones in a thread.
INLINE_PARSE_BYTES = 64 * 1024
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
    if "news.google.com" not in url.lower():  # the cheap test first: it is asked of every entry's link
        return url
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


@dataclass(frozen=True)
class RawEntry:
    """One feed entry as either parser reads it, before it becomes a Mention."""

    id: str
    link: str
    title: str  # may hold HTML (Google Alerts puts <b> in titles)
    content: str  # HTML
    author: str
    source_title: str  # Google News: <source url="...">Publisher</source>
    published: datetime | None


@dataclass(frozen=True)
class RawFeed:
    title: str
    id: str
    entries: list[RawEntry]


def parse_feed(content: bytes, feed_url: str, now: datetime) -> list[Mention]:
    """Every entry of a feed as a Mention. Entries without a date get `now` and `undated=True`.

    Plain RSS 2.0 and Atom 1.0 documents (nearly every feed) are read with the C XML parser, about 20 times
    faster than feedparser: a cold scan of hundreds of feeds is otherwise spent parsing. Anything it does not
    fully understand (RSS 0.9x/1.0, broken XML, odd dates, XHTML content) goes to feedparser, which handles
    everything; tests check that both give the same mentions.
    """
    raw = read_simple_feed(content) or read_with_feedparser(content, feed_url)
    return to_mentions(raw, feed_url, now)


def to_mentions(raw: RawFeed, feed_url: str, now: datetime) -> list[Mention]:
    feed_title = html_to_text(raw.title)
    aggregator = raw.id.startswith("tag:google.com") or "news.google.com" in feed_url
    out = []
    for entry in raw.entries:
        link = entry.link
        if link and feed_url.startswith(("http://", "https://")):
            link = urljoin(feed_url, link)
        url = decode_google_news_link(unwrap_redirect(link)) if link else ""
        title = html_to_text(entry.title)
        text = html_to_text(entry.content)
        entry_id = entry.id or link or hashlib.sha1(f"{title}\n{text}".encode()).hexdigest()
        out.append(
            Mention(
                source="",
                id=entry_id,
                url=url or feed_url,
                title=title,
                text=text,
                author=_author(entry, feed_title, url, aggregator),
                published_at=entry.published or now,
                undated=entry.published is None,
                kind="article",
            )
        )
    return out


def _author(entry: RawEntry, feed_title: str, url: str, aggregator: bool) -> str:
    if entry.author.strip():
        return html_to_text(entry.author)
    if entry.source_title.strip():
        return entry.source_title.strip()
    if aggregator:
        # Google Alerts sends an empty <author><name>; the publisher's site is the honest byline.
        host = urlsplit(url).hostname or ""
        return host.removeprefix("www.")
    return feed_title


def read_with_feedparser(content: bytes, feed_url: str) -> RawFeed:
    import feedparser  # heavy import, kept off the start-up path

    # No content-location: feedparser would then also "resolve" plain guids like `h1` into URLs, changing
    # ids. Relative entry links are joined to the feed URL in `to_mentions` instead.
    parsed = feedparser.parse(content)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        what = reason or "no entries, no feed element"
        raise BadPayload(f"{public_url(feed_url)} is not an RSS or Atom feed ({what})")
    entries = []
    for entry in parsed.entries:
        content_html = entry["content"][0].get("value", "") if entry.get("content") else ""
        source = entry.get("source") or {}
        entries.append(
            RawEntry(
                id=str(entry.get("id") or ""),
                link=entry.get("link") or "",
                title=entry.get("title") or "",
                content=content_html or entry.get("summary") or "",
                author=entry.get("author") or "",
                source_title=str(source.get("title") or ""),
                published=_feedparser_time(entry),
            )
        )
    return RawFeed(title=parsed.feed.get("title", ""), id=str(parsed.feed.get("id", "")), entries=entries)


def _feedparser_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # The plain dict look-up: feedparser's own answers a missing `updated_parsed` with `published_parsed`
        # and a DeprecationWarning (its issue 310) when the published date did not parse.
        value = dict.get(entry, key)
        if value:
            # feedparser normalises every date format to a UTC struct_time.
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    return None


_ATOM = "{http://www.w3.org/2005/Atom}"
_CONTENT = "{http://purl.org/rss/1.0/modules/content/}encoded"
_DC_CREATOR = "{http://purl.org/dc/elements/1.1/}creator"


class _NotSimple(Exception):
    """The document needs feedparser."""


def read_simple_feed(content: bytes) -> RawFeed | None:
    """A plain RSS 2.0 or Atom 1.0 feed read with the stdlib's C XML parser, or None to use feedparser.

    expat (2.4+) refuses entity-expansion bombs and ElementTree never fetches external entities.
    """
    if b"<!DOCTYPE" in content[:1024] or b"<!ENTITY" in content[:4096]:
        return None
    try:
        root = ElementTree.fromstring(content)
        if root.tag == "rss" and root.get("version", "").startswith("2."):
            return _read_rss2(root)
        if root.tag == f"{_ATOM}feed":
            return _read_atom(root)
    except (ElementTree.ParseError, _NotSimple, ValueError):
        return None
    return None


def _text(element: ElementTree.Element | None) -> str:
    return (element.text or "").strip() if element is not None else ""


def _read_rss2(root: ElementTree.Element) -> RawFeed:
    channel = root.find("channel")
    if channel is None:
        raise _NotSimple
    entries = []
    for item in channel.iter("item"):
        date_text = _text(item.find("pubDate")) or _text(item.find("{http://purl.org/dc/elements/1.1/}date"))
        entries.append(
            RawEntry(
                id=_text(item.find("guid")),
                link=_text(item.find("link")),
                title=_text(item.find("title")),
                content=_text(item.find(_CONTENT)) or _text(item.find("description")),
                author=_text(item.find("author")) or _text(item.find(_DC_CREATOR)),
                source_title=_text(item.find("source")),
                published=_rfc822(date_text) if date_text else None,
            )
        )
    return RawFeed(title=_text(channel.find("title")), id="", entries=entries)


def _rfc822(text: str) -> datetime:
    parsed = email.utils.parsedate_to_datetime(text)  # ValueError on anything odd: feedparser then decides
    if parsed.tzinfo is None:
        raise _NotSimple
    return parsed.astimezone(UTC)


def _read_atom(root: ElementTree.Element) -> RawFeed:
    entries = []
    for entry in root.iter(f"{_ATOM}entry"):
        link = ""
        for candidate in entry.findall(f"{_ATOM}link"):
            if candidate.get("rel", "alternate") == "alternate":
                link = candidate.get("href", "")
                break
        body = entry.find(f"{_ATOM}content")
        if body is None:
            body = entry.find(f"{_ATOM}summary")
        if body is not None and (body.get("type") == "xhtml" or len(body)):
            raise _NotSimple  # XHTML content is child elements: feedparser serialises those properly
        date_text = _text(entry.find(f"{_ATOM}published")) or _text(entry.find(f"{_ATOM}updated"))
        entries.append(
            RawEntry(
                id=_text(entry.find(f"{_ATOM}id")),
                link=link,
                title=_atom_text(entry.find(f"{_ATOM}title")),
                content=_atom_text(body),
                author=_text(entry.find(f"{_ATOM}author/{_ATOM}name")),
                source_title="",
                published=_iso(date_text) if date_text else None,
            )
        )
    return RawFeed(title=_atom_text(root.find(f"{_ATOM}title")), id=_text(root.find(f"{_ATOM}id")), entries=entries)


def _atom_text(element: ElementTree.Element | None) -> str:
    """Atom text constructs: `type="text"` is plain text, to be shown as is, so escape it for html_to_text."""
    if element is None:
        return ""
    value = (element.text or "").strip()
    return html.escape(value, quote=False) if element.get("type", "text") == "text" else value


def _iso(text: str) -> datetime:
    parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    if parsed.tzinfo is None:
        raise _NotSimple
    return parsed.astimezone(UTC)


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

        async def read(url: str) -> tuple[list[Mention], FetchError | None]:
            try:
                return await self._read(url), None
            except FetchError as exc:
                return [], exc

        # Feeds are yielded as each one arrives (progress shows them), and a failing feed loses no other's.
        tasks = [asyncio.ensure_future(read(u)) for u in urls]
        errors: list[FetchError] = []
        try:
            for done in asyncio.as_completed(tasks):
                mentions, error = await done
                if error is not None:
                    errors.append(error)
                for mention in mentions:
                    if mention.undated and self.context.first_seen is not None:
                        mention.published_at = self.context.first_seen(self.name, mention.id, mention.published_at)
                    if mention.published_at >= since:
                        yield mention
        finally:
            for task in tasks:
                task.cancel()
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
        http = self.context.http
        resp: Response = await http.get(url)
        validator = resp.validator
        if resp.not_modified and validator:
            # Unchanged since last run (HTTP 304): reuse what it parsed to instead of parsing it again.
            remembered = http.recall_parsed(url, validator)
            if remembered is not None:
                return [Mention.from_dict(d, default_source="") for d in json.loads(remembered)]
        # Sniff the body, not the header: plenty of real feeds are served as text/html.
        if resp.content.lstrip()[:15].lower().startswith((b"<!doctype html", b"<html")):
            reject_html(resp, "a feed")
        if len(resp.content) <= INLINE_PARSE_BYTES:
            # A usual feed parses in about a millisecond: at once, on the loop. In a thread it cost more than
            # that: every I/O call of the loop then waited for the GIL (measured: a cold 200-feed scan 3% slower).
            mentions = parse_feed(resp.content, resp.url, now)
        else:
            # A big one would hold up every other source's requests: off the event loop.
            mentions = await asyncio.to_thread(parse_feed, resp.content, resp.url, now)
        if validator:
            http.remember_parsed(url, validator, json.dumps([m.to_dict() for m in mentions]).encode())
        return mentions

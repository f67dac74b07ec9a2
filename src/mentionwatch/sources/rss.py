"""RSS 0.9x/1.0/2.0 and Atom feeds, Google Alerts feeds and Google News search feeds."""

from __future__ import annotations

import asyncio
import base64
import binascii
import calendar
import codecs
import contextlib
import functools
import hashlib
import html
import io
import os
import re
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote_plus, urljoin, urlsplit
from xml.etree import ElementTree

from pydantic import AfterValidator, Field, model_validator

from mentionwatch.plugin import (
    BadPayload,
    FetchError,
    Mention,
    Response,
    Source,
    SourceConfig,
    canonical_url,
    check_http_url,
    html_to_text,
    public_url,
    read_items,
    reject_html,
    unwrap_redirect,
)

# Feeds up to this size are parsed on the event loop (64 KB: a few milliseconds); bigger ones in a thread.
INLINE_PARSE_BYTES = 64 * 1024
_GNEWS_ARTICLE = re.compile(r"/(?:__i/rss/rd/)?(?:rss/)?articles/([A-Za-z0-9_-]+)")
_EMBEDDED_URL = re.compile(rb"https?://[\x21-\x7e]+")


def _feed_location(value: str) -> str:
    """A feed URL (http or https, checked like any URL) or a local file path, relative to the config file."""
    if not value.strip():
        raise ValueError("empty feed location: write a feed URL or a file path")
    try:
        local = _is_local(value)
    except ValueError:  # urlsplit refuses `http://[::1/feed`; check_http_url says why
        local = False
    return value if local else check_http_url(value)


FeedLocation = Annotated[str, AfterValidator(_feed_location)]


class RssConfig(SourceConfig):
    # Used for `google_news`: the Google News root, with `/rss/search` below it.
    base_url: str = "https://news.google.com"
    urls: list[FeedLocation] = Field(
        default_factory=list, description="feed URLs, or paths relative to the config file"
    )
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
    """One feed entry as either reader reads it, before it becomes a Mention. Texts are HTML (a text Atom
    marks as plain is escaped), to become plain text in `to_mentions`."""

    id: str
    link: str
    title: str  # Google Alerts puts <b> in titles
    content: str
    author: str
    source_title: str  # Google News: <source url="...">Publisher</source>; Atom: <source><title>
    published: datetime | None
    # Why this entry cannot become a mention (a date no calendar holds), found while the document was read: the
    # entry is then skipped and counted, and the rest of the feed is read.
    unreadable: str = ""


@dataclass(frozen=True)
class RawFeed:
    title: str
    id: str
    entries: list[RawEntry]
    # The document ends before its root element is closed (a download cut short): `entries` are those read up to
    # there, and the rest of the feed is missing.
    cut_short: bool = False


def parse_feed(
    content: bytes,
    feed_url: str,
    now: datetime,
    skipped: list[str] | None = None,
    warnings: list[str] | None = None,
    *,
    scope: str | None = None,
    charset: str | None = None,
) -> list[Mention]:
    """Every entry of a feed as a Mention. Entries without a date get `now` and `undated=True`. A document cut short
    gives the entries read before its end, and says so in `warnings`. `feed_url` is where the document was read
    (relative links are joined to it); `scope`, the feed as configured, whose items' own ids are scoped to it
    (default: `feed_url`); `charset`, the one its HTTP Content-Type names, if any.

    Plain RSS and Atom 1.0 documents (nearly every feed) are read with the C XML parser, several times faster
    than feedparser: a cold scan of hundreds of feeds is otherwise spent parsing. The fast reader reads them as
    feedparser does; whatever it cannot read exactly so (RSS 1.0, Atom 0.3, broken XML, DTDs, odd dates or
    encodings) goes to feedparser. tests/test_feed_corpus.py checks both give the same mentions on feedparser's
    own test corpus.
    """
    if charset:
        content = in_http_charset(content, charset)
    raw = read_simple_feed(content) or read_with_feedparser(content, feed_url)
    if raw.cut_short and warnings is not None:
        warnings.append(
            f"{public_url(feed_url)} ends before its feed element is closed (cut short?): "
            f"{len(raw.entries)} entries read"
        )
    return to_mentions(raw, feed_url, now, skipped, scope=scope)


def to_mentions(
    raw: RawFeed, feed_url: str, now: datetime, skipped: list[str] | None = None, *, scope: str | None = None
) -> list[Mention]:
    """The feed's entries as mentions; an entry that cannot be one is skipped and counted in `skipped`."""
    feed_title = html_to_text(raw.title)
    aggregator = raw.id.startswith("tag:google.com") or "news.google.com" in feed_url
    feed_key = _feed_key(scope or feed_url)

    def to_mention(entry: RawEntry) -> Mention:
        if entry.unreadable:
            raise ValueError(entry.unreadable)
        link = entry.link
        if link and feed_url.startswith(("http://", "https://")):
            with contextlib.suppress(ValueError):  # `http://[::1/x` cannot be joined: kept as it is
                link = urljoin(feed_url, link)
        elif link == entry.id and not _is_web_url(link):
            link = ""  # a relative permalink guid with no feed URL to join it to (a local file): an id only
        # An item without a link has no page of its own: no URL, rather than the feed's (which dedupe would
        # then take for one page holding every such item of the feed).
        url = decode_google_news_link(unwrap_redirect(link)) if link else ""
        title = html_to_text(entry.title)
        return Mention(
            source="",
            id=_entry_id(entry, url, title, feed_key),
            url=url,
            title=title,
            text=html_to_text(entry.content),
            author=_author(entry, feed_title, url, aggregator),
            published_at=entry.published or now,
            undated=entry.published is None,
            kind="article",
        )

    return read_items(raw.entries, to_mention, skipped)


# Item ids that name one thing wherever they are written: a web address, a tag: URI (RFC 4151, Atom's usual id), a
# URN (`urn:uuid:...`), a bare UUID. Any other guid (`1`, `ep-1`, a CMS's post number) is unique within its feed only.
_GLOBAL_ID = re.compile(
    r"https?://[^/\s]|tag:|urn:|\{?[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\}?\Z", re.IGNORECASE
)


def _feed_key(location: str) -> str:
    """A short stable name of a feed (its canonical URL, or its file path) that scopes its items' own ids: a digest,
    so that an id never shows a key a private feed's URL holds."""
    return hashlib.sha256(canonical_url(location).encode()).hexdigest()[:8]


def _entry_id(entry: RawEntry, url: str, title: str, feed_key: str) -> str:
    """A feed item's identity, the same on every run and from either reader: its guid (Atom id), scoped by its feed
    (`3fa9c2d1/ep-1`) unless unique by construction (a URL, a tag: or urn: URI, a UUID); else its canonical link;
    else a hash of its title and date. Never the feed's URL, which all its items share. The store keys a
    mention by its id (and its first-seen times too): two feeds' guid `1` must not be taken for one item."""
    if entry.id:
        return entry.id if _GLOBAL_ID.match(entry.id) else f"{feed_key}/{entry.id}"
    if url:
        return canonical_url(url)
    # Not scoped by the feed: this is the id earlier versions stored, and a store cannot tell the old digest from the
    # new (a guid can be renamed, `store.rescoped`). The same title at the same time in two feeds is one item.
    date = entry.published.isoformat() if entry.published else ""
    return hashlib.sha1(f"{title}\n{date}".encode()).hexdigest()


def _author(entry: RawEntry, feed_title: str, url: str, aggregator: bool) -> str:
    if entry.author.strip():
        return html_to_text(entry.author)
    if entry.source_title.strip():
        return html_to_text(entry.source_title)
    if aggregator:
        # Google Alerts sends an empty <author><name>; the publisher's site is the honest byline.
        try:
            host = urlsplit(url).hostname or ""
        except ValueError:  # a link Python cannot split names no site
            host = ""
        return host.removeprefix("www.")
    return feed_title


# What expat says of a document that ends early (feedparser keeps the first error of its strict pass, then reads
# the document again with its loose parser, which keeps every entry read up to the end): the end came inside the
# root element, or inside a token, which may also be a comment or instruction after the root's end tag.
_ENDS_IN_ROOT = frozenset({"no element found", "unclosed CDATA section"})
_ENDS_IN_TOKEN = frozenset({"unclosed token", "partial character"})
# The end tag of a root element feedparser reads: <rss>, Atom's <feed>, RSS 1.0's <rdf:RDF>, prefixed or not.
_ROOT_END = re.compile(rb"</(?:[\w.-]+:)?(?:rss|feed|RDF)\s*>", re.IGNORECASE)
# An entry's start and end tags (RSS <item>, Atom <entry>, prefixed or not).
_ENTRY_TAG = re.compile(rb"<(/?)(?:[\w.-]+:)?(?:item|entry)[\s/>]", re.IGNORECASE)


def _cut_short(parsed: Any, content: bytes) -> bool:
    """Whether feedparser found the document ending before its root element is closed. Its other complaints
    (undefined entities, a wrong declared encoding: many real feeds) mean nothing was lost, and are not this."""
    from xml.sax import SAXParseException  # loaded by feedparser already; kept off the fast reader's path

    error = parsed.get("bozo_exception")
    if not isinstance(error, SAXParseException):
        return False
    message = error.getMessage()
    return message in _ENDS_IN_ROOT or (message in _ENDS_IN_TOKEN and _ROOT_END.search(content) is None)


def _ends_in_entry(content: bytes) -> bool:
    """Whether a document cut short ends inside an entry: one begun and not ended."""
    tags = _ENTRY_TAG.findall(content)  # the slash of each end tag, "" for a start tag
    return bool(tags) and not tags[-1]


def read_with_feedparser(content: bytes, feed_url: str) -> RawFeed:
    import feedparser  # heavy import, kept off the start-up path

    # A file object, never the bytes: feedparser.parse() opens a bytes argument as a local file path when one
    # exists (api.py `_open_resource`), so a body of `/dev/zero` would be read forever. No content-location:
    # feedparser would then also "resolve" plain guids like `h1` into URLs, changing ids (relative entry links
    # are joined to the feed URL in `to_mentions` instead). No sanitising or URI rewriting: the markup only
    # becomes plain text here, and its sanitiser keeps the text of <script> and <style> it drops the tags of.
    parsed = feedparser.parse(io.BytesIO(content), sanitize_html=False, resolve_relative_uris=False)
    if not parsed.get("version") and not parsed.entries:
        reason = parsed.get("bozo_exception")
        what = reason or "no entries, no feed element"
        raise BadPayload(f"{public_url(feed_url)} is not an RSS or Atom feed ({what})")
    atom = str(parsed.get("version", "")).startswith("atom")

    def markup(data: Any, key: str) -> str:
        return _as_html(str(data.get(key) or ""), (data.get(f"{key}_detail") or {}).get("type"), atom)

    entries = []
    for entry in parsed.entries:
        try:
            published, unreadable = _feedparser_time(entry), ""
        except (ValueError, OverflowError) as exc:  # a date no datetime holds (year 0, year 10000)
            published, unreadable = None, f"date out of range: {exc}"
        contents = entry.get("content") or [{}]
        link = entry.get("link") or ""
        if link not in {each.get("href") for each in entry.get("links", [])} and not _is_page_guid(link):
            link = ""  # it came from a guid (or Atom id) that is not a web address
        entries.append(
            RawEntry(
                id=str(entry.get("id") or ""),
                link=link,
                title=markup(entry, "title"),
                content=_as_html(str(contents[0].get("value") or ""), contents[0].get("type"), atom)
                or markup(entry, "summary"),
                author=str(entry.get("author") or ""),
                source_title=markup(entry.get("source") or {}, "title"),
                published=published,
                unreadable=unreadable,
            )
        )
    cut_short = _cut_short(parsed, content)
    if cut_short and entries and _ends_in_entry(content):
        # The entry the document ends in is half read: without its guid or date yet, it would come back whole from
        # the next complete read as another item. It is left to that read.
        entries.pop()
    if cut_short and not entries:
        # Nothing read whole: a download cut short, not a feed with nothing new (never mistaken for a quiet day).
        raise BadPayload(f"{public_url(feed_url)} ends before its first entry is closed (cut short?)")
    return RawFeed(
        title=markup(parsed.feed, "title"),
        id=str(parsed.feed.get("id", "")),
        entries=entries,
        cut_short=cut_short,
    )


def _feedparser_time(entry: Any) -> datetime | None:
    for key in ("published_parsed", "updated_parsed", "created_parsed"):
        # The plain dict look-up: feedparser's own answers a missing `updated_parsed` with `published_parsed`
        # and a DeprecationWarning (its issue 310) when the published date did not parse.
        value = dict.get(entry, key)
        if value:
            # feedparser normalises every date format to a UTC struct_time.
            return datetime.fromtimestamp(calendar.timegm(value), tz=UTC)
    # A date feedparser did not read would make the item pass for undated, published whenever first seen.
    for key in ("published", "updated", "created"):
        text = str(dict.get(entry, key) or "").strip().lower()
        # An RFC 822 date with its weekday and no zone (`Mon, 03 Nov 2025 08:00:00`), common in hand-made feeds:
        # feedparser reads `03 Nov 2025 08:00` as UTC, but not this. Read as UTC too.
        found = _RFC822_NO_ZONE.fullmatch(text)
        if found:
            day, month, year, hour, minute, second = found.groups()
            return _utc(int(year), _MONTHS[month], int(day), int(hour), int(minute), int(second or 0))
        # A date in a form read here that no calendar holds (31 Feb, year 0, past 9999) is a ValueError or an
        # OverflowError: the item is unreadable, as such a date is in every other source. Forms not read here
        # (`garbage`, another language) leave the item undated.
        with contextlib.suppress(_NotSimple):
            if text and (stamp := _parse_date(text)) is not None:
                return stamp
    return None


# -- The fast reader: feedparser's reading of plain RSS 2.0 and Atom 1.0, on the stdlib's C XML parser.
#
# feedparser reads a document as a flat stream of SAX events: an element's meaning comes from its name alone
# (wherever it sits), later values usually replace earlier ones, a title or summary nested deeper loses to a
# shallower one, and every text goes through the same clean-up. The reader below walks the parsed tree in the
# same order and keeps the same state for the fields a Mention is built from (title, text, link, id, dates,
# author, the publisher of an aggregated item); the rules it reproduces are those of feedparser 6.0's
# mixin.py and namespaces/_base.py, cited by name. What it would have to guess at (encodings other than the
# usual, DTDs, base64 content, quirks that throw feedparser's own state off) raises `_NotSimple`, and the
# document goes to feedparser. tests/test_feed_corpus.py holds it to feedparser's own test corpus.

_XHTML = "application/xhtml+xml"
_HTML_TYPES = frozenset({"text/html", _XHTML})
# feedparser's namespace table (mixin.py `namespaces`), lower-cased as it matches them. These URIs name plain
# RSS/Atom elements ...
_FP_PLAIN = frozenset(
    {
        "", "http://backend.userland.com/rss", "http://blogs.law.harvard.edu/tech/rss", "http://purl.org/rss/1.0/",
        "http://my.netscape.com/rdf/simple/0.9/", "http://example.com/newformat#", "http://example.com/necho",
        "http://purl.org/echo/", "uri/of/echo/namespace#", "http://purl.org/pie/", "http://purl.org/atom/ns#",
        "http://www.w3.org/2005/atom", "http://purl.org/rss/1.0/modules/rss091#",
    }
)  # fmt: skip
# ... these its modules, by the prefix its handlers are named after (`_start_dc_creator`).
_FP_MODULES = {
    "http://webns.net/mvcb/": "admin", "http://purl.org/rss/1.0/modules/aggregation/": "ag",
    "http://purl.org/rss/1.0/modules/annotate/": "annotate", "http://media.tangent.org/rss/1.0/": "audio",
    "http://backend.userland.com/blogchannelmodule": "blogchannel", "http://creativecommons.org/ns#license": "cc",
    "http://web.resource.org/cc/": "cc",
    "http://cyber.law.harvard.edu/rss/creativecommonsrssmodule.html": "creativecommons",
    "http://backend.userland.com/creativecommonsrssmodule": "creativecommons",
    "http://purl.org/rss/1.0/modules/company": "co", "http://purl.org/rss/1.0/modules/content/": "content",
    "http://my.theinfo.org/changed/1.0/rss/": "cp", "http://purl.org/dc/elements/1.1/": "dc",
    "http://purl.org/dc/terms/": "dcterms", "http://purl.org/rss/1.0/modules/email/": "email",
    "http://purl.org/rss/1.0/modules/event/": "ev", "http://rssnamespace.org/feedburner/ext/1.0": "feedburner",
    "http://freshmeat.net/rss/fm/": "fm", "http://xmlns.com/foaf/0.1/": "foaf",
    "http://www.w3.org/2003/01/geo/wgs84_pos#": "geo", "http://www.georss.org/georss": "georss",
    "http://www.opengis.net/gml": "gml", "http://postneo.com/icbm/": "icbm",
    "http://purl.org/rss/1.0/modules/image/": "image", "http://www.itunes.com/dtds/podcast-1.0.dtd": "itunes",
    "http://example.com/dtds/podcast-1.0.dtd": "itunes", "http://purl.org/rss/1.0/modules/link/": "l",
    "http://search.yahoo.com/mrss": "media", "http://search.yahoo.com/mrss/": "media",
    "http://madskills.com/public/xml/rss/module/pingback/": "pingback",
    "http://prismstandard.org/namespaces/1.2/basic/": "prism", "http://www.w3.org/1999/02/22-rdf-syntax-ns#": "rdf",
    "http://www.w3.org/2000/01/rdf-schema#": "rdfs", "http://purl.org/rss/1.0/modules/reference/": "ref",
    "http://purl.org/rss/1.0/modules/richequiv/": "reqv", "http://purl.org/rss/1.0/modules/search/": "search",
    "http://purl.org/rss/1.0/modules/slash/": "slash", "http://schemas.xmlsoap.org/soap/envelope/": "soap",
    "http://purl.org/rss/1.0/modules/servicestatus/": "ss", "http://hacks.benhammersley.com/rss/streaming/": "str",
    "http://purl.org/rss/1.0/modules/subscription/": "sub", "http://purl.org/rss/1.0/modules/syndication/": "sy",
    "http://schemas.pocketsoap.com/rss/mydescmodule/": "szf", "http://purl.org/rss/1.0/modules/taxonomy/": "taxo",
    "http://purl.org/rss/1.0/modules/threading/": "thr", "http://purl.org/rss/1.0/modules/textinput/": "ti",
    "http://madskills.com/public/xml/rss/module/trackback/": "trackback", "http://wellformedweb.org/commentapi/": "wfw",
    "http://purl.org/rss/1.0/modules/wiki/": "wiki", "http://www.w3.org/1999/xhtml": "xhtml",
    "http://www.w3.org/1999/xlink": "xlink", "http://www.w3.org/xml/1998/namespace": "xml",
    "http://podlove.org/simple-chapters": "psc",
}  # fmt: skip
# Declaring these makes feedparser take the document for RSS 1.0 / 0.90 (mixin.py `track_namespace`).
_FP_VERSION_NS = frozenset({"http://purl.org/rss/1.0/", "http://my.netscape.com/rdf/simple/0.9/"})
# feedparser calls the end handler of an element even inside content, where it skipped the start handler; these
# names have one (every `_end_*` of its mixin), and it then loses track of the content around them.
_FP_END_HANDLERS = frozenset(
    {
        "abstract", "author", "body", "category", "channel", "content", "content_encoded", "contributor", "copyright",
        "created", "creativecommons_license", "dc_author", "dc_contributor", "dc_creator", "dc_date", "dc_description",
        "dc_language", "dc_publisher", "dc_rights", "dc_subject", "dc_title", "dcterms_created", "dcterms_issued",
        "dcterms_modified", "dcterms_valid", "description", "email", "entry", "expirationdate", "feed",
        "feedburner_browserfriendly", "fullitem", "generator", "geom", "georss_box", "georss_line", "georss_point",
        "georss_polygon", "georss_where", "gml_exterior", "gml_linearring", "gml_linestring", "gml_point",
        "gml_polygon", "gml_pos", "gml_poslist", "guid", "height", "homepage", "id", "image", "info", "issued", "item",
        "itunes_author", "itunes_block", "itunes_category", "itunes_email", "itunes_explicit", "itunes_keywords",
        "itunes_name", "itunes_owner", "itunes_subtitle", "itunes_summary", "keywords", "language", "lastbuilddate",
        "link", "managingeditor", "media_category", "media_credit", "media_description", "media_keywords",
        "media_license", "media_player", "media_rating", "media_restriction", "media_thumbnail", "media_title",
        "modified", "name", "newlocation", "psc_chapters", "pubdate", "published", "rights", "source", "subtitle",
        "summary", "tagline", "tags", "textinput", "title", "updated", "uri", "url", "webmaster", "where", "width",
        "xhtml_body"
    }
)  # fmt: skip
# Which element feeds which field (feedparser's handler aliases: `_start_dc_title` is `_start_title`, ...).
_TITLES = frozenset({"title", "dc_title", "media_title"})
_DESCRIPTIONS = frozenset({"description", "dc_description", "media_description"})
_SUMMARIES = frozenset({"summary", "itunes_summary"})
_CONTENTS = {"content": "text/plain", "content_encoded": "text/html", "fullitem": "text/html"}
_BODIES = frozenset({"body", "xhtml_body"})  # content that does not set feedparser's `hasContent`
_OTHER_TEXT_CONSTRUCTS = frozenset(
    {"subtitle", "tagline", "itunes_subtitle", "rights", "copyright", "dc_rights", "info", "feedburner_browserfriendly"}
)
_DATES = {
    **dict.fromkeys(("pubdate", "published", "issued", "dcterms_issued"), "published"),
    **dict.fromkeys(("updated", "modified", "lastbuilddate", "dc_date", "dcterms_modified"), "updated"),
    **dict.fromkeys(("created", "dcterms_created"), "created"),
}
_AUTHORS = frozenset({"author", "managingeditor", "dc_author", "dc_creator", "itunes_author"})
_PERSON_PARTS = {
    "name": "name", "itunes_name": "name", "email": "email", "itunes_email": "email",
    "url": "href", "homepage": "href", "uri": "href",
}  # fmt: skip
# While in an <image> / <textinput>, any other plain element ends it for feedparser (mixin.py `unknown_starttag`).
_IMAGE_PARTS = frozenset({"title", "link", "description", "url", "href", "width", "height"})
_TEXTINPUT_PARTS = frozenset({"title", "link", "description", "name"})
_CP1252 = {c: bytes([c]).decode("cp1252") for c in range(0x80, 0xA0) if c not in (0x81, 0x8D, 0x8F, 0x90, 0x9D)}
# What `clean` can change: C1 controls, or a UTF-8 lead byte then a continuation byte read as Latin-1.
_CLEANABLE = re.compile("[\x80-\x9f]|[\xc2-\xf4][\x80-\xbf]")
_URI_FIXER = re.compile(r"^([A-Za-z][A-Za-z0-9+-.]*://)(/*)(.*?)")  # feedparser/urls.py `_urifixer`
# feedparser/urls.py `ACCEPTABLE_URI_SCHEMES`: an xml:base in any other scheme is ignored.
_FP_URI_SCHEMES = frozenset(
    {
        "file", "ftp", "gopher", "h323", "hdl", "http", "https", "imap", "magnet", "mailto", "mms", "news", "nntp",
        "prospero", "rsync", "rtsp", "rtspu", "sftp", "shttp", "sip", "sips", "snews", "svn", "svn+ssh", "telnet",
        "wais", "aim", "callto", "cvs", "facetime", "feed", "git", "gtalk", "irc", "ircs", "irc6", "itms", "msnim",
        "skype", "ssh", "smb", "ymsg"
    }
)  # fmt: skip
_XML_BASE = re.compile(rb"""base\s*=\s*["']""")
_AMP_NAME = re.compile("&([A-Za-z0-9_]+);")
_FP_EMAIL = re.compile(  # mixin.py `_sync_author_detail`
    r"(([a-zA-Z0-9\_\-\.\+]+)@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\.)|(([a-zA-Z0-9\-]+\.)+))"
    r"([a-zA-Z]{2,4}|[0-9]{1,3})(\]?))(\?subject=\S+)?"
)
_XML_DECL_ENCODING = re.compile(rb"^<\?.*encoding=['\"](.*?)['\"].*\?>")  # feedparser/encodings.py
_XMLNS = re.compile(rb"""xmlns(?::([^\s=>/]+))?\s*=\s*(["'])(.*?)\2""")
# Encodings expat decodes exactly as Python's codecs do; others (and UTF-16/32) go to feedparser.
_SIMPLE_ENCODINGS = frozenset(
    {"utf-8", "utf8", "iso-8859-1", "iso8859-1", "latin-1", "latin1", "us-ascii", "ascii", "windows-1252", "cp1252"}
)
_MONTHS = {
    m: i for i, m in enumerate(("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"), 1)
}
_ZONES = {"ut": 0, "utc": 0, "gmt": 0, "z": 0, "edt": -4, "est": -5, "cdt": -5, "cst": -6, "mdt": -6,
          "mst": -7, "pdt": -7, "pst": -8}  # fmt: skip
_RFC822_DATE = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),\s+)?(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(\d{4})"
    r"\s+(\d{2}):(\d{2})(?::(\d{2}))?"
    r"\s+([+-]\d{4}|[a-z]{1,3})"
)
_RFC822_NO_ZONE = re.compile(
    r"(?:(?:mon|tue|wed|thu|fri|sat|sun),\s+)?(\d{1,2})\s+(jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)\s+(\d{4})"
    r"\s+(\d{2}):(\d{2})(?::(\d{2}))?"
)
_W3C_DATE = re.compile(r"(\d{4})-(\d{2})-(\d{2})(?:t(\d{2}):(\d{2})(?::(\d{2}(?:\.\d+)?))?(z|[+-]\d{2}:\d{2})?)?")
_MAX_DEPTH = 100


class _NotSimple(Exception):
    """The document needs feedparser."""


def read_simple_feed(content: bytes) -> RawFeed | None:
    """A plain RSS (2.0, 0.9x) or Atom 1.0 feed read as feedparser reads it, or None to use feedparser.

    Parsed with the stdlib's C XML parser, which never fetches external entities; a document with a DTD (the only
    place entities are declared, so the only way to an entity-expansion bomb) is left to feedparser, which
    strips it.
    """
    if b"<!DOCTYPE" in content or b"<!ENTITY" in content or not _simple_encoding(content):
        return None
    try:
        prefixes, namespaces = _declared_prefixes(content)
        root = ElementTree.fromstring(content)
        xml_base = _XML_BASE.search(content) is not None
        if root.tag == "rss":  # 2.0, 0.9x or none: feedparser reads them alike (_base.py `_start_rss`)
            return _FeedparserWalk(prefixes, atom=False, xml_base=xml_base).read(root)
        if root.tag == "{http://www.w3.org/2005/Atom}feed" and not _FP_VERSION_NS & namespaces:
            return _FeedparserWalk(prefixes, atom=True, xml_base=xml_base).read(root)
    except (ElementTree.ParseError, _NotSimple, ValueError, LookupError, OverflowError):
        return None
    return None


def _simple_encoding(content: bytes) -> bool:
    """Whether expat will decode the document as feedparser does: UTF-8 or a single-byte encoding, declared on
    the first line (feedparser/encodings.py looks no further), a UTF-8 byte-order mark agreeing."""
    bom = content.startswith(codecs.BOM_UTF8)
    head = content[3:] if bom else content
    if b"\x00" in head[:4] or head[:2] in (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE):
        return False  # UTF-16 or UTF-32: the namespace declarations below are not ASCII
    if not head.startswith(b"<?xml"):
        return True
    end = head.find(b"?>")
    declaration = head[:end]
    line_end = head.find(b"\n")
    # feedparser's pattern reads the first line only, and the last `encoding=` on it.
    if head[: len(head) if line_end < 0 else line_end].count(b"encoding=") > (b"encoding=" in declaration):
        return False
    found = _XML_DECL_ENCODING.match(head[: end + 2])
    if found is None:
        return b"encoding" not in declaration
    encoding = found.group(1).decode("latin-1").lower()
    return encoding in _SIMPLE_ENCODINGS and (not bom or encoding in ("utf-8", "utf8"))


def _declared_prefixes(content: bytes) -> tuple[dict[str, str], set[str]]:
    """Every namespace prefix the document declares, with its URI, in the order declared; and every namespace
    it declares (lower-cased), the default ones too.

    feedparser names an element of a namespace it does not know by the first prefix the document bound to that
    namespace (mixin.py `namespaces_in_use`), which the parsed tree no longer holds. A prefix bound to two URIs
    is left to feedparser.
    """
    out: dict[str, str] = {}
    uris: set[str] = set()
    for raw_prefix, _, raw_uri in _XMLNS.findall(content):
        if b"&" in raw_uri:
            raise _NotSimple  # an entity in a namespace name: expat and this pattern would disagree
        uri = raw_uri.decode("utf-8")
        uris.add(uri.lower())
        if raw_prefix and out.setdefault(raw_prefix.decode("utf-8"), uri) != uri:
            raise _NotSimple
    return out, uris


def _fp_prefix(uri: str) -> str | None:
    """feedparser's prefix for a namespace ("" for plain RSS/Atom), or None for one it does not know."""
    low = uri.lower()
    if low in _FP_PLAIN or "backend.userland.com/rss" in low:
        return ""
    return _FP_MODULES.get(low)


_SHORT_TYPES = {"text": "text/plain", "plain": "text/plain", "html": "text/html", "xhtml": _XHTML}


def _map_type(value: str) -> str:
    """mixin.py `map_content_type`: Atom's short content types as MIME types."""
    value = value.lower()
    return _SHORT_TYPES.get(value, value)


def _as_html(value: str, content_type: str | None, atom: bool) -> str:
    """A text construct as HTML for html_to_text. Atom says whether a text is plain (then shown as is, so it is
    escaped); RSS never says, and its text is read as HTML, as feed readers do."""
    if atom and content_type not in _HTML_TYPES:
        return html.escape(value, quote=False)
    return value


def _fp_urljoin(base: str, uri: str) -> str:
    """feedparser/urls.py `_urljoin`."""
    if ":///" in uri:  # the only case its fix-up changes: `http:///x`
        uri = _URI_FIXER.sub(r"\1\3", uri)
    if not base:
        return uri  # what urljoin gives
    try:
        return urljoin(base, uri)
    except ValueError:
        return ""


def _fp_safe_base(base: str, rel: str) -> str:
    """feedparser/urls.py `make_safe_absolute_uri`: `rel` against `base`, or "" when not in a known scheme."""
    if not base:
        return rel
    if not rel:
        try:
            scheme = urlsplit(base).scheme
        except ValueError:
            return ""
        return base if not scheme or scheme in _FP_URI_SCHEMES else ""
    uri = _fp_urljoin(base, rel)
    return uri if uri.strip().split(":", 1)[0] in _FP_URI_SCHEMES else ""


def _is_web_url(value: str) -> bool:
    try:
        parts = urlsplit(value)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)


def _is_page_guid(value: str) -> bool:
    """Whether a permalink guid names a page: a web address, or a relative one with a path (`posts/5`, joined to the
    feed URL as a relative <link> is). `p1` or `12345` is an id, not a page: joined, it would invent one."""
    if _is_web_url(value):
        return True
    try:
        scheme = urlsplit(value).scheme
    except ValueError:
        return False
    return not scheme and "/" in value and not any(c.isspace() for c in value)


@functools.lru_cache(maxsize=1024)  # Atom's <updated> is usually its <published> again
def _parse_date(value: str) -> datetime | None:
    """A date as feedparser's `_parse_date` reads it (its W3C-DTF and RFC 822 readers), or _NotSimple for a form
    it would read otherwise (two-digit years, zone names it guesses at, its other date handlers)."""
    if not value:
        return None
    text = value.lower()
    found = _W3C_DATE.fullmatch(text) if text[:1].isdigit() and text[4:5] == "-" else None
    if found:
        year, month, day, hour, minute, second, zone = found.groups()
        # W3C-DTF: no zone means UTC; seconds are cut to whole ones (datetimes/w3dtf.py).
        offset = 0 if not zone or zone == "z" else (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[4:]))
        stamp = _utc(int(year), int(month), int(day), int(hour or 0), int(minute or 0), int(float(second or 0)))
        return stamp - timedelta(minutes=offset) if offset else stamp
    found = _RFC822_DATE.fullmatch(text)
    if found:
        day, month_name, year, hour, minute, second, zone = found.groups()
        if zone[0] in "+-":
            offset = (1 if zone[0] == "+" else -1) * (int(zone[1:3]) * 60 + int(zone[3:]))
        elif zone in _ZONES:
            offset = _ZONES[zone] * 60
        else:
            raise _NotSimple  # feedparser takes an unknown zone for UTC (or a military letter for an hour)
        stamp = _utc(int(year), _MONTHS[month_name], int(day), int(hour), int(minute), int(second or 0))
        return stamp - timedelta(minutes=offset) if offset else stamp
    raise _NotSimple


def _utc(year: int, month: int, day: int, hour: int, minute: int, second: int) -> datetime:
    """A UTC time of day; 24:00:00 is the end of the day (ISO 8601), so the next day's 00:00, as feedparser reads
    it in a W3C date (and not in an RFC 822 one, which is then read here)."""
    if (hour, minute, second) == (24, 0, 0):
        return datetime(year, month, day, tzinfo=UTC) + timedelta(days=1)
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


_Context = dict[str, Any]
_KNOWN_NAMES: dict[str, tuple[str, str, str]] = {}
_RDF_ABOUT = "{http://www.w3.org/1999/02/22-rdf-syntax-ns#}about"
_NO_ATTRS: dict[str, str] = {}


class _FeedparserWalk:
    """One document walked in feedparser's order, with the state its handlers keep (mixin.py, _base.py)."""

    def __init__(self, prefixes: dict[str, str], atom: bool, xml_base: bool = False) -> None:
        self.atom = atom
        # xml:base, kept only when the document may hold one (mixin.py `unknown_starttag`, `unknown_endtag`).
        self.track_base = xml_base
        self.base = ""
        self.bases: list[str] = []
        self.doc_prefixes = prefixes
        # mixin.py `namespacemap`: a prefix the document bound to a namespace feedparser knows -> feedparser's.
        self.namespacemap = {p: k for p, u in prefixes.items() if (k := _fp_prefix(u)) is not None}
        self.names: dict[str, tuple[str, str, str]] = {}
        self.feed: _Context = {}
        self.entries: list[_Context] = []
        self.entry: _Context | None = None
        self.source: _Context = {}
        self.image: _Context = {}
        self.textinput: _Context = {}
        self.in_feed = self.in_source = self.in_image = self.in_textinput = False
        self.in_author = self.in_publisher = False
        self.feed_has_image = False
        self.has_content = False  # `hasContent`: this item already had content (cleared when an item ends)
        self.title_depth = -1  # `title_depth`: where the title that blocks deeper ones was
        self.content_type = ""  # the text construct being read, as `contentparams['type']`

    def read(self, root: ElementTree.Element) -> RawFeed:
        if self.track_base:
            self.enter_base(root)
        self.attrs(root)
        if self.atom:  # _start_feed
            self.in_feed = True
            self.children(root, 0)
            self.in_feed = False
        else:  # _start_rss: nothing to keep
            self.children(root, 0)
        entries = [self._raw_entry(e) for e in self.entries]
        title = _as_html(self.feed.get("title", ""), self.feed.get("title_type"), self.atom)
        return RawFeed(title=title, id=self.feed.get("id", ""), entries=entries)

    def _raw_entry(self, e: _Context) -> RawEntry:
        contents: list[tuple[str, str]] = e["content"]
        value, content_type = contents[0] if contents else ("", None)
        body = _as_html(value, content_type, self.atom) or _as_html(
            e.get("summary", ""), e.get("summary_type"), self.atom
        )
        link = e.get("link", "")
        if link not in e["hrefs"] and not _is_page_guid(link):
            link = ""  # it came from a guid (or Atom id) that is not a web address
        source = e.get("source_data") or {}
        return RawEntry(
            id=e.get("id", ""),
            link=link,
            title=_as_html(e.get("title", ""), e.get("title_type"), self.atom),
            content=body,
            author=e.get("author", ""),
            source_title=_as_html(source.get("title", ""), source.get("title_type"), self.atom),
            published=e.get("published") or e.get("updated") or e.get("created"),
        )

    # -- what feedparser knows of an element

    def name(self, tag: str) -> tuple[str, str, str]:
        """(prefix, local name, handler name) as feedparser names them: `dc:creator` is `dc_creator`."""
        cached = self.names.get(tag) or _KNOWN_NAMES.get(tag)
        if cached is None:
            uri, _, local = tag[1:].partition("}") if tag[:1] == "{" else ("", "", tag)
            prefix = _fp_prefix(uri)
            known = prefix is not None
            if prefix is None:
                # strict.py `startElementNS`: the first prefix the document bound to the namespace, else none.
                prefix = next((p for p, u in self.doc_prefixes.items() if u == uri), "").lower()
                prefix = self.namespacemap.get(prefix, prefix)
            local = local.lower()
            cached = (prefix, local, f"{prefix}_{local}" if prefix else local)
            if known and len(_KNOWN_NAMES) < 4096:  # the same in every document (bounded: tags come from anyone)
                _KNOWN_NAMES[tag] = cached
            self.names[tag] = cached
        return cached

    @staticmethod
    def attrs(element: ElementTree.Element) -> dict[str, str]:
        """Attributes by lower-cased local name, `rel` and `type` values lower-cased (strict.py, mixin.py)."""
        if not element.attrib:
            return _NO_ATTRS
        out = {}
        for key, value in element.attrib.items():
            local = key.rpartition("}")[2].lower()
            out[local] = value.lower() if local in ("rel", "type") else value
        if len(out) < len(element.attrib):
            raise _NotSimple  # two attributes feedparser files under one name
        return out

    def enter_base(self, element: ElementTree.Element) -> None:
        """An element's xml:base (or `base`) applies to it and what it holds (mixin.py `unknown_starttag`)."""
        given = next((v for k, v in element.attrib.items() if k.rpartition("}")[2].lower() == "base"), "")
        given = given or self.base
        self.base = (_fp_safe_base(self.base, given) or self.base) if self.base else _fp_urljoin(self.base, given)
        self.bases.append(self.base)

    def leave_base(self) -> None:
        # mixin.py `unknown_endtag`: the enclosing base comes back only when there is one; otherwise this
        # element's base stays in force for what follows.
        self.bases.pop()
        if self.bases and self.bases[-1]:
            self.base = self.bases[-1]

    def context(self) -> _Context:
        """mixin.py `_get_context`: where a handler saves what it read."""
        if self.in_source:
            return self.source
        if self.in_image and self.feed_has_image:
            return self.image
        if self.in_textinput:
            return self.textinput
        return self.feed if self.entry is None else self.entry

    @property
    def expecting_text(self) -> bool:
        return self.in_feed or self.in_source or self.entry is not None

    # -- the walk

    def children(self, element: ElementTree.Element, depth: int) -> None:
        for child in element:
            self.visit(child, depth + 1)

    def visit(self, element: ElementTree.Element, depth: int) -> None:
        if depth > _MAX_DEPTH:
            raise _NotSimple
        prefix, local, key = self.name(element.tag)
        handler = _HANDLERS.get(key)
        attrs = self.attrs(element) if handler is not None and element.attrib else _NO_ATTRS
        if self.track_base:
            self.enter_base(element)
        if not prefix and (self.in_image or self.in_textinput):
            # mixin.py `unknown_starttag`: any other plain element ends an <image> / <textinput>
            if local not in _TEXTINPUT_PARTS:
                self.in_textinput = False
            if local not in _IMAGE_PARTS:
                self.in_image = False
        if handler is None:
            for child in element:
                self.visit(child, depth + 1)
        else:
            handler(self, element, key, attrs, depth)
        if self.track_base:
            self.leave_base()

    def store(self, name: str, value: str, depth: int, content_type: str | None = None) -> None:
        """mixin.py `pop`: an item keeps the shallowest value (the last of equals); the feed keeps the last."""
        entry = self.entry
        if entry is not None and not self.in_source:
            if name == "description":
                name = "summary"
            if name == "content":
                entry["content"].append((value, content_type))
                return
            if name == "link":
                if not self.in_image:
                    entry["link"] = value = _AMP_NAME.sub(r"&\1", value.replace("&amp;", "&"))
                    if value:
                        entry["hrefs"].add(value)
                return
            depths = entry["depths"]
            old = depths.get(name)
            if old is None or depth <= old:
                depths[name] = depth
                entry[name] = value
            if content_type is not None:
                entry[name + "_type"] = content_type
        elif self.in_feed or self.in_source:
            context = self.context()
            if name == "description":
                name = "subtitle"
            context[name] = value
            if content_type is not None:
                context[name + "_type"] = content_type

    @staticmethod
    def clean(text: str) -> str:
        """mixin.py `pop`: text taken for UTF-8 read as Latin-1 is re-read, and C1 controls become the
        windows-1252 characters they stand for (curly quotes in a feed declared ISO-8859-1)."""
        if text.isascii() or not _CLEANABLE.search(text):
            return text
        with contextlib.suppress(UnicodeError):
            text = text.encode("iso-8859-1").decode("utf-8")
        return text.translate(_CP1252)

    @staticmethod
    def leaf(element: ElementTree.Element) -> str:
        if len(element):
            raise _NotSimple  # feedparser would add the children's text (or read them as feed elements)
        return (element.text or "").strip()

    def resolve(self, uri: str) -> str:
        """A link against the xml:base in force (mixin.py `resolve_uri`)."""
        return _fp_urljoin(self.base, uri)

    # -- text constructs: title, summary, content and the others feedparser reads as markup

    def text_construct(self, element: ElementTree.Element, attrs: dict[str, str], default: str) -> tuple[str, str]:
        """(value, content type) of a text construct, as mixin.py `push_content` ... `pop` make them."""
        given = attrs.get("type")
        self.content_type = content_type = default if given is None else _map_type(given)
        base64 = not content_type.startswith("text/") and not content_type.endswith(("+xml", "/xml"))
        if attrs.get("mode") == "base64" or base64:
            raise _NotSimple
        if len(element) and content_type.endswith("xml") and content_type != _XHTML:
            raise _NotSimple  # feedparser reads the children of XML content as feed elements
        if not len(element):
            value = element.text or ""
            return self.clean(
                (html.escape(value, quote=False) if content_type == _XHTML else value).strip()
            ), content_type
        pieces: list[str] = []
        self.data(pieces, element.text)
        for child in element:
            self.inline(child, pieces, 0, 1)
        return self.clean("".join(pieces).strip()), self.content_type

    def data(self, pieces: list[str], text: str | None) -> None:
        if text:
            pieces.append(html.escape(text, quote=False) if self.content_type == _XHTML else text)

    def inline(self, element: ElementTree.Element, pieces: list[str], svg: int, depth: int) -> None:
        """A child element of a text construct, serialised back to markup (mixin.py `unknown_starttag`)."""
        if depth > _MAX_DEPTH:
            raise _NotSimple
        prefix, local, key = self.name(element.tag)
        if not self.content_type.endswith("xml"):
            if local == "div" and prefix in ("", "xhtml"):
                raise _NotSimple  # its TypePad work-around, which leaves its depth count one off
            self.content_type = _XHTML  # markup declared as escaped but written as elements
        if self.track_base:
            self.enter_base(element)
        if local == "svg":
            svg += 1
        values = "".join(f' a="{html.escape(v)}"' for v in element.attrib.values())
        pieces.append(f"<{local}{values}>")
        self.data(pieces, element.text)
        for child in element:
            self.inline(child, pieces, svg, depth + 1)
        if local == "svg":
            svg -= 1
        if not svg and key in _FP_END_HANDLERS:
            raise _NotSimple  # feedparser runs that end handler inside the content and loses the content's state
        pieces.append(f"</{local}>")
        if self.track_base:
            self.leave_base()
        self.data(pieces, element.tail)

    # -- the handlers (named after feedparser's `_start_*` / `_end_*`)

    def on_channel(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if self.atom or depth != 1 or "lastmod" in attrs or "href" in attrs:
            raise _NotSimple
        self.in_feed = True
        self.children(element, depth)
        self.in_feed = False

    def on_item(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if self.entry is not None or self.in_source or self.in_image or self.in_textinput:
            raise _NotSimple
        if "lastmod" in attrs or "href" in attrs:
            raise _NotSimple  # CDF: an item's date or link as attributes (_base.py `_cdf_common`)
        entry: _Context = {"depths": {}, "content": [], "hrefs": set()}
        about = element.get(_RDF_ABOUT)
        if about:
            entry["id"] = about
        self.entries.append(entry)
        self.entry = entry
        self.title_depth = -1
        for child in element:
            self.visit(child, depth + 1)
        self.entry = None
        self.has_content = False

    def on_title(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        value, content_type = self.text_construct(element, attrs, "text/plain")
        before = self.title_depth
        # A title nested at or below the first one is not stored (mixin.py `pop`, _base.py `_end_title`).
        if self.expecting_text and not -1 < self.title_depth <= depth:
            self.store("title", value, depth, content_type)
        if value:
            self.title_depth = depth
        if key == "media_title":
            self.title_depth = before

    def on_summary(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if "summary" in self.context() and not self.has_content:
            # A second summary in an item without content is its content (_base.py `_start_summary`).
            self.on_content(element, "content", attrs, depth)
            return
        description = key in _DESCRIPTIONS
        value, content_type = self.text_construct(element, attrs, "text/html" if description else "text/plain")
        if not description or self.expecting_text:
            self.store("description" if description else "summary", value, depth, content_type)

    def on_content(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if key in _BODIES:
            default = _XHTML
        else:
            default = _CONTENTS[key]
            self.has_content = True
        value, content_type = self.text_construct(element, attrs, default)
        self.store("content", value, depth, content_type)
        if content_type in _HTML_TYPES or content_type == "text/plain":
            self.context().setdefault("summary", value)  # _base.py `_end_content`

    def on_text_construct(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        self.text_construct(element, attrs, "text/plain")  # subtitle, rights, ...: nothing a mention shows

    def on_link(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        rel = attrs.get("rel", "alternate")
        link_type = attrs.get("type", "application/atom+xml" if rel == "self" else "text/html")
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        if href or "href" in attrs:  # Atom: the link is an attribute (_base.py `_start_link`)
            href = self.resolve(href or attrs["href"])
            context = self.context()
            if context is self.entry:
                context["hrefs"].add(href)  # `entry.links`
            if rel == "alternate" and _map_type(link_type) in _HTML_TYPES:
                context["link"] = href
            self.children(element, depth)
            return
        value = self.leaf(element)
        if self.expecting_text:
            self.store("link", self.clean(self.resolve(value) if value else value), depth)

    def on_guid(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        is_link = attrs.get("ispermalink", "true") == "true"
        value = self.leaf(element)
        if value and is_link:
            value = self.resolve(value)
        value = self.clean(value)
        self.store("id", value, depth)
        context = self.context()
        # A permalink guid (or an Atom id) is the link when none came before it (_base.py `_end_guid`).
        if is_link and "link" not in context:
            context["link"] = value

    def on_date(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        value = self.clean(self.leaf(element))
        context = self.context()
        if context is self.entry:
            context[_DATES[key]] = _parse_date(value)  # the last one counts, even when empty

    def on_author(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if self.in_author or self.in_publisher:
            raise _NotSimple
        context = self.context()
        context.setdefault("authors", []).append({})
        self.in_author = True
        self._person_parts(element, context)
        self.in_author = False
        text = (element.text or "") + "".join(child.tail or "" for child in element)
        self.store("author", self.clean(text.strip()), depth)
        self._sync_author(context)

    def _person_parts(self, element: ElementTree.Element, context: _Context) -> None:
        """The name, e-mail and address of an author or publisher (_base.py `_end_name`, mixin.py
        `_save_author`, which files a publisher's name and e-mail among the authors too)."""
        for child in element:
            part = _PERSON_PARTS.get(self.name(child.tag)[2])
            if part is None:
                self._inert_in_author(child)
                continue
            self.attrs(child)
            if self.track_base:
                self.enter_base(child)
            value = self.leaf(child)
            if self.in_author or part != "href":
                # Name and e-mail are kept as written (pushed without text clean-up); the sync comes first.
                self._sync_author(context)
                context.setdefault("authors", [{}])[-1][part] = value
            if self.track_base:
                self.leave_base()

    def _inert_in_author(self, element: ElementTree.Element) -> None:
        """An unknown element in a person (Blogger's gd:image) that changes nothing feedparser keeps, or
        _NotSimple: one with a handler of its own, a person part below it, an xml:base, or text that would
        join the author's (an element with attributes is not pushed: its text goes to the enclosing one)."""
        for each in element.iter():
            key = self.name(each.tag)[2]
            if key in _HANDLERS or key in _PERSON_PARTS or (self.track_base and "base" in self.attrs(each)):
                raise _NotSimple
        if element.attrib and "".join(element.itertext()).strip():
            raise _NotSimple

    @staticmethod
    def _sync_author(context: _Context) -> None:
        """mixin.py `_sync_author_detail`: the author as "name (email)" from the last author's parts; when
        that author has none yet, the author text split into them instead (which a later part then joins)."""
        authors = context.get("authors")
        detail = authors[-1] if authors else {}
        if detail:
            name, email = detail.get("name"), detail.get("email")
            if name and email:
                context["author"] = f"{name} ({email})"
            elif name or email:
                context["author"] = name or email
            return
        author = context.get("author")
        if not author:
            return
        found = _FP_EMAIL.search(author)
        if found:
            detail["email"] = found.group(0)
            for junk in (found.group(0), "()", "<>", "&lt;&gt;"):
                author = author.replace(junk, "")
            author = author.strip()
            author = author[1:] if author.startswith("(") else author
            author = (author[:-1] if author.endswith(")") else author).strip()
        if author:
            detail["name"] = author

    def on_publisher(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if self.in_author:
            raise _NotSimple
        self.in_publisher = True
        self._person_parts(element, self.context())
        self.in_publisher = False

    def on_source(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if self.in_source:
            raise _NotSimple
        self.in_source = True
        self.title_depth = -1
        for child in element:
            if child.attrib and (child.text or "").strip() and self.name(child.tag)[2] not in _SOURCE_TEXT_CHILDREN:
                raise _NotSimple  # an element feedparser does not push gives its text to the source's title
        self.children(element, depth)
        self.in_source = False
        text = self.clean(((element.text or "") + "".join(child.tail or "" for child in element)).strip())
        self.store("source", text, depth)
        if text:
            self.source["title"] = text
        self.context()["source_data"] = dict(self.source)
        self.source.clear()

    def on_image(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if self.entry is not None:
            raise _NotSimple  # in an item, feedparser gives an image's title to the item
        at_feed = self.context() is self.feed
        self.title_depth = -1
        if key == "textinput":
            if not at_feed:
                raise _NotSimple  # feedparser then looks for the feed's <textinput> and fails
            self.in_textinput = True
            self.children(element, depth)
            self.in_textinput = False
        else:
            self.feed_has_image = self.feed_has_image or at_feed
            self.in_image = True
            self.children(element, depth)
            self.in_image = False

    def on_itunes_image(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        if attrs.get("href") and self.context() is self.feed:
            self.feed_has_image = True  # it fills the same `image` as <image> (itunes.py)
        self.children(element, depth)

    def on_enclosure(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        href = attrs.get("url", attrs.get("uri", attrs.get("href")))
        context = self.context()
        if (href or "href" in attrs) and context is self.entry:
            context["hrefs"].add(href or attrs["href"])  # listed in `entry.links` (_base.py `_start_enclosure`)
        self.children(element, depth)

    def on_decline(self, element: ElementTree.Element, key: str, attrs: dict[str, str], depth: int) -> None:
        raise _NotSimple


_Handler = Callable[[_FeedparserWalk, ElementTree.Element, str, dict[str, str], int], None]
_SOURCE_TEXT_CHILDREN = _TITLES | _OTHER_TEXT_CONSTRUCTS | {"id", "guid", "category", "generator"}
_HANDLERS: dict[str, _Handler] = {
    "channel": _FeedparserWalk.on_channel,
    "item": _FeedparserWalk.on_item,
    "entry": _FeedparserWalk.on_item,
    **dict.fromkeys(_TITLES, _FeedparserWalk.on_title),
    **dict.fromkeys(_DESCRIPTIONS | _SUMMARIES, _FeedparserWalk.on_summary),
    **dict.fromkeys([*_CONTENTS, *_BODIES], _FeedparserWalk.on_content),
    **dict.fromkeys(_OTHER_TEXT_CONSTRUCTS, _FeedparserWalk.on_text_construct),
    "link": _FeedparserWalk.on_link,
    "enclosure": _FeedparserWalk.on_enclosure,
    "guid": _FeedparserWalk.on_guid,
    "id": _FeedparserWalk.on_guid,
    **dict.fromkeys(_DATES, _FeedparserWalk.on_date),
    **dict.fromkeys(_AUTHORS, _FeedparserWalk.on_author),
    "itunes_owner": _FeedparserWalk.on_publisher,
    "source": _FeedparserWalk.on_source,
    "image": _FeedparserWalk.on_image,
    "textinput": _FeedparserWalk.on_image,
    "itunes_image": _FeedparserWalk.on_itunes_image,
    "itunes_link": _FeedparserWalk.on_itunes_image,
    **dict.fromkeys(("rss", "feed", "abstract"), _FeedparserWalk.on_decline),
}


def _is_local(url: str) -> bool:
    scheme = urlsplit(url).scheme.lower()
    return scheme in ("", "file") or (len(scheme) == 1 and url[1:3] in (":\\", ":/"))  # C:\ paths


_CHARSET = re.compile(r";\s*charset\s*=\s*[\"']?([^\"';\s]+)", re.IGNORECASE)


def charset_of(content_type: str) -> str | None:
    """The charset a Content-Type header names (`application/rss+xml; charset=windows-1251`), if any."""
    found = _CHARSET.search(content_type)
    return found.group(1) if found else None


def in_http_charset(content: bytes, charset: str) -> bytes:
    """The document in UTF-8, read in the HTTP charset, when it names no encoding of its own (no byte-order mark, no
    `encoding=` in an XML declaration) and is not UTF-8 (XML's default) already: both readers would otherwise take a
    cp1251 or Shift_JIS feed served that way for UTF-8 (mojibake, and no brand term found). The document's own say
    comes first, as feedparser and browsers read it. A body that is valid UTF-8 stays so: a server's default label
    (`iso-8859-1`, `us-ascii`) is often wrong, and real text in another charset is next to never valid UTF-8. A
    charset that does not decode the body, or that Python does not know, is ignored."""
    if content.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)) or b"\x00" in content[:4]:
        return content  # a BOM, or UTF-16/32 without one: the XML parsers tell these apart themselves
    head = content.lstrip()
    if head.startswith(b"<?xml"):
        end = head.find(b"?>")
        if end < 0 or b"encoding" in head[:end]:
            return content
    try:
        content.decode("utf-8")
        return content
    except UnicodeDecodeError:
        pass
    try:
        text = content.decode(codecs.lookup(charset).name)
    except (LookupError, UnicodeDecodeError):
        return content
    if not text.lstrip().startswith("<"):
        return content  # not a document in that charset (a UTF-16 label on an 8-bit body)
    return text.encode("utf-8")


# What may come before a document's first element: a UTF-8 BOM, white space, comments (a server's or a cache's
# signature), the XML declaration and other processing instructions. Possessive: never backtracks.
_PROLOG = re.compile(rb"(?:\xef\xbb\xbf)?(?:\s++|<!--.*?-->|<\?.*?\?>)*+", re.DOTALL)
_HTML_START = re.compile(rb"<!doctype\s+html|<(?:[\w.-]+:)?html[\s/>]", re.IGNORECASE)


def is_html(content: bytes) -> bool:
    """Whether a body is an HTML page, not a feed: an HTML doctype, or a root element `<html>` in any namespace
    (XHTML, `<h:html>`), after whatever a prolog holds. Sniffed, not taken from the header: plenty of real feeds are
    served as text/html, and login pages as anything."""
    start = _PROLOG.match(content)
    return _HTML_START.match(content, start.end() if start else 0) is not None


class RssSource(Source[RssConfig]):
    """Any RSS or Atom feed: news sites, blogs, Google Alerts (feed delivery), Google News searches."""

    type = "rss"
    searchable = False
    reads_whole = True

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
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
                    # Older entries too: the pipeline leaves them out, and counts them ("20 older than 7d").
                    yield mention
        finally:
            for task in tasks:
                task.cancel()
        if errors:
            # The healthy feeds' entries were yielded above; the first failure is this source's health.
            raise errors[0]

    async def _read(self, url: str) -> list[Mention]:
        """One feed's mentions. A document that cannot be read at all fails this URL only (BadPayload); the
        other feeds of the source carry on."""
        try:
            return await self._read_feed(url)
        except (ValueError, LookupError, OverflowError, RecursionError) as exc:
            where = url if _is_local(url) else public_url(url)
            raise BadPayload(f"{where}: cannot read the feed ({type(exc).__name__}: {exc})") from None

    async def _read_feed(self, url: str) -> list[Mention]:
        now = self.context.now()
        skipped = self.context.skipped
        if _is_local(url):
            path = Path(url.removeprefix("file://"))
            path = path if path.is_absolute() else self.context.base_dir / path
            try:
                content = await asyncio.to_thread(path.read_bytes)
            except OSError as exc:
                # `urls: [www.example.com/feed.xml]`: a web address written without its scheme reads as a file.
                hint = " (a web address? write it with https://)" if _looks_like_a_host(url) else ""
                raise FetchError(f"cannot read feed file {path}: {exc.strerror}{hint}") from None
            cut: list[str] = []
            # Its items' ids are scoped to the file as the config names it (`./feed.xml` is `feed.xml`): the same
            # whatever folder the command runs from, or however `-c` is written.
            named = os.path.normpath(url.removeprefix("file://"))
            mentions = await asyncio.to_thread(parse_feed, content, str(path), now, skipped, cut, scope=named)
            self.context.warnings.extend(cut)
            if cut:  # a file cut short (another program still writing it): as a document over HTTP
                self.context.incomplete = True
            return mentions
        http = self.context.http
        resp: Response = await http.get(url)
        validator = resp.validator
        documents = self.context.documents if validator else None
        # Unchanged since an earlier run (HTTP 304): what it gave then is taken as it was (its mentions, matched
        # and scored). Else (other brands, another scorer, an earlier `since`) the body kept with its validators
        # is parsed again: what a body parsed to is not kept, as it cost more to keep on every read of a changed
        # feed (0.45 ms) than it saved on the rare reread of an unchanged one (0.5 ms).
        if resp.not_modified and documents is not None and validator and documents.reuse(url, validator):
            return []
        if is_html(resp.content):
            # reject_html tells a login wall (unauthorized) from any other page: told it is HTML, whatever came
            # before the <html> (a BOM, a comment, an XML declaration) and whatever the header said.
            headers = resp.headers.copy()
            headers["content-type"] = "text/html"
            reject_html(Response(resp.status, resp.url, headers, resp.content), "a feed")
        here: list[str] = []  # why this document's unreadable items were skipped
        said: list[str] = []  # what is wrong with the document itself (cut short)
        # Relative links are joined to where the document was read; its items' own ids are scoped to the feed as
        # configured (a redirect to a CDN's signed URL changes with each run).
        given = {"scope": url, "charset": charset_of(resp.headers.get("content-type", ""))}
        if len(resp.content) <= INLINE_PARSE_BYTES:
            # A usual feed parses in about a millisecond: at once, on the loop. In a thread it cost more than
            # that: every I/O call of the loop then waited for the GIL (measured: a cold 200-feed scan 3% slower).
            mentions = parse_feed(resp.content, resp.url, now, here, said, **given)
        else:
            # A big one would hold up every other source's requests: off the event loop.
            mentions = await asyncio.to_thread(parse_feed, resp.content, resp.url, now, here, said, **given)
        skipped.extend(here)
        self.context.warnings.extend(said)
        if said:  # a document cut short: what it lacks must still be in the next run's window
            self.context.incomplete = True
        # A document cut short is not kept as what its version gave: were it taken as it was when it comes back
        # unchanged (304), the warning would be lost; it is read again from the HTTP cache, and said again.
        if documents is not None and validator and not said:
            documents.read(url, validator, mentions, here)
        return mentions


def _looks_like_a_host(location: str) -> bool:
    """`www.example.com/feed.xml`, `example.com/rss`: a host name (a dot, not a file's extension: a slash follows
    it) where a local path was read."""
    first, slash, _ = location.partition("/")
    return bool(slash) and "." in first.strip(".") and not location.startswith(("~", "file:"))

"""The fast feed reader reads feeds as feedparser does: on feedparser's own test corpus, every document it takes
gives the same mentions as the feedparser path, and every document it declines goes to feedparser.

The corpus is `tests/fixtures/feedparser_corpus/` (feedparser 6.0.14's sdist, BSD-2-Clause; see its README).
`python tests/test_feed_corpus.py` prints how many documents the fast reader takes and how many differ.
"""

from __future__ import annotations

import sys
import warnings
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from xml.etree import ElementTree
from xml.sax.saxutils import escape, quoteattr

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentionwatch.errors import BadPayload
from mentionwatch.models import Mention
from mentionwatch.sources.rss import parse_feed, read_simple_feed, read_with_feedparser, to_mentions

from conftest import fixture_path

CORPUS = fixture_path("feedparser_corpus")
DOCUMENTS = sorted(CORPUS.rglob("*.xml"))
FEED_URL = "https://feeds.test/feed.xml"
NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
FIELDS = ("id", "url", "link", "title", "text", "author", "published_at", "undated")


def name(path: Path) -> str:
    return path.relative_to(CORPUS).as_posix()


def fields(mentions: list[Mention]) -> list[dict[str, object]]:
    return [{f: getattr(m, f) for f in FIELDS} for m in mentions]


def feedparser_mentions(document: bytes) -> list[Mention] | None:
    """What the feedparser path makes of a document; None when it is not a feed at all."""
    try:
        return to_mentions(read_with_feedparser(document, FEED_URL), FEED_URL, NOW)
    except BadPayload:
        return None


def corpus(part: str) -> bytes:
    return (CORPUS / part).read_bytes()


def fast(part: str) -> list[Mention]:
    """The mentions of a corpus document, which the fast reader must take."""
    raw = read_simple_feed(corpus(part))
    assert raw is not None, f"{part}: the fast reader declined it"
    return to_mentions(raw, FEED_URL, NOW)


@pytest.fixture(autouse=True)
def _no_feedparser_warnings() -> Iterator[None]:
    with warnings.catch_warnings():
        # Some corpus documents make feedparser warn about its own deprecated key fallbacks; that is its affair.
        warnings.simplefilter("ignore", DeprecationWarning)
        yield


# -- the whole corpus


@pytest.mark.parametrize("path", DOCUMENTS, ids=name)
def test_a_document_reads_the_same_on_either_path_and_no_item_is_the_feed_url(path: Path) -> None:
    """Taken: the same mentions as feedparser's. Declined: feedparser reads it, or it is plainly not a feed
    (BadPayload, never a crash). Either way no item is keyed or linked by the feed's URL, which all share."""
    document = path.read_bytes()
    raw = read_simple_feed(document)
    if raw is None:
        try:
            mentions = parse_feed(document, FEED_URL, NOW)
        except BadPayload:
            return
    else:
        mentions = to_mentions(raw, FEED_URL, NOW)
        slow = feedparser_mentions(document)
        assert slow is not None, "the fast reader took a document feedparser finds no feed in"
        assert fields(mentions) == fields(slow)
    for mention in mentions:
        assert FEED_URL not in (mention.url, mention.link, mention.id)


def test_the_fast_reader_takes_nearly_every_plain_rss_and_atom_document() -> None:
    """The fast path exists for speed: declining is for what only feedparser reads right, not a way out."""
    plain = [p for p in DOCUMENTS if _root(p.read_bytes()) in ("rss", "{http://www.w3.org/2005/Atom}feed")]
    taken = [p for p in plain if read_simple_feed(p.read_bytes()) is not None]
    assert len(plain) > 1000
    assert len(taken) >= 0.95 * len(plain), f"{len(taken)} of {len(plain)}"


def _root(document: bytes) -> str | None:
    try:
        return ElementTree.fromstring(document).tag
    except (ElementTree.ParseError, ValueError, LookupError):  # not XML; an encoding expat cannot read
        return None


# -- the classes of difference the issue named, each on the corpus document that shows it


def test_an_xhtml_title_keeps_its_text() -> None:
    [entry] = fast("wellformed/atom10/entry_title_inline_markup.xml")
    assert entry.title == "Example Atom"


def test_a_description_written_as_child_elements_keeps_all_its_text() -> None:
    [item] = fast("wellformed/rss/item_description_naked_markup.xml")
    assert item.text == "Example description"
    document = (
        b'<rss version="2.0"><channel><item><title>t</title>'
        b"<description>Acme <b>ships</b> the <i>Acme</i> cloud</description></item></channel></rss>"
    )
    raw = read_simple_feed(document)
    assert raw is not None
    [item] = to_mentions(raw, FEED_URL, NOW)
    assert item.text == "Acme ships the Acme cloud"


@pytest.mark.parametrize(
    "part",
    [
        "wellformed/rss/item_xhtml_body.xml",
        "wellformed/rss/item_fullitem.xml",
        "wellformed/lang/item_fullitem_xml_lang.xml",
    ],
)
def test_xhtml_body_and_fullitem_bodies_are_the_text(part: str) -> None:
    [item] = fast(part)
    assert item.text == "Example content"


def test_a_plain_body_element_is_the_text() -> None:
    [item] = fast("wellformed/base/http_item_body_base_docuri.xml")
    assert item.text == "click here"


def test_a_permalink_guid_is_the_link() -> None:
    [item] = fast("wellformed/rss/item_guid.xml")
    assert item.url == "http://guid.example.com/"
    assert item.id == "http://guid.example.com/"


def test_a_guid_that_is_not_a_permalink_is_the_id_but_not_the_link() -> None:
    [item] = fast("wellformed/rss/item_guid_not_permalink.xml")
    assert item.id == "http://guid.example.com/"
    assert item.url == ""


def test_an_atom_id_that_is_a_url_is_the_link() -> None:
    [entry] = fast("wellformed/atom10/entry_id.xml")
    assert entry.url == "http://example.com/"


@pytest.mark.parametrize("element", ["issued", "modified", "created"])
def test_dcterms_dates_are_read(element: str) -> None:
    [item] = fast(f"wellformed/rss/item_dcterms_{element}.xml")
    assert item.published_at == datetime(2003, 12, 31, 10, 14, 55, tzinfo=UTC)
    assert not item.undated


def test_cp1252_quotes_in_a_feed_declared_iso_8859_1_are_quotes() -> None:
    document = corpus("encoding/http_text_xml_charset_overrides_encoding_2.xml")
    assert b"encoding='iso-8859-1'" in document and b"\x93test.\x94" in document
    [item] = fast("encoding/http_text_xml_charset_overrides_encoding_2.xml")
    assert item.text == "This is a £“test.”"


def test_utf8_read_as_latin_1_is_repaired_as_feedparser_does() -> None:
    [item] = fast("encoding/double-encoded-html.xml")
    assert item.text == "…"


# -- generated feeds: the corpus tests one feature a document; these mix them


_NAMESPACES = (
    'xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:dcterms="http://purl.org/dc/terms/" '
    'xmlns:content="http://purl.org/rss/1.0/modules/content/" xmlns:media="http://search.yahoo.com/mrss/" '
    'xmlns:itunes="http://www.itunes.com/dtds/podcast-1.0.dtd" xmlns:atom="http://www.w3.org/2005/Atom" '
    'xmlns:xhtml="http://www.w3.org/1999/xhtml" xmlns:foo="http://example.com/unknown" '
    'xmlns:gd="http://schemas.google.com/g/2005"'
)
_WORDS = [
    "Acme", "ships", "café", "don\x92t", "\x93quoted\x94", "Ã©tÃ©", "日本", "a&b", "1 < 2", "&amp;", " ", "\n",
    "&lt;b&gt;bold&lt;/b&gt;", "http://x.test/p?a=1&b=2", "&nbsp;", "tab\there",
]  # fmt: skip
_URLS = [
    "http://example.com/a", "https://example.com/b?utm_source=x", "/relative/path", "relative", "urn:uuid:1234",
    "tag:example.com,2024:1", "http:///triple", "mailto:a@b.c", "", "  http://sp.test/  ", "p1",
]  # fmt: skip
_DATES = [
    "Tue, 10 Nov 2026 08:30:00 +0100", "10 Nov 2026 08:30:00 GMT", "Sun, 31 Dec 2003 10:14 -0530", "",
    "Wed, 01 Oct 2003 23:59:59 EST", "2003-12-31T10:14:55.123+01:00", "2003-12-31T10:14Z", "2003-12-31",
    "2003-12-31T10:14:55", "2003-12-31T10:14:55-05:30",
]  # fmt: skip
_ODD_DATES = ["yesterday", "Thu, 01 Jan 2004 19:48:21 CEST", "Tue, 10 Nov 26 08:30:00 GMT", "2003-13-01T00:00:00Z"]
_TYPES = [None, None, None, "text", "html", "xhtml", "text/plain", "text/html", "TEXT", "HTML"]
_ODD_TYPES = ["image/png", "application/xml", "text/markdown"]
_TEXT_CONSTRUCTS = [
    "title", "dc:title", "media:title", "description", "dc:description", "summary", "itunes:summary", "content",
    "content:encoded", "fullitem", "body", "xhtml:body",
]  # fmt: skip
_INLINE = ["p", "b", "div", "xhtml:p", "xhtml:div", "br", "script", "title", "svg", "source", "summary", "foo:x"]
_PEOPLE = ["author", "dc:creator", "itunes:author", "contributor", "dc:contributor", "itunes:owner"]

words = st.lists(st.sampled_from(_WORDS), max_size=4).map(lambda parts: escape("".join(parts)))


def _attr(key: str, value: str | None) -> str:
    return "" if value is None else f" {key}={quoteattr(value)}"


@st.composite
def _markup(draw: st.DrawFn, depth: int = 0) -> str:
    """Text, escaped HTML, CDATA, or markup written as child elements."""
    kind = draw(st.sampled_from(["text", "escaped", "cdata", "elements"] if depth < 2 else ["text"]))
    if kind == "text":
        return draw(words)
    if kind == "escaped":
        return escape(f"<p>{draw(words)}</p>") + draw(words)
    if kind == "cdata":
        return f"<![CDATA[<b>{draw(words)}</b>]]>"
    tag = draw(st.sampled_from(_INLINE))
    return f"{draw(words)}<{tag}>{draw(_markup(depth + 1))}</{tag}>{draw(words)}"


@st.composite
def _element(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.sampled_from([*_TEXT_CONSTRUCTS, *_PEOPLE, "link", "href", "guid", "date", "source", "other"]))
    if kind in _TEXT_CONSTRUCTS:
        kind_of = draw(st.sampled_from([*_TYPES * 4, *_ODD_TYPES]))  # an odd one in fourteen
        mode = draw(st.sampled_from([*[None] * 9, "base64"]))
        return f"<{kind}{_attr('type', kind_of)}{_attr('mode', mode)}>{draw(_markup())}</{kind}>"
    if kind in _PEOPLE:
        parts = draw(st.lists(st.sampled_from(["name", "email", "uri", "gd:image"]), max_size=3))
        inner = "".join('<gd:image src="x"/>' if p == "gd:image" else f"<{p}>{draw(words)}</{p}>" for p in parts)
        return f"<{kind}>{draw(words) if not parts or draw(st.booleans()) else ''}{inner}</{kind}>"
    if kind == "link":
        return f"<link>{escape(draw(st.sampled_from(_URLS)))}</link>"
    if kind == "href":
        tag = draw(st.sampled_from(["link", "atom:link", "enclosure"]))
        rel = draw(st.sampled_from([None, "alternate", "self", "enclosure", ""]))
        kind_of = draw(st.sampled_from([None, "text/html", "application/pdf", "html"]))
        href = draw(st.sampled_from(["href", "url"]))
        return f"<{tag}{_attr('rel', rel)}{_attr('type', kind_of)}{_attr(href, draw(st.sampled_from(_URLS)))}/>"
    if kind == "guid":
        tag = draw(st.sampled_from(["guid", "id"]))
        permalink = _attr("isPermaLink", draw(st.sampled_from([None, "true", "false"])))
        return f"<{tag}{permalink}>{escape(draw(st.sampled_from(_URLS)))}</{tag}>"
    if kind == "date":
        tag = draw(
            st.sampled_from(["pubDate", "published", "updated", "dc:date", "dcterms:issued", "dcterms:modified"])
        )
        return f"<{tag}>{escape(draw(st.sampled_from([*_DATES * 3, *_ODD_DATES])))}</{tag}>"
    if kind == "source":
        if draw(st.booleans()):
            return f'<source url="http://pub.test/rss">{draw(words)}</source>'
        return f"<source><title{_attr('type', draw(st.sampled_from(_TYPES)))}>{draw(_markup())}</title></source>"
    if depth >= 2:
        return f"<foo:leaf>{draw(words)}</foo:leaf>"
    inner = "".join(draw(st.lists(_element(depth + 1), max_size=3)))
    wrapper = draw(st.sampled_from(["media:group", "foo:wrap", "category", "media:group", "foo:wrap", "image"]))
    return f"<{wrapper}{_attr('xml:base', draw(st.sampled_from([None, 'http://base.test/d/'])))}>{inner}</{wrapper}>"


@st.composite
def generated_feeds(draw: st.DrawFn) -> bytes:
    atom = draw(st.booleans())
    items = "".join(
        f"<{'entry' if atom else 'item'}>{''.join(draw(st.lists(_element(), max_size=8)))}</{'entry' if atom else 'item'}>"
        for _ in range(draw(st.integers(1, 3)))
    )
    head = "".join(
        draw(
            st.lists(
                st.sampled_from(
                    [
                        "<title>Feed &amp; Co</title>",
                        "<title type='html'>&lt;b&gt;Feed&lt;/b&gt;</title>",
                        "<id>tag:google.com,1</id>",
                        "<image><title>Image</title><url>http://i.test/x.png</url></image>",
                        "<content:encoded>c</content:encoded>",
                    ]
                ),
                max_size=3,
            )
        )
    )
    base = _attr("xml:base", draw(st.sampled_from([None, "http://base.test/dir/", "javascript:x"])))
    if atom:
        body = f'<feed xmlns="http://www.w3.org/2005/Atom" {_NAMESPACES}{base}>{head}{items}</feed>'
    else:
        body = f'<rss version="2.0" {_NAMESPACES}{base}><channel>{head}{items}</channel></rss>'
    encoding = draw(st.sampled_from(["utf-8", "iso-8859-1", "windows-1252"]))
    document = f'<?xml version="1.0" encoding="{encoding}"?>\n{body}'
    return document.encode(encoding, errors="xmlcharrefreplace")


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(document=generated_feeds())
def test_generated_feeds_the_fast_reader_takes_read_as_feedparser_reads_them(document: bytes) -> None:
    raw = read_simple_feed(document)
    if raw is not None:
        assert fields(to_mentions(raw, FEED_URL, NOW)) == fields(feedparser_mentions(document) or [])


if __name__ == "__main__":
    # The figures: `python tests/test_feed_corpus.py`. For another version of the code, put its src/ first:
    # `git archive REV src | tar -x -C /tmp/rev && PYTHONPATH=/tmp/rev/src python tests/test_feed_corpus.py`.
    warnings.simplefilter("ignore")
    taken = differ = crashed = 0
    for path in DOCUMENTS:
        data = path.read_bytes()
        try:
            raw = read_simple_feed(data)
        except Exception as exc:  # an older fast reader raised on some encodings instead of declining
            crashed += 1
            print("crashes:", name(path), repr(exc))
            continue
        if raw is None:
            continue
        taken += 1
        slow = feedparser_mentions(data)
        if slow is None or fields(to_mentions(raw, FEED_URL, NOW)) != fields(slow):
            differ += 1
            print("differs:", name(path))
    sys.stdout.write(
        f"{len(DOCUMENTS)} corpus documents; the fast reader takes {taken}, {differ} of them differ from the "
        f"feedparser path; it crashes on {crashed}\n"
    )

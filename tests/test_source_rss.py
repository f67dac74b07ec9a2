from __future__ import annotations

import asyncio
import codecs
import hashlib
import io
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from mentionwatch.dedupe import dedupe
from mentionwatch.errors import BadPayload, FetchError, Unauthorized
from mentionwatch.http import SourceHttp
from mentionwatch.models import Mention
from mentionwatch.source import SourceContext
from mentionwatch.sources import rss
from mentionwatch.sources.rss import RssConfig, RssSource, decode_google_news_link, parse_feed, to_mentions
from mentionwatch.store.sqlite import SqliteStore
from mentionwatch.urls import canonical_url

from conftest import fixture_path

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)


def feed_key(location: str) -> str:
    """What scopes a feed's guids, written out here: the first 8 hex digits of the SHA-256 of its canonical URL."""
    return hashlib.sha256(canonical_url(location).encode()).hexdigest()[:8]


ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()
GNEWS = fixture_path("rss", "google_news_rss_topstories_fr_BE_2020_prof18.xml").read_bytes()


def test_google_alerts_links_are_unwrapped_to_the_real_page() -> None:
    mentions = parse_feed(ALERTS, "https://www.google.com/alerts/feeds/1/2", NOW)
    assert len(mentions) == 20
    first = mentions[0]
    assert first.url == (
        "https://www.aglobalmarketresearch.com/report-offers-prediction-of-automotive-slack-market-by-top-key-"
        "players-like-haldex-meritor-bendix-mei-wabco-accuride-stemco-tbk-febi-aydinsan/"
    )
    assert not any("google.com/url" in m.url for m in mentions)


def test_google_alerts_title_html_is_cleaned_and_dates_are_utc() -> None:
    first = parse_feed(ALERTS, "https://www.google.com/alerts/feeds/1/2", NOW)[0]
    assert first.title.startswith("Report offers Prediction of Automotive Slack Market")
    assert "<b>" not in first.title and "&lt;" not in first.title
    assert first.published_at == datetime(2019, 7, 10, 11, 53, 37, tzinfo=UTC)
    assert not first.undated
    assert first.id == "tag:google.com,2013:googlealerts/feed:8974135267215335962"


def test_google_alerts_empty_author_falls_back_to_the_publisher_site() -> None:
    first = parse_feed(ALERTS, "https://www.google.com/alerts/feeds/1/2", NOW)[0]
    assert first.author == "aglobalmarketresearch.com"


def test_google_news_item_decodes_the_publisher_url_and_names_the_outlet() -> None:
    [item] = parse_feed(GNEWS, "https://news.google.com/rss?hl=fr", NOW)
    assert item.url.startswith("https://www.rtbf.be/info/societe/detail_coronavirus-en-belgique-200-cas")
    assert item.published_at == datetime(2020, 3, 8, 10, 32, 7, tzinfo=UTC)
    assert item.id == f"{feed_key('https://news.google.com/rss?hl=fr')}/52782335008021"  # Google's, scoped to the feed
    assert "<li>" not in item.text


def test_opaque_google_news_ids_are_left_alone() -> None:
    url = "https://news.google.com/rss/articles/AU_yqLNotDecodable?oc=5"
    assert decode_google_news_link(url) == url


def test_undated_entries_get_now_and_are_flagged() -> None:
    feed = b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
    <item><title>Acme ships</title><link>https://example.org/a</link></item></channel></rss>"""
    [item] = parse_feed(feed, "https://example.org/feed", NOW)
    assert item.undated and item.published_at == NOW


def test_garbage_is_not_a_feed() -> None:
    with pytest.raises(BadPayload):
        parse_feed(b"\x00\x01 this is not xml", "https://example.org/feed", NOW)


def _source(handler: object, tmp_path: Path, **cfg: object) -> RssSource:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))  # type: ignore[arg-type]
    store = SqliteStore.open(tmp_path / "state.sqlite3")
    ctx = SourceContext(http=SourceHttp(client), now=lambda: NOW, base_dir=tmp_path, first_seen=store.first_seen)
    return RssSource(RssConfig(type="rss", **cfg), ctx)  # type: ignore[arg-type]


def _collect(source: RssSource, since: datetime) -> list[Mention]:
    async def go() -> list[Mention]:
        return [m async for m in source.fetch(None, since)]

    return asyncio.run(go())


def test_a_failing_feed_does_not_lose_the_healthy_ones(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/good.xml":
            return httpx.Response(200, content=ALERTS, headers={"content-type": "application/atom+xml"})
        return httpx.Response(500)

    source = _source(handler, tmp_path, urls=["http://feeds.test/bad.xml", "http://feeds.test/good.xml"])
    got: list[Mention] = []

    async def go() -> None:
        async for m in source.fetch(None, datetime(2019, 1, 1, tzinfo=UTC)):
            got.append(m)

    with pytest.raises(FetchError, match="HTTP 500"):
        asyncio.run(go())
    assert len(got) == 20


def test_login_wall_served_as_200_is_unauthorized(tmp_path: Path) -> None:
    wall = b"<!DOCTYPE html><html><body><form>Please log in to continue</form></body></html>"

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=wall, headers={"content-type": "text/html"})

    with pytest.raises(Unauthorized):
        _collect(_source(handler, tmp_path, urls=["http://feeds.test/feed.xml"]), datetime(2019, 1, 1, tzinfo=UTC))


def test_feed_served_as_text_html_is_still_read(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=ALERTS, headers={"content-type": "text/html; charset=utf-8"})

    got = _collect(_source(handler, tmp_path, urls=["http://feeds.test/feed.xml"]), datetime(2019, 1, 1, tzinfo=UTC))
    assert len(got) == 20


def test_big_feeds_are_parsed_off_the_loop_to_the_same_mentions(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=ALERTS, headers={"content-type": "application/atom+xml"})

    threads: list[str] = []
    real_to_thread = asyncio.to_thread

    async def to_thread(func: Any, /, *args: Any, **kwargs: Any) -> Any:
        threads.append(func.__name__)
        return await real_to_thread(func, *args, **kwargs)

    since = datetime(2019, 1, 1, tzinfo=UTC)
    monkeypatch.setattr(rss.asyncio, "to_thread", to_thread)
    inline = _collect(_source(handler, tmp_path, urls=["http://feeds.test/feed.xml"]), since)
    assert threads == [] and len(ALERTS) <= rss.INLINE_PARSE_BYTES
    monkeypatch.setattr(rss, "INLINE_PARSE_BYTES", len(ALERTS) - 1)
    threaded = _collect(_source(handler, tmp_path, urls=["http://feeds.test/feed.xml"]), since)
    assert threads == ["parse_feed"]
    assert [m.to_dict() for m in threaded] == [m.to_dict() for m in inline] and len(inline) == 20


def test_every_entry_is_yielded_and_the_pipeline_applies_since(tmp_path: Path) -> None:
    # The pipeline leaves out what is older than `since`, and counts it in the health line ("20 older than 7d").
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=ALERTS)

    since = datetime(2019, 7, 10, 11, 0, tzinfo=UTC)
    got = _collect(_source(handler, tmp_path, urls=["http://feeds.test/feed.xml"]), since)
    assert len(got) == 20 and any(m.published_at < since for m in got)


def test_undated_entries_keep_their_first_seen_time_across_runs(tmp_path: Path) -> None:
    feed = tmp_path / "feed.xml"
    feed.write_bytes(
        b"""<?xml version="1.0"?><rss version="2.0"><channel><title>T</title>
        <item><guid>x1</guid><title>Acme ships</title><link>https://example.org/a</link></item></channel></rss>"""
    )
    earlier = datetime(2026, 11, 20, tzinfo=UTC)
    store = SqliteStore.open(tmp_path / "state.sqlite3")
    assert store.first_seen("rss", f"{feed_key('feed.xml')}/x1", earlier) == earlier
    store.close()
    [item] = _collect(
        _source(lambda r: httpx.Response(404), tmp_path, urls=["feed.xml"]), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert item.undated and item.published_at == earlier
    [again] = _collect(
        _source(lambda r: httpx.Response(404), tmp_path, urls=["feed.xml"]),
        datetime(2026, 11, 24, tzinfo=UTC),
    )
    assert again.published_at == earlier, "still first seen then: older than a later scan's since"


def test_google_news_query_builds_the_search_feed_url(tmp_path: Path) -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return httpx.Response(200, content=GNEWS)

    _collect(
        _source(handler, tmp_path, base_url="http://gnews.test", google_news='"Acme cloud" -coyote'),
        datetime(2020, 1, 1, tzinfo=UTC),
    )
    [req] = seen
    assert req.url.path == "/rss/search"
    assert req.url.params["q"] == '"Acme cloud" -coyote'
    assert req.url.params["ceid"] == "US:en"


def test_needs_urls_or_google_news() -> None:
    with pytest.raises(ValueError, match="urls"):
        RssConfig(type="rss")


EDGE_FEEDS = {
    "rss2 with dc:creator, content:encoded, relative link, no date": b"""<?xml version="1.0"?>
<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/" xmlns:content="http://purl.org/rss/1.0/modules/content/">
<channel><title>Blog &amp; Co</title><link>https://blog.test/</link>
<item><title>Acme &lt;3 &amp; friends</title><link>/posts/1</link><guid>p1</guid><dc:creator>Jo</dc:creator>
<description>short</description><content:encoded><![CDATA[<p>Long <b>Acme</b> text</p><script>x()</script>]]></content:encoded>
</item>
<item><title>Dated</title><link>https://blog.test/2</link><author>jo@blog.test (Jo)</author>
<pubDate>Tue, 10 Nov 2026 08:30:00 +0100</pubDate><description>&lt;p&gt;Acme in &lt;i&gt;HTML&lt;/i&gt;&lt;/p&gt;</description></item>
</channel></rss>""",
    "atom with text and html constructs": b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="text">A &lt;b&gt; literal</title><id>urn:x</id>
<entry><id>urn:e1</id><title type="text">1 &lt; 2 and Acme</title><link rel="self" href="https://x.test/self"/>
<link href="https://x.test/e1"/><updated>2026-11-10T08:30:00+01:00</updated>
<summary type="html">&lt;p&gt;Acme &amp;amp; more&lt;/p&gt;</summary><author><name>Ann</name></author></entry>
</feed>""",
}


@pytest.mark.parametrize(
    "document",
    [ALERTS, GNEWS, *EDGE_FEEDS.values()],
    ids=["google-alerts", "google-news", *EDGE_FEEDS],
)
def test_the_fast_reader_and_feedparser_give_the_same_mentions(document: bytes) -> None:
    from mentionwatch.sources.rss import read_simple_feed, read_with_feedparser, to_mentions

    fast = read_simple_feed(document)
    assert fast is not None, "plain RSS 2.0 / Atom 1.0 takes the fast path"
    url = "https://blog.test/feed.xml"
    assert to_mentions(fast, url, NOW) == to_mentions(read_with_feedparser(document, url), url, NOW)


@pytest.mark.parametrize(
    "document",
    [
        b'<?xml version="1.0"?><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        b'xmlns="http://purl.org/rss/1.0/"><channel><title>T</title></channel>'
        b"<item><title>RSS 1.0 Acme</title><link>https://x.test/1</link></item></rdf:RDF>",
        b'<rss version="2.0"><channel><title>T</title><item><title>broken &nbsp; entity</title></item></channel></rss>',
        b'<rss version="2.0"><channel><item><title>odd date</title><pubDate>yesterday-ish</pubDate></item></channel></rss>',
        b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><rss version="2.0"><channel>'
        b"<item><title>&lol;</title></item></channel></rss>",
    ],
    ids=["rss-1.0", "html-entity", "odd-date", "doctype"],
)
def test_anything_unusual_goes_to_feedparser(document: bytes) -> None:
    from mentionwatch.sources.rss import read_simple_feed

    assert read_simple_feed(document) is None
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # and without feedparser's deprecated fallbacks
        assert parse_feed(document, "https://x.test/feed", NOW)  # and feedparser still reads it


# -- identity: a mention's id is the item's own (guid, else canonical link, else title + date), on either reader

LINKLESS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Acme podcast</title><link>https://pod.test/</link>
<item><title>Episode 1: Acme</title><guid isPermaLink="false">ep-1</guid><pubDate>Tue, 10 Nov 2026 08:00:00 GMT</pubDate>
<enclosure url="https://pod.test/1.mp3" type="audio/mpeg" length="1"/></item>
<item><title>Episode 2: Acme</title><guid isPermaLink="false">ep-2</guid><pubDate>Wed, 11 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>A note on Acme</title><pubDate>Thu, 12 Nov 2026 08:00:00 GMT</pubDate></item>
<item><title>Read about Acme</title><link>https://pod.test/read?utm_source=rss</link></item>
</channel></rss>"""
FEED = "https://pod.test/feed.xml"


def _ids(document: bytes) -> list[str]:
    return [m.id for m in parse_feed(document, FEED, NOW)]


def test_a_link_less_item_is_keyed_by_its_guid_else_its_title_and_date_never_the_feed_url() -> None:
    mentions = parse_feed(LINKLESS, FEED, NOW)
    assert [m.id for m in mentions[:2]] == [f"{feed_key(FEED)}/ep-1", f"{feed_key(FEED)}/ep-2"]
    assert (
        mentions[2].id
        == hashlib.sha1(b"A note on Acme\n2026-11-12T08:00:00+00:00").hexdigest()
    )
    assert mentions[3].id == "https://pod.test/read"  # the canonical link: tracking parameters do not make an item
    assert [m.url for m in mentions[:3]] == ["", "", ""]
    assert all(FEED not in (m.url, m.link, m.id) for m in mentions)


def test_ids_do_not_change_when_a_feed_changes_shape_and_goes_to_feedparser() -> None:
    """The same items, once read by the fast reader and once (the feed now carrying a DTD) by feedparser."""
    assert rss.read_simple_feed(LINKLESS) is not None
    reshaped = LINKLESS.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY co "Acme">]>\n<rss', 1)
    assert rss.read_simple_feed(reshaped) is None
    assert _ids(reshaped) == _ids(LINKLESS)


def test_link_less_items_of_a_feed_are_not_merged_into_one_page() -> None:
    mentions = parse_feed(LINKLESS, FEED, NOW)
    for m in mentions:
        m.brand = "Acme"
    assert len(dedupe(mentions)) == len(mentions)


def test_a_mention_without_a_url_survives_its_export_form() -> None:
    """The 304 cache, `jsonl` and `explain` read mentions back from their export form."""
    [first] = parse_feed(LINKLESS, FEED, NOW)[:1]
    again = Mention.from_dict(first.to_dict(), default_source="")
    assert again.url == "" and again.id == f"{feed_key(FEED)}/ep-1"
    with pytest.raises(ValueError, match="url"):
        Mention.from_dict({k: v for k, v in first.to_dict().items() if k != "url"}, default_source="")


def test_a_guid_that_is_not_a_web_address_is_never_taken_for_the_link() -> None:
    """feedparser takes any permalink guid for the link; `p1` joined to the feed URL would invent a page."""
    document = b'<rss version="2.0"><channel><item><title>t</title><guid>p1</guid></item></channel></rss>'
    for raw in (rss.read_simple_feed(document), rss.read_with_feedparser(document, FEED)):
        assert raw is not None
        [item] = to_mentions(raw, FEED, NOW)
        assert (item.id, item.url) == (f"{feed_key(FEED)}/p1", "")


# -- hostile documents


def test_a_body_naming_a_local_file_is_not_read(tmp_path: Path) -> None:
    """feedparser.parse(bytes) opens the bytes as a path when such a file exists (a body of /dev/zero would be
    read forever); the feedparser path hands it a file object instead."""
    secret = tmp_path / "secret.xml"
    secret.write_bytes(b'<rss version="2.0"><channel><item><title>SECRET</title></item></channel></rss>')
    with pytest.raises(BadPayload):
        parse_feed(str(secret).encode(), FEED, NOW)


def test_a_dtd_past_the_first_kilobyte_still_sends_the_document_to_feedparser() -> None:
    document = (
        b'<?xml version="1.0"?><!--' + b"x" * 5000 + b'--><!DOCTYPE rss [<!ENTITY co "Acme">]>'
        b'<rss version="2.0"><channel><item><title>&co; ships</title></item></channel></rss>'
    )
    assert rss.read_simple_feed(document) is None
    [item] = parse_feed(document, FEED, NOW)
    assert item.title == "Acme ships"  # feedparser keeps a plain internal entity


def test_an_external_entity_is_never_read(tmp_path: Path) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("SECRET")
    document = (
        f'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY e SYSTEM "{secret.as_uri()}">]>'
        '<rss version="2.0"><channel><item><title>a &e; b</title><guid>g</guid></item></channel></rss>'
    ).encode()
    assert rss.read_simple_feed(document) is None
    try:
        mentions = parse_feed(document, FEED, NOW)
    except BadPayload:
        return
    assert all("SECRET" not in m.title + m.text for m in mentions)


def test_an_entity_expansion_bomb_is_not_expanded() -> None:
    levels = b"".join(b'<!ENTITY l%d "%s">' % (i, b"&l%d;" % (i - 1) * 10) for i in range(1, 10))
    document = (
        b'<?xml version="1.0"?><!DOCTYPE rss [<!ENTITY l0 "lol">' + levels + b"]>"
        b'<rss version="2.0"><channel><item><title>&l9;</title><guid>g</guid></item></channel></rss>'
    )
    assert rss.read_simple_feed(document) is None
    try:
        mentions = parse_feed(document, FEED, NOW)
    except BadPayload:
        return
    assert all(len(m.title) < 10_000 for m in mentions)  # 10^9 "lol"s if it were expanded


# -- one bad item, one bad document (issue #11)

BAD_DATES = """<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Acme news</title>
<item><guid>ok</guid><title>Acme ships</title><link>https://news.example/ok</link>
<pubDate>Wed, 10 Jul 2019 12:00:00 GMT</pubDate></item>
<item><guid>late</guid><title>Acme at the end of time</title><link>https://news.example/late</link>
<pubDate>Fri, 31 Dec 9999 23:30:00 -0100</pubDate></item>
<item><guid>iso</guid><title>Acme before time</title><link>https://news.example/early</link>
<dc:date xmlns:dc="http://purl.org/dc/elements/1.1/">0001-01-01T00:00+05:00</dc:date></item>
<item><guid>split</guid><title>Acme on a host Python cannot split</title><link>http://[::1/x</link>
<pubDate>Wed, 10 Jul 2019 13:00:00 GMT</pubDate></item>
</channel></rss>
"""


def test_an_entry_dated_outside_any_calendar_costs_only_itself() -> None:
    skipped: list[str] = []
    mentions = parse_feed(BAD_DATES.encode(), "https://news.example/feed", NOW, skipped)
    # feedparser reads no date at all in `Fri, 31 Dec 9999 23:30:00 -0100` (past its calendar): it is out of range,
    # as the W3C date before year 1 is, not an undated item published whenever it is first seen.
    assert sorted(m.id.partition("/")[2] for m in mentions) == ["ok", "split"]
    assert len(skipped) == 2 and all("out of range" in s for s in skipped)
    assert next(m for m in mentions if m.id.endswith("/split")).url == "http://[::1/x", "kept, as it was written"


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("Mon, 03 Nov 2025 08:00:00", datetime(2025, 11, 3, 8, tzinfo=UTC)),  # no zone: UTC, as feedparser reads
        ("03 Nov 2025 08:00", datetime(2025, 11, 3, 8, tzinfo=UTC)),  # the same form without its weekday
        ("Tue, 31 Feb 2026 08:00:00 GMT", None),  # no calendar holds it: skipped
        ("Sun, 02 Nov 0000 08:00:00 GMT", None),
        ("le 3 novembre 2025", "undated"),  # a form not read: the item is kept, undated
    ],
)
def test_a_date_feedparser_does_not_read_is_read_skipped_or_undated(written: str, read: datetime | str | None) -> None:
    feed = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><guid>g</guid><title>Acme</title>'
        f"<link>https://news.example/g</link><pubDate>{written}</pubDate></item></channel></rss>"
    ).encode()
    skipped: list[str] = []
    mentions = parse_feed(feed, "https://news.example/feed", NOW, skipped)
    if read is None:
        assert mentions == [] and "out of range" in skipped[0]
    elif read == "undated":
        assert [(m.undated, m.published_at) for m in mentions] == [(True, NOW)]
    else:
        assert [(m.undated, m.published_at) for m in mentions] == [(False, read)]


@pytest.mark.parametrize("label", ["bogus", "windows-874", "x-mac-roman"])
def test_an_unknown_encoding_label_fails_that_feed_only(tmp_path: Path, label: str) -> None:
    odd = (
        f'<?xml version="1.0" encoding="{label}"?><rss version="2.0"><channel><title>T</title>'
        "<item><guid>o1</guid><title>Acme odd</title><link>https://odd.example/1</link></item></channel></rss>"
    )

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/good.xml":
            return httpx.Response(200, content=ALERTS, headers={"content-type": "application/atom+xml"})
        return httpx.Response(200, content=odd.encode("latin-1"), headers={"content-type": "application/rss+xml"})

    source = _source(handler, tmp_path, urls=["https://odd.example/feed.xml", "https://good.example/good.xml"])
    got: list[Mention] = []
    failure: Exception | None = None

    async def go() -> None:
        nonlocal failure
        try:
            async for m in source.fetch(None, datetime(2000, 1, 1, tzinfo=UTC)):
                got.append(m)
        except BadPayload as exc:  # the odd document may be unreadable: then it is that URL's failure alone
            failure = exc

    asyncio.run(go())
    assert len([m for m in got if "odd.example" not in m.url]) == 20, "the healthy feed beside it is read"
    odd_read = [m for m in got if "odd.example" in m.url]
    assert odd_read or (failure is not None and "odd.example/feed.xml" in str(failure))


# -- a document cut short (a download ended early, with a Content-Length to match): what was read whole is kept,
# and the health line says the rest is missing

CUT_AT = (0.1, 0.3, 0.5, 0.7, 0.9)


def _closed_entries(document: bytes) -> int:
    return document.count(b"</entry>") + document.count(b"</item>")


@pytest.mark.parametrize("share", CUT_AT)
@pytest.mark.parametrize("document", [ALERTS, GNEWS], ids=["google-alerts", "google-news"])
def test_a_feed_cut_short_keeps_the_entries_read_whole_and_says_so(document: bytes, share: float) -> None:
    cut = document[: int(len(document) * share)]
    url = "https://www.google.com/alerts/feeds/1/2?key=secret"
    whole = parse_feed(document, url, NOW)
    assert rss.read_simple_feed(cut) is None, "the fast reader never takes a document cut short"
    warned: list[str] = []
    read = _closed_entries(cut)
    if not read:  # nothing read whole: a failed download, never a feed with nothing new
        with pytest.raises(BadPayload, match="ends before its first entry is closed"):
            parse_feed(cut, url, NOW, None, warned)
        return
    mentions = parse_feed(cut, url, NOW, None, warned)
    # The entry the cut fell in is left out (without its guid or date yet, it would come back as another item).
    assert mentions == whole[:read]
    assert warned == [
        f"https://www.google.com/alerts/feeds/1/2 ends before its feed element is closed (cut short?): {read} entries read"
    ]


@pytest.mark.parametrize("document", [ALERTS, GNEWS], ids=["google-alerts", "google-news"])
def test_every_cut_of_a_real_feed_is_said_and_keeps_exactly_the_entries_before_it(document: bytes) -> None:
    """Every 97th byte (a prime step: cuts land in tags, texts, entities and between entries alike)."""
    entries = rss.read_with_feedparser(document, FEED).entries
    assert not rss.read_with_feedparser(document, FEED).cut_short
    for end in range(1, len(document.rstrip()), 97):
        cut = document[:end]
        assert rss.read_simple_feed(cut) is None
        try:
            raw = rss.read_with_feedparser(cut, FEED)
        except BadPayload:  # cut before its first entry closed (or its root began): nothing read, and said so
            assert _closed_entries(cut) == 0, end
            continue
        assert raw.cut_short, end
        assert raw.entries == entries[: _closed_entries(cut)], end
        assert raw.entries, end


def test_a_feed_cut_inside_its_root_end_tag_is_said_though_every_entry_was_read() -> None:
    cut = ALERTS.rstrip()[:-2]  # `...</entry> </fee`
    warned: list[str] = []
    assert len(parse_feed(cut, FEED, NOW, None, warned)) == 20
    assert warned == [f"{FEED} ends before its feed element is closed (cut short?): 20 entries read"]


@pytest.mark.parametrize(
    ("document", "entries"),
    [
        (ALERTS, 20),
        (GNEWS, 1),
        # Cut in a comment after the root's end tag (page caches append one): the feed itself is whole.
        (ALERTS + b"<!-- served from cache in 0.02", 20),
        # feedparser's own corpus: an undefined entity, and bytes not in the encoding declared.
        (fixture_path("feedparser_corpus", "encoding", "bozo_double-encoded-html.xml").read_bytes(), 1),
        (fixture_path("feedparser_corpus", "encoding", "bozo_encoding_mismatch_crash.xml").read_bytes(), 1),
    ],
    ids=["google-alerts", "google-news", "cut-after-the-feed", "undefined-entity", "wrong-encoding"],
)
def test_a_whole_feed_is_never_said_to_be_cut_short(document: bytes, entries: int) -> None:
    import feedparser

    if document not in (ALERTS, GNEWS):  # feedparser complains of each of the others (its `bozo`): harmlessly
        assert feedparser.parse(io.BytesIO(document)).bozo
    warned: list[str] = []
    assert len(parse_feed(document, FEED, NOW, None, warned)) == entries
    assert warned == []


# -- a feed's own ids are its own: guid `1` of one feed is not guid `1` of another (QA: lost mentions)

SITE_A = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Site A</title><link>https://a.example/</link>
<item><title>Acme wins award</title><link>https://a.example/award</link><guid isPermaLink="false">1</guid>
<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate><description>Acme won the award.</description></item>
</channel></rss>"""
SITE_B = (
    SITE_A.replace(b"Site A", b"Site B")
    .replace(b"a.example", b"b.example")
    .replace(b"Acme wins award", b"Acme outage hits customers")
)


def test_the_same_short_guid_in_two_feeds_names_two_items() -> None:
    [a] = parse_feed(SITE_A, "https://a.example/feed", NOW)
    [b] = parse_feed(SITE_B, "https://b.example/feed", NOW)
    assert a.id != b.id
    assert a.id == f"{feed_key('https://a.example/feed')}/1", "readable: the feed's key, then the guid"
    # Stable: the same feed at its canonical URL (http or https, a tracking parameter) gives the same ids.
    [again] = parse_feed(SITE_A, "http://a.example/feed?utm_source=x", NOW)
    assert again.id == a.id


def test_a_source_reading_two_feeds_with_the_same_guid_yields_both(tmp_path: Path) -> None:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=SITE_A if request.url.path == "/siteA" else SITE_B)

    got = _collect(
        _source(handler, tmp_path, urls=["http://feeds.test/siteA", "http://feeds.test/siteB"]),
        datetime(2026, 11, 1, tzinfo=UTC),
    )
    assert sorted(m.title for m in got) == ["Acme outage hits customers", "Acme wins award"]
    assert len({m.id for m in got}) == 2


def test_ids_are_scoped_to_the_feed_as_configured_not_where_it_redirected(tmp_path: Path) -> None:
    # A CDN's signed URL changes with each run: ids keyed by it would make every item new again.
    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/feed":
            return httpx.Response(302, headers={"location": f"/signed/{len(seen)}"})
        seen.append(request.url.path)
        return httpx.Response(200, content=SITE_A)

    seen: list[str] = []
    runs = [
        _collect(_source(handler, tmp_path, urls=["http://feeds.test/feed"]), datetime(2026, 11, 1, tzinfo=UTC))
        for _ in range(2)
    ]
    assert seen == ["/signed/0", "/signed/1"]
    assert [m.id for m in runs[0]] == [m.id for m in runs[1]] == [f"{feed_key('http://feeds.test/feed')}/1"]


@pytest.mark.parametrize(
    "guid",
    [
        "https://a.example/?p=1",
        "tag:a.example,2026:post-1",
        "urn:uuid:1225c695-cfb8-4ebb-aaaa-80da344efa6a",
        "1225C695-CFB8-4EBB-AAAA-80DA344EFA6A",
    ],
)
def test_a_guid_unique_by_construction_is_kept_as_it_is(guid: str) -> None:
    document = SITE_A.replace(b">1</guid>", f">{guid}</guid>".encode())
    [item] = parse_feed(document, "https://a.example/feed", NOW)
    assert item.id == guid


def test_an_item_without_a_guid_or_link_keeps_the_id_earlier_versions_gave_it() -> None:
    # A digest of its title and date, on either reader, and not of its feed: a store made by an earlier version
    # knows it by that id (its digest cannot be renamed as a guid is), so an upgrade reports it again never.
    document = SITE_A.replace(b"<link>https://a.example/award</link>", b"").replace(
        b'<guid isPermaLink="false">1</guid>', b""
    )
    reshaped = document.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY co "Acme">]>\n<rss', 1)
    assert rss.read_simple_feed(reshaped) is None
    one = parse_feed(document, "https://a.example/feed", NOW)[0].id
    assert parse_feed(reshaped, "https://a.example/feed", NOW)[0].id == one
    assert parse_feed(document, "https://b.example/feed", NOW)[0].id == one
    assert one == hashlib.sha1(b"Acme wins award\n2026-11-24T09:00:00+00:00").hexdigest()


def test_undated_items_of_two_feeds_with_the_same_guid_keep_their_own_first_seen_times(tmp_path: Path) -> None:
    (tmp_path / "a.xml").write_bytes(SITE_A.replace(b"<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate>", b""))
    (tmp_path / "b.xml").write_bytes(SITE_B.replace(b"<pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate>", b""))
    earlier = datetime(2026, 11, 20, tzinfo=UTC)
    store = SqliteStore.open(tmp_path / "state.sqlite3")
    store.first_seen("rss", f"{feed_key('a.xml')}/1", earlier)  # a.xml's item, seen days ago
    store.close()
    got = _collect(
        _source(lambda r: httpx.Response(404), tmp_path, urls=["a.xml", "b.xml"]), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert sorted((m.title, m.published_at) for m in got) == [
        ("Acme outage hits customers", NOW),  # b.xml's, first seen now: not a.xml's time
        ("Acme wins award", earlier),
    ]


# -- the charset of the HTTP Content-Type, for a document that names none of its own

CP1251_FEED = """<rss version="2.0"><channel><title>Деловые новости</title><link>https://biz.example.ru/</link>
<description>Новости компаний</description><language>ru</language>
<item><title>Компания Акме открыла новый офис в Москве</title><link>https://biz.example.ru/news/acme-office</link>
<guid>https://biz.example.ru/news/acme-office</guid><pubDate>Tue, 24 Nov 2026 09:00:00 +0300</pubDate>
<description>Компания Акме сообщила об открытии офиса.</description></item>
</channel></rss>"""
SJIS_FEED = """<?xml version="1.0"?>
<rss version="2.0"><channel><title>テックニュース</title><link>https://tech.example.jp/</link>
<description>技術ニュース</description>
<item><title>アクメ社が新製品を発表</title><link>https://tech.example.jp/news/acme</link>
<pubDate>Tue, 24 Nov 2026 09:00:00 +0900</pubDate><description>アクメ社は本日、新製品を発表した。</description></item>
</channel></rss>"""


def _served(document: bytes, content_type: str, tmp_path: Path) -> list[Mention]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=document, headers={"content-type": content_type})

    return _collect(_source(handler, tmp_path, urls=["https://feeds.test/feed"]), datetime(2026, 1, 1, tzinfo=UTC))


@pytest.mark.parametrize(
    ("document", "content_type", "title"),
    [
        (
            CP1251_FEED.encode("cp1251"),
            "application/rss+xml; charset=windows-1251",
            "Компания Акме открыла новый офис в Москве",
        ),
        (SJIS_FEED.encode("shift_jis"), "text/xml; charset=Shift_JIS", "アクメ社が新製品を発表"),
        (SJIS_FEED.encode("shift_jis"), 'text/xml; charset="shift_jis"', "アクメ社が新製品を発表"),
    ],
    ids=["cp1251", "shift-jis", "quoted-label"],
)
def test_a_feed_naming_no_encoding_is_read_in_the_http_charset(
    document: bytes, content_type: str, title: str, tmp_path: Path
) -> None:
    [item] = _served(document, content_type, tmp_path)
    assert item.title == title
    assert title.split()[0][:4] in item.text


def test_the_documents_own_encoding_comes_before_the_http_charset(tmp_path: Path) -> None:
    declared = ('<?xml version="1.0" encoding="utf-8"?>\n' + CP1251_FEED).encode("utf-8")
    [item] = _served(declared, "application/rss+xml; charset=windows-1251", tmp_path)
    assert item.title == "Компания Акме открыла новый офис в Москве"
    with_bom = codecs.BOM_UTF8 + CP1251_FEED.encode("utf-8")
    [item] = _served(with_bom, "application/rss+xml; charset=windows-1251", tmp_path)
    assert item.title == "Компания Акме открыла новый офис в Москве"


def test_a_charset_that_does_not_decode_the_document_is_ignored(tmp_path: Path) -> None:
    # A body that is UTF-8 under a server's default label, and a label Python does not know: read as UTF-8.
    for content_type in (
        "text/xml; charset=us-ascii",
        "text/xml; charset=ISO-8859-1",
        "text/xml; charset=windows-1251",
        "text/xml; charset=x-no-such-charset",
    ):
        [item] = _served(CP1251_FEED.encode("utf-8"), content_type, tmp_path)
        assert item.title == "Компания Акме открыла новый офис в Москве"


# -- 24:00:00 is the end of the day


@pytest.mark.parametrize(
    ("element", "written"),
    [("pubDate", "Fri, 04 Dec 2026 24:00:00 GMT"), ("dc:date", "2026-12-04T24:00:00Z")],
)
def test_a_time_of_24_00_is_the_next_days_midnight_on_either_reader(element: str, written: str) -> None:
    document = (
        '<?xml version="1.0"?><rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel><title>T</title>'
        f"<item><guid>g</guid><title>Acme at midnight</title><link>https://news.example/g</link>"
        f"<{element}>{written}</{element}></item></channel></rss>"
    ).encode()
    reshaped = document.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY co "Acme">]>\n<rss', 1)
    assert rss.read_simple_feed(document) is not None and rss.read_simple_feed(reshaped) is None
    for each in (document, reshaped):
        skipped: list[str] = []
        [item] = parse_feed(each, "https://news.example/feed", NOW, skipped)
        assert (item.published_at, item.undated, skipped) == (datetime(2026, 12, 5, tzinfo=UTC), False, [])


def test_a_time_past_24_00_is_still_no_time() -> None:
    document = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>T</title><item><guid>g</guid><title>Acme</title>'
        b"<link>https://news.example/g</link><pubDate>Fri, 04 Dec 2026 24:30:00 GMT</pubDate></item></channel></rss>"
    )
    skipped: list[str] = []
    assert parse_feed(document, "https://news.example/feed", NOW, skipped) == []
    assert "out of range" in skipped[0]


# -- an HTML page served with 200, whatever comes before its <html>

LOGIN_PAGE = (
    b'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>Sign in</title></head>\n'
    b'<body><form method="post" action="/login"><label>Email <input name="email"></label>'
    b'<label>Password <input type="password" name="password"></label><button>Log in</button></form></body></html>\n'
)
XHTML_LOGIN_PAGE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE html PUBLIC "-//W3C//DTD XHTML 1.0 Strict//EN" "http://www.w3.org/TR/xhtml1/DTD/xhtml1-strict.dtd">\n'
    b'<html xmlns="http://www.w3.org/1999/xhtml"><head><title>Sign in</title></head>'
    b"<body><form><p>Please log in to continue</p></form></body></html>"
)


@pytest.mark.parametrize(
    "page",
    [
        codecs.BOM_UTF8 + LOGIN_PAGE,
        b"<!-- served by nginx -->\n" + LOGIN_PAGE,
        XHTML_LOGIN_PAGE,
        b'<?xml version="1.0" encoding="UTF-8"?>\n<!-- login --><?php-generated x?>\n'
        b'<html xmlns="http://www.w3.org/1999/xhtml"><body><form><p>Please log in</p></form></body></html>',
        b'<?xml version="1.0"?>\n<h:html xmlns:h="http://www.w3.org/1999/xhtml"><h:body>Log in</h:body></h:html>',
    ],
    ids=["bom", "comment", "xhtml", "xhtml-without-doctype", "prefixed-html"],
)
@pytest.mark.parametrize("content_type", ["text/html; charset=utf-8", "application/xml"])
def test_a_login_page_served_with_200_is_unauthorized_whatever_precedes_its_html(
    page: bytes, content_type: str, tmp_path: Path
) -> None:
    with pytest.raises(Unauthorized, match="login or block page"):
        _served(page, content_type, tmp_path)


def test_a_feed_with_a_bom_comments_and_instructions_before_it_is_still_a_feed(tmp_path: Path) -> None:
    document = (
        codecs.BOM_UTF8
        + b'<?xml version="1.0" encoding="utf-8"?>\n<!-- generated by html-to-rss -->\n'
        + b'<?xml-stylesheet type="text/xsl" href="/rss.xsl"?>\n'
        + ALERTS.split(b"?>", 1)[1]
    )
    assert len(_served(document, "text/html", tmp_path)) == 20


# -- a relative permalink guid is a relative link


def test_a_relative_permalink_guid_is_joined_to_the_feed_url_on_either_reader() -> None:
    document = (
        b'<?xml version="1.0"?><rss version="2.0"><channel><title>Blog</title>'
        b"<item><title>Acme post</title><guid>posts/5</guid><pubDate>Tue, 24 Nov 2026 09:00:00 GMT</pubDate></item>"
        b'<item><title>Acme note</title><guid isPermaLink="false">notes/6</guid></item>'
        b"<item><title>Acme id</title><guid>p1</guid></item>"
        b"</channel></rss>"
    )
    reshaped = document.replace(b"<rss", b'<!DOCTYPE rss [<!ENTITY co "Acme">]>\n<rss', 1)
    url = "https://blog.test/feed/index.xml"
    for raw in (rss.read_simple_feed(document), rss.read_with_feedparser(reshaped, url)):
        assert raw is not None
        post, note, plain = to_mentions(raw, url, NOW)
        assert post.url == "https://blog.test/feed/posts/5", "as a relative <link> is joined"
        assert (note.url, plain.url) == ("", ""), "not a permalink; an id, not a path"
        assert post.id == f"{feed_key(url)}/posts/5"


def test_a_relative_permalink_guid_in_a_local_file_is_an_id_only(tmp_path: Path) -> None:
    (tmp_path / "feed.xml").write_bytes(
        b'<rss version="2.0"><channel><item><title>Acme post</title><guid>posts/5</guid></item></channel></rss>'
    )
    [item] = _collect(
        _source(lambda r: httpx.Response(404), tmp_path, urls=["feed.xml"]), datetime(2026, 1, 1, tzinfo=UTC)
    )
    assert item.url == "" and item.id.endswith("/posts/5")


@pytest.mark.parametrize(("written", "hinted"), [("www.example.com/feed.xml", True), ("feeds/alerts.xml", False)])
def test_a_missing_feed_file_that_reads_as_a_web_address_says_to_write_https(
    tmp_path: Path, written: str, hinted: bool
) -> None:
    with pytest.raises(FetchError) as caught:
        _collect(_source(lambda r: httpx.Response(404), tmp_path, urls=[written]), datetime(2026, 1, 1, tzinfo=UTC))
    assert "cannot read feed file" in str(caught.value)
    assert ("write it with https://" in str(caught.value)) == hinted


def test_a_local_feed_file_cut_short_keeps_the_sources_watermark_as_one_over_http_does(tmp_path: Path) -> None:
    # Another program still writing the file: what its next run reads must still be in the next run's window.
    (tmp_path / "feed.xml").write_bytes(ALERTS.rstrip()[:-2])  # `...</entry> </fee`
    source = _source(lambda r: httpx.Response(404), tmp_path, urls=["feed.xml"])
    assert len(_collect(source, datetime(2000, 1, 1, tzinfo=UTC))) == 20
    assert source.context.incomplete
    assert any("cut short?" in w for w in source.context.warnings)


def test_a_local_feeds_item_ids_are_the_same_from_any_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # `-c mw.yaml` from the config's folder, or `-c /abs/path/mw.yaml` from elsewhere: one feed, one set of ids.
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "feed.xml").write_bytes(
        b'<rss version="2.0"><channel><item><title>Acme post</title><guid isPermaLink="false">ep-1</guid>'
        b"<link>https://pod.test/1</link></item></channel></rss>"
    )
    [absolute] = _collect(_source(lambda r: httpx.Response(404), tmp_path, urls=["data/feed.xml"]), NOW)
    monkeypatch.chdir(tmp_path)
    [relative] = _collect(_source(lambda r: httpx.Response(404), Path("."), urls=["data/feed.xml"]), NOW)
    [dotted] = _collect(_source(lambda r: httpx.Response(404), tmp_path, urls=["./data//feed.xml"]), NOW)
    assert absolute.id == relative.id == dotted.id and absolute.id.endswith("/ep-1")

from __future__ import annotations

import asyncio
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

from conftest import fixture_path

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
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
    assert item.id == "52782335008021"
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

    async def to_thread(func: Any, /, *args: Any) -> Any:
        threads.append(func.__name__)
        return await real_to_thread(func, *args)

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
    assert store.first_seen("rss", "x1", earlier) == earlier
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
    assert [m.id for m in mentions[:2]] == ["ep-1", "ep-2"]
    assert mentions[2].id == hashlib.sha1(b"A note on Acme\n2026-11-12T08:00:00+00:00").hexdigest()
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
    assert again.url == "" and again.id == "ep-1"
    with pytest.raises(ValueError, match="url"):
        Mention.from_dict({k: v for k, v in first.to_dict().items() if k != "url"}, default_source="")


def test_a_guid_that_is_not_a_web_address_is_never_taken_for_the_link() -> None:
    """feedparser takes any permalink guid for the link; `p1` joined to the feed URL would invent a page."""
    document = b'<rss version="2.0"><channel><item><title>t</title><guid>p1</guid></item></channel></rss>'
    for raw in (rss.read_simple_feed(document), rss.read_with_feedparser(document, FEED)):
        assert raw is not None
        [item] = to_mentions(raw, FEED, NOW)
        assert (item.id, item.url) == ("p1", "")


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
    assert sorted(m.id for m in mentions) == ["ok", "split"]
    assert len(skipped) == 2 and all("out of range" in s for s in skipped)
    assert next(m for m in mentions if m.id == "split").url == "http://[::1/x", "kept, as it was written"


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

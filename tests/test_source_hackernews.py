from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mentionwatch.errors import BadPayload
from mentionwatch.http import SourceHttp
from mentionwatch.models import Mention
from mentionwatch.source import SourceContext
from mentionwatch.sources.hackernews import HackerNewsConfig, HackerNewsSource, parse_page

from conftest import load_json

PAYLOAD = load_json("hackernews", "search_by_date_query_nodejs_2017.json")


def test_parses_every_hit_of_the_real_payload() -> None:
    mentions, pages = parse_page(PAYLOAD)
    assert len(mentions) == 20
    assert pages == 50
    assert all(m.published_at.tzinfo is UTC for m in mentions)


def test_comment_url_is_the_item_page_and_link_is_the_story_url() -> None:
    mentions, _ = parse_page(PAYLOAD)
    comment = next(m for m in mentions if m.id == "15353312")
    assert comment.kind == "comment"
    assert comment.url == "https://news.ycombinator.com/item?id=15353312"
    assert comment.link == "https://www.oath.com/press/open-sourcing-vespa-yahoo-s-big-data-processing-and-serving-eng/"
    assert comment.author == "RealJon"
    assert comment.published_at == datetime(2017, 9, 27, 23, 33, 24, tzinfo=UTC)


def test_comment_html_and_entities_become_clean_text() -> None:
    mentions, _ = parse_page(PAYLOAD)
    comment = next(m for m in mentions if m.id == "15353312")
    assert comment.text.startswith("You don't need to plug in any Java code")
    assert "&#x27;" not in comment.text and "<p>" not in comment.text
    assert "\nNo plans to break it up" in comment.text


def test_story_keeps_title_points_and_external_link() -> None:
    mentions, _ = parse_page(PAYLOAD)
    story = next(m for m in mentions if m.kind == "story" and m.title == "Node v8.6.0")
    assert story.url.startswith("https://news.ycombinator.com/item?id=")
    assert story.link and not story.link.startswith("https://news.ycombinator.com")
    assert story.score is not None and story.comments is not None


def test_a_payload_without_hits_is_bad() -> None:
    with pytest.raises(BadPayload):
        parse_page({"message": "nope"})


def _source(handler: Any, **cfg: Any) -> HackerNewsSource:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    ctx = SourceContext(http=SourceHttp(client), now=lambda: datetime(2026, 11, 25, tzinfo=UTC))
    return HackerNewsSource(HackerNewsConfig(type="hackernews", base_url="http://hn.test/api/v1", **cfg), ctx)


async def _collect(source: HackerNewsSource, term: str, since: datetime) -> list[Mention]:
    return [m async for m in source.fetch(term, since)]


def test_pages_by_page_and_nbpages_with_a_server_side_since_filter() -> None:
    seen: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        page = int(request.url.params["page"])
        body = dict(PAYLOAD, nbPages=2, page=page)
        # Two pages of the same recording, with ids made distinct per page.
        body["hits"] = [dict(h, objectID=f"{h['objectID']}{page}") for h in PAYLOAD["hits"]]
        return httpx.Response(200, json=body)

    since = datetime(2017, 9, 1, tzinfo=UTC)
    import asyncio

    mentions = asyncio.run(_collect(_source(handler), "nodejs", since))
    assert len(mentions) == 40
    assert [r.url.params["page"] for r in seen] == ["0", "1"]
    first = seen[0]
    assert first.url.path == "/api/v1/search_by_date"
    assert first.url.params["query"] == "nodejs"
    assert first.url.params["numericFilters"] == f"created_at_i>={int(since.timestamp())}"
    assert first.url.params["tags"] == "(story,comment)"


def test_stops_paging_at_items_older_than_since() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        return httpx.Response(200, content=json.dumps(PAYLOAD).encode())

    import asyncio

    # The recording's hits run from 23:33 back to ~19:00 on 2017-09-27; since=21:00 cuts it short.
    since = datetime(2017, 9, 27, 21, 0, tzinfo=UTC)
    mentions = asyncio.run(_collect(_source(handler), "nodejs", since))
    assert calls == 1
    assert mentions and all(m.published_at >= since for m in mentions)
    assert len(mentions) < 20


def test_max_pages_bounds_the_walk() -> None:
    calls = 0

    def handler(request: httpx.Request) -> httpx.Response:
        nonlocal calls
        calls += 1
        page = int(request.url.params["page"])
        hits = [dict(h, objectID=f"{h['objectID']}-{page}") for h in PAYLOAD["hits"]]
        return httpx.Response(200, json=dict(PAYLOAD, hits=hits))

    import asyncio

    asyncio.run(_collect(_source(handler, max_pages=3), "nodejs", datetime(2017, 1, 1, tzinfo=UTC)))
    assert calls == 3


def test_an_unreadable_hit_is_counted_in_the_source_and_the_page_kept() -> None:
    body = json.dumps(dict(PAYLOAD, nbPages=1)).replace(
        f'"created_at_i": {PAYLOAD["hits"][0]["created_at_i"]}', '"created_at_i": 1e400', 1
    )
    assert "1e400" in body

    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body.encode(), headers={"content-type": "application/json"})

    source = _source(handler)
    mentions = asyncio.run(_collect(source, "node", datetime(2017, 1, 1, tzinfo=UTC)))
    assert [m.id for m in mentions] == [h["objectID"] for h in PAYLOAD["hits"][1:]]
    assert len(source.context.skipped) == 1


def test_a_page_count_no_float_holds_is_no_page_count() -> None:
    _, pages = parse_page(dict(PAYLOAD, nbPages=float("inf")))
    assert pages == 0

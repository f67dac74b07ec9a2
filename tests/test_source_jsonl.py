from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from mentionwatch.errors import BadPayload, Unauthorized
from mentionwatch.models import Mention
from mentionwatch.sources.jsonl import JsonlConfig, JsonlSource, parse_lines

from conftest import fixture_path, mock_context


def test_export_round_trips_source_fields_and_drops_computed_ones() -> None:
    original = Mention(
        source="hackernews",
        id="1",
        url="https://news.ycombinator.com/item?id=1",
        published_at=datetime(2026, 11, 1, 8, 0, tzinfo=UTC),
        title="Acme",
        text="hello",
        score=12,
        brand="Acme",
        sentiment=0.9,
        matched_terms=["Acme"],
    )
    line = json.dumps(original.to_dict())
    [back], problems = parse_lines([line], default_source="jsonl", where="x")
    assert problems == []
    assert back.source == "hackernews" and back.score == 12 and back.published_at == original.published_at
    assert back.brand is None and back.sentiment is None and back.matched_terms == []


def test_bad_lines_are_reported_with_their_number_and_skipped() -> None:
    good = json.dumps({"id": "a", "url": "https://x.test/a", "published_at": "2026-11-01T00:00:00Z"})
    lines = [good, "{not json", json.dumps({"id": "b"}), "", json.dumps([1, 2])]
    mentions, problems = parse_lines(lines, default_source="feed", where="in.jsonl")
    assert [m.id for m in mentions] == ["a"]
    assert mentions[0].source == "feed"
    assert [p.split(":")[1] for p in problems] == ["2", "3", "5"]


def test_a_unix_time_in_published_at_is_an_unreadable_line_not_a_date_centuries_ago() -> None:
    # Python 3.11 reads 13 digits (milliseconds) as ISO 8601's basic form: 1762070400000 became 1762-07-04.
    lines = [
        json.dumps({"id": "ms", "url": "https://x.test/ms", "published_at": 1762070400000}),
        json.dumps({"id": "s", "url": "https://x.test/s", "published_at": "1762070400"}),
        json.dumps({"id": "basic", "url": "https://x.test/b", "published_at": "20261101"}),
    ]
    mentions, problems = parse_lines(lines, default_source="feed", where="in.jsonl")
    assert [(m.id, m.published_at) for m in mentions] == [("basic", datetime(2026, 11, 1, tzinfo=UTC))]
    assert [p.split(":")[1] for p in problems] == ["1", "2"]
    assert "is a number, not an ISO 8601 time" in problems[0]


# -- over HTTP: an HTML page served with 200 instead of the export is what it is, not a file of bad lines

EXPORT = fixture_path("jsonl", "hackernews-nodejs.jsonl").read_bytes()
LOGIN_WALL = b"<!DOCTYPE html><html><head><title>Sign in</title></head><body>Please log in</body></html>"


def _fetch(body: bytes, content_type: str) -> tuple[list[Mention], list[str]]:
    def handler(request: httpx.Request) -> httpx.Response:
        return httpx.Response(200, content=body, headers={"content-type": content_type})

    context = mock_context(handler, lambda: datetime(2026, 11, 25, tzinfo=UTC))
    source = JsonlSource(JsonlConfig(type="jsonl", base_url="https://exports.test/dl", path="x.jsonl"), context)

    async def go() -> list[Mention]:
        return [m async for m in source.fetch(None, datetime(2000, 1, 1, tzinfo=UTC))]

    return asyncio.run(go()), context.skipped


def test_a_login_wall_served_with_200_is_unauthorized_not_bad_lines() -> None:
    with pytest.raises(Unauthorized, match=r"https://exports\.test/dl/x\.jsonl served an HTML login"):
        _fetch(LOGIN_WALL, "text/html; charset=utf-8")
    with pytest.raises(Unauthorized):  # told by the body when the header says nothing of HTML
        _fetch(LOGIN_WALL, "application/x-ndjson")


def test_another_html_page_is_said_to_be_one() -> None:
    with pytest.raises(BadPayload, match="served an HTML page instead of JSON Lines"):
        _fetch(b"<html><body><h1>502 Bad Gateway</h1></body></html>", "text/html")


def test_an_export_served_as_text_html_is_still_read() -> None:
    mentions, skipped = _fetch(EXPORT, "text/html")
    assert len(mentions) == len(EXPORT.splitlines()) and skipped == []


def test_a_byte_order_mark_and_a_line_separator_inside_a_string_are_read_as_json_lines(tmp_path: Path) -> None:
    # An editor's "UTF-8 with BOM", and U+2028 (legal, unescaped, inside a JSON string; str.splitlines() splits at
    # it): both from a file and over HTTP.
    record = {"id": "a", "url": "https://x.test/a", "published_at": "2026-11-01T00:00:00Z", "text": "one\u2028two"}
    body = b"\xef\xbb\xbf" + json.dumps(record, ensure_ascii=False).encode() + b"\n"
    mentions, skipped = _fetch(body, "application/x-ndjson")
    assert [m.text for m in mentions] == ["one\u2028two"] and skipped == []
    path = tmp_path / "bom.jsonl"
    path.write_bytes(body)
    context = mock_context(lambda request: httpx.Response(500), lambda: datetime(2026, 11, 25, tzinfo=UTC))
    source = JsonlSource(JsonlConfig(type="jsonl", path=str(path)), context)

    async def go() -> list[Mention]:
        return [m async for m in source.fetch(None, datetime(2000, 1, 1, tzinfo=UTC))]

    assert [m.id for m in asyncio.run(go())] == ["a"] and context.skipped == []


def test_a_text_field_that_is_a_list_is_an_unreadable_line_not_its_repr() -> None:
    line = json.dumps({"id": 7, "url": "https://x.test/7", "published_at": "2026-11-01T00:00:00Z", "text": ["Acme"]})
    mentions, problems = parse_lines([line], default_source="feed", where="in.jsonl")
    assert mentions == [] and problems == ["in.jsonl:1: skipped: text is a JSON array, not text"]
    numbered = json.dumps({"id": 7, "url": "https://x.test/7", "published_at": "2026-11-01T00:00:00Z"})
    assert parse_lines([numbered], default_source="feed", where="in.jsonl")[0][0].id == "7", "a number is its text"

from __future__ import annotations

import json
from datetime import UTC, datetime

from mentionwatch.models import Mention
from mentionwatch.sources.jsonl import parse_lines


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

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mentionwatch.models import FIELDS, Mention
from mentionwatch.output import (
    format_for_path,
    sanitize_cell,
    sanitize_terminal,
    write_csv,
    write_json,
    write_jsonl,
    write_table,
)

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def mention(**kw: object) -> Mention:
    base: dict[str, object] = {
        "source": "rss",
        "id": "1",
        "url": "https://example.org/a",
        "published_at": datetime(2026, 11, 25, 10, 0, tzinfo=UTC),
        "title": "Acme",
        "text": "Acme is fine",
        "brand": "Acme",
        "matched_terms": ["Acme"],
        "sentiment": 0.2,
        "sentiment_label": "positive",
    }
    base.update(kw)
    return Mention(**base)  # type: ignore[arg-type]


@given(st.text())
def test_terminal_text_never_carries_controls_or_bidi_overrides(text: str) -> None:
    assert not UNSAFE.search(sanitize_terminal(text))
    assert not UNSAFE.search(sanitize_terminal(text, newlines=True).replace("\n", ""))


@given(st.text())
def test_no_csv_cell_can_start_a_formula(text: str) -> None:
    cell = sanitize_cell(text)
    assert not cell.startswith(("=", "+", "-", "@", "\t", "\r"))
    assert "\x1b" not in cell


def test_osc8_hyperlinks_and_colours_are_removed_but_text_kept() -> None:
    raw = "see \x1b]8;;http://evil.test\x07here\x1b]8;;\x07 \x1b[31mred\x1b[0m \x9b31mc1"
    assert sanitize_terminal(raw) == "see here red c1"


def test_table_shows_markup_literally() -> None:
    out = io.StringIO()
    write_table([mention(title="[bold red]x[/]", text="")], out, now=NOW, width=160)
    assert "[bold red]x[/]" in out.getvalue()
    out = io.StringIO()
    write_table([mention(title="[bold red]x[/]", text="")], out, now=NOW, width=80)
    assert "[bold red]x[/]" in out.getvalue()


def test_jsonl_is_one_object_per_line_with_the_documented_fields() -> None:
    out = io.StringIO()
    write_jsonl([mention(), mention(id="2", text="line\nbreak \u202e bidi")], out)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    first = json.loads(lines[0])
    assert tuple(first) == FIELDS
    assert first["published_at"] == "2026-11-25T10:00:00Z"
    assert "\u202e" not in lines[1] and json.loads(lines[1])["text"] == "line\nbreak \u202e bidi"


def test_json_is_an_array() -> None:
    out = io.StringIO()
    write_json([mention()], out)
    assert isinstance(json.loads(out.getvalue()), list)


def test_csv_columns_follow_fields_and_lists_are_flattened() -> None:
    out = io.StringIO()
    m = mention(matched_terms=["Acme", "@acme"], also_seen=[{"source": "hn", "id": "9", "url": "https://x.test/9"}])
    write_csv([m], out)
    rows = list(csv.reader(io.StringIO(out.getvalue())))
    assert tuple(rows[0]) == FIELDS
    row = dict(zip(rows[0], rows[1], strict=True))
    assert row["matched_terms"] == "Acme; @acme"
    assert row["also_seen"] == "https://x.test/9"
    assert row["needs_reply"] == "false"


def test_format_from_extension() -> None:
    assert format_for_path("out.csv", None) == "csv"
    assert format_for_path("out.JSON", None) == "json"
    assert format_for_path("out.ndjson", None) == "jsonl"
    assert format_for_path("out.csv", "json") == "json"


def test_the_output_fields_and_their_order_are_the_published_contract() -> None:
    # Scripts index CSV columns: the order never changes, and new fields are appended (README, "Output").
    assert FIELDS[:31] == (
        "source", "id", "url", "link", "title", "text", "author", "published_at", "brand", "matched_terms",
        "sentiment", "sentiment_label", "subjectivity", "impact", "reach", "engagement", "needs_reply", "score",
        "comments", "likes", "reposts", "quotes", "views", "followers", "duplicates", "also_seen", "kind", "lang",
        "undated", "source_type", "matched_query",
    )  # fmt: skip


@pytest.mark.parametrize(
    "text", ["=1+1", " =1+1", "\n=HYPERLINK(x)", "\u200b=cmd", "\u00a0 @SUM(A1)", "\r\n-2+3", "\ufeff+1"]
)
def test_a_formula_behind_spaces_breaks_or_invisible_characters_is_defused(text: str) -> None:
    assert sanitize_cell(text).startswith("'")


def test_numbers_stay_numbers_in_csv_and_text_is_guarded() -> None:
    m = mention(text="-2+3 is a formula", sentiment=-0.9764, impact=12.5, score=-3)
    out = io.StringIO()
    write_csv([m], out)
    header, row = list(csv.reader(io.StringIO(out.getvalue())))
    cells = dict(zip(header, row, strict=True))
    assert (cells["sentiment"], cells["impact"], cells["score"]) == ("-0.9764", "12.5", "-3")
    assert cells["text"] == "'-2+3 is a formula"


def test_jsonl_escapes_line_and_paragraph_separators() -> None:
    m = mention(text="one\u2028two\u2029three")
    out = io.StringIO()
    write_jsonl([m], out)
    assert "\u2028" not in out.getvalue() and "\u2029" not in out.getvalue()
    assert len(out.getvalue().splitlines()) == 1  # str.splitlines breaks at U+2028: it must find one line
    assert json.loads(out.getvalue())["text"] == "one\u2028two\u2029three"


@pytest.mark.parametrize("text", ["plain ascii \x7f del", "\x85 next line", "caf\u00e9 \u202e bidi", "plain"])
def test_jsonl_escapes_del_and_c1_whether_or_not_the_rest_is_ascii(text: str) -> None:
    out = io.StringIO()
    write_jsonl([mention(text=text)], out)
    line = out.getvalue()
    assert not UNSAFE.search(line) and json.loads(line)["text"] == text


def test_the_export_form_of_every_field() -> None:
    """to_dict reads fields by their declared types: every value comes out as a type-by-type conversion gives."""
    seen_at = datetime(2026, 11, 25, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    m = mention(
        first_seen=seen_at,
        replied_at=NOW,
        tags=["urgent"],
        also_seen=[{"source": "hn", "url": "https://news.ycombinator.com/item?id=1"}],
        link="https://example.org/b",
        lang="en",
        reach=5,
    )
    expected: dict[str, object] = {}
    for name in FIELDS:
        value = getattr(m, name)
        if isinstance(value, datetime):
            value = value.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
        elif isinstance(value, list):
            value = [dict(v) if isinstance(v, dict) else v for v in value]
        expected[name] = value
    out = m.to_dict()
    assert list(out.items()) == list(expected.items())
    assert out["first_seen"] == "2026-11-25T09:00:00Z"
    # Copies: what a caller does to the export form leaves the mention alone.
    out["tags"].append("x")
    out["also_seen"][0]["url"] = "changed"
    assert m.tags == ["urgent"] and m.also_seen[0]["url"] == "https://news.ycombinator.com/item?id=1"


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad", "\u202e"])
def test_invisible_characters_never_reach_the_terminal(char: str) -> None:
    assert sanitize_terminal(f"a{char}cme") == "acme"


def test_json_is_written_a_mention_at_a_time_as_json_dumps_would_write_the_list() -> None:
    ms = [mention(id=str(i), text='a\nb "q" é\u2028', also_seen=[{"source": "x", "id": "1"}]) for i in range(3)]
    for n in (0, 1, 3):
        out = io.StringIO()
        write_json(ms[:n], out)
        assert json.loads(out.getvalue()) == [m.to_dict() for m in ms[:n]]
        assert (
            out.getvalue().replace("\\u2028", "\u2028")
            == json.dumps([m.to_dict() for m in ms[:n]], ensure_ascii=False, indent=2) + "\n"
        )

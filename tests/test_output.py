from __future__ import annotations

import csv
import io
import json
import logging
import os
import re
import subprocess
import sys
import tempfile
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import IO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentionwatch.errors import OutputError
from mentionwatch.models import FIELDS, Mention
from mentionwatch.output import (
    BrokenStdout,
    append_file,
    format_for_path,
    make_console,
    sanitize_cell,
    sanitize_terminal,
    write_csv,
    write_file,
    write_json,
    write_jsonl,
    write_stdout,
    write_table,
)

from conftest import cli_command, cli_env

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


def test_csv_keeps_the_joiners_that_spell_words_and_emoji() -> None:
    # ZWNJ (U+200C) is part of Persian spelling, ZWJ (U+200D) of Indic conjuncts and emoji sequences: data, which
    # JSON keeps too. Other invisible characters still go.
    text = "\u0645\u06cc\u200c\u062e\u0648\u0627\u0647\u0645 \u0915\u094d\u200d\u0937 \U0001f468\u200d\U0001f469 x\u200by"
    out = io.StringIO()
    write_csv([mention(text=text)], out)
    cells = dict(zip(*csv.reader(io.StringIO(out.getvalue())), strict=True))
    assert cells["text"] == text.replace("\u200b", "")


def test_a_table_written_to_a_file_gives_dates_not_how_long_ago(tmp_path: Path) -> None:
    # A cron job's .txt is read hours later: "2h ago" would be wrong by then.
    target = tmp_path / "scan.txt"
    recent = datetime.now(UTC) - timedelta(hours=2)
    write_file([mention(published_at=recent)], "table", target)
    text = target.read_text(encoding="utf-8")
    assert "ago" not in text and recent.strftime("%Y-%m-%d %H:%M") in text


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


# -- --append: what is in the file already


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_append_adds_another_brands_mention_of_an_item_already_in_the_file(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"all.{fmt}"
    assert append_file([mention(brand="Slack")], fmt, out) == 1
    # The same item, matched by a brand added to the config since: a mention of its own, as in the store.
    assert append_file([mention(brand="Slack"), mention(brand="Haldex")], fmt, out) == 1
    assert append_file([mention(brand="Slack"), mention(brand="Haldex")], fmt, out) == 0
    if fmt == "csv":
        assert [(r["brand"], r["id"]) for r in csv_rows(out)] == [("Slack", "1"), ("Haldex", "1")]
    else:
        assert [json.loads(line)["brand"] for line in out.read_text().splitlines()] == ["Slack", "Haldex"]


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text(max_size=8), st.text(min_size=1, max_size=8), st.text(min_size=1, max_size=8))))
def test_appending_the_same_mentions_again_adds_none_whatever_their_ids(keys: list[tuple[str, str, str]]) -> None:
    # Ids the CSV cell sanitiser changes (`x\u200by`, `'quoted`, `''=x`, `=1`) must be found again as written.
    mentions = [mention(brand=b, source=s, id=i) for b, s, i in keys]
    with tempfile.TemporaryDirectory() as folder:
        for fmt in ("csv", "jsonl"):
            out = Path(folder) / f"all.{fmt}"
            append_file(mentions, fmt, out)
            written = out.read_bytes()
            assert append_file(mentions, fmt, out) == 0
            assert out.read_bytes() == written


@pytest.mark.parametrize("ident", ["x\u200by", "a\u202eb", "'quoted", "''=x", "=1+1", "\t-1"])
def test_csv_append_finds_ids_the_sanitiser_changed(tmp_path: Path, ident: str) -> None:
    out = tmp_path / "all.csv"
    for _ in range(3):
        append_file([mention(id=ident), mention(id="plain")], "csv", out)
    assert len(csv_rows(out)) == 2


def test_csv_append_finds_a_cell_a_spreadsheet_saved_without_its_quote(tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    append_file([mention(id="=1+1")], "csv", out)
    assert "'=1+1" in out.read_text()
    out.write_text(out.read_text().replace("'=1+1", "=1+1"))  # what Excel saves for the text cell '=1+1
    assert append_file([mention(id="=1+1")], "csv", out) == 0


def test_csv_append_reads_past_a_byte_order_mark_and_writes_none_of_its_own(tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    append_file([mention(id="1")], "csv", out)
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes())  # Excel's "CSV UTF-8"
    assert append_file([mention(id="1"), mention(id="2")], "csv", out) == 1
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfsource,id,") and data.count(b"\xef\xbb\xbf") == 1
    assert [r["id"] for r in csv_rows(out)] == ["1", "2"]
    empty = tmp_path / "empty.csv"
    empty.write_bytes(b"\xef\xbb\xbf")
    assert append_file([mention(id="1")], "csv", empty) == 1
    assert empty.read_bytes().startswith(b"\xef\xbb\xbfsource,id,") and len(csv_rows(empty)) == 1


def test_csv_append_reads_a_file_an_older_version_wrote(tmp_path: Path) -> None:
    # Its header is the first of today's fields (new fields go at the end); every version wrote `brand`.
    old = tmp_path / "old.csv"
    header = FIELDS[:31]
    row = {**dict.fromkeys(header, ""), "source": "rss", "id": "1", "brand": "Acme"}
    old.write_text(",".join(header) + "\r\n" + ",".join(row[name] for name in header) + "\r\n", newline="")
    assert append_file([mention(id="1"), mention(id="2")], "csv", old) == 1
    assert [r["id"] for r in csv_rows(old)] == ["1", "2"]


def test_csv_append_reads_back_a_text_longer_than_csvs_default_cell(tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    long = mention(text="Acme " * 40_000)  # 200,000 characters: csv reads 131,072 by default
    assert append_file([long], "csv", out) == 1
    assert append_file([long], "csv", out) == 0


@pytest.mark.parametrize("fmt", ["csv", "jsonl"])
def test_append_keeps_a_whole_last_record_that_has_no_line_break(tmp_path: Path, fmt: str) -> None:
    out = tmp_path / f"all.{fmt}"
    append_file([mention(id="keep", text="two\nlines")], fmt, out)
    whole = out.read_bytes()
    out.write_bytes(whole.rstrip(b"\r\n"))  # as an editor or `printf` leaves it
    assert append_file([mention(id="keep", text="two\nlines"), mention(id="new")], fmt, out) == 1
    assert out.read_bytes().startswith(whole)
    ids = (
        [r["id"] for r in csv_rows(out)]
        if fmt == "csv"
        else [json.loads(x)["id"] for x in out.read_text().splitlines()]
    )
    assert ids == ["keep", "new"]


def test_jsonl_append_keeps_a_hand_written_record_without_a_line_break(tmp_path: Path) -> None:
    out = tmp_path / "c.jsonl"
    out.write_text('{"source":"old","id":"keepme"}')
    assert append_file([mention()], "jsonl", out) == 1
    lines = out.read_text().splitlines()
    assert lines[0] == '{"source":"old","id":"keepme"}' and json.loads(lines[1])["id"] == "1"


@pytest.mark.parametrize(
    ("fmt", "cut"),
    [
        ("jsonl", '{"source": "rss", "id": "half a li'),
        ("csv", "rss,half,https://example.org/h"),  # fewer cells than the header
        ("csv", 'rss,half,https://example.org/h,,"a title cut\r\nin two lines'),  # inside an open quote
    ],
)
def test_append_drops_a_record_cut_short_and_says_so(
    tmp_path: Path, fmt: str, cut: str, caplog: pytest.LogCaptureFixture
) -> None:
    out = tmp_path / f"all.{fmt}"
    append_file([mention(id="1")], fmt, out)
    whole = out.read_bytes()
    out.write_bytes(whole + cut.encode())
    with caplog.at_level(logging.WARNING, logger="mentionwatch"):
        assert append_file([mention(id="1"), mention(id="2")], fmt, out) == 1
    assert "cut short" in caplog.text and str(out) in caplog.text
    data = out.read_bytes()
    assert data.startswith(whole) and b"half" not in data
    ids = [r["id"] for r in csv_rows(out)] if fmt == "csv" else [json.loads(x)["id"] for x in data.splitlines()]
    assert ids == ["1", "2"]


def test_a_csv_header_without_its_line_break_is_kept_and_a_cut_one_rewritten(tmp_path: Path) -> None:
    out = tmp_path / "all.csv"
    out.write_text(",".join(FIELDS))
    assert append_file([mention()], "csv", out) == 1
    assert [r["id"] for r in csv_rows(out)] == ["1"]
    out.write_text("source,id,ur")
    assert append_file([mention()], "csv", out) == 1
    assert out.read_bytes().decode().startswith(",".join(FIELDS) + "\r\n") and len(csv_rows(out)) == 1


# -- the table on a terminal


def card_text(mentions: list[Mention], width: int | None) -> str:
    out = io.StringIO()
    write_table(mentions, out, now=NOW, width=width)
    return out.getvalue()


def test_at_80_columns_every_card_shows_its_impact_and_reply_marker() -> None:
    ms = [
        mention(
            id=str(n),
            url=f"https://www.{'very-long-site-name-' * n}example.org/{n}",
            author="An Author With A Rather Long Display Name",
            impact=1234 + n,
            needs_reply=n % 2 == 0,
            sentiment=-0.8641,
            sentiment_label="negative",
        )
        for n in range(4)
    ]
    text = card_text(ms, 80)
    assert all(len(line) <= 80 for line in text.splitlines())
    assert "…" not in "".join(line for line in text.splitlines() if not line.startswith(" "))
    for n in range(4):
        assert f"impact {1234 + n}" in text
    assert text.count("-0.86 negative") == 4
    assert text.count("reply ") == 2
    heads = [line for line in text.splitlines() if line.startswith("reply ")]
    assert len(heads) == 2 and all("impact" in line for line in heads), "the marker and the figure lead the card"
    assert "by An Author With A Rather Long Display Name" in text
    assert all(line == line.rstrip() for line in text.splitlines()), "no padding at the ends of lines"


def test_a_card_without_an_author_has_no_empty_part() -> None:
    text = card_text([mention(author="", impact=3)], 80)
    assert text.splitlines()[0] == "Acme · impact 3 · +0.20 positive · example.org · 2h ago"


@pytest.mark.parametrize("columns", ["0", "1", "12"])
def test_a_terminal_of_no_width_still_shows_every_mention(columns: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", columns)
    text = card_text([mention(id="1", impact=7, needs_reply=True), mention(id="2", title="Second")], None)
    assert "impact 7" in text and "reply" in text and "Second" in text and "2 mentions" in text
    assert card_text([mention()], 0) == card_text([mention()], 40)


class _ClosedPipe(io.StringIO):
    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def test_a_console_on_a_closed_pipe_raises_broken_pipe_not_system_exit() -> None:
    # rich's own Console exits 1 (SystemExit), past write_stdout's quiet ending with 141.
    console = make_console(file=_ClosedPipe())
    with pytest.raises(BrokenPipeError):
        console.print("x")


@pytest.mark.parametrize("width", [80, 160, None])
def test_a_table_to_a_closed_pipe_ends_as_the_data_formats_do(
    width: int | None, monkeypatch: pytest.MonkeyPatch
) -> None:
    def table(out: IO[str]) -> None:
        write_table([mention()] * 50, out, now=NOW, width=width)

    def jsonl(out: IO[str]) -> None:
        write_jsonl([mention()] * 50, out)

    for writer in (table, jsonl):
        read, write = os.pipe()
        os.close(read)  # the reader is gone
        with os.fdopen(write, "w") as closed:
            monkeypatch.setattr(sys, "stdout", closed)
            with pytest.raises(BrokenStdout):
                write_stdout(writer)


@pytest.mark.e2e
@pytest.mark.parametrize("fmt", ["table", "jsonl"])
def test_a_closed_pipe_ends_a_table_scan_as_it_ends_a_jsonl_one(tmp_path: Path, fmt: str) -> None:
    example = Path(__file__).parent.parent / "examples" / "mentionwatch.yaml"
    health = tmp_path / "health.json"
    proc = subprocess.Popen(
        cli_command("scan", "-c", str(example), "--no-store", "-f", fmt, "--health", str(health)),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=cli_env(tmp_path, {"COLUMNS": "80"}),
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    proc.stdout.close()  # `| head -1` when it has had its line: the scan's first write meets a closed pipe
    stderr = proc.stderr.read().decode()
    assert proc.wait(timeout=60) == 141
    # No error, and the run's other work done as after any output: the health lines and the health file.
    assert "error" not in stderr and "Traceback" not in stderr
    assert stderr.splitlines()[0].startswith("ok ")
    assert {s["state"] for s in json.loads(health.read_text())["sources"]} == {"ok"}


def test_csv_append_keeps_every_row_of_a_file_with_cr_line_ends(tmp_path: Path) -> None:
    out = tmp_path / "mac.csv"
    append_file([mention(id="1"), mention(id="2")], "csv", out)
    out.write_bytes(out.read_bytes().replace(b"\r\n", b"\r").removesuffix(b"\r"))  # classic Mac, no last CR
    assert append_file([mention(id="2"), mention(id="3")], "csv", out) == 1
    assert [r["id"] for r in csv_rows(out)] == ["1", "2", "3"]


def test_csv_append_never_cuts_a_file_whose_records_it_cannot_find(tmp_path: Path) -> None:
    out = tmp_path / "odd.csv"
    out.write_text('source,id,"brand\r\nrss,1,Acme\r\nrss,2,Acme', newline="")  # a quote opened in the header
    with pytest.raises(OutputError, match="cannot tell where its last record starts"):
        append_file([mention(id="3")], "csv", out)
    assert out.read_bytes() == b'source,id,"brand\r\nrss,1,Acme\r\nrss,2,Acme'


def test_a_folder_gone_before_the_write_is_an_output_error_not_an_internal_one(tmp_path: Path) -> None:
    # The path was checked before the scan; a scan later the folder can be gone (or full): exit 5, never 1.
    folder = tmp_path / "out"
    folder.mkdir()
    target = folder / "new.csv"
    folder.rmdir()
    with pytest.raises(OutputError, match="cannot write"):
        write_file([mention(id="1")], "csv", target)


@pytest.mark.e2e
def test_a_closed_pipe_on_stderr_too_ends_a_scan_as_a_closed_stdout_does(tmp_path: Path) -> None:
    # `mentionwatch scan 2>&1 | head -1`: the health lines meet the closed pipe too (rich's Console would exit 1).
    example = Path(__file__).parent.parent / "examples" / "mentionwatch.yaml"
    out = tmp_path / "scan.jsonl"
    proc = subprocess.Popen(
        cli_command("scan", "-c", str(example), "--no-store", "-o", str(out)),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env=cli_env(tmp_path, {"COLUMNS": "80"}),
        cwd=tmp_path,
    )
    assert proc.stdout is not None
    proc.stdout.close()
    assert proc.wait(timeout=60) == 141
    assert len(out.read_text().splitlines()) == 23, "the file was written whole before"

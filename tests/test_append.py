"""`scan -o FILE --append`, as a cron job runs it: each brand's mention once, whatever its id, and nothing that was
in the file lost. The sources are real recordings (tests/fixtures/): the Google Alerts feed served on loopback, and
the Hacker News export re-read by the jsonl source."""

from __future__ import annotations

import csv
import io
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from conftest import LoopbackServer, Reply, Run, cli_command, cli_env, fixture_path

ALERTS = fixture_path("rss", "google_alerts_atom_feedjira.xml").read_bytes()
# The recorded export's comments and stories that the brand below matches (the others never name Node).
HN_EXPORT = [
    record
    for record in map(json.loads, fixture_path("jsonl", "hackernews-nodejs.jsonl").read_text("utf-8").splitlines())
    if record["id"] in {"15353312", "15352616", "15351504", "15348835", "15348473", "15348128"}
]


def alerts_config(tmp_path: Path, server: LoopbackServer, brands: dict[str, str], name: str) -> str:
    server.route("/alerts.xml", Reply(200, ALERTS, {"content-type": "application/atom+xml"}))
    listed = "".join(f"  - name: {brand}\n    case_sensitive_terms: [{term}]\n" for brand, term in brands.items())
    path = tmp_path / name
    path.write_text(
        f"brands:\n{listed}sources:\n  - type: rss\n    name: alerts\n    urls: [{server.url}/alerts.xml]\n",
        encoding="utf-8",
    )
    return str(path)


def export_config(tmp_path: Path, ids: list[str]) -> str:
    """The recorded Hacker News export, its first records given the ids a test needs."""
    records = [{**record, "id": ident} for record, ident in zip(HN_EXPORT, ids, strict=False)]
    assert len(records) == len(ids)
    export = tmp_path / "export.jsonl"
    export.write_text("".join(json.dumps(r) + "\n" for r in records), encoding="utf-8")
    path = tmp_path / "mw.yaml"
    path.write_text(
        "since: 2017-01-01\nbrands:\n  - name: Node.js\n    terms: [Node.js, NodeJS, Node]\n"
        f"sources:\n  - type: jsonl\n    name: hn-export\n    path: {export}\n",
        encoding="utf-8",
    )
    return str(path)


def csv_rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


def jsonl_rows(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_a_brand_added_later_gets_its_mentions_of_items_already_in_the_file(
    tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]
) -> None:
    before = alerts_config(tmp_path, server, {"Slack": "Slack"}, "a.yaml")
    after = alerts_config(tmp_path, server, {"Slack": "Slack", "Haldex": "Haldex"}, "b.yaml")
    out, db = tmp_path / "cron.csv", str(tmp_path / "s.db")
    cron = ("--db", db, "--since", "2017-01-01", "--new", "-f", "csv", "-o", str(out), "--append")
    assert cli("scan", "-c", before, *cron, "-q").code == 0
    slack = csv_rows(out)
    assert len(slack) == 19 and {r["brand"] for r in slack} == {"Slack"}
    run = cli("scan", "-c", after, *cron)
    assert run.code == 0 and f"added 2 mentions to {out}" in run.stderr
    rows = csv_rows(out)
    assert rows[:19] == slack
    haldex = [r for r in rows[19:] if r["brand"] == "Haldex"]
    assert len(rows) == 21 and len(haldex) == 2
    # The same two items as two of Slack's rows: another brand's mentions of them, not duplicates.
    assert {r["id"] for r in haldex} <= {r["id"] for r in slack}
    # The store has them as seen: a later run outputs nothing, and the file has them once.
    again = cli("scan", "-c", after, *cron)
    assert again.code == 0 and f"added 0 mentions to {out}" in again.stderr
    assert len(csv_rows(out)) == 21


def test_jsonl_append_tells_brands_apart_too(tmp_path: Path, server: LoopbackServer, cli: Callable[..., Run]) -> None:
    out = tmp_path / "all.jsonl"
    for brands, name in (({"Slack": "Slack"}, "a.yaml"), ({"Slack": "Slack", "Haldex": "Haldex"}, "b.yaml")):
        config = alerts_config(tmp_path, server, brands, name)
        args = ("scan", "-c", config, "--no-store", "--since", "2017-01-01", "-o", str(out), "--append", "-q")
        assert cli(*args).code == 0
    rows = jsonl_rows(out)
    assert [r["brand"] for r in rows].count("Haldex") == 2 and len(rows) == 21
    assert len({(r["brand"], r["source"], r["id"]) for r in rows}) == 21


SANITISED_IDS = ["x\u200by", "a\u202eb", "'quoted", "''=x", "=1+1", "15353312"]


def test_csv_append_adds_nothing_twice_when_the_cell_sanitiser_changed_an_id(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    config = export_config(tmp_path, SANITISED_IDS)
    out = tmp_path / "all.csv"
    for _ in range(3):
        assert cli("scan", "-c", config, "--no-store", "-o", str(out), "--append", "-q").code == 0
    rows = csv_rows(out)
    assert len(rows) == len(SANITISED_IDS)
    # As written: invisible and bidi characters gone, a formula defused with a `'` (and read back as written).
    assert [r["id"] for r in rows] == ["xy", "ab", "'quoted", "''=x", "'=1+1", "15353312"]


def test_csv_append_to_a_file_excel_saved_with_a_byte_order_mark(tmp_path: Path, cli: Callable[..., Run]) -> None:
    config = export_config(tmp_path, ["1", "2"])
    out = tmp_path / "all.csv"
    assert cli("scan", "-c", config, "--no-store", "-o", str(out), "--append", "-q").code == 0
    out.write_bytes(b"\xef\xbb\xbf" + out.read_bytes())  # Excel: File > Save As > CSV UTF-8
    export_config(tmp_path, ["1", "2", "3"])
    for _ in range(2):
        run = cli("scan", "-c", config, "--no-store", "-o", str(out), "--append")
        assert run.code == 0, run.stderr
    data = out.read_bytes()
    assert data.startswith(b"\xef\xbb\xbfsource,id,") and data.count(b"\xef\xbb\xbf") == 1
    assert [r["id"] for r in csv_rows(out)] == ["1", "2", "3"]


@pytest.mark.e2e
def test_a_last_record_without_a_line_break_is_kept(tmp_path: Path) -> None:
    config = export_config(tmp_path, ["1", "2"])
    out = tmp_path / "c.jsonl"
    out.write_text('{"source":"old","id":"keepme"}', encoding="utf-8")  # printf '...' > c.jsonl
    run = subprocess.run(
        cli_command("scan", "-c", config, "--no-store", "-o", str(out), "--append"),
        capture_output=True,
        text=True,
        env=cli_env(tmp_path),
        cwd=tmp_path,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert f"added 2 mentions to {out}" in run.stderr and "cut short" not in run.stderr
    assert [r["id"] for r in jsonl_rows(out)] == ["keepme", "1", "2"]


def test_a_csv_without_its_last_line_break_keeps_its_last_row(tmp_path: Path, cli: Callable[..., Run]) -> None:
    config = export_config(tmp_path, ["1", "2"])
    out = tmp_path / "all.csv"
    assert cli("scan", "-c", config, "--no-store", "-o", str(out), "-q").code == 0
    out.write_bytes(out.read_bytes().removesuffix(b"\r\n"))  # a file saved by an editor that drops it
    export_config(tmp_path, ["1", "2", "3"])
    assert cli("scan", "-c", config, "--no-store", "-o", str(out), "--append", "-q").code == 0
    assert [r["id"] for r in csv_rows(out)] == ["1", "2", "3"]


@pytest.mark.parametrize(
    ("fmt", "cut"), [("jsonl", b'{"source": "hn-export", "id": "9'), ("csv", b'hn-export,9,"https://')]
)
def test_a_record_cut_short_is_dropped_and_said(tmp_path: Path, cli: Callable[..., Run], fmt: str, cut: bytes) -> None:
    config = export_config(tmp_path, ["1"])
    out = tmp_path / f"all.{fmt}"
    assert cli("scan", "-c", config, "--no-store", "-o", str(out), "-q").code == 0
    out.write_bytes(out.read_bytes() + cut)  # another writer that died half-way through a record
    export_config(tmp_path, ["1", "2"])
    run = cli("scan", "-c", config, "--no-store", "-o", str(out), "--append")
    assert run.code == 0, run.stderr
    assert f"{out}: its last record was cut short" in run.stderr
    ids = [r["id"] for r in (csv_rows(out) if fmt == "csv" else jsonl_rows(out))]
    assert ids == ["1", "2"]


def test_a_csv_record_cut_just_after_a_line_break_inside_its_text_is_dropped_and_said(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    # Hacker News comments hold paragraphs: a cut just after one of their line breaks leaves a file that ends in
    # "\n" inside an open quote. It used to pass for whole, and the next rows went into the open cell.
    config = export_config(tmp_path, ["1", "2"])
    out = tmp_path / "all.csv"
    assert cli("scan", "-c", config, "--no-store", "-o", str(out), "-q").code == 0
    data = out.read_bytes()
    last = data.rstrip(b"\r\n").rfind(b"\r\n") + 2  # where the last row starts
    assert b"\n" in data[last:].rstrip(b"\r\n"), "the recorded comment has paragraphs"
    out.write_bytes(data[: data.index(b"\n", last) + 1])
    export_config(tmp_path, ["1", "2", "3"])
    run = cli("scan", "-c", config, "--no-store", "-o", str(out), "--append")
    assert run.code == 0, run.stderr
    assert f"{out}: its last record was cut short" in run.stderr
    rows = csv_rows(out)
    assert [r["id"] for r in rows] == ["1", "2", "3"]
    assert all(len(r) == len(rows[0]) and None not in r for r in rows)


@pytest.mark.parametrize(("have", "add"), [("jsonl", "csv"), ("csv", "jsonl")])
def test_appending_one_format_to_a_file_of_the_other_is_refused(
    tmp_path: Path, cli: Callable[..., Run], have: str, add: str
) -> None:
    config = export_config(tmp_path, ["1"])
    out = tmp_path / f"all.{have}"
    assert cli("scan", "-c", config, "--no-store", "-o", str(out), "-q").code == 0
    before = out.read_bytes()
    run = cli("scan", "-c", config, "--no-store", "-o", str(out), "-f", add, "--append")
    assert run.code == 2 and f"not {add}" in run.stderr, run.stderr
    assert out.read_bytes() == before


def test_an_append_waits_for_another_one_to_the_same_folder_and_keeps_its_lines(tmp_path: Path) -> None:
    # Two runs appending to one file at once (shards of a PostgreSQL store run side by side) each read the file and
    # renamed a rewrite over it: the second kept only its own lines. The second now waits for the first to finish.
    import fcntl
    import os
    import threading
    from datetime import UTC, datetime

    from mentionwatch.models import Mention
    from mentionwatch.output import append_file

    def mention(item_id: str) -> Mention:
        return Mention(
            source="hn",
            id=item_id,
            url=f"https://x.test/{item_id}",
            brand="Acme",
            published_at=datetime(2026, 11, 1, tzinfo=UTC),
        )

    path = tmp_path / "new.jsonl"
    other = os.open(tmp_path, os.O_RDONLY)
    fcntl.flock(other, fcntl.LOCK_EX)  # the other run, under way
    added: list[int] = []
    second = threading.Thread(target=lambda: added.append(append_file([mention("b")], "jsonl", path)))
    second.start()
    second.join(0.5)
    assert second.is_alive(), "it waits for the other run"
    # What the other run renamed into place before it let go.
    path.write_text(json.dumps(mention("a").to_dict()) + "\n", encoding="utf-8")
    os.close(other)
    second.join(30)
    assert added == [1]
    assert [json.loads(line)["id"] for line in path.read_text(encoding="utf-8").splitlines()] == ["a", "b"]

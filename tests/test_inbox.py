"""`mentionwatch inbox`: who waits for an answer, most urgent first, for people and scripts; `inbox -i` walked
through a real pseudo-terminal (the stdlib `pty` module driving the installed command); the response figures
the report shows."""

from __future__ import annotations

import json
import os
import select
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from e2e_server import E2EServer
from mentionwatch.inbox import INBOX_FIELDS
from mentionwatch.models import FIELDS
from mentionwatch.store import open_store

from conftest import Run, cli_command, cli_env
from platforms import NOW, GitHubApi, github_mention, mention, seed, write_config


def hn(item: str, *, impact: float | None, hours: int, **fields: object) -> object:
    return mention(
        id=item,
        url=f"https://news.ycombinator.com/item?id={item}",
        impact=impact,
        published_at=NOW - timedelta(hours=hours),
        **fields,
    )


def inbox_jsonl(cli: Callable[..., Run], db: Path, *args: str) -> list[dict[str, object]]:
    run = cli("inbox", "--db", str(db), "-f", "jsonl", *args)
    assert run.code == 0, run.stderr
    return [json.loads(line) for line in run.stdout.splitlines()]


def test_inbox_is_needs_reply_not_closed_most_impact_first_then_longest_waiting(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    db = tmp_path / "m.sqlite3"
    seed(
        db,
        hn("1", impact=20.0, hours=2),
        hn("2", impact=20.0, hours=30),
        hn("3", impact=55.0, hours=1),
        hn("4", impact=None, hours=90),
        hn("5", impact=90.0, hours=1, needs_reply=False),
        hn("6", impact=80.0, hours=3),
        hn("7", impact=70.0, hours=3),
        hn("8", impact=60.0, hours=3),
    )
    for item, status in (("6", "done"), ("7", "ignored"), ("8", "replied")):
        assert cli("mark", item, status, "--db", str(db)).code == 0
    listed = inbox_jsonl(cli, db)
    assert [r["id"] for r in listed] == ["3", "2", "1", "4"]
    # The export form, then the inbox's own fields.
    assert tuple(listed[0]) == (*FIELDS, *INBOX_FIELDS)
    assert listed[1]["where"] == "HN"
    assert 30 * 3600 <= int(listed[1]["waited"]) < 31 * 3600  # type: ignore[call-overload]
    assert listed[0]["reply_pending"] is False
    assert [r["id"] for r in inbox_jsonl(cli, db, "--limit", "1")] == ["3"]


def test_inbox_filters_by_brand_and_source_and_a_table_says_how_long_each_waited(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    db = tmp_path / "m.sqlite3"
    seed(db, hn("1", impact=20.0, hours=50), hn("9", impact=5.0, hours=1, brand="Globex"))
    assert [r["id"] for r in inbox_jsonl(cli, db, "--brand", "globex")] == ["9"]
    assert inbox_jsonl(cli, db, "--source", "reddit") == []
    table = cli("inbox", "--db", str(db), "-f", "table")
    assert table.code == 0
    assert "2d" in table.stdout and "news.ycombinator.com/item?id=1" in table.stdout
    assert "2 waiting (most urgent first" in table.stdout
    assert cli("inbox", "--db", str(db), "--brand", "Nope").code == 2


def test_inbox_interactive_without_a_terminal_exits_2_at_once(tmp_path: Path, cli: Callable[..., Run]) -> None:
    db = tmp_path / "m.sqlite3"
    seed(db, hn("1", impact=20.0, hours=2))
    run = cli("inbox", "-i", "--db", str(db), stdin="d\nq\n")
    assert run.code == 2
    assert "needs a terminal" in run.stderr
    assert open_store(str(db)).mention(("Acme", "hackernews", "1")).status == "new"  # type: ignore[union-attr]


def test_response_stats_share_answered_median_time_and_oldest_waiting(tmp_path: Path) -> None:
    db = tmp_path / "m.sqlite3"
    seed(
        db,
        hn("1", impact=1.0, hours=10),
        hn("2", impact=1.0, hours=20),
        hn("3", impact=1.0, hours=30),
        hn("4", impact=1.0, hours=40),
        hn("5", impact=1.0, hours=50),
        hn("6", impact=1.0, hours=60, needs_reply=False),
    )
    store = open_store(str(db))
    for item, answered_after in (("1", 2), ("2", 4), ("3", 9)):
        key = ("Acme", "hackernews", item)
        published = store.mention(key).published_at  # type: ignore[union-attr]
        store.complete_reply(
            "hackernews", item, reply_id="", url="u", at=published + timedelta(hours=answered_after), keys=[key]
        )
    store.set_status([("Acme", "hackernews", "4")], "ignored", NOW)
    stats = store.response_stats(brands=["Acme"])
    assert (stats.needs_reply, stats.answered, stats.closed, stats.waiting) == (4, 3, 0, 1)
    assert stats.share_answered == 0.75
    assert stats.median_time_to_answer == timedelta(hours=4)
    assert stats.oldest_waiting is not None and stats.oldest_waiting.id == "5"


# --- the interactive inbox, through a pseudo-terminal ------------------------------------------------------------


class Pty:
    """The installed command on a pseudo-terminal (stdlib `pty`/`os.openpty`): type keys, wait for text."""

    def __init__(self, args: list[str], env: dict[str, str], cwd: Path) -> None:
        self.master, slave = os.openpty()
        self.proc = subprocess.Popen(args, stdin=slave, stdout=slave, stderr=slave, env=env, cwd=cwd, close_fds=True)
        os.close(slave)
        self.seen = b""

    def expect(self, text: str, timeout: float = 20.0) -> None:
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self.seen:
            left = deadline - time.monotonic()
            assert left > 0, f"{text!r} never came; the screen so far:\n{self.seen.decode(errors='replace')}"
            ready, _, _ = select.select([self.master], [], [], left)
            if ready:
                try:
                    self.seen += os.read(self.master, 4096)
                except OSError:  # the child closed the terminal
                    break
        assert wanted in self.seen, self.seen.decode(errors="replace")
        # What came before is consumed: the next expect looks at what follows.
        self.seen = self.seen[self.seen.index(wanted) + len(wanted) :]

    def send(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> int:
        try:
            return self.proc.wait(timeout=30)
        finally:
            os.close(self.master)


@pytest.fixture
def e2e() -> Iterator[E2EServer]:
    with E2EServer(lifetime=120) as srv:
        yield srv


@pytest.mark.e2e
def test_interactive_inbox_replies_tags_opens_marks_and_quits_with_single_keys(tmp_path: Path, e2e: E2EServer) -> None:
    api = GitHubApi(e2e)
    config = write_config(tmp_path / "mw.yaml", f"  - type: github\n    base_url: {e2e.url}\n    token: ${{GT}}\n")
    db = tmp_path / "m.sqlite3"
    seed(db, github_mention(api, impact=50.0), hn("1", impact=20.0, hours=9), hn("2", impact=20.0, hours=1))
    browser = tmp_path / "browser.sh"
    browser.write_text(f'#!/bin/sh\nprintf "%s" "$1" > {tmp_path / "opened.txt"}\n', encoding="utf-8")
    browser.chmod(0o755)
    env = cli_env(tmp_path, {"GT": "ghp_ptyTest0001", "BROWSER": f"{browser} %s", "TERM": "xterm-256color"})
    term = Pty(cli_command("inbox", "-i", "-c", str(config), "--db", str(db)), env, tmp_path)
    everything = b""
    try:
        term.expect("[1/3]")  # the highest impact first: the GitHub issue
        term.expect("[r]eply")
        term.send("r")
        term.expect("reply (:NAME for a template")
        term.send("Thanks, fixed in 2.1\r")
        term.expect("POST ")  # exactly what would be sent, before anything is
        term.expect("send it? [y/N]")
        assert api.posts() == []
        term.send("y")
        term.expect("replied: https://github.com/acme/widgets/issues/7#issuecomment-1000000")
        term.expect("[2/3]")  # then the one that waited longest
        term.expect("[r]eply")
        term.send("t")
        term.expect("tag: ")
        term.send("press\r")
        term.expect("tagged press")
        term.send("o")
        term.expect("opened https://news.ycombinator.com/item?id=1")
        term.send("d")
        term.expect("marked done")
        term.expect("[3/3]")
        term.send("x")  # a key that does nothing says so
        term.expect("does nothing here")
        term.send("q")
        term.expect("2 of 3 handled.")
        everything = term.seen
    finally:
        code = term.close()
    assert code == 0
    assert b"\x1b[" not in everything, "NO_COLOR: no colour codes, even on a terminal"
    assert [json.loads(p.body)["body"] for p in api.posts()] == ["Thanks, fixed in 2.1"]
    assert (tmp_path / "opened.txt").read_text() == "https://news.ycombinator.com/item?id=1"
    store = open_store(str(db))
    first = store.mention(("Acme", "github", "1296269"))
    second = store.mention(("Acme", "hackernews", "1"))
    third = store.mention(("Acme", "hackernews", "2"))
    store.close()
    assert first is not None and first.status == "replied"
    assert second is not None and (second.status, second.tags) == ("done", ["press"])
    assert third is not None and third.status == "new", "skipped by quitting: it still waits"

"""The inbox: the stored mentions someone is waiting on, most urgent first, listed for people and scripts, and
walked one at a time with single keys in a terminal (`inbox -i`).

Most urgent first means: the highest impact first (a mention with no impact figure last), then whoever has
waited longest. A mention waits while it needs a reply and is not `done`, `replied` or `ignored`.
"""

from __future__ import annotations

import asyncio
import csv
import json
import os
import sys
import webbrowser
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import IO, Any, Protocol

from mentionwatch.errors import MentionwatchError
from mentionwatch.models import FIELDS, Mention, format_time
from mentionwatch.outbox import CannotReply, Outbox
from mentionwatch.output import _csv_cell, escape_json_controls, sanitize_terminal
from mentionwatch.reply import ReplyOptions
from mentionwatch.store import CLOSED_STATUSES, Key, MentionStore, Query, key_of
from mentionwatch.text import excerpt
from mentionwatch.urls import community

# What the inbox adds to the export form, after its fields: where it was said (as `community` names the place),
# how long it has waited (seconds since it was published), and whether a reply to it is pending (sent by a run
# that did not live to record the platform's answer: `reply ID` checks).
INBOX_FIELDS = ("where", "waited", "reply_pending")


def inbox_query(brands: Sequence[str], sources: Sequence[str], limit: int | None) -> Query:
    return Query(
        brands=brands,
        sources=sources,
        needs_reply=True,
        exclude_statuses=CLOSED_STATUSES,
        sort="urgent",
        limit=limit,
    )


def pending_keys(store: MentionStore) -> set[tuple[str, str]]:
    """(source type, id) of every item with a reply left pending."""
    return {(r.source_type, r.id) for r in store.pending_replies()}


def waited(mention: Mention, now: datetime) -> int:
    return max(0, int((now - mention.published_at).total_seconds()))


def human_wait(seconds: int) -> str:
    """`45m`, `5h`, `3d`, `6w`: how long someone has waited, at a glance."""
    for unit, size in (("w", 7 * 86400), ("d", 86400), ("h", 3600)):
        if seconds >= size * (2 if unit == "w" else 1):
            return f"{seconds // size}{unit}"
    return f"{max(1, seconds // 60)}m"


def record(mention: Mention, now: datetime, pending: set[tuple[str, str]]) -> dict[str, Any]:
    """The export form of a mention, then the inbox's own fields."""
    out = mention.to_dict()
    out["where"] = community(mention.url) or mention.source
    out["waited"] = waited(mention, now)
    out["reply_pending"] = (mention.source_type, mention.id) in pending
    return out


def write_inbox(
    mentions: Sequence[Mention],
    fmt: str,
    out: IO[str],
    *,
    now: datetime,
    pending: set[tuple[str, str]],
    total: int | None = None,
    width: int | None = None,
) -> None:
    records = [record(m, now, pending) for m in mentions]
    if fmt == "jsonl":
        for r in records:
            out.write(escape_json_controls(json.dumps(r, ensure_ascii=False)) + "\n")
    elif fmt == "json":
        out.write(escape_json_controls(json.dumps(records, ensure_ascii=False, indent=2)) + "\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\r\n")
        writer.writerow((*FIELDS, *INBOX_FIELDS))
        for r in records:
            writer.writerow([_csv_cell(name, r[name]) for name in (*FIELDS, *INBOX_FIELDS)])
    else:
        _write_table(mentions, records, out, total=total, width=width)


def _write_table(
    mentions: Sequence[Mention],
    records: Sequence[dict[str, Any]],
    out: IO[str],
    *,
    total: int | None,
    width: int | None,
) -> None:
    from rich import box
    from rich.table import Table
    from rich.text import Text

    from mentionwatch.output import make_console

    console = make_console(file=out, highlight=False, width=width)
    if not mentions:
        console.print(Text("Nobody is waiting for an answer.", style="green"))
        return
    table = Table(expand=True, pad_edge=False, box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("waited", no_wrap=True, justify="right")
    table.add_column("impact", no_wrap=True, justify="right")
    table.add_column("brand", no_wrap=True, max_width=12, overflow="ellipsis")
    table.add_column("where", no_wrap=True, max_width=18, overflow="ellipsis")
    table.add_column("who", no_wrap=True, max_width=16, overflow="ellipsis")
    # What was said and its link share a column, the link on its own line (a cut URL is useless).
    table.add_column("what / link", ratio=1, min_width=24, overflow="fold")
    for m, r in zip(mentions, records, strict=True):
        body = f"{m.title} — {m.text}" if m.title and m.text else (m.title or m.text)
        cell = Text(sanitize_terminal(excerpt(body, 200)))
        cell.append("\n")
        cell.append(sanitize_terminal(m.url), style="cyan")
        when = Text(human_wait(r["waited"]))
        if r["reply_pending"]:
            when.append(" pending", style="yellow")
        table.add_row(
            when,
            Text("" if m.impact is None else f"{m.impact:.0f}"),
            Text(sanitize_terminal(m.brand or "")),
            Text(sanitize_terminal(r["where"])),
            Text(sanitize_terminal(m.author)),
            cell,
        )
    console.print(table)
    shown = len(mentions)
    count = f"{shown} of {total} waiting" if total is not None and total > shown else f"{shown} waiting"
    console.print(Text(count + " (most urgent first: impact, then the longest wait)", style="dim"))


# -- the interactive walk --------------------------------------------------------------------------------------

HELP = "[r]eply  [d]one  [i]gnore  [t]ag  [o]pen link  [s]kip  [q]uit"


class Keys(Protocol):
    """Where the walk reads the user from: one key, or one line."""

    def key(self) -> str: ...

    def line(self, prompt: str) -> str | None: ...


class Terminal:
    """Single keys from a terminal, in cbreak mode for the whole walk (no Enter needed, no echo, Ctrl-C still
    interrupts; a key typed early waits its turn), and lines in the terminal's own mode (echo, editing keys).
    Plain bytes only: it works the same over SSH, with no mouse and no escape sequences sent to the terminal."""

    def __init__(self, stdin: IO[str], out: IO[str]) -> None:
        self.fd = stdin.fileno()
        self.out = out
        self._saved: list[Any] | None = None

    def __enter__(self) -> Terminal:
        import termios
        import tty

        self._saved = termios.tcgetattr(self.fd)
        tty.setcbreak(self.fd)
        return self

    def __exit__(self, *exc: object) -> None:
        import termios

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)

    def key(self) -> str:
        self.out.flush()
        data = os.read(self.fd, 32)
        if not data or data[:1] == b"\x04":  # end of input, Ctrl-D
            return "q"
        if data[:1] == b"\x1b":  # an arrow or function key: nothing the inbox uses
            return ""
        return data.decode("utf-8", errors="replace")[:1]

    def line(self, prompt: str) -> str | None:
        import termios
        import tty

        if self._saved is not None:
            termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
        try:
            self.out.write(prompt)
            self.out.flush()
            data = os.read(self.fd, 4096)  # canonical mode: one line, as typed and edited
        finally:
            if self._saved is not None:
                tty.setcbreak(self.fd)
        if not data:
            return None
        return data.decode("utf-8", errors="replace").rstrip("\r\n")


@dataclass
class Walk:
    """`inbox -i`: each waiting mention in turn, and what the user does with it."""

    mentions: Sequence[Mention]
    store: MentionStore
    outbox: Outbox
    keys: Keys
    out: IO[str]
    now: Callable[[], datetime]
    open_url: Callable[[str], bool] = webbrowser.open

    def run(self) -> int:
        """Walk the list; returns how many mentions were acted on."""
        from mentionwatch.output import make_console

        # NO_COLOR: no colour, and no other escape codes either (bold, dim): plain text on any terminal.
        console = make_console(
            file=self.out, highlight=False, markup=False, color_system=None if os.environ.get("NO_COLOR") else "auto"
        )
        acted = 0
        total = len(self.mentions)
        pending = pending_keys(self.store)
        for number, mention in enumerate(self.mentions, 1):
            self._show(console, mention, number, total, (mention.source_type, mention.id) in pending)
            outcome = self._act(console, mention)
            if outcome == "quit":
                break
            acted += outcome == "acted"
        console.print(f"{acted} of {total} handled.")
        return acted

    def _show(self, console: Any, m: Mention, number: int, total: int, pending: bool) -> None:
        from rich.text import Text

        head = Text(f"[{number}/{total}] ", style="bold")
        parts = [m.brand or "", community(m.url) or m.source, m.author, f"waited {human_wait(waited(m, self.now()))}"]
        head.append(sanitize_terminal(" · ".join(part for part in parts if part)))  # a comment with no author: no gap
        if m.impact is not None:
            head.append(f" · impact {m.impact:.0f}")
        if pending:
            head.append(" · reply pending", style="yellow")
        console.print()
        console.print(head)
        if m.title:
            console.print(Text(sanitize_terminal(m.title), style="bold"))
        console.print(Text(sanitize_terminal(excerpt(m.text, 600))))
        console.print(Text(sanitize_terminal(m.url), style="cyan"))

    def _act(self, console: Any, m: Mention) -> str:
        from rich.text import Text

        while True:
            console.print(Text(HELP, style="dim"))
            key = self.keys.key().lower()
            if key == "q":
                return "quit"
            if key in ("s", "n", " ", "\n", "\r"):
                return "skipped"
            if key in ("d", "i"):
                status = "done" if key == "d" else "ignored"
                self.store.set_status(self._keys(m), status, self.now())
                console.print(f"marked {status}")
                return "acted"
            if key == "t":
                tag = (self.keys.line("tag: ") or "").strip()
                if tag:
                    self.store.set_tag(self._keys(m), tag)
                    console.print(Text(f"tagged {sanitize_terminal(tag)}"))
                continue
            if key == "o":
                opened = self.open_url(m.url)
                console.print(Text(("opened " if opened else "open it yourself: ") + sanitize_terminal(m.url)))
                continue
            if key == "r":
                if self._reply(console, m):
                    return "acted"
                continue
            if key:
                console.print(Text(f"{sanitize_terminal(key)!r} does nothing here"))

    def _keys(self, m: Mention) -> list[Key]:
        return [key_of(m)]

    def _reply(self, console: Any, m: Mention) -> bool:
        """Ask for the text (or `:NAME` for a template), show exactly what would be sent, send on `y`."""
        from rich.text import Text

        text = self.keys.line("reply (:NAME for a template, empty to cancel): ")
        if not text or not text.strip():
            console.print("cancelled")
            return False
        try:
            target = self.outbox.target(self._keys(m))
            if text.startswith(":"):
                text = self.outbox.fill(text[1:].strip(), target)
            preview = asyncio.run(self.outbox.reply(target, text, ReplyOptions(), dry_run=True))
            if preview.pending_since is not None:
                console.print(
                    f"a reply to this was left pending {format_time(preview.pending_since)}: sending first asks the"
                    " platform whether it has that one, and sends nothing more if it has",
                    style="yellow",
                )
            console.print(Text(sanitize_terminal(preview.request, newlines=True), style="dim"))
            console.print("send it? [y/N] ", end="")
            if self.keys.key().lower() != "y":
                console.print("\nnot sent")
                return False
            console.print()
            done = asyncio.run(self.outbox.reply(target, text, ReplyOptions()))
        except CannotReply as exc:
            console.print(Text(sanitize_terminal(str(exc)), style="yellow"))
            return False
        except MentionwatchError as exc:
            console.print(Text(sanitize_terminal(self.outbox.redactor(str(exc))), style="red"))
            return False
        if done.reply is not None:
            word = "it was already posted" if done.recovered else "replied"
            console.print(Text(f"{word}: {sanitize_terminal(done.reply.url)}", style="green"))
        return True


def needs_terminal() -> bool:
    """True when `inbox -i` cannot run here: stdin or stdout is not a terminal (a pipe, cron, a file)."""
    return not (sys.stdin.isatty() and sys.stdout.isatty())


__all__ = ["HELP", "INBOX_FIELDS", "Keys", "Terminal", "Walk", "inbox_query", "pending_keys", "write_inbox"]

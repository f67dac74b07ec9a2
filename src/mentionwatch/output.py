"""Writers for table, JSON, JSONL and CSV, and the sanitising that untrusted text needs for each."""

from __future__ import annotations

import csv
import errno
import functools
import io
import json
import logging
import os
import re
import signal
import sys
import tempfile
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

from mentionwatch.errors import ExitCode, OutputError, UsageError
from mentionwatch.models import FIELDS, Mention, format_time
from mentionwatch.text import ESCAPES, excerpt
from mentionwatch.urls import community

if TYPE_CHECKING:
    from rich.console import Console

    from mentionwatch.pipeline import ScanResult
    from mentionwatch.redaction import Redactor

log = logging.getLogger(__name__)

FORMATS = ("table", "json", "jsonl", "csv")
EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "table"}

# C0 and C1 control characters (tab and newline handled by the caller), DEL, the Unicode bidi controls that can
# make displayed text read differently from what it is ("Trojan Source"), and the invisible format characters
# (zero-width space, joiners, word joiner, BOM, Mongolian vowel separator) that hide a word's real spelling.
_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
# A CSV cell is data, not a display: the joiners stay (U+200C ZWNJ and U+200D ZWJ spell Persian and Indic words
# and join emoji sequences: 👨‍👩‍👧), as JSON keeps them.
_CELL_CONTROLS = re.compile(
    r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u00ad\u061c\u180e\u200b\u200e\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r", "\uff1d", "\uff0b", "\uff0d", "\uff20")
# What a spreadsheet skips before it decides a cell is a formula: spaces, line breaks, invisible characters.
_BEFORE_FORMULA = " \t\r\n\x0b\x0c\u00a0\u180e\u200b\u200c\u200d\u2060\ufeff\u2028\u2029"


def sanitize_terminal(text: str, *, newlines: bool = False) -> str:
    """Text safe to show on a terminal: no escape sequences, control characters or bidi overrides."""
    text = ESCAPES.sub("", text)
    text = _CONTROLS.sub("", text.replace("\t", " "))
    return text if newlines else " ".join(text.split())


def sanitize_cell(value: str) -> str:
    """A CSV text cell no spreadsheet will run as a formula (OWASP: prefix with a single quote), even when the
    formula character comes after spaces, a line break or an invisible character."""
    value = ESCAPES.sub("", value)
    value = _CELL_CONTROLS.sub("", value.replace("\t", " ") if not value.startswith("\t") else value)
    if value.startswith(_FORMULA_START) or value.lstrip(_BEFORE_FORMULA).startswith(_FORMULA_START):
        return "'" + value
    return value


# json.dumps escapes C0 controls; with ensure_ascii=False, C1 and bidi controls pass as raw UTF-8, and so do
# U+2028/U+2029, which line-based readers (JavaScript's, Python's str.splitlines) take for line breaks: a JSONL
# record would be cut in two.
_JSON_RAW = re.compile(r"[\x7f-\x9f\u061c\u200e\u200f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def escape_json_controls(line: str) -> str:
    if line.isascii() and "\x7f" not in line:  # most lines: nothing to escape (0.2 us, where the regex takes 7)
        return line
    return _JSON_RAW.sub(lambda m: f"\\u{ord(m.group()):04x}", line)


def format_for_path(path: str, explicit: str | None) -> str:
    """The format -f names, else the one the file's extension says; a file without an extension gets JSONL. An
    extension no format has (`.xlsx`) is a ValueError: writing JSONL into `out.xlsx` would only mislead."""
    if explicit:
        return explicit
    for ext, fmt in EXTENSIONS.items():
        if path.lower().endswith(ext):
            return fmt
    suffix = Path(path).suffix
    if suffix:
        known = ", ".join(EXTENSIONS)
        raise ValueError(f"no format writes {suffix} files (known: {known}); or name one with -f")
    return "jsonl"


def write_jsonl(mentions: Iterable[Mention], out: IO[str]) -> int:
    count = 0
    for m in mentions:
        out.write(escape_json_controls(json.dumps(m.to_dict(), ensure_ascii=False)) + "\n")
        count += 1
    return count


def write_json(mentions: Iterable[Mention], out: IO[str]) -> int:
    """A JSON array, written a mention at a time (the same text `json.dumps(list, indent=2)` gives): 100,000
    mentions are never one string in memory."""
    count = 0
    for m in mentions:
        out.write(",\n  " if count else "[\n  ")
        count += 1
        record = json.dumps(m.to_dict(), ensure_ascii=False, indent=2)
        out.write(escape_json_controls(record.replace("\n", "\n  ")))
    out.write("\n]\n" if count else "[]\n")
    return count


def _csv_value(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if name in ("matched_terms", "tags"):
        return "; ".join(value)
    if name == "also_seen":
        return " ".join(item["url"] for item in value)
    return str(value)


def _csv_cell(name: str, value: Any) -> str:
    # Numbers stay numbers (a spreadsheet must sort sentiment, -0.9764 included); only text can be a formula.
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return sanitize_cell(_csv_value(name, value))


def write_csv(mentions: Iterable[Mention], out: IO[str]) -> int:
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(FIELDS)
    count = 0
    for m in mentions:
        data = m.to_dict()
        writer.writerow([_csv_cell(name, data[name]) for name in FIELDS])
        count += 1
    return count


def _when(published: datetime, now: datetime | None) -> str:
    """How long ago, for a person at a terminal; `now` None (a file, read later): the date and time (UTC)."""
    if now is None:
        return format_time(published)[:16].replace("T", " ")
    delta = now - published
    seconds = int(delta.total_seconds())
    if seconds < 0:
        return format_time(published)[:16].replace("T", " ")
    if seconds < 3600:
        return f"{max(1, seconds // 60)}m ago"
    if seconds < 86400:
        return f"{seconds // 3600}h ago"
    if seconds < 7 * 86400:
        return f"{seconds // 86400}d ago"
    return published.strftime("%Y-%m-%d")


_SENTIMENT_STYLE = {"positive": "green", "negative": "red", "neutral": "dim"}


def _count_line(shown: int, total: int | None) -> str:
    noun = "mention" if (total or shown) == 1 else "mentions"
    return f"{shown} of {total} {noun}" if total is not None and total > shown else f"{shown} {noun}"


# Narrower than this, a table or a card has no room for anything: `COLUMNS=0` gave rich a width of 0, and a scan
# printed nothing at all.
MIN_WIDTH = 40


def make_console(**options: Any) -> Console:
    """A rich Console (the same options) for every command's output. A closed pipe is a BrokenPipeError, as any
    other write's is: rich's own answer, SystemExit(1), skipped `write_stdout`'s quiet ending (exit 141) and what
    the command had still to do. And at least MIN_WIDTH columns, whatever $COLUMNS says."""
    console: Console = _console_class()(**options)
    if console.width < MIN_WIDTH:
        console.width = MIN_WIDTH
    return console


@functools.cache
def _console_class() -> type[Console]:
    from rich.console import Console

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            self.quiet = True  # what rich still holds is never drawn
            raise BrokenPipeError(errno.EPIPE, "the reader closed the pipe")

    return _Console


def write_table(
    mentions: Sequence[Mention],
    out: IO[str],
    *,
    now: datetime | None,
    width: int | None = None,
    total: int | None = None,
) -> None:
    """A rich table: who to answer first at a glance (impact, a `reply` marker, where it was said). Every cell is
    a `Text`, so rich markup in a post prints literally. Below 110 columns, a card per mention instead."""
    from rich import box
    from rich.table import Table
    from rich.text import Text

    console = make_console(file=out, highlight=False, width=width)
    if console.width < 110:
        _write_cards(mentions, console, now, total)
        return
    table = Table(expand=True, pad_edge=False, box=box.SIMPLE_HEAD, show_edge=False)
    table.add_column("brand", no_wrap=True, max_width=12, overflow="ellipsis")
    table.add_column("where", no_wrap=True, max_width=18, overflow="ellipsis")
    table.add_column("when", no_wrap=True)
    table.add_column("author", no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column("sentiment", no_wrap=True)
    table.add_column("impact", no_wrap=True, justify="right")
    # Excerpt and link share a column, the link on its own line: a cut URL is useless, and a
    # separate link column leaves no room for the text on an 80-column terminal.
    table.add_column("excerpt / link", ratio=1, min_width=24, overflow="fold")
    excerpt_chars = max(40, (console.width - 76) * 2)
    for m in mentions:
        body = f"{m.title} — {m.text}" if m.title and m.text else (m.title or m.text)
        cell = Text(sanitize_terminal(excerpt(body, excerpt_chars)))
        cell.append("\n")
        cell.append(sanitize_terminal(m.url), style="cyan")
        table.add_row(
            Text(sanitize_terminal(m.brand or "")),
            Text(sanitize_terminal(community(m.url) or m.source)),
            Text(_when(m.published_at, now)),
            Text(sanitize_terminal(m.author)),
            _sentiment(m, short=True),
            _impact(m),
            cell,
        )
    console.print(table)
    console.print(Text(_count_line(len(mentions), total), style="dim"))


def _sentiment(m: Mention, *, short: bool) -> Any:
    from rich.text import Text

    label = m.sentiment_label or "neutral"
    shown = label[:3] if short else label
    text = Text(f"{m.sentiment:+.2f} {shown}" if m.sentiment is not None else shown)
    text.stylize(_SENTIMENT_STYLE.get(label, ""))
    return text


def _impact(m: Mention) -> Any:
    """The impact, and `reply` when the mention needs an answer (in colour, and in words for NO_COLOR)."""
    from rich.text import Text

    text = Text("" if m.impact is None else f"{m.impact:.0f}")
    if m.needs_reply:
        text.append(" reply", style="bold red")
    return text


def _write_cards(mentions: Sequence[Mention], console: Any, now: datetime | None, total: int | None) -> None:
    """The same fields as the table, a mention to a block, for terminals too narrow for columns."""
    from rich.text import Text

    for m in mentions:
        for line in _card_head(m, now, console.width):
            console.print(line, overflow="ellipsis", no_wrap=True)
        body = f"{m.title} — {m.text}" if m.title and m.text else (m.title or m.text)
        _indented(console, Text(sanitize_terminal(excerpt(body, max(40, console.width * 2 - 6)))))
        _indented(console, Text(sanitize_terminal(m.url), style="cyan", overflow="fold"))
    console.print(Text(_count_line(len(mentions), total), style="dim"))


def _indented(console: Any, text: Any) -> None:
    """`text` wrapped two columns in, its wrapped lines too (only a card's heading starts at the margin), with no
    spaces left at the ends of lines."""
    from rich.text import Text

    for line in text.wrap(console, console.width - 2):
        line.rstrip()
        console.print(Text("  ").append_text(line), no_wrap=True)


def _card_head(m: Mention, now: datetime | None, width: int) -> list[Any]:
    """A card's heading: `reply`, the brand, impact and sentiment first (who to answer first), then where, when and
    who. Broken between its parts onto a second line rather than cut: at 80 columns a long site name had cut the
    impact off most cards."""
    from rich.text import Text

    parts = [Text(sanitize_terminal(m.brand or ""), style="bold")]
    if m.impact is not None:
        parts.append(Text(f"impact {m.impact:.0f}"))
    parts.append(_sentiment(m, short=False))
    parts += [Text(sanitize_terminal(community(m.url) or m.source)), Text(_when(m.published_at, now))]
    if author := sanitize_terminal(m.author):
        parts.append(Text(f"by {author}"))
    lines = [Text("reply ", style="bold red") if m.needs_reply else Text()]
    empty = True  # the line has no part yet (`reply ` is not one)
    for part in parts:
        if not part:
            continue  # nothing to show: no empty ` ·  · `
        if not empty and lines[-1].cell_len + 3 + part.cell_len > width:
            lines.append(Text())
            empty = True
        if not empty:
            lines[-1].append(" · ")
        lines[-1].append_text(part)
        empty = False
    return lines


def write(
    mentions: Iterable[Mention],
    fmt: str,
    out: IO[str],
    *,
    now: datetime | None,
    width: int | None = None,
    total: int | None = None,
) -> int:
    """Write in one of FORMATS; returns how many mentions were written. The data formats write a mention at a
    time, as the iterable gives them (a scan worked in windows reads them back from the store); a table is
    laid out whole. `total`: how many there were before a limit (the table says "3 of 7")."""
    if fmt == "json":
        return write_json(mentions, out)
    if fmt == "jsonl":
        return write_jsonl(mentions, out)
    if fmt == "csv":
        return write_csv(mentions, out)
    shown = list(mentions)
    write_table(shown, out, now=now, width=width, total=total)
    return len(shown)


def dash_is_stdout(path: Path | None) -> Path | None:
    """`-o -` means stdout, as `-` does for every Unix tool (and for a jsonl source's `path`); a file named `-` is
    `-o ./-`."""
    return None if path is not None and str(path) == "-" else path


def usable_output_path(path: Path, flag: str) -> Path:
    """Check, before any fetching, that results can be written to `path`; returns the real target (a symlink is
    written through, not replaced). Its folder is created; a device, folder or pipe, an unwritable folder or a
    read-only file is a UsageError (exit 2), so a cron job learns of a bad path without losing a scan."""
    target = Path(os.path.realpath(path))
    if target.exists() and not target.is_file():
        raise UsageError(f"{flag} {path}: not a regular file (a device, folder or pipe); name a file to write")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"{flag} {path}: cannot create its folder {target.parent}: {exc.strerror}") from None
    if not os.access(target.parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {path}: cannot write in its folder {target.parent}")
    if target.exists() and not os.access(target, os.W_OK):
        raise UsageError(f"{flag} {path}: the file is read-only")
    return target


@contextmanager
def atomic_file(path: Path, *, newline: str | None = None) -> Iterator[IO[str]]:
    """A text file written beside `path` under a unique name, then renamed into place: readers (and a cron job
    killed half-way) only ever see the old file or the whole new one, and two writers never share a temp file.

    The new file keeps the old one's mode (a 0600 file stays 0600); a symlink is written through to its target;
    the temp file is removed on every way out, SIGTERM's too (`_sigterm_unwinds`; only SIGKILL, which no process
    can handle, leaves it). A write that fails (a full disk) is an OutputError."""
    target = Path(os.path.realpath(path))
    with _sigterm_unwinds():
        try:  # the folder can be gone or full by now, after a scan that checked it at the start
            fd, tmp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        tmp = Path(tmp_name)
        try:
            with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as out:
                yield out
                out.flush()
                os.fsync(out.fileno())
            # mkstemp makes 0600; a new file gets what the user's umask gives any other file.
            os.chmod(tmp, target.stat().st_mode & 0o7777 if target.exists() else 0o666 & ~_umask())
            os.replace(tmp, target)
        except OSError as exc:
            raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
        finally:
            tmp.unlink(missing_ok=True)


@contextmanager
def _sigterm_unwinds() -> Iterator[None]:
    """SIGTERM, for the duration, raises SystemExit (TERMINATED) rather than end the process where it stands (its
    default action): the `finally` clauses on the way out run, and the process ends all the same, with the status a
    shell gives a command SIGTERM ended. Only while nothing else handles SIGTERM (a scan holds it itself, to finish
    its output first: `pipeline.Interrupts`), and in the main thread, the one that runs Python's signal handlers."""
    taken = threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    if taken:
        signal.signal(signal.SIGTERM, _terminated)
    try:
        yield
    finally:
        if taken:
            signal.signal(signal.SIGTERM, signal.SIG_DFL)


def _terminated(_signum: int, _frame: object) -> None:
    raise SystemExit(ExitCode.TERMINATED)


def _umask() -> int:
    current = os.umask(0o022)
    os.umask(current)
    return current


def write_file(mentions: Iterable[Mention], fmt: str, path: Path) -> int:
    """Write the mentions to `path` atomically (see `atomic_file`); returns how many."""
    with atomic_file(path, newline="" if fmt == "csv" else None) as out:
        # A table in a file is read later: its times are dates, not "5m ago".
        return write(mentions, fmt, out, now=None, width=160)


# A mention's identity in an export file, as in the store: the same brand's same item. Another brand's mention of
# an item already in the file is a mention of its own.
_KEY = ("brand", "source", "id")


def append_file(mentions: Iterable[Mention], fmt: str, path: Path) -> int:
    """Add to a CSV or JSONL file the mentions it has not had (by brand, source and id); the CSV header only when
    the file is new or empty. The file is rewritten whole under a temp name and renamed, so a crash mid-write never
    leaves a half line. Returns how many were added."""
    if fmt not in ("csv", "jsonl"):
        raise UsageError(f"--append works with csv and jsonl files, not {fmt}")
    target = Path(os.path.realpath(path))
    # One appender at a time in the file's folder: two runs (shards of one PostgreSQL store run at once) that each
    # read the file, then renamed their rewrite over it, kept only the second one's lines.
    with _folder_locked(target.parent):
        return _append(mentions, fmt, path, target)


@contextmanager
def _folder_locked(folder: Path) -> Iterator[None]:
    import fcntl

    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError as exc:
        raise OutputError(f"cannot open the folder {folder}: {exc.strerror}") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)  # released with the descriptor, and by the kernel if the process dies
        yield
    finally:
        os.close(fd)


def _append(mentions: Iterable[Mention], fmt: str, path: Path, target: Path) -> int:
    try:
        old = target.read_bytes() if target.exists() else b""
    except OSError as exc:
        raise OutputError(f"cannot read {path}: {exc.strerror}") from None
    text = old.decode("utf-8", errors="replace")
    # A byte-order mark (Excel's "CSV UTF-8") stays where it is, and is read past.
    bom = "\ufeff" if text.startswith("\ufeff") else ""
    try:
        body = _whole_records(text[len(bom) :], fmt, path)
        _check_holds(body, fmt, path)
        had = _keys_in(body, fmt)
    except csv.Error as exc:
        raise OutputError(f"cannot read {path} as CSV: {exc}") from None
    key = _csv_key if fmt == "csv" else _json_key
    fresh = [m for m in mentions if key(m) not in had]
    if not fresh and body and bom + body == text:
        return 0
    with atomic_file(path, newline="" if fmt == "csv" else None) as out:
        out.write(bom + body)
        if fmt == "jsonl":
            write_jsonl(fresh, out)
        else:
            writer = csv.writer(out, lineterminator="\r\n")
            if not body:
                writer.writerow(FIELDS)
            for m in fresh:
                data = m.to_dict()
                writer.writerow([_csv_cell(name, data[name]) for name in FIELDS])
    return len(fresh)


def _check_holds(body: str, fmt: str, path: Path) -> None:
    """Refuse to add `fmt` records to a file of the other format (`-f csv -o scan.jsonl --append`): the rows would
    go in headerless among JSON lines, and `jq` (or the spreadsheet) could no longer read the file."""
    first = next((line for line in body.splitlines() if line.strip()), "")
    holds_json = first.lstrip().startswith("{")
    if first and holds_json != (fmt == "jsonl"):
        held = "JSON lines" if holds_json else "CSV (or other text)"
        raise UsageError(f"--append: {path} holds {held}, not {fmt}: append in its format (-f), or name another file")


def _json_key(m: Mention) -> tuple[str, ...]:
    return (m.brand or "", m.source, m.id)


def _csv_key(m: Mention) -> tuple[str, ...]:
    # As the cells are written (sanitised): `'quoted` is written `'quoted`, and `=x` `'=x`; no reading can undo that.
    return tuple(_csv_cell(name, getattr(m, name)) for name in _KEY)


def _whole_records(text: str, fmt: str, path: Path) -> str:
    """`text` up to the end of its last whole record, with its line break. A last record without one (a file saved
    by an editor, `printf`) is kept; only a record cut short (a crash of some other writer) is dropped, and said."""
    if not text:
        return text
    # A CSV cell holds line breaks (a comment's paragraphs): a file that ends in one inside an open quote was cut
    # in the middle of a record.
    open_quote = fmt == "csv" and text.count('"') % 2 == 1
    if text.endswith("\n") and not open_quote:
        return text
    if fmt == "csv" and text.endswith("\r") and not open_quote:
        return text + "\n"  # cut between a row's CR and LF: the row is whole
    start = text.rfind("\n") + 1 if fmt == "jsonl" else _csv_record_start(text)
    tail = text[start:]
    if not tail.strip():
        return text[:start]
    if _is_whole(tail, text[:start], fmt):
        return text + ("\n" if fmt == "jsonl" else "\r\n")
    if not start and "\n" in tail:
        # Lines, but no record found among them (a stray `"` opened a quote at the start): not this module's to cut.
        raise OutputError(f"{path}: cannot tell where its last record starts; left as it was")
    log.warning("%s: its last record was cut short (a writer that stopped half-way?): dropped %r", path, tail[:80])
    return text[:start]


def _csv_record_start(text: str) -> int:
    """Where the last CSV record starts: after the last line break outside quotes (a cell can hold line breaks; a
    CR alone ends a row too). Outside quotes, a record has an even number of `"` before it: a quoted cell's own are
    doubled."""
    quotes = text.count('"')  # before `end`
    end = len(text)
    while (nl := max(text.rfind("\n", 0, end), text.rfind("\r", 0, end))) >= 0:
        quotes -= text.count('"', nl, end)
        if quotes % 2 == 0:
            return nl + 1
        end = nl
    return 0


def _is_whole(tail: str, before: str, fmt: str) -> bool:
    """Whether `tail`, the last record of a file (after `before`), is whole: a JSON object; or a CSV row not inside
    an open quote with as many cells as the header (the header itself: FIELDS, or an older version's first ones)."""
    if fmt == "jsonl":
        try:
            return isinstance(json.loads(tail), dict)
        except ValueError:
            return False
    if tail.count('"') % 2:
        return False
    with _csv_fields_up_to(len(tail) + len(before)):
        rows = list(csv.reader(io.StringIO(tail, newline="")))
        header = next(csv.reader(io.StringIO(before, newline="")), None)
    if len(rows) != 1:
        return False
    if header is None:
        return tuple(rows[0]) == FIELDS[: len(rows[0])]
    return len(rows[0]) == len(header)


@contextmanager
def _csv_fields_up_to(size: int) -> Iterator[None]:
    """csv reads cells of up to 128 KiB by default: a mention's text can be longer, and a file this module wrote
    must read back."""
    limit = csv.field_size_limit()
    csv.field_size_limit(max(limit, size))
    try:
        yield
    finally:
        csv.field_size_limit(limit)


def _keys_in(text: str, fmt: str) -> set[tuple[str, ...]]:
    """The (brand, source, id) of every mention an export file holds, as `_json_key` or `_csv_key` gives them."""
    keys: set[tuple[str, ...]] = set()
    if fmt == "jsonl":
        for line in text.split("\n"):
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict):
                keys.add((str(record.get("brand") or ""), str(record.get("source")), str(record.get("id"))))
        return keys
    with _csv_fields_up_to(len(text)):
        rows = csv.reader(io.StringIO(text, newline=""))
        header = next(rows, [])
        if "source" not in header or "id" not in header:
            return keys
        # A file without a brand column (not one of ours: every version wrote it) holds no brand's mention.
        columns = [header.index(name) if name in header else None for name in _KEY]
        last = max(i for i in columns if i is not None)
        for row in rows:
            if len(row) > last:
                cells = tuple("" if i is None else row[i] for i in columns)
                keys.add(cells)
                # Written by an older version, or saved by a spreadsheet (which drops a cell's leading `'`): as the
                # cells would be written now.
                keys.add(tuple(sanitize_cell(cell) for cell in cells))
    return keys


class BrokenStdout(Exception):
    """The reader of stdout went away (`scan | head -1`): not an error, the command just ends."""


def silence(stream: IO[str]) -> None:
    """Point a stream whose reader went (a closed pipe) at /dev/null: the interpreter's last flush cannot complain."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, stream.fileno())
    os.close(devnull)


def write_stdout(writer: Callable[[IO[str]], object]) -> None:
    """Run `writer` on stdout. A closed pipe raises BrokenStdout (and stdout is pointed at /dev/null, so the
    interpreter's last flush at exit cannot complain); a full disk or an I/O error is an OutputError."""
    try:
        writer(sys.stdout)
        sys.stdout.flush()
    except BrokenPipeError:
        silence(sys.stdout)
        raise BrokenStdout from None
    except OSError as exc:
        raise OutputError(f"cannot write to stdout: {exc.strerror or exc}") from None


def write_health(
    result: ScanResult,
    path: Path,
    *,
    redactor: Redactor,
    scanned_at: datetime,
    exit_code: int | None = None,
    notifications: list[dict[str, Any]] | None = None,
) -> None:
    """Each source's health as JSON, for monitoring (`scan --health FILE`), written atomically, every value through
    the redactor (a service's error can echo a request), with the scan's time. `exit_code`: the run's, when more
    than the scan decides it (a failed notification); `notifications`: each target's outcome with `scan --notify`
    (null without)."""
    data = {
        "exit_code": result.exit_code if exit_code is None else exit_code,
        "sources": [h.to_dict() for h in result.health],
        "scanned_at": format_time(scanned_at),
        "notifications": notifications,
    }
    with atomic_file(path) as out:
        out.write(json.dumps(redactor.redact_data(data), indent=2) + "\n")


def print_health(
    result: ScanResult, *, quiet: bool, redact: Callable[[str], str], since: Mapping[str, str] | None = None
) -> None:
    """A line per source on stderr: people read it; `--health FILE` is the same for machines. `since`: how the
    window is named ("7d", "the watermark"), by source name."""
    shown = [h for h in result.health if not (quiet and not h.failed)]
    if not shown:  # `-q` and nothing failed: rich is not even imported (20 ms)
        return
    from rich.text import Text

    # soft_wrap: one line per source whatever the width (rich wraps at 80 columns when stderr is not a terminal).
    console = make_console(stderr=True, highlight=False, soft_wrap=True)
    for h in shown:
        style = "red" if h.failed else ("yellow" if h.state == "empty" else "green")
        line = Text()
        line.append(f"{h.state:<12}", style=style)
        line.append(f" {h.name:<16} {h.items} items, {h.mentions} mentions, {h.requests} requests, {h.seconds:.1f}s")
        if h.older:
            line.append(f", {h.older} older than {(since or {}).get(h.name) or 'the window'}")
        if h.skipped:
            # Said apart from the items it read: a skipped item is never a silent loss, nor the source's failure.
            line.append(f", {h.skipped} item{'s' if h.skipped != 1 else ''} skipped: unreadable", style="yellow")
        if h.error:
            line.append(f" — {sanitize_terminal(redact(h.error))}", style=style)
        for warning in h.warnings:
            # What it could not read while the rest carried on (a permission its token lacks): not a failure.
            line.append(f" — {sanitize_terminal(redact(warning))}", style="yellow")
        console.print(line)

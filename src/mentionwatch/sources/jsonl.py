"""Mentions from a JSON Lines file, stdin, or a URL: the same fields `scan --format jsonl` writes."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Any

from pydantic import Field

from mentionwatch.plugin import BadPayload, FetchError, Mention, Source, SourceConfig, public_url, reject_html

log = logging.getLogger(__name__)


class JsonlConfig(SourceConfig):
    # Empty: `path` is a local file (or "-" for stdin). Set: `path` is fetched over HTTP below this root.
    base_url: str = ""
    path: str = Field(description='a JSON Lines file, "-" for stdin, or a path below `base_url`')


def parse_lines(
    lines: list[str], *, default_source: str, where: str, first: int = 1
) -> tuple[list[Mention], list[str]]:
    """Mentions from JSON Lines (`first` is the number of the first line); a bad line is reported (with its
    number) and skipped, never fatal."""
    mentions: list[Mention] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=first):
        if not line.strip():
            continue
        try:
            data: Any = json.loads(line)
            mentions.append(Mention.from_dict(data, default_source=default_source))
        except (ValueError, TypeError, ArithmeticError, RecursionError) as exc:
            problems.append(f"{where}:{number}: skipped: {exc}")
    return mentions, problems


class JsonlSource(Source[JsonlConfig]):
    """Re-reads exports (to re-score or re-filter them) and takes mentions from any other tool."""

    type = "jsonl"
    searchable = False
    reads_whole = True  # a file (or a URL) read whole on every run: a watermark would save nothing

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        read = 0
        problems: list[str] = []
        async for batch, where, first in self._batches(self.config):
            mentions, bad = parse_lines(batch, default_source=self.name, where=where, first=first)
            for problem in bad:
                if len(problems) < 20:
                    log.warning("%s", problem)
                problems.append(problem)
            self.context.skipped.extend(bad)
            read += len(mentions)
            for mention in mentions:
                yield mention  # older ones too: the pipeline leaves them out, and counts them
        if len(problems) > 20:
            log.warning("%d more bad lines skipped", len(problems) - 20)
        if problems and not read:
            raise BadPayload(f"no valid JSON Lines ({len(problems)} bad lines)")

    async def _batches(self, cfg: JsonlConfig) -> AsyncIterator[tuple[list[str], str, int]]:
        """The input in batches of lines (with where they come from and the number of the first): a file or
        stdin is streamed, so a million-line export is never held whole."""
        if cfg.base_url:
            url = f"{cfg.base_url.rstrip('/')}/{cfg.path.lstrip('/')}"
            resp = await self.context.http.get(url)  # capped at http.max_bytes, like every response
            # Every line of JSON Lines mentions is an object: a body that starts otherwise may be a login wall or an
            # error page served with 200 (a server's, a proxy's), to report as such and not as lines that are bad.
            if resp.content.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] not in (b"{", b""):
                reject_html(resp, "JSON Lines")
            where = public_url(url)  # a query string can carry a key: messages never show it
            try:
                # A BOM is no part of the first line; lines end at \n only (a JSON string may hold U+2028, which
                # str.splitlines() would split at).
                yield resp.content.decode("utf-8-sig").split("\n"), where, 1
            except UnicodeDecodeError as exc:
                raise BadPayload(f"{where}: not UTF-8 ({exc.reason})") from None
            return
        if cfg.path == "-":
            stream, where = sys.stdin, "<stdin>"
        else:
            path = Path(cfg.path)
            path = path if path.is_absolute() else self.context.base_dir / path
            where = str(path)
            try:
                stream = path.open(encoding="utf-8-sig")  # a BOM (an editor's "UTF-8 with BOM") is read past
            except OSError as exc:
                raise FetchError(f"cannot read {path}: {exc.strerror}") from None
        first = 1
        try:
            while True:
                try:
                    batch = await asyncio.to_thread(_read_lines, stream, BATCH_LINES)
                except UnicodeDecodeError as exc:
                    raise BadPayload(f"{where}: not UTF-8 ({exc.reason})") from None
                except OSError as exc:
                    raise FetchError(f"cannot read {where}: {exc.strerror}") from None
                if not batch:
                    return
                yield batch, where, first
                first += len(batch)
        finally:
            if stream is not sys.stdin:
                stream.close()


# Lines read per hop to the reading thread: few enough to keep memory flat, enough to make a hop cheap.
BATCH_LINES = 2000


def _read_lines(stream: Any, count: int) -> list[str]:
    lines = []
    for line in stream:
        lines.append(line)
        if len(lines) >= count:
            break
    return lines

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

from mentionwatch.plugin import BadPayload, FetchError, Mention, Source, SourceConfig, public_url

log = logging.getLogger(__name__)


class JsonlConfig(SourceConfig):
    # Empty: `path` is a local file (or "-" for stdin). Set: `path` is fetched over HTTP below this root.
    base_url: str = ""
    path: str = Field(description='a JSON Lines file, "-" for stdin, or a path below `base_url`')


def parse_lines(lines: list[str], *, default_source: str, where: str) -> tuple[list[Mention], list[str]]:
    """Mentions from JSON Lines; a bad line is reported (with its number) and skipped, never fatal."""
    mentions: list[Mention] = []
    problems: list[str] = []
    for number, line in enumerate(lines, start=1):
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

    async def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        text, where = await self._read(self.config)
        mentions, problems = parse_lines(text.splitlines(), default_source=self.name, where=where)
        self.context.skipped.extend(problems)
        for problem in problems[:20]:
            log.warning("%s", problem)
        if len(problems) > 20:
            log.warning("%s: %d more bad lines skipped", where, len(problems) - 20)
        if problems and not mentions:
            raise BadPayload(f"{where}: no valid JSON Lines ({len(problems)} bad lines)")
        for mention in mentions:
            yield mention  # older ones too: the pipeline leaves them out, and counts them


    async def _read(self, cfg: JsonlConfig) -> tuple[str, str]:
        if cfg.base_url:
            url = f"{cfg.base_url.rstrip('/')}/{cfg.path.lstrip('/')}"
            resp = await self.context.http.get(url)
            where = public_url(url)  # a query string can carry a key: messages never show it
            try:
                return resp.content.decode("utf-8"), where
            except UnicodeDecodeError as exc:
                raise BadPayload(f"{where}: not UTF-8 ({exc.reason})") from None
        if cfg.path == "-":
            return await asyncio.to_thread(sys.stdin.read), "<stdin>"
        path = Path(cfg.path)
        path = path if path.is_absolute() else self.context.base_dir / path
        try:
            return await asyncio.to_thread(path.read_text, "utf-8"), str(path)
        except UnicodeDecodeError as exc:
            raise BadPayload(f"{path}: not UTF-8 ({exc.reason})") from None
        except OSError as exc:
            raise FetchError(f"cannot read {path}: {exc.strerror}") from None

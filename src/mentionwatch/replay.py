"""Record and replay: `scan --record DIR` keeps every response with its request; `scan --replay DIR` re-runs
matching, scoring and dedupe on them with no network, deterministically.

Users test a query change against last week's data, attach a bundle to a bug report, and tests get real
recordings. A bundle is plain files: `scan.json` (when it was recorded), `exchanges.jsonl` (one line per
request: source, method, URL, status, headers, and a body file or the error it ended in) and `bodies/`.
Secrets are kept out: configured secret values are masked in URLs and bodies, request headers (where
`Authorization` lives) are not kept, and token-like fields in JSON bodies (a login's `accessJwt`) are masked.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from mentionwatch import __version__
from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, TransientError, Unauthorized
from mentionwatch.models import format_time, parse_time

_TOKEN_KEY = re.compile(r"(access|refresh|session|auth|bearer|id)[_-]?(token|jwt)|password|secret|api[_-]?key", re.I)
_DROP_HEADERS = frozenset({"set-cookie", "content-encoding", "content-length", "transfer-encoding"})
ERRORS: dict[str, type[FetchError]] = {
    cls.__name__: cls for cls in (FetchError, TimedOut, RateLimited, Unauthorized, BadPayload, TransientError)
}


def exchange_key(source: str, request: httpx.Request, redact: Callable[[str], str]) -> str:
    body = request.content or b""
    digest = hashlib.sha256(redact(body.decode("utf-8", "replace")).encode()).hexdigest()[:16] if body else ""
    return f"{source} {request.method} {redact(str(request.url))} {digest}".rstrip()


def _mask_tokens(value: Any, redact: Callable[[str], str]) -> Any:
    if isinstance(value, dict):
        return {
            k: ("****" if _TOKEN_KEY.search(k) and isinstance(v, str) else _mask_tokens(v, redact))
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_mask_tokens(v, redact) for v in value]
    # A service may echo a secret inside a value: the Graph API writes the token into its `paging.next` URLs.
    return redact(value) if isinstance(value, str) else value


def _clean_body(body: bytes, content_type: str, redact: Callable[[str], str]) -> bytes:
    if "json" in content_type:
        try:
            return json.dumps(_mask_tokens(json.loads(body), redact), ensure_ascii=False).encode()
        except (ValueError, RecursionError):
            pass
    try:
        return redact(body.decode("utf-8")).encode("utf-8")
    except UnicodeDecodeError:
        return body


class Recorder:
    """Writes each exchange of a scan into a bundle directory."""

    def __init__(self, directory: Path, redact: Callable[[str], str], now: datetime) -> None:
        self.directory = directory
        self.redact = redact
        (directory / "bodies").mkdir(parents=True, exist_ok=True)
        (directory / "scan.json").write_text(
            json.dumps({"recorded_at": format_time(now), "mentionwatch": __version__}, indent=2) + "\n",
            encoding="utf-8",
        )
        self._index = (directory / "exchanges.jsonl").open("w", encoding="utf-8")
        self._seq = 0

    def record(
        self, source: str, request: httpx.Request, response: Any = None, error: FetchError | None = None
    ) -> None:
        """Keep one exchange: a `Response` (from mentionwatch.http) or the FetchError it ended in."""
        self._seq += 1
        entry: dict[str, Any] = {"seq": self._seq, "key": exchange_key(source, request, self.redact)}
        if error is not None:
            entry["error"] = type(error).__name__
            entry["message"] = self.redact(str(error))
        else:
            body_name = f"bodies/{self._seq:05d}.bin"
            ctype = response.headers.get("content-type", "")
            (self.directory / body_name).write_bytes(_clean_body(response.content, ctype, self.redact))
            entry.update(
                status=response.status,
                url=self.redact(response.url),
                headers={k: self.redact(v) for k, v in response.headers.items() if k.lower() not in _DROP_HEADERS},
                body=body_name,
            )
        self._index.write(json.dumps(entry, ensure_ascii=False) + "\n")
        self._index.flush()

    def close(self) -> None:
        self._index.close()


@dataclass
class Replayed:
    status: int
    url: str
    headers: httpx.Headers
    content: bytes


class Replayer:
    """Answers requests from a bundle, in recorded order per request; anything not recorded fails."""

    def __init__(self, directory: Path, redact: Callable[[str], str]) -> None:
        self.directory = directory
        self.redact = redact
        index = directory / "exchanges.jsonl"
        if not index.exists():
            raise FileNotFoundError(f"{directory} is not a recording (no exchanges.jsonl)")
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        for line in index.read_text(encoding="utf-8").splitlines():
            if line.strip():
                entry = json.loads(line)
                self._queues.setdefault(entry["key"], deque()).append(entry)

    @property
    def recorded_at(self) -> datetime:
        meta = json.loads((self.directory / "scan.json").read_text(encoding="utf-8"))
        return parse_time(meta["recorded_at"])

    def reply(self, source: str, request: httpx.Request) -> Replayed:
        key = exchange_key(source, request, self.redact)
        queue = self._queues.get(key)
        if not queue:
            raise FetchError(f"not in the recording: {self.redact(str(request.url.copy_with(query=None)))}")
        entry = queue.popleft()
        if "error" in entry:
            raise ERRORS.get(entry["error"], FetchError)(entry["message"])
        body = (self.directory / entry["body"]).read_bytes()
        return Replayed(entry["status"], entry["url"], httpx.Headers(entry["headers"]), body)

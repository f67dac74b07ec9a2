"""Record and replay: `scan --record DIR` keeps every response with its request; `scan --replay DIR` re-runs
matching, scoring and dedupe on them with no network, deterministically.

Users test a query change against last week's data, attach a bundle to a bug report, and tests get real
recordings. A bundle is plain files: `scan.json` (when it was recorded), `exchanges.jsonl` (one line per
request: source, method, URL, status, headers, and a body file or the error it ended in) and `bodies/`.

Secrets are kept out, since an API that echoes the request in an error answer hands them back: every recorded
byte (URLs, headers, messages, bodies) passes through the redactor, which knows each configured secret in its
raw, URL-encoded, JSON-escaped and base64 forms; request headers (where `Authorization` lives) are not kept;
token-like fields in JSON bodies (a login's `accessJwt`) are masked. Only the owner can read a bundle: the
directory is created 0700 and every file 0600.

A bundle is input like any other: a body path must stay inside the bundle and name a regular file (not
`../../x`, not `/dev/zero`), and a body is read no further than a live response would be.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path, PurePosixPath, PureWindowsPath
from typing import Any, BinaryIO

import httpx

from mentionwatch import __version__
from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, TransientError, Unauthorized
from mentionwatch.http import DEFAULT_MAX_BYTES, public_url
from mentionwatch.models import format_time, parse_time
from mentionwatch.redaction import MASK, Redactor

_TOKEN_KEY = re.compile(
    r"(access|refresh|session|auth|bearer|id)[_-]?(token|jwt)|password|secret|api[_-]?key|authorization|cookie", re.I
)
_DROP_HEADERS = frozenset({"set-cookie", "content-encoding", "content-length", "transfer-encoding"})
ERRORS: dict[str, type[FetchError]] = {
    cls.__name__: cls for cls in (FetchError, TimedOut, RateLimited, Unauthorized, BadPayload, TransientError)
}
# Never follow a symlink where a bundle file is written: it could point at any file of the user's.
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
_BINARY = getattr(os, "O_BINARY", 0)


def exchange_key(source: str, request: httpx.Request, redact: Callable[[str], str]) -> str:
    body = request.content or b""
    digest = hashlib.sha256(redact(body.decode("utf-8", "replace")).encode()).hexdigest()[:16] if body else ""
    return f"{source} {request.method} {redact(str(request.url))} {digest}".rstrip()


def _mask_tokens(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: (MASK if _TOKEN_KEY.search(k) and isinstance(v, str) else _mask_tokens(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_tokens(v) for v in value]
    return value


def _clean_body(body: bytes, content_type: str, redactor: Redactor) -> bytes:
    if "json" in content_type:
        try:
            data = json.loads(body)
        except (ValueError, RecursionError):
            pass
        else:
            # Decoded, a JSON-escaped secret is raw again; token fields are masked whatever their value.
            body = json.dumps(redactor.redact_data(_mask_tokens(data)), ensure_ascii=False).encode()
    return redactor.redact_bytes(body)


def _private(path: Path) -> BinaryIO:
    """A file opened for writing that only its owner can read (0600), even if it existed before."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | _NOFOLLOW | _BINARY, 0o600)
    try:
        os.chmod(path, 0o600)  # O_CREAT's mode applies only to a file it creates
        return os.fdopen(fd, "wb")
    except BaseException:
        os.close(fd)
        raise


class Recorder:
    """Writes each exchange of a scan into a bundle directory, every byte through the redactor."""

    def __init__(self, directory: Path, redactor: Redactor, now: datetime) -> None:
        self.directory = directory
        self.redactor = redactor
        directory.mkdir(mode=0o700, parents=True, exist_ok=True)  # an existing directory keeps its mode
        bodies = directory / "bodies"
        bodies.mkdir(mode=0o700, exist_ok=True)
        os.chmod(bodies, 0o700)
        meta = {"recorded_at": format_time(now), "mentionwatch": __version__}
        with _private(directory / "scan.json") as out:
            out.write((json.dumps(meta, indent=2) + "\n").encode("utf-8"))
        self._index = _private(directory / "exchanges.jsonl")
        self._seq = 0

    def record(
        self, source: str, request: httpx.Request, response: Any = None, error: FetchError | None = None
    ) -> None:
        """Keep one exchange: a `Response` (from mentionwatch.http) or the FetchError it ended in."""
        self._seq += 1
        kept: dict[str, Any]
        if error is not None:
            kept = {"error": type(error).__name__, "message": str(error)}
        else:
            body_name = f"bodies/{self._seq:05d}.bin"
            with _private(self.directory / body_name) as out:
                out.write(_clean_body(response.content, response.headers.get("content-type", ""), self.redactor))
            headers = {k: v for k, v in response.headers.items() if k.lower() not in _DROP_HEADERS}
            kept = {"status": response.status, "url": response.url, "headers": headers, "body": body_name}
        key = exchange_key(source, request, self.redactor)
        entry = {"seq": self._seq, "key": key, **self.redactor.redact_data(kept)}
        self._index.write((json.dumps(entry, ensure_ascii=False) + "\n").encode("utf-8"))
        self._index.flush()

    def close(self) -> None:
        self._index.close()


@dataclass
class Replayed:
    status: int
    url: str
    headers: httpx.Headers
    content: bytes


def _check_entry(entry: Any) -> str | None:
    """What is wrong with one line of `exchanges.jsonl`, or None."""
    if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
        return "not an object with a `key`"
    if "error" in entry:
        return None if isinstance(entry["error"], str) and isinstance(entry.get("message"), str) else "bad error"
    status, headers, body = entry.get("status"), entry.get("headers"), entry.get("body")
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        return "`status` is not an HTTP status"
    if not isinstance(entry.get("url"), str):
        return "`url` is not a string"
    if not isinstance(headers, dict) or not all(isinstance(v, str) for v in headers.values()):
        return "`headers` is not an object of strings"
    if not isinstance(body, str):
        return "`body` is not a file name"
    if PurePosixPath(body).is_absolute() or PureWindowsPath(body).is_absolute() or ".." in re.split(r"[/\\]", body):
        return f"`body` {body!r} points outside the bundle"
    return None


class Replayer:
    """Answers requests from a bundle, in recorded order per request; anything not recorded fails."""

    def __init__(self, directory: Path, redact: Callable[[str], str]) -> None:
        self.directory = directory
        self.redact = redact
        index = directory / "exchanges.jsonl"
        if not index.exists():
            raise FileNotFoundError(f"{directory} is not a recording (no exchanges.jsonl)")
        self._queues: dict[str, deque[dict[str, Any]]] = {}
        for number, line in enumerate(index.read_text(encoding="utf-8").splitlines(), start=1):
            if line.strip():
                try:
                    entry = json.loads(line)
                except ValueError as exc:  # a bundle edited by hand: say where
                    raise ValueError(f"{index}:{number}: not a JSON object: {exc}") from None
                problem = _check_entry(entry)
                if problem is not None:
                    raise ValueError(f"{index}:{number}: {problem}")
                self._queues.setdefault(entry["key"], deque()).append(entry)

    @property
    def recorded_at(self) -> datetime:
        where = self.directory / "scan.json"
        try:
            meta = json.loads(where.read_text(encoding="utf-8"))
            return parse_time(meta["recorded_at"])
        except OSError as exc:
            raise ValueError(f"{where}: cannot read it: {exc.strerror}") from None
        except (ValueError, KeyError, TypeError) as exc:  # edited by hand, or not a recording's
            what = "no recorded_at" if isinstance(exc, KeyError) else str(exc)
            raise ValueError(f"{where}: cannot read the recording's time: {what}") from None

    def reply(self, source: str, request: httpx.Request, max_bytes: int = DEFAULT_MAX_BYTES) -> Replayed:
        key = exchange_key(source, request, self.redact)
        queue = self._queues.get(key)
        if not queue:
            raise FetchError(f"not in the recording: {public_url(request.url)}")
        entry = queue.popleft()
        if "error" in entry:
            raise ERRORS.get(entry["error"], FetchError)(entry["message"])
        body = self._read_body(entry["body"], max_bytes, public_url(request.url))
        return Replayed(entry["status"], entry["url"], httpx.Headers(entry["headers"]), body)

    def _read_body(self, name: str, max_bytes: int, where: str) -> bytes:
        """A recorded body: a regular file inside the bundle (symlinks resolved), read up to the size cap."""
        root = self.directory.resolve()
        path = (self.directory / name).resolve()
        if not path.is_relative_to(root):
            raise FetchError(f"{where}: the recording's body {name!r} is outside the bundle")
        try:
            # Non-blocking, so that a FIFO planted in the bundle does not hang the open; then only a regular file.
            fd = os.open(path, os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | _BINARY)
        except OSError as exc:
            raise FetchError(f"{where}: cannot read the recording's body {name!r}: {exc.strerror}") from None
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                raise FetchError(f"{where}: the recording's body {name!r} is not a regular file")
            body = fh.read(max_bytes + 1)
        if len(body) > max_bytes:
            raise BadPayload(f"{where}: response larger than {max_bytes} bytes, cut off")
        return body

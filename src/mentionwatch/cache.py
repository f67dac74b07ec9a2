"""The HTTP cache for conditional requests: validators, bodies, what a body was parsed to, and what it gave.

An unchanged feed then costs a 304 and no parsing, matching or scoring. Keys are hashed, so URLs that carry
API keys never reach the disk. hishel was considered: it stores responses but not "what this version parsed
to", and a 304 is what the health line must report, so a hundred lines of SQLite serve better here.
"""

from __future__ import annotations

import hashlib
import json
import logging
import sqlite3
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from mentionwatch import __version__

log = logging.getLogger(__name__)

MAX_CACHED_BODY = 8 * 1024 * 1024
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, etag TEXT, last_modified TEXT, headers TEXT,"
    " body BLOB)",
    "CREATE TABLE IF NOT EXISTS parsed (key TEXT PRIMARY KEY, validator TEXT, data BLOB)",
    # What a version of a document gave a scan (`pipeline.GivenDocuments`), and what that depended on (`context`:
    # the brands, the scorer, the code); one version per document.
    "CREATE TABLE IF NOT EXISTS given (key TEXT PRIMARY KEY, validator TEXT, context TEXT, data BLOB)",
)
# Headers worth keeping with a cached body (what adapters read); the rest is per-exchange.
_KEEP = ("content-type", "etag", "last-modified", "link")


def default_cache_path() -> Path:
    from platformdirs import user_cache_path

    return user_cache_path("mentionwatch") / "http.sqlite3"


@dataclass(frozen=True)
class Cached:
    """What a conditional request is made with: an earlier answer's validators, and the headers kept with it."""

    etag: str | None
    last_modified: str | None
    # The headers worth keeping (see _KEEP), as plain pairs: the cache knows nothing of the HTTP layer above it.
    headers: dict[str, str]


def read_validators(path: Path, urls: Iterable[str]) -> dict[str, Cached]:
    """The validators kept for each of `urls` that has some, read without writing anything (no table is made, the
    file is opened read-only): for a look ahead that must not get in the way of the scan's own `HttpCache`."""
    try:
        db = sqlite3.connect(f"{path.absolute().as_uri()}?mode=ro", uri=True, timeout=1, check_same_thread=False)
    except sqlite3.Error:
        return {}
    found: dict[str, Cached] = {}
    try:
        for url in urls:
            cached = _validators(db, url)
            if cached is not None and (cached.etag or cached.last_modified):
                found[url] = cached
    except sqlite3.Error:
        return {}
    finally:
        db.close()
    return found


def _validators(db: sqlite3.Connection, url: str) -> Cached | None:
    row = db.execute("SELECT etag, last_modified, headers FROM responses WHERE key = ?", (_key(url),)).fetchone()
    if row is None:
        return None
    try:
        return Cached(row[0], row[1], dict(json.loads(row[2])))
    except (ValueError, TypeError):
        return None


def _key(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _released(validator: str) -> str:
    """A validator as what a body was parsed to is kept under: with the release that parsed it (an upgrade may
    read the same bytes differently)."""
    return f"{__version__} {validator}"


class HttpCache:
    """A SQLite file in the user cache dir. If it cannot be opened, requests simply go unconditional."""

    def __init__(self, path: Path) -> None:
        self.path = path
        from mentionwatch.store.sqlite import connect

        self._db: sqlite3.Connection | None = None
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            self._db = connect(path)
            for statement in _SCHEMA:
                self._db.execute(statement)
        except (OSError, sqlite3.Error) as exc:
            log.warning("HTTP cache %s unusable (%s); sending unconditional requests", path, exc)
            self._db = None

    def validators(self, url: str) -> Cached | None:
        """The validators of the answer kept for `url`, without its body (a 304 seldom needs it: `body`)."""
        return _validators(self._db, url) if self._db is not None else None

    def body(self, url: str) -> bytes | None:
        """The body of the answer kept for `url`; None when there is none, or it cannot be read."""
        if self._db is None:
            return None
        row = self._db.execute("SELECT body FROM responses WHERE key = ?", (_key(url),)).fetchone()
        if row is None:
            return None
        try:
            return zlib.decompress(row[0])
        except (zlib.error, TypeError):
            return None

    def put(self, url: str, headers: Mapping[str, str], body: bytes) -> None:
        """Keep a 200 answer's body and validators, for the next run's conditional request."""
        if self._db is None or len(body) > MAX_CACHED_BODY:
            return
        kept = {k.lower(): v for k, v in headers.items() if k.lower() in _KEEP}
        self._db.execute(
            "INSERT OR REPLACE INTO responses VALUES (?, ?, ?, ?, ?)",
            (
                _key(url),
                kept.get("etag"),
                kept.get("last-modified"),
                json.dumps(kept),
                zlib.compress(body, 1),
            ),
        )

    def get_parsed(self, url: str, validator: str) -> bytes | None:
        """What the body with this validator was parsed to, if it was (by this release: another parses anew)."""
        if self._db is None:
            return None
        row = self._db.execute("SELECT validator, data FROM parsed WHERE key = ?", (_key(url),)).fetchone()
        if row is None or row[0] != _released(validator):
            return None
        try:
            return zlib.decompress(row[1])
        except zlib.error:
            return None

    def put_parsed(self, url: str, validator: str, data: bytes) -> None:
        if self._db is None:
            return
        self._db.execute(
            "INSERT OR REPLACE INTO parsed VALUES (?, ?, ?)",
            (_key(url), _released(validator), zlib.compress(data, 1)),
        )

    def get_given(self, url: str, validator: str, context: str) -> bytes | None:
        """What the version of `url` with this validator gave a scan made in `context`, if one did."""
        found = self.given_for(url, context)
        return found[1] if found is not None and found[0] == validator else None

    def given_for(self, url: str, context: str) -> tuple[str, bytes] | None:
        """The validator of the version of `url` kept for `context`, and what it gave; None if none was kept."""
        if self._db is None:
            return None
        row = self._db.execute("SELECT validator, context, data FROM given WHERE key = ?", (_key(url),)).fetchone()
        if row is None or row[1] != context:
            return None
        try:
            return str(row[0]), zlib.decompress(row[2])
        except zlib.error:
            return None

    def put_given(self, entries: Iterable[tuple[str, str, str, bytes]]) -> None:
        """Keep what documents gave: (url, validator, context, data) each, in one transaction."""
        if self._db is None:
            return
        rows = [(_key(url), validator, context, zlib.compress(data, 1)) for url, validator, context, data in entries]
        if not rows:
            return
        try:
            # One commit, not one per row (the connection is in autocommit mode).
            self._db.execute("BEGIN")
            try:
                self._db.executemany("INSERT OR REPLACE INTO given VALUES (?, ?, ?, ?)", rows)
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
            self._db.execute("COMMIT")
        except sqlite3.Error as exc:  # a cache that cannot be written costs the next scan some work, nothing more
            log.warning("HTTP cache %s: could not keep what documents gave (%s)", self.path, exc)

    def close(self) -> None:
        if self._db is None:
            return
        self._db.close()
        self._db = None

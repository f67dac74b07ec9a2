"""What mentionwatch remembers between runs (SQLite): when an undated item was first seen."""

from __future__ import annotations

import logging
import sqlite3
from datetime import datetime
from pathlib import Path

from mentionwatch.models import format_time, parse_time

log = logging.getLogger(__name__)


def connect(path: Path) -> sqlite3.Connection:
    """A connection that lets two scans share the file (two cron jobs at once): WAL, so readers never wait for a
    writer; autocommit, so no write lock is held between writes; and a busy timeout, so a writer waits its turn
    instead of failing with "database is locked". synchronous=NORMAL: a crash can lose the last writes to the
    cache, never corrupt it (sqlite.org/wal.html)."""
    db = sqlite3.connect(path, timeout=30, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    return db


def default_state_path() -> Path:
    from platformdirs import user_state_path

    return user_state_path("mentionwatch") / "state.sqlite3"


class Store:
    """A small SQLite file. If it cannot be opened, the scan still runs with memory only."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self._db = self._open(path)

    @staticmethod
    def _open(path: Path | None) -> sqlite3.Connection:
        if path is not None:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = connect(path)
                db.execute(
                    "CREATE TABLE IF NOT EXISTS first_seen (source TEXT, id TEXT, at TEXT, PRIMARY KEY (source, id))"
                )
                return db
            except (OSError, sqlite3.Error) as exc:
                log.warning("state file %s unusable (%s); undated items get this run's time", path, exc)
        db = sqlite3.connect(":memory:")
        db.execute("CREATE TABLE first_seen (source TEXT, id TEXT, at TEXT, PRIMARY KEY (source, id))")
        return db

    def first_seen(self, source: str, item_id: str, now: datetime) -> datetime:
        """When this item was first seen: now, unless an earlier run saw it."""
        row = self._db.execute("SELECT at FROM first_seen WHERE source = ? AND id = ?", (source, item_id)).fetchone()
        if row:
            return parse_time(row[0])
        # Another scan may have seen it in the meantime: the earlier time wins.
        self._db.execute("INSERT OR IGNORE INTO first_seen VALUES (?, ?, ?)", (source, item_id, format_time(now)))
        return now

    def close(self) -> None:
        self._db.close()

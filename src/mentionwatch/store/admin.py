"""Looking after stores as a whole: moving a history between stores (`mentionwatch store copy`) and applying
pending migrations (`mentionwatch store migrate`).

A copy moves every row of every table of the store's schema, SQLite to PostgreSQL, back, or between two stores of
one engine, with its rowids (clusters are named by them, notification marks count them), and then proves it lost
nothing: each table's rows are counted and checksummed on both sides, over a canonical serialisation (one JSON
array per row, in primary-key order, bytewise for text; booleans as 0/1; times in the house format, as both
engines read them), and the copy fails if any differs. The tables are read from the schemas themselves, not
listed here, so a table or column a later migration adds is copied and checked too. What an engine derives is
left out and rebuilt by the destination: SQLite's FTS index, PostgreSQL's `search` column.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import sqlite3
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from mentionwatch.errors import StoreError, UsageError
from mentionwatch.store import MentionStore, is_url, open_store, shown_location, store_path
from mentionwatch.store.sqlite import SqliteStore

if TYPE_CHECKING:
    import psycopg

    from mentionwatch.store.postgres import PostgresStore

# What an engine keeps for itself: SQLite's full-text index (a virtual table and its shadow tables) and
# PostgreSQL's migration record; the columns it computes (PostgreSQL's generated `search`).
_SQLITE_OWN = "mentions_search"
_POSTGRES_OWN = ("mentionwatch_schema",)
# Tables others refer to go first (tags -> mentions, notify_items -> notify_deliveries).
_FIRST = ("mentions", "notify_deliveries")


@dataclass(frozen=True)
class TableCheck:
    """One table's rows and checksum on each side of a copy."""

    table: str
    source_rows: int
    source_sha256: str
    copied_rows: int
    copied_sha256: str

    @property
    def ok(self) -> bool:
        return (self.source_rows, self.source_sha256) == (self.copied_rows, self.copied_sha256)


@dataclass(frozen=True)
class CopyReport:
    source: str
    destination: str
    tables: list[TableCheck]

    @property
    def ok(self) -> bool:
        return all(t.ok for t in self.tables)

    @property
    def rows(self) -> int:
        return sum(t.source_rows for t in self.tables)

    @property
    def checksum(self) -> str:
        """One checksum of the whole store: of each table's name and checksum, in table order."""
        digest = hashlib.sha256()
        for t in self.tables:
            digest.update(f"{t.table}\t{t.source_rows}\t{t.source_sha256}\n".encode())
        return digest.hexdigest()


class _Side(Protocol):
    """One store's tables, as a copy reads and writes them."""

    def tables(self) -> dict[str, list[str]]: ...

    def primary_key(self, table: str) -> list[str]: ...

    def count(self, table: str) -> int: ...

    def snapshot(self) -> contextlib.AbstractContextManager[None]:
        """While held, every `read` sees the store as it was when it was taken (scans may go on meanwhile)."""
        ...

    def read(self, table: str, columns: list[str], key: list[str]) -> Iterator[tuple[Any, ...]]: ...

    def write(self, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None: ...

    def finish(self, tables: dict[str, list[str]]) -> None: ...


def canonical(row: Iterable[Any]) -> bytes:
    """A row as the checksum sees it: the same bytes from either engine for the same values."""
    # -0.0 is 0.0: SQLite stores it so, PostgreSQL keeps the sign (a store scanned into PostgreSQL before the scorer
    # dropped it holds some).
    values = [int(v) if isinstance(v, bool) else v + 0.0 if isinstance(v, float) else v for v in row]
    return json.dumps(values, ensure_ascii=False, separators=(",", ":")).encode("utf-8", "surrogatepass") + b"\n"


def copy_store(source_location: str, destination_location: str) -> CopyReport:
    """Copy every row of the store at `source_location` into an empty store at `destination_location` (created
    and migrated when it does not exist), then count and checksum both sides. Raises UsageError when the
    destination holds anything, StoreError when the schemas differ; a report that is not `ok` when a table's
    rows or checksum differ."""
    source_file = store_path(source_location)  # None: a server; a path or sqlite:/// URL: a file that must exist
    if source_file is not None and not source_file.expanduser().exists():
        raise UsageError(f"--from {source_location}: no store there")
    if source_location == destination_location:
        raise UsageError("--from and --to name the same store")
    source = open_store(source_location)
    try:
        destination = open_store(destination_location)
        try:
            return _copy(source, destination)
        finally:
            destination.close()
    finally:
        source.close()


def _copy(source_store: MentionStore, destination_store: MentionStore) -> CopyReport:
    source, destination = _side(source_store), _side(destination_store)
    tables = source.tables()
    theirs = destination.tables()
    if tables != theirs:
        differ = sorted(t for t in set(tables) | set(theirs) if tables.get(t) != theirs.get(t))
        raise StoreError(
            f"the two stores' schemas differ ({', '.join(differ)}): open both with this mentionwatch first "
            "(`mentionwatch store migrate`)"
        )
    for table in tables:
        if destination.count(table):
            raise UsageError(
                f"--to {destination_store.location}: the store already holds rows ({table}); copy into an empty one"
            )
    with source.snapshot():
        checks = _copy_tables(source, destination, tables)
    destination.finish(tables)
    return CopyReport(source_store.location, destination_store.location, checks)


def _copy_tables(source: _Side, destination: _Side, tables: dict[str, list[str]]) -> list[TableCheck]:
    checks = []
    for table, columns in tables.items():
        key = source.primary_key(table)
        seen = _Tally()
        destination.write(table, columns, seen.through(source.read(table, columns, key)))
        copied_rows, copied_digest = _checksum(destination.read(table, columns, key))
        checks.append(TableCheck(table, seen.rows, seen.digest.hexdigest(), copied_rows, copied_digest))
    return checks


class _Tally:
    """Counts and checksums rows as they stream past (from the source to the destination)."""

    def __init__(self) -> None:
        self.rows = 0
        self.digest = hashlib.sha256()

    def through(self, rows: Iterator[tuple[Any, ...]]) -> Iterator[tuple[Any, ...]]:
        for row in rows:
            self.rows += 1
            self.digest.update(canonical(row))
            yield row


def checksums(store: MentionStore) -> dict[str, tuple[int, str]]:
    """Each table's row count and checksum (the same serialisation a copy compares)."""
    side = _side(store)
    return {table: _checksum(side.read(table, columns, side.primary_key(table))) for table, columns in
            side.tables().items()}  # fmt: skip


def _checksum(rows: Iterator[tuple[Any, ...]]) -> tuple[int, str]:
    count, digest = 0, hashlib.sha256()
    for row in rows:
        count += 1
        digest.update(canonical(row))
    return count, digest.hexdigest()


def _ordered(tables: dict[str, list[str]]) -> dict[str, list[str]]:
    names = sorted(tables, key=lambda t: (_FIRST.index(t) if t in _FIRST else len(_FIRST), t))
    return {name: tables[name] for name in names}


def _side(store: MentionStore) -> _Side:
    if isinstance(store, SqliteStore):
        return _SqliteSide(store)
    from mentionwatch.store.postgres import PostgresStore

    if isinstance(store, PostgresStore):
        return _PostgresSide(store)
    raise StoreError(f"{store.location}: no copy for this kind of store")


class _SqliteSide:
    """A SQLite store's tables, through its connection (this module is the store's own)."""

    def __init__(self, store: SqliteStore) -> None:
        self._store = store
        self._db = store._db

    def tables(self) -> dict[str, list[str]]:
        names = [
            name
            for (name,) in self._db.execute("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
            if not name.startswith((_SQLITE_OWN, "sqlite_"))
        ]
        return _ordered({name: [r[1] for r in self._db.execute(f"PRAGMA table_info({name})")] for name in names})

    def primary_key(self, table: str) -> list[str]:
        info = sorted((r[5], r[1]) for r in self._db.execute(f"PRAGMA table_info({table})") if r[5])
        return [name for _, name in info]

    def count(self, table: str) -> int:
        return int(self._db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0])

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        # A read transaction: in WAL mode it sees the file as of its first read, whatever is written meanwhile.
        self._db.execute("BEGIN")
        try:
            yield
        finally:
            self._db.execute("COMMIT")

    def read(self, table: str, columns: list[str], key: list[str]) -> Iterator[tuple[Any, ...]]:
        order = f" ORDER BY {', '.join(key)}" if key else ""
        yield from self._db.execute(f"SELECT {', '.join(columns)} FROM {table}{order}")

    def write(self, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(columns))
        # The store's own write transaction: a destination that cannot be written is a StoreError, as in a scan.
        with self._store._write():
            self._db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({marks})", rows)

    def finish(self, tables: dict[str, list[str]]) -> None:
        # Copied mentions wait for search as a scan's do (schema 6): the first search indexes them.
        if "mentions" in tables:
            with self._store._write():
                self._db.execute("INSERT OR IGNORE INTO mentions_search_pending SELECT rowid FROM mentions")


class _PostgresSide:
    """A PostgreSQL store's tables, through its pool; rows written with COPY."""

    def __init__(self, store: PostgresStore) -> None:
        self._store = store
        self._pool = store._pool
        self._snapshot: psycopg.Connection[Any] | None = None

    def tables(self) -> dict[str, list[str]]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND is_generated = 'NEVER'"
                " AND table_name IN (SELECT table_name FROM information_schema.tables"
                "   WHERE table_schema = current_schema() AND table_type = 'BASE TABLE')"
                " ORDER BY table_name, ordinal_position"
            ).fetchall()
        tables: dict[str, list[str]] = {}
        for table, column in rows:
            if table not in _POSTGRES_OWN:
                tables.setdefault(table, []).append(column)
        return _ordered(tables)

    def primary_key(self, table: str) -> list[str]:
        with self._pool.connection() as conn:
            rows = conn.execute(
                "SELECT a.attname FROM pg_index i JOIN LATERAL unnest(i.indkey) WITH ORDINALITY AS k (attnum, n)"
                " ON true JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = k.attnum"
                " WHERE i.indrelid = (quote_ident(current_schema()) || '.' || %s)::regclass AND i.indisprimary"
                " ORDER BY k.n",
                [table],
            ).fetchall()
        return [r[0] for r in rows]

    def count(self, table: str) -> int:
        with self._pool.connection() as conn:
            row = conn.execute(f"SELECT COUNT(*) FROM {table}").fetchone()
        return int(row[0]) if row else 0

    @contextlib.contextmanager
    def snapshot(self) -> Iterator[None]:
        # One REPEATABLE READ transaction for every table: the copy is of one moment, whatever scans do meanwhile.
        with self._pool.connection() as conn, conn.transaction():
            conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            self._snapshot = conn
            try:
                yield
            finally:
                self._snapshot = None

    def read(self, table: str, columns: list[str], key: list[str]) -> Iterator[tuple[Any, ...]]:
        if self._snapshot is not None:
            yield from self._read(self._snapshot, table, columns, key)
            return
        with self._pool.connection() as conn, conn.transaction():
            yield from self._read(conn, table, columns, key)

    @staticmethod
    def _read(
        conn: psycopg.Connection[Any], table: str, columns: list[str], key: list[str]
    ) -> Iterator[tuple[Any, ...]]:
        # Text keys in byte order ("C"), as SQLite's BINARY collation sorts them: the checksums compare in one order.
        types = dict(
            conn.execute(
                "SELECT column_name, data_type FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND table_name = %s",
                [table],
            ).fetchall()
        )
        order = ", ".join(f'{k} COLLATE "C"' if types.get(k) == "text" else k for k in key)
        sql = f"SELECT {', '.join(columns)} FROM {table}" + (f" ORDER BY {order}" if order else "")
        with conn.cursor(name=f"mentionwatch_copy_{table}") as cur:
            cur.itersize = 2000
            cur.execute(sql)
            yield from cur

    def write(self, table: str, columns: list[str], rows: Iterable[tuple[Any, ...]]) -> None:
        with (
            self._store._writes(),
            self._pool.connection() as conn,
            conn.transaction(),
            conn.cursor() as cur,
            cur.copy(f"COPY {table} ({', '.join(columns)}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)

    def finish(self, tables: dict[str, list[str]]) -> None:
        """Move each identity sequence past the copied rowids, so the next mention saved gets a new one."""
        with self._store._writes(), self._pool.connection() as conn:
            identities = conn.execute(
                "SELECT table_name, column_name FROM information_schema.columns"
                " WHERE table_schema = current_schema() AND is_identity = 'YES'"
            ).fetchall()
            for table, column in identities:
                conn.execute(
                    f"SELECT setval(pg_get_serial_sequence(%s, %s), COALESCE(MAX({column}), 0) + 1, false)"
                    f" FROM {table}",
                    [table, column],
                )


def migrate_store(location: str) -> tuple[int, int]:
    """Apply the store's pending migrations; returns (the version it was at, the version it is at now)."""
    if is_url(location):
        from mentionwatch.store.postgres import PostgresStore

        store = open_store(location, migrate=True)
        try:
            before = store.migrated_from if isinstance(store, PostgresStore) else store_version(store)
            return before, store_version(store)
        finally:
            store.close()
    file = store_path(location)
    assert file is not None  # a server was migrated above
    path = file.expanduser()
    if not path.exists():
        raise UsageError(f"no store at {location}: `mentionwatch scan` creates one (or name one with --db)")
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            before = int(db.execute("PRAGMA user_version").fetchone()[0])
        finally:
            db.close()
    except sqlite3.Error as exc:
        raise StoreError(f"cannot open the store {shown_location(location)}: {exc}") from None
    store = open_store(location)
    try:
        return before, store_version(store)
    finally:
        store.close()


def store_version(store: MentionStore) -> int:
    version = getattr(store, "schema_version", None)
    return int(version()) if callable(version) else 0

"""`mentionwatch store copy` and `store migrate`: moving a whole history between stores (SQLite and PostgreSQL),
and applying a newer mentionwatch's schema to a shared store once."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import ConfigOpt, DbOpt, VerboseOpt, fail, optional_config, setup_logging
from mentionwatch.errors import MentionwatchError, StoreError

if TYPE_CHECKING:
    from mentionwatch.redaction import Redactor

store_app = typer.Typer(
    help="The store as a whole: copy a history between SQLite and PostgreSQL, apply pending migrations.",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(store_app, name="store")


@store_app.command("copy", epilog=EXIT_CODES_HELP)
def copy(
    source: Annotated[
        str, typer.Option("--from", metavar="PATH_OR_URL", help="The store to copy: a SQLite file or a PostgreSQL URL.")
    ],
    destination: Annotated[
        str,
        typer.Option(
            "--to", metavar="PATH_OR_URL", help="An empty store (created when missing): a SQLite file or a URL."
        ),
    ],
    verbose: VerboseOpt = False,
) -> None:
    """Copy a whole history (every mention, cluster, tag, watermark, reply and notification record) into an
    empty store, then compare each table's row count and checksum on both sides: any difference exits 6.

    A password is best given as ${ENV} in the URL (quoted, so the shell leaves it) or in ~/.pgpass.

    Examples:

    \b
      mentionwatch store copy --from ~/.local/share/mentionwatch/mentions.sqlite3 \\
          --to 'postgresql://mentionwatch:${PGPASSWORD}@db.example/mentions'
      mentionwatch store copy --from postgresql://mentionwatch@db.example/mentions --to backup.sqlite3
    """
    from mentionwatch.store import shown_location
    from mentionwatch.store.admin import copy_store

    redactor = setup_logging(verbose, False)
    try:
        report = copy_store(source, destination)
        for t in report.tables:
            state = "ok" if t.ok else "DIFFERS"
            sys.stderr.write(
                f"{state:<8} {t.table:<18} {t.source_rows:>10} rows  {t.source_sha256[:16]}"
                + ("" if t.ok else f"  copied: {t.copied_rows} rows  {t.copied_sha256[:16]}")
                + "\n"
            )
        if not report.ok:
            differ = ", ".join(t.table for t in report.tables if not t.ok)
            raise StoreError(
                f"the copy in {report.destination} differs from {report.source} ({differ}): do not use it; "
                "run with -v and report it"
            )
        sys.stderr.write(
            f"mentionwatch: copied {report.rows} rows from {shown_location(report.source)} to "
            f"{shown_location(report.destination)}; counts and checksums match (sha256 {report.checksum})\n"
        )
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


@store_app.command("migrate", epilog=EXIT_CODES_HELP)
def migrate(config_path: ConfigOpt = None, db: DbOpt = None, verbose: VerboseOpt = False) -> None:
    """Apply the store's pending migrations. A SQLite store migrates itself when opened; a PostgreSQL store is
    shared by hosts that may run an older mentionwatch, so it waits for this, run once when all are upgraded.

    Example: mentionwatch store migrate --db postgresql://mentionwatch@db.example/mentions
    """
    from mentionwatch.store import resolve_location, shown_location
    from mentionwatch.store.admin import migrate_store

    redactor = setup_logging(verbose, False)
    try:
        location = resolve_location(db, _configured_store(config_path, db, redactor))
        before, after = migrate_store(location)
        shown = shown_location(location)
        if before == after:
            sys.stderr.write(f"mentionwatch: {shown}: schema version {after}, nothing to migrate\n")
        else:
            sys.stderr.write(f"mentionwatch: {shown}: migrated from schema version {before} to {after}\n")
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


def _configured_store(config_path: Path | None, db: str | None, redactor: Redactor) -> str | None:
    """The config's `store`, when neither --db nor $MENTIONWATCH_DB names one (a config is not needed then)."""
    import os

    from mentionwatch.store import DB_ENV

    if db is not None or os.environ.get(DB_ENV):
        return None
    config = optional_config(config_path, redactor)
    return config.store.path if config is not None else None

"""What every command shares: the common options, logging set-up, loading the config, and turning an error
into one clear line on stderr and its exit code."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Sequence
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, TypeVar

import typer

from mentionwatch.errors import ExitCode, MentionwatchError, UsageError

if TYPE_CHECKING:
    from mentionwatch.config import Config
    from mentionwatch.redaction import Redactor
    from mentionwatch.registry import Registry
    from mentionwatch.store import MentionStore

log = logging.getLogger("mentionwatch")
T = TypeVar("T")


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Sort(StrEnum):
    newest = "newest"
    impact = "impact"


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file. Default: $MENTIONWATCH_CONFIG, else ./mentionwatch.yaml, else config.yaml "
        "in the user config dir.",
        show_default=False,
    ),
]
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        metavar="PATH_OR_URL",
        help="The store: a SQLite file (a path, or sqlite:///path), or a postgresql:// URL. Default: "
        "$MENTIONWATCH_DB, else the config's `store`, else mentions.sqlite3 in the user data dir.",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks on stderr.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")]


def setup_logging(verbose: bool, quiet: bool) -> Redactor:
    """Log to stderr through the redactor; returns it, so the command can add the config's secrets."""
    from mentionwatch.redaction import RedactingFilter, Redactor

    redactor = Redactor()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mentionwatch: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger("mentionwatch")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    return redactor


def print_out(writer: Callable[[IO[str]], object], redactor: Redactor) -> None:
    """A command's data on stdout: a reader that has what it wanted (`| head -1`) ends the command quietly, as
    grep does (141); a full disk is the usual one-line error (5)."""
    from mentionwatch.output import BrokenStdout, write_stdout

    try:
        write_stdout(writer)
    except BrokenStdout:
        raise typer.Exit(ExitCode.BROKEN_PIPE) from None
    except MentionwatchError as exc:
        raise fail(exc, redactor, False) from None


def fail(exc: BaseException, redactor: Redactor, verbose: bool) -> typer.Exit:
    """One clear line per problem on stderr (a traceback only with -v), and the error's exit code."""
    from mentionwatch.output import sanitize_terminal

    if verbose:
        import traceback

        sys.stderr.write(redactor("".join(traceback.format_exception(exc))))
    lines = str(exc).splitlines() or [type(exc).__name__]
    if not isinstance(exc, MentionwatchError):
        hint = "" if verbose else "; run with -v for the traceback"
        lines = [f"internal error, please report it: {type(exc).__name__}: {lines[0]}{hint}"]
    for line in lines:
        sys.stderr.write(f"mentionwatch: error: {sanitize_terminal(redactor(line))}\n")
    return typer.Exit(exc.exit_code if isinstance(exc, MentionwatchError) else ExitCode.INTERNAL)


def load(config_path: Path | None, redactor: Redactor, unset_env_ok: bool = False) -> tuple[Config, Registry]:
    """The config and the installed sources; the config's secrets join the redactor (its `${ENV}` values before
    anything is validated, so that an error quoting one is masked)."""
    from mentionwatch.config import find_config, load_config
    from mentionwatch.registry import Registry

    registry = Registry.from_entry_points()
    config = load_config(find_config(config_path), registry, unset_env_ok=unset_env_ok, redactor=redactor)
    redactor.add(config.secrets)
    if config.secrets_in_file and config.path.exists() and config.path.stat().st_mode & 0o077:
        log.warning(
            "%s holds secrets and other users can read it: `chmod 600 %s`, or move them to ${ENV} variables",
            config.path,
            config.path,
        )
    return config, registry


def open_scan_store(config: Config, db: str | None, *, none: bool = False) -> MentionStore:
    """The store a command works on (--db, $MENTIONWATCH_DB, the config's `store`, the default), or one that
    keeps nothing (`none`)."""
    from mentionwatch.store import memory_store, open_store, resolve_location

    if none:
        return memory_store()
    return open_store(resolve_location(db, config.store.path))


def optional_config(config_path: Path | None, redactor: Redactor) -> Config | None:
    """The config, for a command that can do without one: None when none is found and none was named (`-c`). A
    config that is found but broken is still an error."""
    from mentionwatch.config import find_config, load_config
    from mentionwatch.registry import Registry

    try:
        config = load_config(
            find_config(config_path), Registry.from_entry_points(), unset_env_ok=True, redactor=redactor
        )
    except UsageError:
        if config_path is not None:
            raise
        return None
    redactor.add(config.secrets)
    return config


def existing_store(db: str | None, config: Config | None) -> MentionStore:
    """The store named by --db, $MENTIONWATCH_DB or the config's `store` (else the default), for a command that
    reads it: one that does not exist yet is a usage error, not a new empty store."""
    from mentionwatch.store import DB_ENV, open_store, resolve_location, store_path

    location = resolve_location(db, config.store.path if config else None)
    file = store_path(location)
    if file is not None and not file.expanduser().exists():
        raise UsageError(
            f"no store at {location} yet: run `mentionwatch scan` first (or name one with --db or ${DB_ENV})"
        )
    return open_store(location)


def select(
    items: Sequence[T], wanted: list[str] | None, what: str, name: Callable[[T], str], *, any_case: bool = False
) -> list[T]:
    """The items `--brand`/`--source` name (all when none is named); a name not in the config is an error.
    `any_case`: names match whatever their case (brands: `--brand acme` is Acme)."""
    if not wanted:
        return list(items)

    def key(text: str) -> str:
        return text.casefold() if any_case else text

    names = {key(name(i)) for i in items}
    unknown = [w for w in wanted if key(w) not in names]
    if unknown:
        configured = ", ".join(sorted(name(i) for i in items))
        raise UsageError(f"--{what} {', '.join(unknown)}: not in the config (configured: {configured})")
    chosen = {key(w) for w in wanted}
    return [i for i in items if key(name(i)) in chosen]


def pick_format(fmt: Format | None, output: Path | None) -> str:
    """-f if given, else the output file's extension, else a table on a terminal and JSONL in a pipe."""
    from mentionwatch.output import format_for_path

    if output is not None:
        try:
            return format_for_path(str(output), fmt.value if fmt else None)
        except ValueError as exc:
            raise UsageError(f"-o {output}: {exc}") from None
    if fmt is not None:
        return fmt.value
    return "table" if sys.stdout.isatty() else "jsonl"

"""`mentionwatch check`, `sources` and `init`: the config, what it resolves to, and what is installed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import ConfigOpt, VerboseOpt, fail, load, print_out, setup_logging
from mentionwatch.errors import MentionwatchError

if TYPE_CHECKING:
    from mentionwatch.redaction import Redactor
    from mentionwatch.registry import Registry


@app.command(epilog=EXIT_CODES_HELP)
def check(config_path: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Validate the config and print the resolved brands and sources (secrets masked).

    Example: mentionwatch check -c mentionwatch.yaml
    """
    import yaml

    redactor = setup_logging(verbose, False)
    try:
        config, _ = load(config_path, redactor)
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None
    resolved = {
        "config": str(config.path),
        "since": config.since or "7d (default)",
        "brands": [b.model_dump() for b in config.brands],
        "sources": [{"name": s.name, **s.config.model_dump(mode="json", exclude={"name"})} for s in config.sources],
        "http": config.http.model_dump(),
    }
    if config.notify is not None:
        # mode="json" writes every SecretStr as asterisks; the redactor masks what came from ${ENV}.
        resolved["notify"] = config.notify.model_dump(mode="json", exclude_none=True)
    text = yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True)
    print_out(lambda out: out.write(redactor(text)), redactor)
    sys.stderr.write(f"mentionwatch: {config.path}: OK, {len(config.brands)} brands, {len(config.sources)} sources\n")


@app.command("sources")
def list_sources(
    config_path: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, for scripts.")] = False,
) -> None:
    """List the installed source adapters, their options and defaults, and whether they need credentials."""
    import json

    from mentionwatch.registry import Registry, catalog

    redactor = setup_logging(False, False)
    registry = Registry.from_entry_points()
    try:
        configured = _configured(config_path, registry, redactor)
    except MentionwatchError as exc:
        raise fail(exc, redactor, False) from None
    rows = catalog(registry, configured or {})
    if configured is None:  # the config is broken: which types it uses is not known, and not "none"
        for row in rows:
            row["configured"] = None
    if as_json:
        print_out(lambda out: out.write(redactor(json.dumps(rows, indent=2, default=str)) + "\n"), redactor)
        return
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for col in ("type", "credentials", "configured", "options (default)", "about"):
        table.add_column(col)
    for row in rows:
        opts = ", ".join(
            f"{k}={v['default']!r}" if v["default"] not in (None, "", []) else k for k, v in row["options"].items()
        )
        table.add_row(
            Text(row["type"]),
            Text(row["credentials"]),
            Text("?" if row["configured"] is None else ", ".join(row["configured"]) or "-"),
            Text(redactor(opts)),
            Text(row["about"]),
        )
    from mentionwatch.output import make_console

    # A plugin that failed to load was warned of as the registry read it (entrypoints): once, as on every command.
    print_out(lambda out: make_console(file=out, highlight=False).print(table), redactor)


def _configured(config_path: Path | None, registry: Registry, redactor: Redactor) -> dict[str, list[str]] | None:
    """The configured sources' names by type: {} when there is no config to find, None when the one found cannot be
    read (said on stderr, with why). A config named with -c must load."""
    from mentionwatch.config import find_config, load_config
    from mentionwatch.errors import UsageError
    from mentionwatch.output import sanitize_terminal

    try:
        path = find_config(config_path)
    except UsageError:
        return {}  # none to find: nothing is configured
    try:
        config = load_config(path, registry, redactor=redactor)
    except MentionwatchError as exc:
        if config_path is not None:
            raise
        sys.stderr.write(
            f"mentionwatch: warning: cannot read the config {path}, so the `configured` column is unknown (?):\n"
        )
        for line in str(exc).splitlines():
            sys.stderr.write(f"mentionwatch: warning: {sanitize_terminal(redactor(line))}\n")
        return None
    configured: dict[str, list[str]] = {}
    for source in config.sources:
        configured.setdefault(source.cls.type, []).append(source.name)
    return configured


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path("mentionwatch.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (never overwrites without --force).

    Example: mentionwatch init && mentionwatch check
    """
    from mentionwatch.config import write_starter

    try:
        path = write_starter(path, force=force)
    except MentionwatchError as exc:
        raise fail(exc, setup_logging(False, False), False) from None
    sys.stderr.write(f"mentionwatch: wrote {path}; edit the brands, then run `mentionwatch check -c {path}`\n")

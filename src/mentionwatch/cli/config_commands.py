"""`mentionwatch check`, `sources` and `init`: the config, what it resolves to, and what is installed."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import ConfigOpt, VerboseOpt, fail, load, setup_logging
from mentionwatch.errors import MentionwatchError


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
    sys.stdout.write(redactor(text))
    sys.stderr.write(f"mentionwatch: {config.path}: OK, {len(config.brands)} brands, {len(config.sources)} sources\n")


@app.command("sources")
def list_sources(
    config_path: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, for scripts.")] = False,
) -> None:
    """List the installed source adapters, their options and defaults, and whether they need credentials."""
    import json

    from mentionwatch.config import find_config, load_config
    from mentionwatch.registry import Registry, catalog

    redactor = setup_logging(False, False)
    registry = Registry.from_entry_points()
    configured: dict[str, list[str]] = {}
    try:
        config = load_config(find_config(config_path), registry)
        for s in config.sources:
            configured.setdefault(s.cls.type, []).append(s.name)
    except MentionwatchError as exc:
        if config_path is not None:
            raise fail(exc, redactor, False) from None
    rows = catalog(registry, configured)
    if as_json:
        sys.stdout.write(redactor(json.dumps(rows, indent=2, default=str)) + "\n")
        return
    from rich.console import Console
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
            Text(", ".join(row["configured"]) or "-"),
            Text(redactor(opts)),
            Text(row["about"]),
        )
    Console(highlight=False).print(table)
    for name, problem in registry.broken.items():
        sys.stderr.write(f"mentionwatch: warning: plugin {name} failed to load: {problem}\n")


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
        write_starter(path, force=force)
    except MentionwatchError as exc:
        raise fail(exc, setup_logging(False, False), False) from None
    sys.stderr.write(f"mentionwatch: wrote {path}; edit the brands, then run `mentionwatch check -c {path}`\n")

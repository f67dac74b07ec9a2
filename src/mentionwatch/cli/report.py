"""`mentionwatch report`: the stored mentions of a period as figures, in a terminal, Markdown, HTML or JSON.
Reads the store only, never the network."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import ConfigOpt, DbOpt, VerboseOpt, existing_store, fail, optional_config, setup_logging
from mentionwatch.errors import MentionwatchError, UsageError

if TYPE_CHECKING:
    from mentionwatch.config import Config
    from mentionwatch.report import BrandSpec
    from mentionwatch.store import MentionStore


class ReportFormat(StrEnum):
    table = "table"
    markdown = "markdown"
    html = "html"
    json = "json"


@app.command(epilog=EXIT_CODES_HELP)
def report(
    since: Annotated[
        str, typer.Option(metavar="WHEN", help="The period's start: 30d, 2w, 48h, 2026-11-01 (midnight UTC).")
    ] = "30d",
    until: Annotated[str | None, typer.Option(metavar="WHEN", help="Its end (default: now): 2026-12-01, 7d.")] = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand (repeatable, any case).")
    ] = None,
    fmt: Annotated[
        ReportFormat | None,
        typer.Option(
            "--format",
            "-f",
            help="table, markdown, html or json. Default: the -o file's extension, "
            "else a table on a terminal and JSON in a pipe.",
        ),
    ] = None,
    output: Annotated[
        Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (.html, .md, .json, .txt).")
    ] = None,
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Report on the stored mentions of a period: volume, image, share of voice, where, who, what and spikes,
    each against the previous period of the same length. Reads the store only, never the network.

    Examples:

    \b
      mentionwatch report                                  # the last 30 days, in the terminal
      mentionwatch report --since 7d -o week.html          # one self-contained page with charts
      mentionwatch report --brand Acme --since 48h -f markdown
      mentionwatch report -f json | jq '.brands[] | .share_of_voice'
    """
    from mentionwatch.output import BrokenStdout, atomic_file, dash_is_stdout, usable_output_path, write_stdout
    from mentionwatch.report import Window, collect, format_for_path, write

    redactor = setup_logging(verbose, False)
    output = dash_is_stdout(output)
    try:
        now = datetime.now(UTC)
        window = Window.of(_when("--since", since, now), _when("--until", until, now) if until else now)
        if window.since >= window.until:
            raise UsageError(f"--since {since} is not before --until {until or 'now'}")
        if output is not None:
            fmt_name = format_for_path(str(output), fmt.value if fmt else None)
            usable_output_path(output, "-o")
        else:
            fmt_name = fmt.value if fmt else ("table" if sys.stdout.isatty() else "json")
        config = optional_config(config_path, redactor)
        store = existing_store(db, config)
        try:
            made = collect(store, _brands(store, config, brand), window, now=now)
        finally:
            store.close()
        if output is not None:
            with atomic_file(output) as out:
                write(made, fmt_name, out, width=100)
            sys.stderr.write(f"mentionwatch: wrote the report to {output}\n")
        else:
            write_stdout(lambda out: write(made, fmt_name, out))
    except BrokenStdout:
        raise typer.Exit(141) from None
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


def _when(flag: str, value: str, now: datetime) -> datetime:
    from mentionwatch.when import parse_since

    try:
        return parse_since(value, now)
    except ValueError as exc:
        raise UsageError(f"{flag}: {exc}") from None


def _brands(store: MentionStore, config: Config | None, wanted: list[str] | None) -> list[BrandSpec]:
    """The brands to report on: those named by --brand (any case), else the config's (in its order), else the
    store's. A configured brand carries its `competitor` flag and its own terms."""
    from mentionwatch.matching import search_terms_of
    from mentionwatch.report import BrandSpec

    configured = (
        {b.name: BrandSpec(b.name, b.competitor, tuple(search_terms_of(b))) for b in config.brands} if config else {}
    )
    known = {name: configured.get(name, BrandSpec(name)) for name in [*configured, *store.brands()]}
    if not wanted:
        return list(configured.values()) or list(known.values())
    by_fold = {name.casefold(): spec for name, spec in known.items()}
    unknown = [w for w in wanted if w.casefold() not in by_fold]
    if unknown:
        listed = ", ".join(sorted(known)) or "none yet"
        raise UsageError(f"--brand {', '.join(unknown)}: not in the config or the store (brands: {listed})")
    return list({by_fold[w.casefold()].name: by_fold[w.casefold()] for w in wanted}.values())

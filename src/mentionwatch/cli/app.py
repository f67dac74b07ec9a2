"""The root `mentionwatch` Typer app: its help, `--version`, and the one place commands register."""

from __future__ import annotations

from typing import Annotated

import typer

from mentionwatch import __version__
from mentionwatch.errors import describe_exit_codes

EXIT_CODES_HELP = "\n" + describe_exit_codes() + "\n"

app = typer.Typer(
    name="mentionwatch",
    help="Watch what people say about your brand: search and read sources, match, score, dedupe, print.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  mentionwatch init                       # write a starter mentionwatch.yaml\n"
    "  mentionwatch check                      # validate it\n"
    "  mentionwatch scan --since 24h           # a table of the last day's mentions\n"
    "  mentionwatch scan -f jsonl | jq .url    # data for pipes\n"
    "  mentionwatch explain ID -i scan.jsonl   # why a mention matched, how it scored\n\n" + EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mentionwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Watch what people say about your brand."""

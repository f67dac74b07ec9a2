"""The `mentionwatch` command: one module per command group; each parses flags, calls the core and prints.

`app` is the Typer application, `main` the console-script entry point.
"""

from __future__ import annotations

import copy
import gc
import sys
from typing import TYPE_CHECKING

# Collected less often while the command loads, and httpx's own command-line client never imported (`startup`).
import mentionwatch.startup  # noqa: F401

try:
    import typer
    from typer.main import get_command_name
    from typer.models import CommandInfo

    # Each command module registers its commands on `app` when imported.
    from mentionwatch.cli import (  # noqa: F401
        config_commands,
        explain,
        inbox,
        notify,
        report,
        scan,
        store_admin,
        store_commands,
    )
    from mentionwatch.cli.app import app
except KeyboardInterrupt:
    # Ctrl-C while the command's modules load (its first 0.1 s, before `main` runs): nothing was done, so nothing
    # to say; the status a shell gives an interrupted command, never a traceback through the import machinery.
    from mentionwatch.errors import ExitCode

    raise SystemExit(ExitCode.INTERRUPTED) from None

if TYPE_CHECKING:
    from mentionwatch.prefetch import Prefetch

__all__ = ["app", "main"]


def main(ahead: Prefetch | None = None) -> None:
    """Run the command line; `ahead`: the requests its `scan` sent while the command loaded (`launch`)."""
    try:
        app_for(sys.argv[1:])(obj=ahead)
    except KeyboardInterrupt:
        # Ctrl-C while typer makes the command, before it runs (a command's own is click's or the command's).
        from mentionwatch.errors import ExitCode

        raise SystemExit(ExitCode.INTERRUPTED) from None
    finally:
        # The process ends here: spare it the collector's last walk over everything the run made (see scan).
        gc.freeze()


def app_for(args: list[str]) -> typer.Typer:
    """The app to run `args` with: when they start with a command's name, the app with that command alone.

    Typer makes every command's click parameters on each run (15 ms of a scan's start-up for the 20 commands
    and groups), though a run uses one. A command's usage, help and errors are the same either way (the root's
    options and name are kept); anything else (`--help`, `--version`, a group such as `store`, a typo that
    needs the list of commands) runs the whole app."""
    if not args:
        return app
    chosen = [info for info in app.registered_commands if _name(info) == args[0]]
    if not chosen:
        return app
    narrow = copy.copy(app)
    narrow.registered_commands = chosen
    narrow.registered_groups = []
    return narrow


def _name(info: CommandInfo) -> str | None:
    if info.name is not None:
        return info.name
    return get_command_name(info.callback.__name__) if info.callback is not None else None

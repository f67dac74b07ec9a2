"""The `mentionwatch` command: one module per command group; each parses flags, calls the core and prints.

`app` is the Typer application, `main` the console-script entry point.
"""

from __future__ import annotations

import copy
import gc
import sys

# Start-up builds hundreds of thousands of objects that live until exit (typer's commands, pydantic's schemas,
# the config), and the cyclic collector would walk them again and again, in full a few times. Collected less
# often until the command has loaded them (`startup_done`): 10 ms of the 250 ms before a scan's first request
# (measured with thresholds 50,000 / 10 / 10: no gain; the full collections are the cost). Nothing is left
# uncollected: the thresholds only say how often.
_THRESHOLDS = gc.get_threshold()
gc.set_threshold(100_000, 50, 100)


def startup_done() -> None:
    """What start-up loaded lives until exit: frozen (the collector no longer walks it, during the run and at exit;
    60-90 ms of a 0.7 s scan), and the collector back to its usual pace for what the command makes."""
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)

# `import httpx` also imports httpx's own command-line client (click, pygments and rich's syntax and tables:
# 30 ms of every scan's start-up), which mentionwatch never runs. That import is optional in httpx (without
# `httpx[cli]` it falls back to a stub), and a None in sys.modules makes it fail at once. Only here, in the
# command's process; a program importing mentionwatch as a library keeps its httpx whole.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable", as documented

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

__all__ = ["app", "main"]


def main() -> None:
    try:
        app_for(sys.argv[1:])()
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

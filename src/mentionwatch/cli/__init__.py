"""The `mentionwatch` command: one module per command group; each parses flags, calls the core and prints.

`app` is the Typer application, `main` the console-script entry point.
"""

from __future__ import annotations

import gc
import sys

# `import httpx` also imports httpx's own command-line client (click, pygments and rich's syntax and tables:
# 30 ms of every scan's start-up), which mentionwatch never runs. That import is optional in httpx (without
# `httpx[cli]` it falls back to a stub), and a None in sys.modules makes it fail at once. Only here, in the
# command's process; a program importing mentionwatch as a library keeps its httpx whole.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable", as documented

# Each command module registers its commands on `app` when imported.
from mentionwatch.cli import (  # noqa: E402, F401
    config_commands,
    explain,
    inbox,
    notify,
    scan,
    store_admin,
    store_commands,
)
from mentionwatch.cli.app import app  # noqa: E402

__all__ = ["app", "main"]


def main() -> None:
    try:
        app()
    finally:
        # The process ends here: spare it the collector's last walk over everything the run made (see scan).
        gc.freeze()

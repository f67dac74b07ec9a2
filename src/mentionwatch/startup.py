"""What the command's process sets first, before it loads anything else (imported by `launch` and `cli`).

Importing this module changes the process (the collector's pace, an import of httpx's that is made to fail):
only the command imports it, never the library's modules.
"""

from __future__ import annotations

import gc
import sys

# Start-up builds hundreds of thousands of objects that live until exit (typer's commands, pydantic's schemas,
# the config, asyncio and httpx on the `prefetch` thread), and the cyclic collector would walk them again and
# again, in full a few times. Collected less often until the command has loaded them (`startup_done`): 10 ms of
# the 250 ms before a scan's first request (measured with thresholds 50,000 / 10 / 10: no gain; the full
# collections are the cost). Nothing is left uncollected: the thresholds only say how often.
_THRESHOLDS = gc.get_threshold()
gc.set_threshold(100_000, 50, 100)


def startup_done() -> None:
    """What start-up loaded lives until exit: frozen (the collector no longer walks it, during the run and at exit;
    60-90 ms of a 0.7 s scan), and the collector back to its usual pace for what the command makes."""
    gc.freeze()
    gc.set_threshold(*_THRESHOLDS)


# `import httpx` also imports httpx's own command-line client (click, pygments and rich's syntax and tables:
# 30 ms of every scan's start-up), which mentionwatch never runs. That import is optional in httpx (without
# `httpx[cli]` it falls back to a stub), and a None in sys.modules makes it fail at once. Only in the command's
# process; a program importing mentionwatch as a library keeps its httpx whole.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable", as documented

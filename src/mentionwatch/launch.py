"""The `mentionwatch` command's entry point: a plain `scan` first sends its feeds' requests (`prefetch`), then the
command loads."""

from __future__ import annotations

import sys


def main() -> None:
    import mentionwatch.startup  # noqa: F401 - first: the collector's pace, httpx's command-line client left out

    ahead = None
    try:
        from mentionwatch.prefetch import FIRST_ROUND_WITHIN, Prefetch, scan_config

        config = scan_config(sys.argv[1:])
        if config is not None:
            ahead = Prefetch(config).start()
            # The requests' thread has the interpreter to itself until the first round is out.
            ahead.out.wait(timeout=FIRST_ROUND_WITHIN)
    except KeyboardInterrupt:
        from mentionwatch.errors import ExitCode

        raise SystemExit(ExitCode.INTERRUPTED) from None
    from mentionwatch.cli import main as run

    try:
        run(ahead)
    finally:
        if ahead is not None:
            ahead.close()  # not waited for: the connections close with the process

"""The live progress display on stderr: one line per source with its requests, items and state."""

from __future__ import annotations

from collections.abc import Sequence
from types import TracebackType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mentionwatch.pipeline import SourceHealth


class ProgressDisplay:
    """Shown only on a terminal (the CLI decides); refreshes a few times a second from the live health."""

    def __init__(self) -> None:
        from rich.console import Console
        from rich.live import Live

        self._health: Sequence[SourceHealth] = ()
        self._live = Live(
            get_renderable=self._render, console=Console(stderr=True), refresh_per_second=8, transient=True
        )

    def start(self, health: list[SourceHealth]) -> None:
        self._health = health

    def _render(self) -> Any:
        from rich.table import Table
        from rich.text import Text

        table = Table.grid(padding=(0, 2))
        for h in self._health:
            style = "yellow" if h.state == "fetching" else ("red" if h.failed else "green")
            table.add_row(
                Text(h.name), Text(h.state, style=style), Text(f"{h.requests} requests"), Text(f"{h.items} items")
            )
        return table

    def __enter__(self) -> ProgressDisplay:
        self._live.__enter__()
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self._live.__exit__(exc_type, exc, tb)

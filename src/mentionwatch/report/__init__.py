"""`mentionwatch report`: what the stored mentions say over a period, as figures and in four formats.

`collect` reads the store (aggregates in SQL) and hands plain data to pure sections (`figures`, `terms`,
`spikes`); the result is a `model.Report`, which the writers turn into a terminal table, Markdown, one HTML
page or JSON.
"""

from __future__ import annotations

from typing import IO

from mentionwatch.errors import UsageError
from mentionwatch.report.collect import BrandSpec, collect
from mentionwatch.report.model import Report, Window

FORMATS = ("table", "markdown", "html", "json")
EXTENSIONS = {
    ".html": "html",
    ".htm": "html",
    ".md": "markdown",
    ".markdown": "markdown",
    ".json": "json",
    ".txt": "table",
}


def format_for_path(path: str, explicit: str | None) -> str:
    """-f if given, else the output file's extension; an extension the report has no format for is an error."""
    if explicit:
        return explicit
    for ext, fmt in EXTENSIONS.items():
        if path.lower().endswith(ext):
            return fmt
    raise UsageError(f"-o {path}: name a .html, .md, .json or .txt file, or say the format with -f")


def write(report: Report, fmt: str, out: IO[str], *, width: int | None = None) -> None:
    """Write `report` in one of FORMATS (`width`: the table's, default the terminal's)."""
    if fmt == "json":
        from mentionwatch.report.json_writer import write_json

        write_json(report, out)
    elif fmt == "markdown":
        from mentionwatch.report.markdown_writer import write_markdown

        write_markdown(report, out)
    elif fmt == "html":
        from mentionwatch.report.html_writer import write_html

        write_html(report, out)
    else:
        from mentionwatch.report.table_writer import write_table

        write_table(report, out, width=width)


__all__ = ["EXTENSIONS", "FORMATS", "BrandSpec", "Report", "Window", "collect", "format_for_path", "write"]

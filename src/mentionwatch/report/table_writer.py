"""The report for a terminal: rich tables and sparklines, readable at 80 columns.

Every text from the internet (titles, texts, authors, communities, domains, terms, URLs) goes through
`output.sanitize_terminal` and into a rich `Text`, so an escape sequence never reaches the terminal and rich
markup in a post prints literally.
"""

from __future__ import annotations

import io
import shutil
from typing import IO

from rich import box
from rich.console import Console
from rich.table import Table
from rich.text import Text

from mentionwatch.output import make_console, sanitize_terminal
from mentionwatch.report.figures import duration, response_line
from mentionwatch.report.model import LABELS, BrandReport, Ranked, Report, Term
from mentionwatch.report.words import (
    change,
    headline,
    mood,
    percent,
    previous_text,
    share_and_trend,
    sparkline,
    where,
    window_text,
)
from mentionwatch.store import Citation
from mentionwatch.urls import community

_STYLE = {"positive": "green", "negative": "red", "neutral": "dim"}


def write_table(report: Report, out: IO[str], *, width: int | None = None) -> None:
    """The report for a terminal `width` columns wide (default: the terminal's when `out` is one, else 80)."""

    terminal = out.isatty()
    if width is None:
        width = shutil.get_terminal_size().columns if terminal else 80
    # Drawn into a buffer, so the padding rich leaves at the end of lines can be cut: a report pasted from a
    # terminal or a file carries no trailing spaces. Colour only on a terminal (and never with NO_COLOR).
    buffer = io.StringIO()
    console = make_console(file=buffer, highlight=False, width=width, force_terminal=terminal)
    head = Text("mentionwatch report", style="bold")
    head.append(f": {window_text(report.window)}")
    console.print(head)
    console.print(Text(f"compared with the previous period: {previous_text(report.window)}", style="dim"))
    if not any(b.volume.mentions or b.volume.previous for b in report.brands):
        console.print(Text("\nNo mentions in this period or the one before."))
    for section in (_volume, _image, _voice, _where, _who, _what, _spikes):
        section(report, console)
    out.write("".join(line.rstrip(" ") + "\n" for line in buffer.getvalue().splitlines()))


def _title(console: Console, title: str) -> None:
    console.print()
    console.print(Text(title, style="bold underline"))


def _name(b: BrandReport) -> Text:
    text = Text(sanitize_terminal(b.name))
    if b.competitor:
        text.append(" (competitor)", style="dim")
    return text


def _table(*columns: str) -> Table:

    table = Table(box=box.SIMPLE_HEAD, show_edge=False, pad_edge=False, expand=False)
    for i, column in enumerate(columns):
        table.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    return table


def _grid() -> Table:
    """Two columns, a label and its text, the text wrapping under itself (not under the label)."""
    grid = Table.grid(padding=(0, 1))
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    return grid


def _volume(report: Report, console: Console) -> None:

    _title(console, f"Volume (mentions per {report.window.bucket})")
    table = _table("brand", "mentions", "before", "change")
    for b in report.brands:
        table.add_row(_name(b), str(b.volume.mentions), str(b.volume.previous), change(b.volume))
    console.print(table)
    series = report.brands[0].volume.series if report.brands else []
    if not series:
        return
    sparks = Table.grid(padding=(0, 1))
    sparks.add_column(no_wrap=True, max_width=20, overflow="ellipsis")
    sparks.add_column(no_wrap=True)
    sparks.add_column(no_wrap=True, style="dim")
    room = max(10, console.width - 32)
    for b in report.brands:
        counts = [p.mentions for p in b.volume.series]
        sparks.add_row(Text(sanitize_terminal(b.name)), sparkline(counts, room), f"max {max(counts)}")
    console.print(sparks)
    console.print(Text(f"{series[0].period} … {series[-1].period}", style="dim"))


def _image(report: Report, console: Console) -> None:
    _title(console, "Image (share of mentions; change in points since the previous period)")
    table = _table("brand", *LABELS, "weighted")
    for b in report.brands:
        image = b.image
        cells = [
            Text(share_and_trend(image.now.share(label), image.trend(label)), style=_STYLE[label]) for label in LABELS
        ]
        table.add_row(_name(b), *cells, mood(image.weighted))
    console.print(table)
    console.print(Text("weighted: mean sentiment, each mention weighing 1 + its impact", style="dim"))
    for b in report.brands:
        for title, cited in (("most negative", b.image.most_negative), ("most positive", b.image.most_positive)):
            if cited:
                console.print(Text(f"{sanitize_terminal(b.name)}: {title}", style="bold"))
                for c in cited:
                    _cite(console, c)


def _voice(report: Report, console: Console) -> None:
    _title(console, "Share of voice")
    table = _table("brand", "mentions", "impact", "positive", "negative", "weighted")
    for b in report.brands:
        table.add_row(
            _name(b),
            percent(b.voice.mentions),
            percent(b.voice.impact),
            percent(b.image.now.share("positive")),
            percent(b.image.now.share("negative")),
            mood(b.image.weighted),
        )
    console.print(table)


def _where(report: Report, console: Console) -> None:
    _title(console, "Where (mentions)")
    for b in report.brands:
        console.print(Text(sanitize_terminal(b.name), style="bold"))
        grid = _grid()
        grid.add_row("  sources", _ranked(b.where.sources, impact=False))
        grid.add_row("  communities", _ranked(b.where.communities, impact=False))
        grid.add_row("  linked domains", _ranked(b.where.domains, impact=False))
        console.print(grid)


def _who(report: Report, console: Console) -> None:
    _title(console, "Who (top authors: mentions, impact; who waits for an answer)")
    for b in report.brands:
        console.print(Text(sanitize_terminal(b.name), style="bold"))
        grid = _grid()
        grid.add_row("  authors", _ranked(b.who.authors, impact=True))
        waiting = b.who.inbox_total
        shown = f", the oldest {len(b.who.inbox)} below" if waiting > len(b.who.inbox) else ""
        grid.add_row("  needs a reply", Text(f"{waiting}{shown}", style="bold red" if waiting else ""))
        if b.response is not None:
            grid.add_row("  response", Text(response_line(b.response) + "."))
            longest = b.response.oldest_waiting
            if longest is not None:
                waited = duration(report.generated_at - longest.published_at)
                where = community(longest.url) or longest.source
                line = f"{longest.author or '?'} on {where}, waiting {waited}: {longest.url}"
                grid.add_row("  oldest waiting", Text(sanitize_terminal(line)))
        console.print(grid)
        for c in b.who.inbox:
            _cite(console, c)


def _what(report: Report, console: Console) -> None:
    _title(console, "What (terms: in how many mentions, and before)")
    for b in report.brands:
        console.print(Text(sanitize_terminal(b.name), style="bold"))
        grid = _grid()
        for label, terms in (
            ("terms", b.what.terms),
            ("hashtags", b.what.hashtags),
            ("rising", b.what.rising),
            ("new", b.what.new),
        ):
            grid.add_row(f"  {label}", _terms(terms))
        console.print(grid)


def _spikes(report: Report, console: Console) -> None:
    _title(console, "Spikes")
    if not report.spikes:
        console.print(Text("none: no hour or day stood out from the ones before it"))
    for s in report.spikes:
        line = Text(f"{sanitize_terminal(s.brand)} {s.period}: ", style="bold")
        line.append(f"{s.mentions} mentions against a baseline of {s.baseline:g}", style="")
        console.print(line)
        if s.terms:
            console.print(Text("  terms: " + sanitize_terminal(", ".join(s.terms))))
        for c in s.citations:
            _cite(console, c)


def _ranked(items: list[Ranked], *, impact: bool) -> Text:
    if not items:
        return Text("-", style="dim")
    parts = [
        f"{sanitize_terminal(r.name)} ({r.mentions}" + (f", impact {r.impact:.0f})" if impact else ")") for r in items
    ]
    return Text(", ".join(parts))


def _terms(terms: list[Term]) -> Text:
    if not terms:
        return Text("-", style="dim")
    return Text(", ".join(f"{sanitize_terminal(t.term)} ({t.mentions}, before {t.previous})" for t in terms))


def _cite(console: Console, c: Citation) -> None:
    """A cited mention: sentiment, impact, author, where and when, what it says, and its link."""
    head = Text("  ")
    label = c.sentiment_label or "neutral"
    head.append(mood(c.sentiment), style=_STYLE.get(label, ""))
    head.append(f" impact {c.impact_absolute:.0f} · {sanitize_terminal(c.author) or '?'} · ")
    head.append(f"{sanitize_terminal(where(c))} · {c.published_at:%Y-%m-%d %H:%M}")
    console.print(head, overflow="ellipsis", no_wrap=True)
    console.print(Text("    " + sanitize_terminal(headline(c, max(40, console.width * 2 - 8)))))
    console.print(Text("    " + sanitize_terminal(c.url), style="cyan"), overflow="fold")

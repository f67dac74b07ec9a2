"""How the report's figures read, the same in every format: shares, changes, sentiment, sparklines, the window."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from urllib.parse import urlsplit

from mentionwatch.models import format_time
from mentionwatch.report.model import Volume, Window
from mentionwatch.store import Citation
from mentionwatch.text import excerpt
from mentionwatch.urls import community

SPARKS = "▁▂▃▄▅▆▇█"


def percent(share: float) -> str:
    return f"{share * 100:.0f}%"


def share_and_trend(share: float, delta: float | None) -> str:
    """`40% +5 pts`: a share and its change in percentage points, or the share alone when there is no change to
    tell (see `Image.trend`)."""
    return percent(share) if delta is None else f"{percent(share)} {points(delta)}"


def points(delta: float) -> str:
    """A change of share in percentage points: `+5 pts`, `-12 pts`, `±0 pts`."""
    value = round(delta * 100)
    return "±0 pts" if value == 0 else f"{value:+d} pts"


def change(volume: Volume) -> str:
    """`+20%`, `-50%`, `±0%`, or `new` when the previous period had no mentions (and `-` when neither had)."""
    if volume.change is None:
        return "new" if volume.mentions else "-"
    value = round(volume.change * 100)
    return "±0%" if value == 0 else f"{value:+d}%"


def mood(value: float | None) -> str:
    """A sentiment in [-1, 1] with its sign, or `-` when there is none."""
    return "-" if value is None else f"{value:+.2f}"


def sparkline(values: Sequence[int], width: int) -> str:
    """A bar of block characters, one per value (adjacent values summed when there are more than `width`):
    0 is the lowest block, any mention at least the second, the largest the full block."""
    if not values or width < 1:
        return ""
    size = -(-len(values) // width)
    merged = [sum(values[i : i + size]) for i in range(0, len(values), size)]
    top = max(merged)
    if top == 0:
        return SPARKS[0] * len(merged)
    return "".join(SPARKS[0] if v == 0 else SPARKS[max(1, round(v / top * (len(SPARKS) - 1)))] for v in merged)


def window_text(window: Window) -> str:
    """`2026-10-04 to 2026-11-03 12:00 UTC, per day`."""
    return f"{_moment(window.since, window)} to {_moment(window.until, window)} UTC, per {window.bucket}"


def previous_text(window: Window) -> str:
    since, until = window.previous
    return f"{_moment(since, window)} to {_moment(until, window)} UTC"


def _moment(at: datetime, window: Window) -> str:
    text = format_time(at)
    if window.bucket == "day" and text.endswith("T00:00:00Z"):
        return text[:10]
    return text[:16].replace("T", " ")


def headline(c: Citation, width: int = 140) -> str:
    """What a cited mention says, in one line: its title and text, cut to `width` characters."""
    body = f"{c.title} — {c.text}" if c.title and c.text else (c.title or c.text)
    return excerpt(body, width) or "(no text)"


def where(c: Citation) -> str:
    """Where a cited mention was said: its community (r/elm, HN, a domain), else its source."""
    return community(c.url) or c.source


def is_web_link(url: str | None) -> bool:
    """True for an absolute http(s) URL with a host: the only links a report makes."""
    if not url:
        return False
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    return parts.scheme.lower() in ("http", "https") and bool(parts.netloc)

"""Times a user types: `--since 24h`, `--until 2026-12-01`, `store.overlap: 2h`. Apart from the config (pydantic)
so that commands that read only the store (`list`, `report`) start without loading it."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime) -> datetime:
    """`24h`, `7d`, `2w`, `30m`, a date (`2026-11-01`, midnight UTC) or a time (`2026-11-01T08:00Z`).

    Raises ValueError (never OverflowError) for text it cannot read and for a time out of datetime's range
    (`99999999999d`, `9999-12-31T23:59:59-01:00`), so callers report both as the user's mistake.
    """
    length = _length(value)
    try:
        if length is not None:
            return now - length
        parsed = _parse_time(value)
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=UTC)
        return parsed.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"{value!r} is out of range: mentionwatch reads times from year 1 to 9999") from None


def _parse_time(value: str) -> datetime:
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: use 24h, 7d, 2w, 30m, 2026-11-01 or 2026-11-01T08:00Z"
        ) from None


def parse_duration(value: str) -> timedelta:
    """`10m`, `2h`, `7d`, `2w`: a length of time."""
    length = _length(value)
    if length is None:
        raise ValueError(f"cannot read {value!r} as a length of time: use 30m, 2h, 7d or 2w")
    return length


def _length(value: str) -> timedelta | None:
    """`30m`, `2h`, `7d`, `2w` (any case) as a timedelta; None for text of another form."""
    rel = _RELATIVE.match(value)
    if rel is None:
        return None
    if rel.group(2) == "M":
        # `1M` reads as a month to many (and as minutes here): said, never taken for 1 minute.
        raise ValueError(f"{value.strip()!r}: M is not a unit; write minutes as m (30m) and months in days (30d)")
    try:
        return timedelta(**{_UNITS[rel.group(2).lower()]: int(rel.group(1))})
    except OverflowError:
        raise ValueError(f"{value!r} is out of range: mentionwatch reads times from year 1 to 9999") from None

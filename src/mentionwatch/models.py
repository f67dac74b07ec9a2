"""The Mention record: the one thing that flows from sources through the pipeline to output."""

from __future__ import annotations

import math
import operator
import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

# Field metadata: whether a source adapter may set the field (and the `jsonl` source reads it back from an
# export), or the pipeline computes it (dropped when an export is read back, and made again).
_SOURCE = {"source": True}
_COMPUTED = {"source": False}
# The largest count taken as one: JSON numbers beyond 2**53 are no longer exact as doubles (RFC 8259, section 6),
# and no real count of likes, views or followers comes near it.
MAX_COUNT = 2**53


@dataclass(slots=True, kw_only=True)
class Mention:
    """One post, comment, article or video that may mention a brand.

    `url` is the permalink of the mention itself; `link` is the external page it points to, if any.

    The fields are declared once, here, in their output order: that order is a contract with scripts and
    spreadsheets (FIELDS, the CSV header, the README), so a new field goes at the end. Each field's metadata
    says whether a source sets it or the pipeline computes it.
    """

    source: str = field(metadata=_SOURCE)
    id: str = field(metadata=_SOURCE)
    url: str = field(metadata=_SOURCE)
    link: str | None = field(default=None, metadata=_SOURCE)
    title: str = field(default="", metadata=_SOURCE)
    text: str = field(default="", metadata=_SOURCE)
    author: str = field(default="", metadata=_SOURCE)
    published_at: datetime = field(metadata=_SOURCE)
    brand: str | None = field(default=None, metadata=_COMPUTED)
    matched_terms: list[str] = field(default_factory=list, metadata=_COMPUTED)
    sentiment: float | None = field(default=None, metadata=_COMPUTED)
    sentiment_label: str | None = field(default=None, metadata=_COMPUTED)
    subjectivity: float | None = field(default=None, metadata=_COMPUTED)
    impact: float | None = field(default=None, metadata=_COMPUTED)
    reach: int | None = field(default=None, metadata=_COMPUTED)
    engagement: int | None = field(default=None, metadata=_COMPUTED)
    needs_reply: bool = field(default=False, metadata=_COMPUTED)
    # Engagement figures as the source gives them (None: the source does not say).
    score: int | None = field(default=None, metadata=_SOURCE)
    comments: int | None = field(default=None, metadata=_SOURCE)
    likes: int | None = field(default=None, metadata=_SOURCE)
    reposts: int | None = field(default=None, metadata=_SOURCE)
    quotes: int | None = field(default=None, metadata=_SOURCE)
    views: int | None = field(default=None, metadata=_SOURCE)
    followers: int | None = field(default=None, metadata=_SOURCE)
    duplicates: int = field(default=0, metadata=_COMPUTED)
    also_seen: list[dict[str, Any]] = field(default_factory=list, metadata=_COMPUTED)
    kind: str = field(default="", metadata=_SOURCE)
    lang: str | None = field(default=None, metadata=_SOURCE)
    # True when the source gave no date and `published_at` is when mentionwatch first saw it.
    undated: bool = field(default=False, metadata=_SOURCE)
    source_type: str = field(default="", metadata=_SOURCE)
    # The brand query's alternative that matched (None when one of the brand's `terms` did).
    matched_query: str | None = field(default=None, metadata=_COMPUTED)
    # From the store (None without one): when mentionwatch first saw this mention, its triage status
    # (new, read, done, replied, ignored) and its tags.
    first_seen: datetime | None = field(default=None, metadata=_COMPUTED)
    status: str | None = field(default=None, metadata=_COMPUTED)
    tags: list[str] = field(default_factory=list, metadata=_COMPUTED)
    # True when the source dates the item more than a day after the scan: `published_at` is kept as the source
    # gave it (a clock or time-zone bug, or a scheduled post), and the mention sorts after every dated one.
    future_dated: bool = field(default=False, metadata=_COMPUTED)
    # From the store: the answer posted to this mention (`reply`, or `reply --url` for one made elsewhere) and when.
    reply_url: str | None = field(default=None, metadata=_COMPUTED)
    replied_at: datetime | None = field(default=None, metadata=_COMPUTED)

    def __post_init__(self) -> None:
        # What an adapter built from a payload is checked here, once: a mention that exists is one every later
        # stage (matching, dedupe, scoring, the writers) can handle. Each failure is a ValueError or TypeError,
        # which `read_items` counts as an unreadable item.
        if self.published_at.tzinfo is None:
            raise ValueError("published_at must be timezone-aware")
        self.published_at = in_utc(self.published_at)
        for value in _counts_of(self):
            if value is not None and (value > MAX_COUNT or value < -MAX_COUNT):
                raise ValueError("not a count: beyond 2**53")
        # One join, not a test per field: this runs for every item of every page.
        source, source_type, id_, url, link, title, text, author, kind, lang = _texts_of(self)
        optional = ("" if link is None else link, "" if lang is None else lang)
        try:
            joined = "".join((source, source_type, id_, url, title, text, author, kind, *optional))
        except TypeError:
            raise TypeError(f"{_not_text(self)} must be a string") from None
        if not joined.isascii():
            try:
                joined.encode("utf-8")
            except UnicodeEncodeError:
                # JSON may escape half of a UTF-16 pair (`"\ud800"`), which no UTF-8 writer takes.
                for name in _TEXT_FIELDS:
                    value = getattr(self, name)
                    if value is not None:
                        setattr(self, name, _SURROGATE.sub("\ufffd", value))
        if "\x00" in joined:
            # NUL is never a character of what a source says (a JSON `\u0000`, a stray byte in a feed), and
            # PostgreSQL's text refuses it: one such item failed a whole scan's save.
            for name in _TEXT_FIELDS:
                value = getattr(self, name)
                if value:
                    setattr(self, name, value.replace("\x00", ""))

    @property
    def key(self) -> tuple[str, str]:
        """Identity within a scan: the same item from the same source is one mention."""
        return (self.source, self.id)

    def to_dict(self) -> dict[str, Any]:
        """The export form: FIELDS order, ISO-8601 UTC times with a `Z`, lists (and `also_seen`'s entries) copied."""
        # The fields are read at once and only the times and lists looked at, by their declared types: a check of
        # every value's type was a third of its cost (8.0 -> 5.3 us a mention).
        out = dict(zip(FIELDS, _values_of(self), strict=True))
        for name in _TIME_FIELDS:
            value = out[name]
            if value is not None:
                out[name] = format_time(value)
        for name in _LIST_FIELDS:
            out[name] = [dict(v) if isinstance(v, dict) else v for v in out[name]]
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, default_source: str) -> Mention:
        """Rebuild a mention from its export form; pipeline fields are dropped (they are recomputed)."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        # `url` may be empty (a feed item with no link of its own), but not absent.
        missing = [k for k in ("id", "url", "published_at") if not data.get(k) and (k != "url" or data.get(k) != "")]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        kwargs: dict[str, Any] = {}
        for name in SOURCE_FIELDS:
            if name in data and data[name] is not None:
                kwargs[name] = data[name]
        for name in _INT_FIELDS:
            if name in kwargs:
                kwargs[name] = _count(kwargs[name])
        for name in _STR_FIELDS:
            if name in kwargs:
                value = kwargs[name]
                if isinstance(value, (list, dict)):  # a number is its text (an id); a list is no text
                    raise ValueError(f"{name} is a JSON {'array' if isinstance(value, list) else 'object'}, not text")
                kwargs[name] = str(value)
        kwargs["published_at"] = parse_time(str(kwargs["published_at"]))
        kwargs.setdefault("source", default_source)
        kwargs["undated"] = bool(kwargs.get("undated", False))
        return cls(**kwargs)


# Output field names and their order (see the class docstring).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Mention))
_values_of = operator.attrgetter(*FIELDS)
# Annotations are strings under `from __future__ import annotations`: "datetime", "datetime | None", "list[...]".
_TIME_FIELDS = tuple(f.name for f in fields(Mention) if f.type.split(" | ")[0] == "datetime")
_LIST_FIELDS = tuple(f.name for f in fields(Mention) if f.type.startswith("list["))
# What a source may set; the rest is computed by the pipeline and recomputed when re-read from JSONL.
SOURCE_FIELDS: frozenset[str] = frozenset(f.name for f in fields(Mention) if f.metadata["source"])
# How the export form's values are read back (annotations are strings under `from __future__ import annotations`).
_INT_FIELDS = tuple(f.name for f in fields(Mention) if f.name in SOURCE_FIELDS and f.type == "int | None")
_STR_FIELDS = tuple(f.name for f in fields(Mention) if f.name in SOURCE_FIELDS and f.type in ("str", "str | None"))

# The text fields a source fills (the others are set by the pipeline, from the config); `link` and `lang` may be None.
_TEXT_FIELDS = ("source", "source_type", "id", "url", "link", "title", "text", "author", "kind", "lang")
_texts_of = operator.attrgetter(*_TEXT_FIELDS)


def _not_text(mention: Mention) -> str:
    """The first text field of `mention` that holds no string (None is allowed in `link` and `lang`)."""
    for name in _TEXT_FIELDS:
        value = getattr(mention, name)
        if not isinstance(value, str) and not (value is None and name in ("link", "lang")):
            return f"{name} ({type(value).__name__})"
    return "every text field"
_counts_of = operator.attrgetter(*_INT_FIELDS)
_SURROGATE = re.compile("[\ud800-\udfff]")

_LONG_FRACTION = re.compile(r"(\.\d{7,})")
_NUMBER = re.compile(r"[+-]?\d+(?:\.\d*)?")


def _count(value: Any) -> int | None:
    """A count read back from an export: what is no count (infinite, NaN, beyond MAX_COUNT) is unknown, as
    `json_int` has it; a value that is no number at all (`"many"`) is a ValueError: the line is bad."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    number = int(value)
    return number if -MAX_COUNT <= number <= MAX_COUNT else None


def format_time(value: datetime) -> str:
    # Not strftime: its `%Y` does not pad years before 1000 on glibc, and parse_time could not read them back.
    return in_utc(value).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"


def in_utc(value: datetime) -> datetime:
    """An aware time in UTC; one that has no UTC equivalent (year 9999 at -05:00 is year 10000 in UTC) is a
    ValueError, like any other unreadable date, rather than the OverflowError datetime raises."""
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError(f"date out of range in UTC: {value.isoformat()}") from None


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 time; a naive time is taken as UTC (Lemmy and some feeds send those). Anything
    unreadable, out of range included, is a ValueError."""
    text = value.strip()
    # A bare number is a Unix time, not ISO 8601's basic form: Python 3.11 reads 1762070400000 (milliseconds) as
    # 1762-07-04. Only the basic form's date alone (20261201) is all digits.
    if _NUMBER.fullmatch(text) and len(text) != 8:
        raise ValueError(f"{text[:40]!r} is a number, not an ISO 8601 time")
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 takes at most 6 fractional digits; AT Protocol times can carry more.
    text = _LONG_FRACTION.sub(lambda m: m.group(1)[:7], text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return in_utc(parsed)


def from_epoch(seconds: float) -> datetime:
    """A Unix time as a UTC datetime; one out of datetime's range (or NaN, or infinite) is a ValueError."""
    try:
        return datetime.fromtimestamp(seconds, tz=UTC)
    except (OverflowError, OSError, ValueError):
        # OverflowError beyond the platform's time_t, OSError on some platforms, ValueError past year 9999.
        raise ValueError(f"timestamp out of range: {seconds!r}") from None

"""The Mention record: the one thing that flows from sources through the pipeline to output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from datetime import UTC, datetime
from typing import Any

# Field metadata: whether a source adapter may set the field (and the `jsonl` source reads it back from an
# export), or the pipeline computes it (dropped when an export is read back, and made again).
_SOURCE = {"source": True}
_COMPUTED = {"source": False}


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
    # (new, read, done, ignored) and its tags.
    first_seen: datetime | None = field(default=None, metadata=_COMPUTED)
    status: str | None = field(default=None, metadata=_COMPUTED)
    tags: list[str] = field(default_factory=list, metadata=_COMPUTED)

    def __post_init__(self) -> None:
        if self.published_at.tzinfo is None:
            raise ValueError("published_at must be timezone-aware")
        self.published_at = self.published_at.astimezone(UTC)

    @property
    def key(self) -> tuple[str, str]:
        """Identity within a scan: the same item from the same source is one mention."""
        return (self.source, self.id)

    def to_dict(self) -> dict[str, Any]:
        """The export form: FIELDS order, ISO-8601 UTC times with a `Z`."""
        out: dict[str, Any] = {}
        for name in FIELDS:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = format_time(value)
            elif isinstance(value, list):
                value = [dict(v) if isinstance(v, dict) else v for v in value]
            out[name] = value
        return out

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, default_source: str) -> Mention:
        """Rebuild a mention from its export form; pipeline fields are dropped (they are recomputed)."""
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        missing = [k for k in ("id", "url", "published_at") if not data.get(k)]
        if missing:
            raise ValueError(f"missing field(s): {', '.join(missing)}")
        kwargs: dict[str, Any] = {}
        for name in SOURCE_FIELDS:
            if name in data and data[name] is not None:
                kwargs[name] = data[name]
        for name in _INT_FIELDS:
            if name in kwargs:
                kwargs[name] = int(kwargs[name])
        for name in _STR_FIELDS:
            if name in kwargs:
                kwargs[name] = str(kwargs[name])
        kwargs["published_at"] = parse_time(str(kwargs["published_at"]))
        kwargs.setdefault("source", default_source)
        kwargs["undated"] = bool(kwargs.get("undated", False))
        return cls(**kwargs)


# Output field names and their order (see the class docstring).
FIELDS: tuple[str, ...] = tuple(f.name for f in fields(Mention))
# What a source may set; the rest is computed by the pipeline and recomputed when re-read from JSONL.
SOURCE_FIELDS: frozenset[str] = frozenset(f.name for f in fields(Mention) if f.metadata["source"])
# How the export form's values are read back (annotations are strings under `from __future__ import annotations`).
_INT_FIELDS = tuple(f.name for f in fields(Mention) if f.name in SOURCE_FIELDS and f.type == "int | None")
_STR_FIELDS = tuple(f.name for f in fields(Mention) if f.name in SOURCE_FIELDS and f.type == "str")

_LONG_FRACTION = re.compile(r"(\.\d{7,})")


def format_time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(value: str) -> datetime:
    """Parse an ISO-8601 time; a naive time is taken as UTC (Lemmy and some feeds send those)."""
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # Python 3.11 takes at most 6 fractional digits; AT Protocol times can carry more.
    text = _LONG_FRACTION.sub(lambda m: m.group(1)[:7], text)
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


def from_epoch(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)

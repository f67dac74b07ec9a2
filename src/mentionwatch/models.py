"""The Mention record: the one thing that flows from sources through the pipeline to output."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

# Output field names and their order: a contract with scripts and spreadsheets (README documents it).
FIELDS: tuple[str, ...] = (
    "source",
    "id",
    "url",
    "link",
    "title",
    "text",
    "author",
    "published_at",
    "brand",
    "matched_terms",
    "sentiment",
    "sentiment_label",
    "subjectivity",
    "impact",
    "reach",
    "engagement",
    "needs_reply",
    "score",
    "comments",
    "likes",
    "reposts",
    "quotes",
    "views",
    "followers",
    "duplicates",
    "also_seen",
    "kind",
    "lang",
    "undated",
    "source_type",
    "matched_query",
)

# What a source may set; the rest is computed by the pipeline and recomputed when re-read from JSONL.
SOURCE_FIELDS: frozenset[str] = frozenset(
    {
        "source",
        "id",
        "url",
        "link",
        "title",
        "text",
        "author",
        "published_at",
        "score",
        "comments",
        "likes",
        "reposts",
        "quotes",
        "views",
        "followers",
        "kind",
        "lang",
        "undated",
        "source_type",
    }
)
_INT_FIELDS = ("score", "comments", "likes", "reposts", "quotes", "views", "followers")


@dataclass(slots=True)
class Mention:
    """One post, comment, article or video that may mention a brand.

    `url` is the permalink of the mention itself; `link` is the external page it points to, if any.
    """

    source: str
    id: str
    url: str
    published_at: datetime
    title: str = ""
    text: str = ""
    author: str = ""
    link: str | None = None
    kind: str = ""
    lang: str | None = None
    source_type: str = ""
    # True when the source gave no date and `published_at` is when mentionwatch first saw it.
    undated: bool = False
    # Engagement figures as the source gives them (None: the source does not say).
    score: int | None = None
    comments: int | None = None
    likes: int | None = None
    reposts: int | None = None
    quotes: int | None = None
    views: int | None = None
    followers: int | None = None
    # Set by the pipeline.
    brand: str | None = None
    matched_terms: list[str] = field(default_factory=list)
    sentiment: float | None = None
    sentiment_label: str | None = None
    subjectivity: float | None = None
    reach: int | None = None
    engagement: int | None = None
    impact: float | None = None
    needs_reply: bool = False
    also_seen: list[dict[str, str]] = field(default_factory=list)
    duplicates: int = 0
    # The brand query's alternative that matched (None when one of the brand's `terms` did).
    matched_query: str | None = None

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
            if name == "published_at":
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
                kwargs[name] = int(kwargs[name])
        for name in ("id", "url", "title", "text", "author", "source", "kind", "source_type"):
            if name in kwargs:
                kwargs[name] = str(kwargs[name])
        kwargs["published_at"] = parse_time(str(kwargs["published_at"]))
        kwargs.setdefault("source", default_source)
        kwargs["undated"] = bool(kwargs.get("undated", False))
        return cls(**kwargs)


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

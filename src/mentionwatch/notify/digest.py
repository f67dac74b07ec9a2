"""The digest: what one notification message says, as plain data (pure: mentions in, a `Digest` out).

Every channel renders the same `Digest`: the webhook as JSON, Slack / Mattermost as a chat message, email as a
plain-text and an HTML part. A digest lists at most `cap` mentions (those needing a reply first, then by impact)
and counts the rest ("and 12 more"), with a link or path to the full list when there is one.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime

from mentionwatch.models import Mention, format_time
from mentionwatch.text import excerpt
from mentionwatch.urls import community

# What a digest is about: the events of `notify.on` that are sent, and `test` (`mentionwatch notify test`).
EVENTS = ("new", "needs_reply", "spike", "test")
# Said when no `notify.full_list` and no `-o FILE` names a place: the store has every mention.
LIST_COMMAND = "mentionwatch list --status new"


@dataclass(frozen=True)
class Line:
    """One listed mention, as every channel shows it (each escapes the text for its own format)."""

    brand: str
    where: str
    author: str
    sentiment: str
    impact: int | None
    needs_reply: bool
    summary: str
    url: str


@dataclass(frozen=True)
class SpikeNews:
    """A spike to tell of: a brand's mentions in one hour stood out from the day before (`report.spikes`)."""

    brand: str
    period: datetime  # the hour's start, UTC
    mentions: int
    baseline: float

    @property
    def headline(self) -> str:
        return (
            f"spike: {self.brand} had {self.mentions} mentions in the hour from {format_time(self.period)} "
            f"(usually {self.baseline:g})"
        )

    def to_dict(self) -> dict[str, object]:
        # The report's JSON names for a spike (issue #14's contract): brand, period, mentions, baseline.
        return {
            "brand": self.brand,
            "period": format_time(self.period),
            "mentions": self.mentions,
            "baseline": self.baseline,
        }


@dataclass(frozen=True)
class Digest:
    event: str
    # How many mentions the message is about; `mentions` lists the first `len(mentions)` of them.
    count: int
    mentions: list[Mention]
    created: datetime
    # Where the full list is: a URL or a path (`notify.full_list`, else the scan's `-o FILE`), else None.
    full_list: str | None = None
    per_brand: dict[str, int] = field(default_factory=dict)
    # A spike message: which brand, which hour, how many mentions against the usual (`notify.spikes`).
    spike: SpikeNews | None = None

    @property
    def more(self) -> int:
        """How many are counted but not listed ("and N more")."""
        return self.count - len(self.mentions)

    @property
    def title(self) -> str:
        """One line: what happened, and to whom (`3 new mentions: Acme 2, Globex 1`)."""
        noun = "mention" if self.count == 1 else "mentions"
        if self.event == "needs_reply":
            head = f"{self.count} {noun} {'needs' if self.count == 1 else 'need'} a reply"
        elif self.event == "test":
            head = "a test message from mentionwatch (notify test)"
        elif self.spike is not None:
            return self.spike.headline
        else:
            head = f"{self.count} new {noun}"
        brands = ", ".join(f"{name} {n}" for name, n in self.per_brand.items())
        return f"{head}: {brands}" if brands and self.event != "test" else head

    @property
    def rest(self) -> str | None:
        """The "and N more" line, with where to find them; None when every mention is listed."""
        if self.more <= 0:
            return None
        where = self.full_list or f"`{LIST_COMMAND}`"
        return f"and {self.more} more: {where}"

    def lines(self, width: int = 160) -> list[Line]:
        return [line_of(m, width) for m in self.mentions]


def build_digest(
    mentions: Sequence[Mention],
    *,
    event: str,
    cap: int,
    created: datetime,
    full_list: str | None = None,
    spike: SpikeNews | None = None,
) -> Digest:
    """The digest of `mentions` for `event`: those needing a reply first, then the highest impact, then the
    newest; at most `cap` listed, every one counted."""
    if event not in EVENTS:
        raise ValueError(f"unknown digest event {event!r}")
    ranked = sorted(
        mentions,
        key=lambda m: (not m.needs_reply, -(m.impact or 0.0), -m.published_at.timestamp(), m.brand or "", m.id),
    )
    per_brand = Counter(m.brand or "" for m in mentions)
    return Digest(
        event=event,
        count=len(mentions),
        mentions=ranked[: max(0, cap)],
        created=created,
        full_list=full_list,
        per_brand=dict(sorted(per_brand.items(), key=lambda item: (-item[1], item[0]))),
        spike=spike,
    )


def line_of(m: Mention, width: int = 160) -> Line:
    """What a message says of one mention: its brand, where and by whom, sentiment and impact, and a summary
    (title and text, flattened and cut to `width`)."""
    body = f"{m.title} — {m.text}" if m.title and m.text else (m.title or m.text)
    return Line(
        brand=m.brand or "",
        where=community(m.url) or m.source,
        author=m.author,
        sentiment=m.sentiment_label or "neutral",
        impact=None if m.impact is None else round(m.impact),
        needs_reply=m.needs_reply,
        summary=excerpt(body, width),
        url=m.url,
    )

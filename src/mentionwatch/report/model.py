"""The report as plain data: what `collect` makes from the store and every writer reads. No behaviour beyond
arithmetic on its own fields, so the writers agree on every figure."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from mentionwatch.models import format_time
from mentionwatch.store import Citation, ResponseStats

DAY = timedelta(days=1)
HOUR = timedelta(hours=1)
# Shorter windows than this are counted per hour, longer ones per day.
HOURLY_BELOW = timedelta(days=3)
LABELS = ("positive", "neutral", "negative")


@dataclass(frozen=True)
class Window:
    """The period a report covers, [since, until), counted in buckets of a day or an hour (UTC).

    `since` starts a bucket (`Window.of` rounds it down), so every bucket of the volume series is whole but
    the last (which ends at `until`), and the mentions of the series add up to the period's total."""

    since: datetime
    until: datetime
    bucket: str  # "day" or "hour"

    @classmethod
    def of(cls, since: datetime, until: datetime) -> Window:
        """The window from `since` (rounded down to its day, or its hour when the window is under three days)
        to `until`."""
        if until - since < HOURLY_BELOW:
            return cls(since.replace(minute=0, second=0, microsecond=0), until, "hour")
        return cls(since.replace(hour=0, minute=0, second=0, microsecond=0), until, "day")

    @property
    def step(self) -> timedelta:
        return HOUR if self.bucket == "hour" else DAY

    @property
    def length(self) -> timedelta:
        return self.until - self.since

    @property
    def previous(self) -> tuple[datetime, datetime]:
        """The period of the same length just before this one: what "change" compares with."""
        return self.since - self.length, self.since

    def label(self, at: datetime) -> str:
        """The bucket `at` falls in, as the store groups it: `2026-11-01` or `2026-11-01T08:00:00Z`."""
        if self.bucket == "day":
            return at.date().isoformat()
        return format_time(at.replace(minute=0, second=0, microsecond=0))

    def span(self, label: str) -> tuple[datetime, datetime]:
        """The bucket `label` names (as `label` gives it), [start, end)."""
        start = datetime.fromisoformat(label.replace("Z", "+00:00") if self.bucket == "hour" else label)
        start = start.replace(tzinfo=UTC)
        return start, start + self.step

    def periods(self, since: datetime | None = None) -> list[str]:
        """Every bucket from `since` (default: the window's own start, a bucket start) up to `until`, in order."""
        at = self.since if since is None else since
        labels: list[str] = []
        while at < self.until:
            labels.append(self.label(at))
            at += self.step
        return labels


@dataclass(frozen=True)
class Point:
    period: str
    mentions: int


@dataclass(frozen=True)
class Volume:
    """Mentions per bucket over the window, their total, and the total of the period before."""

    series: list[Point]
    mentions: int
    previous: int

    @property
    def change(self) -> float | None:
        """The relative change against the previous period (0.5: half as many again); None when it had none."""
        return None if self.previous == 0 else (self.mentions - self.previous) / self.previous


@dataclass(frozen=True)
class Sentiment:
    """Mentions by sentiment label (a mention with no label counts as neutral)."""

    positive: int = 0
    neutral: int = 0
    negative: int = 0

    @property
    def total(self) -> int:
        return self.positive + self.neutral + self.negative

    def share(self, label: str) -> float:
        """The share of `label` among all mentions, 0 when there are none."""
        return getattr(self, label) / self.total if self.total else 0.0


@dataclass(frozen=True)
class Image:
    """How the brand is spoken of: sentiment now and in the previous period, weighted by impact, and the
    loudest negative and positive mentions.

    `weighted` is the mean sentiment with each mention weighing 1 + its (absolute) impact: a post nobody saw
    counts once, one with impact 40 counts 41 times. None when there are no mentions."""

    now: Sentiment
    before: Sentiment
    weighted: float | None
    weighted_before: float | None
    most_negative: list[Citation]
    most_positive: list[Citation]

    def trend(self, label: str) -> float | None:
        """The change in `label`'s share since the previous period, in points of share (0.1 = 10 points); None
        when either period has no mentions (a share of nothing is no share)."""
        if not self.now.total or not self.before.total:
            return None
        return self.now.share(label) - self.before.share(label)


@dataclass(frozen=True)
class Voice:
    """A brand's share of voice among the brands reported: of their mentions and of their impact."""

    mentions: float
    impact: float


@dataclass(frozen=True)
class Ranked:
    """A source, community, domain or author, with its mentions and their summed impact."""

    name: str
    mentions: int
    impact: float


@dataclass(frozen=True)
class Where:
    sources: list[Ranked]
    communities: list[Ranked]
    domains: list[Ranked]


@dataclass(frozen=True)
class Who:
    """The authors whose mentions weigh most, and the mentions waiting for an answer (oldest first)."""

    authors: list[Ranked]
    inbox: list[Citation]
    inbox_total: int


@dataclass(frozen=True)
class Term:
    """A word or #hashtag, in how many mentions it appeared this period and in the previous one."""

    term: str
    mentions: int
    previous: int


@dataclass(frozen=True)
class What:
    """Terms and hashtags said with the brand: the most frequent, and those rising or new against the previous
    period."""

    terms: list[Term]
    hashtags: list[Term]
    rising: list[Term]
    new: list[Term]


@dataclass(frozen=True)
class Spike:
    """A bucket whose volume stood out from its trailing baseline (`spikes.find_spikes`), with the mentions and
    the terms that made it."""

    brand: str
    period: str
    mentions: int
    baseline: float
    score: float
    citations: list[Citation]
    terms: list[str]


@dataclass(frozen=True)
class BrandReport:
    name: str
    competitor: bool
    volume: Volume
    impact: float
    voice: Voice
    image: Image
    where: Where
    who: Who
    what: What
    # How the brand answers the people waiting for it: of the mentions that needed a reply in the period, how many
    # got one and how fast, and who has waited longest (`mentionwatch reply`, `mark ... replied`).
    response: ResponseStats | None = None


@dataclass(frozen=True)
class Report:
    window: Window
    generated_at: datetime
    brands: list[BrandReport]
    spikes: list[Spike] = field(default_factory=list)

    def brand(self, name: str) -> BrandReport:
        return next(b for b in self.brands if b.name == name)

    def spikes_of(self, name: str) -> Sequence[Spike]:
        return [s for s in self.spikes if s.brand == name]

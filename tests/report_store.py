"""The fixed store the report tests read: two brands, hand-made mentions whose figures are worked out by hand
in tests/test_report.py.

The report covers 2026-11-21 to 2026-12-01 (ten days, so per day); the previous period is 2026-11-11 to
2026-11-21. Impacts are chosen on the absolute scale's round values: an engagement of 9 is impact 25
(25 x log10(1 + 9)), 99 is 50, 999 is 75, none is 0.

Acme (our brand), per day in the window: 2, 2, 2, 2, 12, 2, 2, 2, 2, 2 = 30 counted mentions (and one ignored);
two a day for the fortnight before (2026-11-07 to 2026-11-20). Rival (a competitor): one a day in the window
(10), one a day from 2026-11-16 (5 in the previous period).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from mentionwatch.models import Mention
from mentionwatch.store import key_of
from mentionwatch.store.sqlite import SqliteStore

SINCE = datetime(2026, 11, 21, tzinfo=UTC)
UNTIL = datetime(2026, 12, 1, tzinfo=UTC)
SCANNED = datetime(2026, 12, 1, 6, 0, tzinfo=UTC)
IMPACT_OF = {0: None, 25: 9, 50: 99, 75: 999}  # absolute impact -> the engagement that makes it

CONFIG = """\
brands:
  - name: Acme
    terms: [Acme, "@acme", "#acme", acme.io]
  - name: Rival
    terms: [Rival]
    competitor: true
sources:
  - type: hackernews
"""


def at(day: int, hour: int, month: int = 11) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=UTC)


def mention(
    brand: str,
    ident: str,
    when: datetime,
    *,
    source: str = "blog",
    url: str | None = None,
    link: str | None = None,
    title: str = "",
    text: str = "I use Acme.",
    author: str = "",
    sentiment: float = 0.0,
    impact: int = 0,
    needs_reply: bool = False,
) -> Mention:
    source_type = {"blog": "rss", "hn": "hackernews", "reddit": "reddit", "mastodon": "mastodon"}[source]
    label = "positive" if sentiment >= 0.05 else "negative" if sentiment <= -0.05 else "neutral"
    return Mention(
        source=source,
        id=ident,
        url=url or f"https://blog.example.com/{brand.lower()}/{ident}",
        link=link,
        title=title,
        text=text,
        author=author,
        published_at=when,
        brand=brand,
        matched_terms=[brand],
        sentiment=sentiment,
        sentiment_label=label,
        impact=float(impact),
        engagement=IMPACT_OF[impact],
        needs_reply=needs_reply,
        source_type=source_type,
    )


def reddit(ident: str) -> str:
    return f"https://www.reddit.com/r/devops/comments/{ident}/post/"


def hn(ident: str) -> str:
    return f"https://news.ycombinator.com/item?id={ident}"


def acme() -> tuple[list[Mention], dict[str, str]]:
    """Acme's mentions, and the triage statuses to set (by id)."""
    history = [mention("Acme", f"h{day}-{hour}", at(day, hour)) for day in range(7, 21) for hour in (10, 14)]
    # Two of the previous period's fillers say something: its terms are checkout (2), offline, minute, works, fine.
    history[8] = mention("Acme", "p1", at(11, 10), text="Acme checkout offline for a minute")
    history[10] = mention("Acme", "p2", at(12, 10), text="Acme checkout works fine")
    special = [
        mention(
            "Acme",
            "a1",
            at(21, 10),
            source="hn",
            url=hn("101"),
            link="https://www.techcrunch.com/acme-pricing",
            title="Acme pricing is fair",
            text="",
            author="alice",
            sentiment=0.5,
            impact=25,
        ),
        mention(
            "Acme",
            "a2",
            at(22, 10),
            source="reddit",
            url=reddit("a2"),
            author="bob",
            sentiment=-0.5,
            impact=50,
            text="Acme support is slow, does anyone know a fix?",
            needs_reply=True,
        ),
        mention(
            "Acme",
            "a3",
            at(23, 10),
            source="mastodon",
            url="https://mastodon.social/@carol/103",
            author="carol",
            sentiment=0.5,
            text="Loving the new Acme dashboard #devtools",
        ),
        mention(
            "Acme",
            "a4",
            at(24, 10),
            source="reddit",
            url=reddit("a4"),
            author="erin",
            sentiment=0.5,
            impact=25,
            text="How do I export from Acme? Love the dashboard #devtools",
            needs_reply=True,
        ),
        *(
            mention(
                "Acme",
                f"s{n}",
                at(25, n),
                source="reddit",
                url=reddit(f"s{n}"),
                author=f"u{n}",
                sentiment=-0.5,
                text="Acme outage: checkout offline",
            )
            for n in range(1, 9)
        ),
        mention(
            "Acme",
            "s9",
            at(25, 9),
            source="hn",
            url=hn("109"),
            link="https://status.acme.io/incidents/1",
            author="dave",
            sentiment=-0.5,
            impact=75,
            text="Acme outage again, checkout broken #outage",
            needs_reply=True,
        ),
        mention("Acme", "spam", at(25, 11), text="BUY ACME COUPONS outage outage"),
    ]
    fillers = [mention("Acme", f"f{day}", at(day, 14)) for day in range(21, 25)]
    fillers += [mention("Acme", f"f25-{hour}", at(25, hour)) for hour in (12, 13, 14)]
    fillers += [mention("Acme", f"f{day}-{hour}", at(day, hour)) for day in range(26, 31) for hour in (10, 14)]
    return history + special + fillers, {"a4": "read", "s9": "done", "spam": "ignored", "a2": "new"}


def rival() -> list[Mention]:
    window = [
        mention(
            "Rival",
            f"r{day}",
            at(day, 11),
            source="hn",
            url=hn(f"2{day}"),
            author="rivalfan",
            text="Rival is neat" if day < 26 else "I use Rival.",
            sentiment=0.5 if day < 26 else 0.0,
            impact=25 if day == 21 else 0,
        )
        for day in range(21, 31)
    ]
    before = [mention("Rival", f"q{day}", at(day, 11), text="I use Rival.") for day in range(16, 21)]
    return before + window


def build(path: Path) -> Path:
    """The fixed store at `path`, filled through the store's own interface."""
    store = SqliteStore.open(path)
    try:
        mentions, statuses = acme()
        store.record(mentions + rival(), SCANNED)
        by_id = {m.id: key_of(m) for m in mentions}
        for ident, status in statuses.items():
            store.set_status([by_id[ident]], status, SCANNED + timedelta(hours=1))
        store.set_tag([by_id["s9"]], "incident")
    finally:
        store.close()
    return path

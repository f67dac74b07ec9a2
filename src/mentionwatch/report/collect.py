"""Making a report: the one part that reads the store (through `MentionStore.tallies`, `citations` and `said`, so the
counting is done in SQL, and each mention's words are worked out once), handing plain data to the pure sections
of `figures`, `terms` and `spikes`."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, TypeVar

from mentionwatch.report import figures
from mentionwatch.report.model import BrandReport, Image, Report, Spike, Where, Who, Window
from mentionwatch.report.spikes import DAILY, HOURLY, SpikeAt, SpikeRule, find_spikes
from mentionwatch.report.terms import compare, standout
from mentionwatch.store import Citation, MentionStore, Query, ResponseStats, Said, Tally, TallyAsk
from mentionwatch.vocabulary import own_words

# Ignored mentions are noise the user set aside (`mark ... ignored`, `ignore`): no figure counts them.
COUNTED = ("new", "read", "done")
# Waiting for an answer: not done, not ignored.
WAITING = ("new", "read")
TOP = 5  # sources, communities, domains and authors listed per brand
CITED = 3  # most negative and most positive mentions per brand
INBOX = 10  # needs-reply mentions listed per brand (the total is given too)
SPIKE_CITED = 5  # mentions listed per spike

_T = TypeVar("_T")


@dataclass(frozen=True)
class BrandSpec:
    """A brand to report on: whether it is a competitor, and its own words (left out of its terms)."""

    name: str
    competitor: bool = False
    terms: tuple[str, ...] = ()


def rule_for(window: Window) -> SpikeRule:
    return HOURLY if window.bucket == "hour" else DAILY


def collect(store: MentionStore, brands: Sequence[BrandSpec], window: Window, *, now: datetime) -> Report:
    """The report on `brands` over `window`, from the store."""
    names = [b.name for b in brands]
    base = Query(brands=names, statuses=COUNTED)
    current = replace(base, since=window.since, until=window.until)
    previous = replace(base, since=window.previous[0], until=window.previous[1])
    rule = rule_for(window)
    history_start = window.since - rule.window * window.step
    span = (window.since, window.until)
    asks = {
        "series": TallyAsk(("brand", window.bucket), history_start, window.until),
        "moods": TallyAsk(("brand", "sentiment"), *span),
        "moods_before": TallyAsk(("brand", "sentiment"), *window.previous),
        "sources": TallyAsk(("brand", "source"), *span, top=TOP + 1),
        "communities": TallyAsk(("brand", "community"), *span, top=TOP + 1),
        "domains": TallyAsk(("brand", "linked_domain"), *span, top=TOP + 1),
        "authors": TallyAsk(("brand", "author"), *span, top=TOP + 1, rank="impact"),
    }
    own = {b.name: own_words([b.name, *b.terms]) for b in brands}
    # On a store that takes reads from several threads, what does not wait on another reading is read beside it:
    # the previous period's terms while the server counts the tallies, each brand's few short readings (its cited
    # mentions, inbox, response times) while this period's terms are counted. A busy brand's month on 10M rows:
    # 1.1 s -> 0.9 s. Elsewhere, one after another, in the same order.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="mentionwatch-report") as pool:
        run = pool.submit if store.concurrent_reads else _at_once
        # One reading of the spans' mentions for all seven (each alone read its span again: 7 passes over
        # ~16,000 rows for a busy brand's month).
        asked = run(store.tallies, base, list(asks.values()))
        said_before, _ = _terms(store.said(previous), own, window, {})
        tallies = _Tallies(**{name: _by_brand(each) for name, each in zip(asks, asked.result(), strict=True)})
        spikes = {name: _spikes(tallies.series.get(name, []), window, history_start, rule) for name in names}
        readings = {spec.name: run(_brand_readings, store, current, window, tallies, spec.name) for spec in brands}
        said, in_spikes = _terms(store.said(current), own, window, spikes)
        read = {name: each.result() for name, each in readings.items()}
    voices = figures.share_of_voice(
        {name: (_mentions(tallies.moods, name), _impact(tallies.moods, name)) for name in names}
    )
    reports = [
        BrandReport(
            name=spec.name,
            competitor=spec.competitor,
            volume=figures.volume(
                window.periods(),
                {t.key[1]: t.mentions for t in tallies.series.get(spec.name, [])},
                _mentions(tallies.moods_before, spec.name),
            ),
            impact=_impact(tallies.moods, spec.name),
            voice=voices[spec.name],
            image=read[spec.name][0],
            where=Where(
                sources=figures.ranked(tallies.sources.get(spec.name, []), TOP),
                communities=figures.ranked(tallies.communities.get(spec.name, []), TOP),
                domains=figures.ranked(tallies.domains.get(spec.name, []), TOP),
            ),
            who=read[spec.name][1],
            what=compare(said.get(spec.name, Counter()), said_before.get(spec.name, Counter())),
            response=read[spec.name][2],
        )
        for spec in brands
    ]
    found = [
        _spike(
            name,
            label,
            at,
            _members(store, replace(current, brands=[name]), window, label),
            in_spikes[name, label],
            said[name],
            _mentions(tallies.moods, name),
        )
        for name in names
        for label, at in spikes[name].items()
    ]
    return Report(
        window=window, generated_at=now, brands=reports, spikes=sorted(found, key=lambda s: (s.period, s.brand))
    )


@dataclass(frozen=True)
class _Tallies:
    """What the store counted, each by brand: mentions per bucket (from the spike history's start), by sentiment
    now and before, and the top sources, communities, linked domains and authors."""

    series: dict[str, list[Tally]]
    moods: dict[str, list[Tally]]
    moods_before: dict[str, list[Tally]]
    sources: dict[str, list[Tally]]
    communities: dict[str, list[Tally]]
    domains: dict[str, list[Tally]]
    authors: dict[str, list[Tally]]


# The words of the terms a mention matched: few distinct tuples, folded once each.
_matched_words = functools.lru_cache(maxsize=4096)(own_words)


def _by_brand(tallies: Iterable[Tally]) -> dict[str, list[Tally]]:
    """Tallies by their first key (the brand)."""
    out: dict[str, list[Tally]] = defaultdict(list)
    for t in tallies:
        out[t.key[0]].append(t)
    return dict(out)


def _mentions(grouped: dict[str, list[Tally]], brand: str) -> int:
    return sum(t.mentions for t in grouped.get(brand, []))


def _impact(grouped: dict[str, list[Tally]], brand: str) -> float:
    return sum(t.impact for t in grouped.get(brand, []))


def _spikes(rows: Sequence[Tally], window: Window, history_start: datetime, rule: SpikeRule) -> dict[str, SpikeAt]:
    """The brand's spikes in the window, by bucket label. The series starts at the brand's first mention in the
    history: buckets before it may be days nobody watched as much as days of silence, and cannot be told apart."""
    counts = {t.key[1]: t.mentions for t in rows}
    labels = window.periods(history_start)
    first = next((i for i, label in enumerate(labels) if counts.get(label)), len(labels))
    labels = labels[first:]
    start = max(0, len(labels) - len(window.periods()))
    found = find_spikes([counts.get(label, 0) for label in labels], rule, start=start)
    return {labels[s.index]: s for s in found}


def _at_once(work: Callable[..., _T], *args: Any) -> Future[_T]:
    """`work(*args)` done now, as a finished Future (`ThreadPoolExecutor.submit`'s stand-in)."""
    done: Future[_T] = Future()
    try:
        done.set_result(work(*args))
    except BaseException as exc:
        done.set_exception(exc)
    return done


def _brand_readings(
    store: MentionStore, current: Query, window: Window, tallies: _Tallies, brand: str
) -> tuple[Image, Who, ResponseStats]:
    """A brand's short readings: its most negative and positive mentions, its inbox, its response times."""
    mine = replace(current, brands=[brand])
    return (
        _image(store, mine, tallies, brand),
        _who(store, mine, tallies.authors.get(brand, [])),
        store.response_stats(brands=[brand], since=window.since, until=window.until),
    )


def _image(store: MentionStore, mine: Query, tallies: _Tallies, brand: str) -> Image:
    return figures.image(
        tallies.moods.get(brand, []),
        tallies.moods_before.get(brand, []),
        list(store.citations(replace(mine, sentiment="negative", sort="most_negative", limit=CITED))),
        list(store.citations(replace(mine, sentiment="positive", sort="most_positive", limit=CITED))),
    )


def _who(store: MentionStore, mine: Query, authors: Sequence[Tally]) -> Who:
    waiting = replace(mine, needs_reply=True, statuses=WAITING, sort="oldest")
    return Who(
        authors=figures.ranked(authors, TOP),
        inbox=list(store.citations(replace(waiting, limit=INBOX))),
        inbox_total=store.count(waiting),
    )


def _terms(
    said: Iterable[Said], own: dict[str, frozenset[str]], window: Window, spikes: dict[str, dict[str, SpikeAt]]
) -> tuple[dict[str, Counter[str]], dict[tuple[str, str], Counter[str]]]:
    """One pass over a period's mentions: each brand's term counts, and those of each spike's bucket.

    A mention's terms count without its brand's own words and the words of the terms it matched. Mentions are
    gathered by (brand, matched terms), few distinct pairs, and each pair's terms counted at once, its own words
    then taken out: one list extension a mention instead of a filter and a Counter update (half the time)."""
    gathered: dict[tuple[str, tuple[str, ...]], list[str]] = defaultdict(list)
    in_spikes: dict[tuple[str, str], Counter[str]] = defaultdict(Counter)
    left_out = functools.cache(lambda brand, matched: own.get(brand, frozenset()) | _matched_words(matched))
    for m in said:
        gathered[m.brand, m.matched_terms].extend(m.terms)
        if spikes.get(m.brand):
            label = window.label(m.published_at)
            if label in spikes[m.brand]:
                mine = left_out(m.brand, m.matched_terms)
                in_spikes[m.brand, label].update(t for t in m.terms if t not in mine)
    counted: dict[str, Counter[str]] = defaultdict(Counter)
    for (brand, matched), terms in gathered.items():
        found = Counter(terms)
        for word in left_out(brand, matched):
            found.pop(word, None)
        counted[brand].update(found)
    return dict(counted), in_spikes


def _members(store: MentionStore, mine: Query, window: Window, label: str) -> list[Citation]:
    """The mentions of a spike's bucket, in the period's order (newest first)."""
    start, end = window.span(label)
    return list(store.citations(replace(mine, since=max(start, window.since), until=min(end, window.until))))


def _spike(
    brand: str,
    label: str,
    at: SpikeAt,
    members: list[Citation],
    counted: Counter[str],
    said: Counter[str],
    mentions: int,
) -> Spike:
    """The spike at `label` with its loudest mentions and its terms (against the brand's `mentions` of the window,
    whose terms are `said`)."""
    loudest = sorted(members, key=lambda c: (-c.impact_absolute, c.published_at))
    return Spike(
        brand=brand,
        period=label,
        mentions=at.mentions,
        baseline=at.baseline,
        score=at.score,
        citations=loudest[:SPIKE_CITED],
        terms=standout(counted, len(members), said, mentions),
    )

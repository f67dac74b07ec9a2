"""Making a report: the one part that reads the store (through `MentionStore.tally` and `citations`, so the
counting is done in SQL), handing plain data to the pure sections of `figures`, `terms` and `spikes`."""

from __future__ import annotations

import functools
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime

from mentionwatch.report import figures
from mentionwatch.report.model import BrandReport, Report, Spike, Where, Who, Window
from mentionwatch.report.spikes import DAILY, HOURLY, SpikeAt, SpikeRule, find_spikes
from mentionwatch.report.terms import compare, own_words, standout, terms_of
from mentionwatch.store import Citation, MentionStore, Query, Tally

# Ignored mentions are noise the user set aside (`mark ... ignored`, `ignore`): no figure counts them.
COUNTED = ("new", "read", "done")
# Waiting for an answer: not done, not ignored.
WAITING = ("new", "read")
TOP = 5  # sources, communities, domains and authors listed per brand
CITED = 3  # most negative and most positive mentions per brand
INBOX = 10  # needs-reply mentions listed per brand (the total is given too)
SPIKE_CITED = 5  # mentions listed per spike


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

    series = _grouped(store.tally(replace(base, since=history_start, until=window.until), ("brand", window.bucket)))
    moods = _grouped(store.tally(current, ("brand", "sentiment")))
    moods_before = _grouped(store.tally(previous, ("brand", "sentiment")))
    ranked = {
        what: _grouped(store.tally(current, ("brand", what), top=TOP + 1, rank=rank))
        for what, rank in (("source", "mentions"), ("community", "mentions"), ("linked_domain", "mentions"))
    } | {"author": _grouped(store.tally(current, ("brand", "author"), top=TOP + 1, rank="impact"))}

    spikes = {name: _spikes(name, series.get(name, []), window, history_start, rule) for name in names}
    own = {b.name: own_words([b.name, *b.terms]) for b in brands}
    said, in_spikes = _terms(store.citations(current), own, window, spikes)
    said_before, _ = _terms(store.citations(previous), own, window, {})

    voices = figures.share_of_voice(
        {
            name: (sum(t.mentions for t in moods.get(name, [])), sum(t.impact for t in moods.get(name, [])))
            for name in names
        }
    )
    reports = []
    for spec in brands:
        name = spec.name
        counts = {t.key[1]: t.mentions for t in series.get(name, [])}
        mine = replace(current, brands=[name])
        reports.append(
            BrandReport(
                name=name,
                competitor=spec.competitor,
                volume=figures.volume(window.periods(), counts, sum(t.mentions for t in moods_before.get(name, []))),
                impact=sum(t.impact for t in moods.get(name, [])),
                voice=voices[name],
                image=figures.image(
                    moods.get(name, []),
                    moods_before.get(name, []),
                    list(store.citations(replace(mine, sentiment="negative", sort="most_negative", limit=CITED))),
                    list(store.citations(replace(mine, sentiment="positive", sort="most_positive", limit=CITED))),
                ),
                where=Where(
                    sources=figures.ranked(ranked["source"].get(name, []), TOP),
                    communities=figures.ranked(ranked["community"].get(name, []), TOP),
                    domains=figures.ranked(ranked["linked_domain"].get(name, []), TOP),
                ),
                who=_who(store, mine, ranked["author"].get(name, [])),
                what=compare(said[name][0], said_before[name][0]),
            )
        )
    found = [
        _spike(name, label, at.mentions, at.baseline, at.score, in_spikes[name, label], said[name])
        for name in names
        for label, at in spikes[name].items()
    ]
    return Report(
        window=window, generated_at=now, brands=reports, spikes=sorted(found, key=lambda s: (s.period, s.brand))
    )


# The words of the terms a mention matched: few distinct tuples, folded once each.
_matched_words = functools.lru_cache(maxsize=4096)(own_words)


def _grouped(tallies: Iterable[Tally]) -> dict[str, list[Tally]]:
    """Tallies by their first key (the brand)."""
    out: dict[str, list[Tally]] = defaultdict(list)
    for t in tallies:
        out[t.key[0]].append(t)
    return out


def _spikes(
    name: str, rows: Sequence[Tally], window: Window, history_start: datetime, rule: SpikeRule
) -> dict[str, SpikeAt]:
    """The brand's spikes in the window, by bucket label. The series starts at the brand's first mention in the
    history: buckets before it may be days nobody watched as much as days of silence, and cannot be told apart."""
    counts = {t.key[1]: t.mentions for t in rows}
    labels = window.periods(history_start)
    first = next((i for i, label in enumerate(labels) if counts.get(label)), len(labels))
    labels = labels[first:]
    start = max(0, len(labels) - len(window.periods()))
    found = find_spikes([counts.get(label, 0) for label in labels], rule, start=start)
    return {labels[s.index]: s for s in found}


def _who(store: MentionStore, mine: Query, authors: Sequence[Tally]) -> Who:
    waiting = replace(mine, needs_reply=True, statuses=WAITING, sort="oldest")
    return Who(
        authors=figures.ranked(authors, TOP),
        inbox=list(store.citations(replace(waiting, limit=INBOX))),
        inbox_total=store.count(waiting),
    )


def _terms(
    citations: Iterable[Citation], own: dict[str, frozenset[str]], window: Window, spikes: dict[str, dict[str, SpikeAt]]
) -> tuple[dict[str, tuple[Counter[str], int]], dict[tuple[str, str], list[tuple[Citation, set[str]]]]]:
    """One pass over the period's mentions: each brand's term counts and mentions, and the mentions (with their
    terms) of each spike's bucket."""
    said: dict[str, tuple[Counter[str], int]] = defaultdict(lambda: (Counter(), 0))
    in_spikes: dict[tuple[str, str], list[tuple[Citation, set[str]]]] = defaultdict(list)
    for c in citations:
        found = terms_of(c.title, c.text, own.get(c.brand, frozenset()) | _matched_words(c.matched_terms))
        counter, n = said[c.brand]
        counter.update(found)
        said[c.brand] = (counter, n + 1)
        label = window.label(c.published_at)
        if label in spikes.get(c.brand, {}):
            in_spikes[c.brand, label].append((c, found))
    return said, in_spikes


def _spike(
    name: str,
    label: str,
    mentions: int,
    baseline: float,
    score: float,
    members: list[tuple[Citation, set[str]]],
    said: tuple[Counter[str], int],
) -> Spike:
    counted: Counter[str] = Counter()
    for _, found in members:
        counted.update(found)
    loudest = sorted((c for c, _ in members), key=lambda c: (-c.impact_absolute, c.published_at))
    return Spike(
        brand=name,
        period=label,
        mentions=mentions,
        baseline=baseline,
        score=score,
        citations=loudest[:SPIKE_CITED],
        terms=standout(counted, len(members), said[0], said[1]),
    )

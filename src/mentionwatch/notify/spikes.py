"""Spikes to tell of: the hours whose mentions of a brand stand out from the day before.

The rule is the report's (`report.spikes`, HOURLY: a robust z-score over the trailing 24 hours, at least 5
mentions, a cooldown), judged here on the last few hours only, so a cron run every 15 minutes hears of a spike
while it lasts. As in the report, a brand's series starts at its first mention in the window: hours before
monitoring began are not hours of silence.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from mentionwatch.models import format_time
from mentionwatch.notify.digest import SpikeNews
from mentionwatch.report.collect import COUNTED
from mentionwatch.report.spikes import HOURLY, find_spikes
from mentionwatch.store import MentionStore, Query

# How many of the latest hours are judged (the hour under way included): a spike is told while it lasts, and a
# run that missed an hour (cron late, a failed scan) still tells of it.
RECENT_HOURS = 3
_HOUR = timedelta(hours=1)


def recent_spikes(store: MentionStore, brands: Sequence[str], now: datetime) -> list[SpikeNews]:
    """The spikes of the last RECENT_HOURS hours, per brand (oldest first)."""
    rule = HOURLY
    current = now.replace(minute=0, second=0, microsecond=0)
    first = current - (rule.window + RECENT_HOURS - 1) * _HOUR
    hours = [first + i * _HOUR for i in range(rule.window + RECENT_HOURS)]
    query = Query(brands=list(brands), since=first, until=current + _HOUR, statuses=COUNTED)
    counts: dict[str, dict[str, int]] = {}
    for row in store.tally(query, ("brand", "hour")):
        counts.setdefault(row.key[0], {})[row.key[1]] = row.mentions
    news: list[SpikeNews] = []
    for brand, per_hour in sorted(counts.items()):
        labels = [format_time(h)[:13] + ":00:00Z" for h in hours]  # tally's hour keys (store `_DIMENSION_SQL`)
        start = next((i for i, label in enumerate(labels) if per_hour.get(label)), len(labels))
        series = [per_hour.get(label, 0) for label in labels[start:]]
        judged_from = max(0, len(series) - RECENT_HOURS)
        for spike in find_spikes(series, rule, start=judged_from):
            news.append(SpikeNews(brand, hours[start + spike.index], spike.mentions, spike.baseline))
    return news

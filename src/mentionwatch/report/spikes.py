"""The spike rule: which hours or days of a volume series stand out from the ones before them.

A pure function over a list of counts, so the report and the notifications judge alike. The rule:

1. **Baseline**: the median of the trailing `window` buckets (at least `min_history` of them: with less history
   no judgement is made). The median is robust: one earlier spike in the window does not raise it.
2. **Spread**: the median absolute deviation of those buckets, times 1.4826 (so it estimates a standard
   deviation on normal data), but never less than the square root of the baseline (the spread Poisson counts
   have: 10 -> 14 is noise even after a flat fortnight) nor less than 1.
3. **Score**: the robust z-score, (count - baseline) / spread. A bucket is a spike when its score is at least
   `threshold` (3.5, the cut-off Iglewicz and Hoaglin recommend for the modified z-score) **and** it holds at
   least `min_count` mentions, so that 1 -> 3 or 0 -> 4 is never a spike.
4. **Cooldown**: the `cooldown` buckets after a spike only continue it: they are not reported again. A bucket
   after the cooldown that still stands out is a new spike.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from statistics import median

# Scales a median absolute deviation to a standard deviation for normally distributed data (1 / Phi^-1(3/4)).
MAD_TO_SD = 1.4826


@dataclass(frozen=True)
class SpikeRule:
    """The rule's parameters (see the module docstring)."""

    window: int = 14
    min_history: int = 7
    threshold: float = 3.5
    min_count: int = 5
    cooldown: int = 2


# A fortnight of days; a day of hours (three hours of cooldown).
DAILY = SpikeRule()
HOURLY = SpikeRule(window=24, min_history=12, cooldown=3)


@dataclass(frozen=True)
class SpikeAt:
    """A spike: its bucket's index in the series, its count, the trailing median and the robust z-score."""

    index: int
    mentions: int
    baseline: float
    score: float


def find_spikes(counts: Sequence[int], rule: SpikeRule = DAILY, *, start: int = 0) -> list[SpikeAt]:
    """The spikes of `counts` (oldest bucket first) at index `start` or later; the buckets before `start` serve
    as history for the first baselines, and a spike among them still quiets the buckets after it (the cooldown):
    a notify run that judges only the last hours must not tell of every hour of one long burst."""
    spikes: list[SpikeAt] = []
    quiet_until = -1
    for i in range(rule.min_history, len(counts)):
        if i <= quiet_until:
            continue
        found = judge(counts[max(0, i - rule.window) : i], counts[i], rule)
        if found is None:
            continue
        baseline, score = found
        if i >= start:
            spikes.append(SpikeAt(i, counts[i], baseline, score))
        quiet_until = i + rule.cooldown
    return spikes


def judge(history: Sequence[int], count: int, rule: SpikeRule) -> tuple[float, float] | None:
    """(baseline, score) when `count` is a spike after `history` (its trailing buckets), else None."""
    if len(history) < rule.min_history or count < rule.min_count:
        return None
    baseline = float(median(history))
    deviation = float(median(abs(x - baseline) for x in history))
    spread = max(MAD_TO_SD * deviation, math.sqrt(baseline), 1.0)
    score = (count - baseline) / spread
    return (baseline, score) if score >= rule.threshold else None

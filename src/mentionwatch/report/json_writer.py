"""The report as JSON, every figure of it, for other tools.

The contract (issue #14) comes first and its names are kept exactly: `brands` -> per brand `mentions`,
`share_of_voice` (0-1, of the mentions of the brands reported), `sentiment` (`positive`, `neutral`, `negative`
counts) and `volume` (`[{"period", "mentions"}]`); then `spikes` (`[{"brand", "period", "mentions",
"baseline"}]`). Every other key comes after those. "impact" is the absolute impact throughout: the part of a
mention's impact that does not depend on the scan it was seen in, so periods compare like with like.
"""

from __future__ import annotations

import json
from typing import IO, Any

from mentionwatch.models import format_time
from mentionwatch.output import escape_json_controls
from mentionwatch.report.model import LABELS, BrandReport, Ranked, Report, Sentiment, Spike, Term
from mentionwatch.report.words import where
from mentionwatch.store import Citation, ResponseStats


def write_json(report: Report, out: IO[str]) -> None:
    out.write(escape_json_controls(json.dumps(report_data(report), ensure_ascii=False, indent=2)) + "\n")


def report_data(report: Report) -> dict[str, Any]:
    window = report.window
    return {
        "brands": {b.name: brand_data(b) for b in report.brands},
        "spikes": [spike_data(s) for s in report.spikes],
        "since": format_time(window.since),
        "until": format_time(window.until),
        "bucket": window.bucket,
        "previous_since": format_time(window.previous[0]),
        "generated_at": format_time(report.generated_at),
    }


def brand_data(b: BrandReport) -> dict[str, Any]:
    image = b.image
    return {
        "mentions": b.volume.mentions,
        "share_of_voice": round(b.voice.mentions, 4),
        "sentiment": _counts(image.now),
        "volume": [{"period": p.period, "mentions": p.mentions} for p in b.volume.series],
        "competitor": b.competitor,
        "previous_mentions": b.volume.previous,
        "change": _rounded(b.volume.change, 4),
        "impact": round(b.impact, 2),
        "share_of_impact": round(b.voice.impact, 4),
        "image": {
            "shares": {label: round(image.now.share(label), 4) for label in LABELS},
            "previous": _counts(image.before),
            "previous_shares": {label: round(image.before.share(label), 4) for label in LABELS},
            "trend": {label: _rounded(image.trend(label), 4) for label in LABELS},
            "weighted_sentiment": _rounded(image.weighted, 4),
            "previous_weighted_sentiment": _rounded(image.weighted_before, 4),
            "most_negative": [citation_data(c) for c in image.most_negative],
            "most_positive": [citation_data(c) for c in image.most_positive],
        },
        "where": {
            "sources": [_ranked(r) for r in b.where.sources],
            "communities": [_ranked(r) for r in b.where.communities],
            "domains": [_ranked(r) for r in b.where.domains],
        },
        "who": {
            "authors": [_ranked(r) for r in b.who.authors],
            "needs_reply": {"total": b.who.inbox_total, "mentions": [citation_data(c) for c in b.who.inbox]},
        },
        "what": {
            "terms": [_term(t) for t in b.what.terms],
            "hashtags": [_term(t) for t in b.what.hashtags],
            "rising": [_term(t) for t in b.what.rising],
            "new": [_term(t) for t in b.what.new],
        },
        "response": _response(b.response),
    }


def _response(stats: ResponseStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    median = stats.median_time_to_answer
    oldest = stats.oldest_waiting
    return {
        "needs_reply": stats.needs_reply,
        "answered": stats.answered,
        "closed": stats.closed,
        "waiting": stats.waiting,
        "share_answered": _rounded(stats.share_answered, 4) if stats.share_answered is not None else None,
        "median_seconds_to_answer": round(median.total_seconds()) if median is not None else None,
        "oldest_waiting": None
        if oldest is None
        else {
            "id": oldest.id,
            "source": oldest.source,
            "url": oldest.url,
            "author": oldest.author,
            "published_at": format_time(oldest.published_at),
        },
    }


def spike_data(s: Spike) -> dict[str, Any]:
    return {
        "brand": s.brand,
        "period": s.period,
        "mentions": s.mentions,
        "baseline": s.baseline,
        "score": round(s.score, 2),
        "terms": s.terms,
        "citations": [citation_data(c) for c in s.citations],
    }


def citation_data(c: Citation) -> dict[str, Any]:
    return {
        "brand": c.brand,
        "source": c.source,
        "source_type": c.source_type,
        "id": c.id,
        "url": c.url,
        "link": c.link,
        "title": c.title,
        "text": c.text,
        "author": c.author,
        "published_at": format_time(c.published_at),
        "sentiment": c.sentiment,
        "sentiment_label": c.sentiment_label,
        "impact": c.impact_absolute,
        "needs_reply": c.needs_reply,
        "status": c.status,
        "community": where(c),
    }


def _counts(s: Sentiment) -> dict[str, int]:
    return {label: getattr(s, label) for label in LABELS}


def _ranked(r: Ranked) -> dict[str, Any]:
    return {"name": r.name, "mentions": r.mentions, "impact": round(r.impact, 2)}


def _term(t: Term) -> dict[str, Any]:
    return {"term": t.term, "mentions": t.mentions, "previous": t.previous}


def _rounded(value: float | None, digits: int) -> float | None:
    return None if value is None else round(value, digits)

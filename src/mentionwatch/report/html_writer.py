"""The report as one self-contained HTML page: inline SVG charts and CSS, no script, no font, nothing fetched.

- **Self-contained**: the page's Content-Security-Policy allows nothing but its own inline styles and `data:`
  images, so a browser fetches nothing when it opens it, even from a link or an image a post smuggled in.
- **Accessible**: every chart is an `<svg role="img">` with a `<title>` that says its figures, each bar has a
  `<title>` of its own, and the numbers are in a table beside it.
- **Readable anywhere**: the layout is one column that fits a phone, wide tables scroll on their own, and
  print styles keep charts whole and write each link's address after it.
- **Untrusted text is inert**: every text from a post or a feed is HTML-escaped (control and bidi characters
  dropped first); links are made only to http(s) URLs and open with no referrer.

Each chart's bars carry `data-period`/`data-mentions` (or `data-label`/`data-share`) so the figures can be
read back from the rendered page (the browser test does).
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import IO

from mentionwatch.output import sanitize_terminal
from mentionwatch.report.collect import rule_for
from mentionwatch.report.figures import duration, response_line
from mentionwatch.report.model import LABELS, BrandReport, Ranked, Report, Sentiment, Term
from mentionwatch.report.words import (
    change,
    headline,
    is_web_link,
    mood,
    percent,
    points,
    previous_text,
    where,
    window_text,
)
from mentionwatch.store import Citation
from mentionwatch.urls import community

_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:"
_STYLE = """
:root { --fg: #1b1f24; --muted: #5b6570; --line: #d7dce1; --bar: #1f5fa8; --spike: #d9480f;
  --positive: #2b8a3e; --neutral: #868e96; --negative: #c92a2a; --bg: #fff; --panel: #f5f7f9; }
* { box-sizing: border-box; }
body { margin: 0; background: var(--bg); color: var(--fg);
  font: 16px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
header, main, footer { max-width: 62rem; margin: 0 auto; padding: 0 1rem; }
header { padding-top: 1.5rem; }
h1 { font-size: 1.6rem; margin: 0 0 .25rem; }
h2 { font-size: 1.3rem; margin: 2.2rem 0 .6rem; padding-bottom: .2rem; border-bottom: 2px solid var(--line); }
h3 { font-size: 1.05rem; margin: 1.2rem 0 .4rem; }
p, li { overflow-wrap: anywhere; }
.muted, figcaption, .meta { color: var(--muted); }
.meta { font-size: .9rem; }
nav ul { list-style: none; padding: 0; margin: .8rem 0 0; display: flex; flex-wrap: wrap; gap: .3rem 1rem; }
a { color: #1c5fb0; }
.scroll { overflow-x: auto; }
table { border-collapse: collapse; margin: .4rem 0; font-variant-numeric: tabular-nums; }
th, td { text-align: right; padding: .25rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
th:first-child, td:first-child, td.text { text-align: left; }
td.text { overflow-wrap: anywhere; min-width: 8rem; }
figure { margin: 1rem 0 1.4rem; padding: .8rem; background: var(--panel); border-radius: 6px; }
figure h3 { margin-top: 0; }
.plot { display: grid; grid-template-columns: auto 1fr; gap: 0 .4rem; align-items: stretch; }
.yaxis { display: flex; flex-direction: column; justify-content: space-between; font-size: .8rem;
  color: var(--muted); text-align: right; }
svg.bars { display: block; width: 100%; height: 8rem; background: #fff; border-bottom: 1px solid var(--muted); }
.xaxis { grid-column: 2; display: flex; justify-content: space-between; font-size: .8rem; color: var(--muted); }
rect.bar { fill: var(--bar); }
rect.bar.spike { fill: var(--spike); }
svg.stack { display: block; width: 100%; height: 1.4rem; }
td.meter { white-space: nowrap; }
svg.meter { display: inline-block; width: 6rem; height: .8rem; vertical-align: middle; background: #fff;
  border: 1px solid var(--line); }
svg.meter rect { fill: var(--bar); }
.positive { fill: var(--positive); color: var(--positive); }
.neutral { fill: var(--neutral); }
.negative { fill: var(--negative); color: var(--negative); }
.legend { display: flex; flex-wrap: wrap; gap: .2rem 1rem; font-size: .9rem; margin: .3rem 0 .6rem; }
.swatch { display: inline-block; width: .8rem; height: .8rem; margin-right: .3rem; vertical-align: -.05rem; }
.swatch.positive { background: var(--positive); } .swatch.neutral { background: var(--neutral); }
.swatch.negative { background: var(--negative); } .swatch.spike { background: var(--spike); }
details { margin-top: .5rem; }
summary { cursor: pointer; color: var(--muted); }
ul.cites { padding-left: 1.1rem; }
ul.cites li { margin: .35rem 0; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(15rem, 1fr)); gap: 0 1.2rem; }
.grid ol { padding-left: 1.4rem; margin: .2rem 0 .8rem; }
.inbox { color: var(--negative); font-weight: 600; }
footer { margin-top: 3rem; padding-bottom: 2rem; font-size: .85rem; color: var(--muted); }
@media (max-width: 40rem) {
  body { font-size: 15px; }
  header, main, footer { padding: 0 .6rem; }
  table { font-size: .9rem; }
  th, td { padding: .2rem .3rem; }
  svg.meter { width: 3.5rem; }
  figure { padding: .5rem; margin: .8rem -.2rem 1rem; }
}
@media print {
  nav, summary { display: none; }
  body { font-size: 11pt; }
  figure, table, li { break-inside: avoid; }
  h2 { break-after: avoid; }
  a.cite::after { content: " <" attr(href) ">"; font-size: .8em; color: var(--muted); word-break: break-all; }
}
"""
_SECTIONS = (
    ("volume", "Volume"),
    ("image", "Image"),
    ("voice", "Share of voice"),
    ("where", "Where"),
    ("who", "Who"),
    ("what", "What"),
    ("spikes", "Spikes"),
)


def esc(text: str) -> str:
    """Untrusted text as HTML text or attribute value: control and bidi characters dropped, then escaped."""
    return html.escape(sanitize_terminal(text), quote=True)


def link(text: str, url: str | None) -> str:
    """A link to an http(s) URL (no referrer sent, no opener given); the escaped text alone otherwise."""
    if not is_web_link(url):
        return esc(text)
    assert url is not None
    return f'<a class="cite" href="{esc(url)}" rel="noopener noreferrer nofollow">{esc(text)}</a>'


def write_html(report: Report, out: IO[str]) -> None:
    out.write(page(report))


def page(report: Report) -> str:
    sections = {
        "volume": _volume(report),
        "image": _image(report),
        "voice": _voice(report),
        "where": _where(report),
        "who": _who(report),
        "what": _what(report),
        "spikes": _spikes(report),
    }
    nav = "".join(f'<li><a href="#{key}">{title}</a></li>' for key, title in _SECTIONS)
    body = "\n".join(f'<section id="{key}">\n<h2>{title}</h2>\n{sections[key]}\n</section>' for key, title in _SECTIONS)
    brands = ", ".join(esc(b.name) for b in report.brands) or "no brand"
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="Content-Security-Policy" content="{_CSP}">
<meta name="referrer" content="no-referrer">
<title>mentionwatch report: {brands}, {esc(window_text(report.window))}</title>
<style>{_STYLE}</style>
</head>
<body>
<header>
<h1>mentionwatch report</h1>
<p class="muted">{brands} · {esc(window_text(report.window))}; compared with the previous period,
{esc(previous_text(report.window))}.</p>
<nav aria-label="Sections"><ul>{nav}</ul></nav>
</header>
<main>
{body}
</main>
<footer>Made by mentionwatch at {report.generated_at:%Y-%m-%d %H:%M} UTC. Impact is the absolute impact (0-100),
the same scale in every scan.</footer>
</body>
</html>
"""


def _name(b: BrandReport) -> str:
    return esc(b.name) + (' <span class="muted">(competitor)</span>' if b.competitor else "")


def _volume(report: Report) -> str:
    bucket = report.window.bucket
    rows = "".join(
        f"<tr><td>{_name(b)}</td><td>{b.volume.mentions}</td><td>{b.volume.previous}</td>"
        f"<td>{change(b.volume)}</td></tr>"
        for b in report.brands
    )
    parts = [
        f'<div class="scroll"><table><thead><tr><th>brand</th><th>mentions</th><th>before</th>'
        f"<th>change</th></tr></thead><tbody>{rows}</tbody></table></div>"
    ]
    for i, b in enumerate(report.brands, 1):
        spiked = {s.period for s in report.spikes_of(b.name)}
        parts.append(_volume_chart(f"volume-{i}", b, bucket, spiked))
    return "\n".join(parts)


def _volume_chart(ident: str, b: BrandReport, bucket: str, spiked: set[str]) -> str:
    """Bars of mentions per bucket (spikes in another colour), the axis in HTML around the SVG (so its text keeps
    its size on a phone), and the same numbers in a table."""
    series = b.volume.series
    top = max([p.mentions for p in series] + [1])
    bars = []
    for i, p in enumerate(series):
        height = p.mentions / top * 100
        spike = " spike" if p.period in spiked else ""
        note = ", a spike" if spike else ""
        bars.append(
            f'<rect class="bar{spike}" x="{i * 10 + 1}" y="{100 - height:.3f}" width="8" height="{height:.3f}" '
            f'data-period="{p.period}" data-mentions="{p.mentions}"><title>{p.period}: {p.mentions} '
            f"mention{'s' if p.mentions != 1 else ''}{note}</title></rect>"
        )
    summary = (
        f"{esc(b.name)}: mentions per {bucket}, {series[0].period} to {series[-1].period}: "
        f"{b.volume.mentions} in all, at most {top if any(p.mentions for p in series) else 0} in one {bucket}"
        + (f"; spikes on {', '.join(sorted(spiked))}" if spiked else "")
        if series
        else f"{esc(b.name)}: no period"
    )
    rows = "".join(
        f"<tr><td>{p.period}</td><td>{p.mentions}</td><td>{'spike' if p.period in spiked else ''}</td></tr>"
        for p in series
    )
    legend = '<p class="legend"><span><span class="swatch spike"></span>spike</span></p>' if spiked else ""
    first, last = (series[0].period, series[-1].period) if series else ("", "")
    return f"""<figure id="{ident}">
<h3>{_name(b)}</h3>
<div class="plot">
<div class="yaxis" aria-hidden="true"><span>{top}</span><span>0</span></div>
<svg class="bars" viewBox="0 0 {max(len(series), 1) * 10} 100" preserveAspectRatio="none" role="img"
 aria-labelledby="{ident}-title" data-chart="volume" data-brand="{esc(b.name)}" data-max="{top}">
<title id="{ident}-title">{summary}</title>
{"".join(bars)}
</svg>
<div class="xaxis" aria-hidden="true"><span>{first}</span><span>{last}</span></div>
</div>
{legend}<figcaption>{summary}.</figcaption>
<details><summary>Mentions per {bucket}, as a table</summary>
<div class="scroll"><table><thead><tr><th>{bucket}</th><th>mentions</th><th></th></tr></thead>
<tbody>{rows}</tbody></table></div></details>
</figure>"""


def _stack(ident: str, name: str, when: str, counts: Sentiment) -> str:
    """One stacked bar of positive / neutral / negative shares."""
    x = 0.0
    rects = []
    for label in LABELS:
        share = counts.share(label)
        n = getattr(counts, label)
        rects.append(
            f'<rect class="{label}" x="{x * 100:.3f}" y="0" width="{share * 100:.3f}" height="10" '
            f'data-label="{label}" data-mentions="{n}" data-share="{share:.4f}">'
            f"<title>{label}: {n} ({percent(share)})</title></rect>"
        )
        x += share
    text = ", ".join(f"{percent(counts.share(label))} {label} ({getattr(counts, label)})" for label in LABELS)
    summary = f"{name}, {when}: {text}" if counts.total else f"{name}, {when}: no mentions"
    return (
        f'<svg class="stack" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" '
        f'aria-labelledby="{ident}-title" data-chart="sentiment" data-when="{when}">'
        f'<title id="{ident}-title">{summary}</title>{"".join(rects)}</svg>'
        f'<p class="legend">{when}: {text if counts.total else "no mentions"}</p>'
    )


def _image(report: Report) -> str:
    legend = "".join(f'<span><span class="swatch {label}"></span>{label}</span>' for label in LABELS)
    rows = "".join(
        f"<tr><td>{_name(b)}</td>"
        + "".join(
            f'<td class="{label}">{percent(b.image.now.share(label))}<br>'
            f'<span class="meta">{_trend(b.image.trend(label))}</span></td>'
            for label in LABELS
        )
        + f"<td>{mood(b.image.weighted)}</td><td>{mood(b.image.weighted_before)}</td></tr>"
        for b in report.brands
    )
    parts = [
        f'<p class="legend">{legend}</p>',
        '<div class="scroll"><table><thead><tr><th>brand</th><th>positive</th><th>neutral</th><th>negative</th>'
        f"<th>weighted</th><th>before</th></tr></thead><tbody>{rows}</tbody></table></div>",
        '<p class="muted">Shares of mentions, with the change in points since the previous period. Weighted '
        "sentiment: the mean sentiment (-1 to +1), each mention weighing 1 + its impact.</p>",
    ]
    for i, b in enumerate(report.brands, 1):
        name = esc(b.name)
        parts.append(
            f'<figure id="image-{i}"><h3>{_name(b)}</h3>'
            + _stack(f"image-{i}-now", name, "this period", b.image.now)
            + _stack(f"image-{i}-before", name, "previous period", b.image.before)
            + _cites("Most negative", b.image.most_negative)
            + _cites("Most positive", b.image.most_positive)
            + "</figure>"
        )
    return "\n".join(parts)


def _trend(delta: float | None) -> str:
    return "" if delta is None else points(delta)


def _voice(report: Report) -> str:
    rows = "".join(
        f'<tr><td>{_name(b)}</td><td class="meter">{_meter(b, "mentions", b.voice.mentions)}</td>'
        f'<td class="meter">{_meter(b, "impact", b.voice.impact)}</td><td>{percent(b.image.now.share("positive"))}</td>'
        f"<td>{percent(b.image.now.share('negative'))}</td><td>{mood(b.image.weighted)}</td></tr>"
        for b in report.brands
    )
    return (
        '<div class="scroll"><table><thead><tr><th>brand</th><th>of mentions</th><th>of impact</th>'
        "<th>positive</th><th>negative</th><th>weighted sentiment</th></tr></thead>"
        f"<tbody>{rows}</tbody></table></div>"
    )


def _meter(b: BrandReport, what: str, share: float) -> str:
    label = f"{esc(b.name)}: {percent(share)} of the {what}"
    return (
        f'<svg class="meter" viewBox="0 0 100 10" preserveAspectRatio="none" role="img" aria-label="{label}" '
        f'data-chart="voice" data-brand="{esc(b.name)}" data-what="{what}">'
        f'<rect x="0" y="0" width="{share * 100:.3f}" height="10" data-share="{share:.4f}"></rect></svg> '
        f"{percent(share)}"
    )


def _ranked_list(title: str, items: Sequence[Ranked], *, impact: bool = False) -> str:
    if not items:
        return f'<div><h4>{title}</h4><p class="muted">none</p></div>'
    rows = "".join(
        f'<li>{esc(r.name)} <span class="meta">{r.mentions} mention{"s" if r.mentions != 1 else ""}'
        + (f", impact {r.impact:.0f}" if impact else "")
        + "</span></li>"
        for r in items
    )
    return f"<div><h4>{title}</h4><ol>{rows}</ol></div>"


def _where(report: Report) -> str:
    return "\n".join(
        f'<h3>{_name(b)}</h3><div class="grid">'
        + _ranked_list("Sources", b.where.sources)
        + _ranked_list("Communities", b.where.communities)
        + _ranked_list("Linked domains", b.where.domains)
        + "</div>"
        for b in report.brands
    )


def _who(report: Report) -> str:
    parts = []
    for b in report.brands:
        total, shown = b.who.inbox_total, len(b.who.inbox)
        oldest = f" (the oldest {shown})" if total > shown else ""
        inbox = (
            f'<p class="inbox">Needs a reply: {total}{oldest}, oldest first</p>' + _cites("", b.who.inbox)
            if total
            else '<p class="muted">Needs a reply: none.</p>'
        )
        response = ""
        if b.response is not None:
            response = f"<p>Response: {esc(response_line(b.response))}.</p>"
            longest = b.response.oldest_waiting
            if longest is not None:
                waited = duration(report.generated_at - longest.published_at)
                where = esc(community(longest.url) or longest.source)
                response += (
                    f"<p>Oldest waiting: {esc(longest.author or '?')} on {where}, for {waited}: "
                    f"{link(longest.url, longest.url)}</p>"
                )
        parts.append(
            f"<h3>{_name(b)}</h3>"
            + _ranked_list("Top authors by impact", b.who.authors, impact=True)
            + inbox
            + response
        )
    return "\n".join(parts)


def _term_list(title: str, terms: Sequence[Term]) -> str:
    if not terms:
        return f'<div><h4>{title}</h4><p class="muted">none</p></div>'
    rows = "".join(f'<li>{esc(t.term)} <span class="meta">{t.mentions}, before {t.previous}</span></li>' for t in terms)
    return f"<div><h4>{title}</h4><ol>{rows}</ol></div>"


def _what(report: Report) -> str:
    intro = (
        '<p class="muted">Terms said with the brand: in how many mentions this period, and before (the previous '
        "period). Stop-words and the brand's own terms are left out.</p>"
    )
    return intro + "\n".join(
        f'<h3>{_name(b)}</h3><div class="grid">'
        + _term_list("Terms", b.what.terms)
        + _term_list("Hashtags", b.what.hashtags)
        + _term_list("Rising", b.what.rising)
        + _term_list("New", b.what.new)
        + "</div>"
        for b in report.brands
    )


def _spikes(report: Report) -> str:
    if not report.spikes:
        return '<p class="muted">None: no hour or day stood out from the ones before it.</p>'
    rule = rule_for(report.window)
    parts = [
        f'<p class="muted">A spike: at least {rule.min_count} mentions, and a robust z-score of at least '
        f"{rule.threshold:g} against the median of the {rule.window} {report.window.bucket}s before.</p>"
    ]
    for s in report.spikes:
        terms = f"; terms: {esc(', '.join(s.terms))}" if s.terms else ""
        parts.append(
            f'<h3 class="spike">{esc(s.brand)}, {s.period}</h3>'
            f"<p>{s.mentions} mentions against a baseline of {s.baseline:g}{terms}.</p>" + _cites("", s.citations)
        )
    return "\n".join(parts)


def _cites(title: str, cited: Sequence[Citation]) -> str:
    if not cited:
        return ""
    items = "".join(
        f'<li>{link(headline(c), c.url)}<br><span class="meta"><span class="{c.sentiment_label or "neutral"}">'
        f"{mood(c.sentiment)}</span> · impact {c.impact_absolute:.0f} · {esc(c.author or '?')} · {esc(where(c))}"
        f" · {c.published_at:%Y-%m-%d %H:%M}</span></li>"
        for c in cited
    )
    heading = f"<h4>{title}</h4>" if title else ""
    return f'{heading}<ul class="cites">{items}</ul>'

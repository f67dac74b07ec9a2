"""The report as Markdown, to paste into a chat, an email or a ticket (CommonMark with GitHub's pipe tables).

Untrusted text is made inert: control and bidi characters dropped (`output.sanitize_terminal`), then every
character that can start inline markup escaped with a backslash: emphasis, code, links and images, raw HTML,
entities, strikethrough, table pipes, `$` (GitHub's maths), and `@` and `#`, so a paste into a GitHub issue
mentions no one and links no other issue. Newlines are folded into spaces, so no block
(a heading, a list, a table row) can start inside a quoted post. Links are made only to http(s) URLs, with the
characters that could end a link destination percent-encoded.
"""

from __future__ import annotations

import re
from typing import IO
from urllib.parse import quote

from mentionwatch.output import sanitize_terminal
from mentionwatch.report.figures import duration, response_line
from mentionwatch.report.model import LABELS, BrandReport, Ranked, Report, Term
from mentionwatch.report.words import (
    change,
    headline,
    is_web_link,
    mood,
    percent,
    previous_text,
    share_and_trend,
    sparkline,
    where,
    window_text,
)
from mentionwatch.store import Citation
from mentionwatch.urls import community

_SPECIAL = re.compile(r"([\\`*_\[\]<>|~&$!#@])")
# What a link destination may hold unescaped: RFC 3986's reserved and unreserved characters, less the ones that
# end or break a Markdown link (`(`, `)`, `<`, `>`, space, `|` in a table, backslash).
_URL_SAFE = ":/?#[]@!$&*+,;=%-._~'"


def md(text: str) -> str:
    """Untrusted text as inert Markdown inline text (see the module docstring)."""
    return _SPECIAL.sub(r"\\\1", sanitize_terminal(text))


def md_link(text: str, url: str | None) -> str:
    """`[text](url)` for an http(s) URL; the text alone otherwise."""
    if not is_web_link(url):
        return md(text)
    assert url is not None
    return f"[{md(text)}]({quote(sanitize_terminal(url), safe=_URL_SAFE)})"


def write_markdown(report: Report, out: IO[str]) -> None:
    lines = [
        "# mentionwatch report",
        "",
        f"{window_text(report.window)}; compared with the previous period, {previous_text(report.window)}.",
    ]
    for section in (_volume, _image, _voice, _where, _who, _what, _spikes):
        lines += ["", *section(report)]
    out.write("\n".join(lines) + "\n")


def _name(b: BrandReport) -> str:
    return md(b.name) + (" (competitor)" if b.competitor else "")


def _row(*cells: str) -> str:
    return "| " + " | ".join(cells) + " |"


def _table(header: list[str], rows: list[list[str]], *, left: int = 1) -> list[str]:
    """A pipe table, its first `left` columns aligned left and the others (figures) right."""
    align = ["---" if i < left else "---:" for i in range(len(header))]
    return [_row(*header), _row(*align), *(_row(*r) for r in rows)]


def _volume(report: Report) -> list[str]:
    rows = [
        [
            _name(b),
            str(b.volume.mentions),
            str(b.volume.previous),
            change(b.volume),
            "`" + sparkline([p.mentions for p in b.volume.series], 60) + "`",
        ]
        for b in report.brands
    ]
    return [
        f"## Volume (mentions per {report.window.bucket})",
        "",
        *_table(["brand", "mentions", "before", "change", "trend"], rows),
    ]


def _image(report: Report) -> list[str]:
    rows = [
        [
            _name(b),
            *(share_and_trend(b.image.now.share(x), b.image.trend(x)) for x in LABELS),
            mood(b.image.weighted),
        ]
        for b in report.brands
    ]
    lines = [
        "## Image",
        "",
        *_table(["brand", *LABELS, "weighted sentiment"], rows),
        "",
        "Shares of mentions, with the change in points since the previous period. Weighted: the mean "
        "sentiment, each mention weighing 1 + its impact.",
    ]
    for b in report.brands:
        for title, cited in (("most negative", b.image.most_negative), ("most positive", b.image.most_positive)):
            if cited:
                lines += ["", f"**{md(b.name)}, {title}:**", "", *(_cite(c) for c in cited)]
    return lines


def _voice(report: Report) -> list[str]:
    rows = [
        [
            _name(b),
            percent(b.voice.mentions),
            percent(b.voice.impact),
            percent(b.image.now.share("positive")),
            percent(b.image.now.share("negative")),
            mood(b.image.weighted),
        ]
        for b in report.brands
    ]
    return [
        "## Share of voice",
        "",
        *_table(["brand", "of mentions", "of impact", "positive", "negative", "weighted sentiment"], rows),
    ]


def _where(report: Report) -> list[str]:
    rows = [
        [_name(b), _ranked(b.where.sources), _ranked(b.where.communities), _ranked(b.where.domains)]
        for b in report.brands
    ]
    return ["## Where (mentions)", "", *_table(["brand", "sources", "communities", "linked domains"], rows, left=4)]


def _who(report: Report) -> list[str]:
    lines = ["## Who"]
    for b in report.brands:
        lines += ["", f"**{md(b.name)}**: top authors by impact: {_ranked(b.who.authors, impact=True)}."]
        total = b.who.inbox_total
        if total:
            oldest = f" (the oldest {len(b.who.inbox)})" if total > len(b.who.inbox) else ""
            lines += ["", f"Needs a reply: {total}{oldest}, oldest first:", "", *(_cite(c) for c in b.who.inbox)]
        else:
            lines += ["", "Needs a reply: none."]
        if b.response is not None:
            lines += ["", f"Response: {md(response_line(b.response))}."]
            longest = b.response.oldest_waiting
            if longest is not None:
                waited = duration(report.generated_at - longest.published_at)
                who = md(longest.author or "?")
                lines += [
                    "",
                    f"Oldest waiting: {who} on {md(community(longest.url) or longest.source)}, "
                    f"for {waited}: {md_link(longest.url, longest.url)}",
                ]
    return lines


def _what(report: Report) -> list[str]:
    lines = ["## What", "", "Terms said with the brand, in how many mentions (before: in the previous period)."]
    for b in report.brands:
        lines += ["", f"**{md(b.name)}**", ""]
        for label, terms in (
            ("terms", b.what.terms),
            ("hashtags", b.what.hashtags),
            ("rising", b.what.rising),
            ("new", b.what.new),
        ):
            lines.append(f"- {label}: {_terms(terms)}")
    return lines


def _spikes(report: Report) -> list[str]:
    lines = ["## Spikes"]
    if not report.spikes:
        return [*lines, "", "None: no hour or day stood out from the ones before it."]
    for s in report.spikes:
        lines += [
            "",
            f"**{md(s.brand)}, {s.period}**: {s.mentions} mentions against a baseline of {s.baseline:g}"
            + (f"; terms: {md(', '.join(s.terms))}" if s.terms else "")
            + ".",
            "",
        ]
        lines += [_cite(c) for c in s.citations]
    return lines


def _ranked(items: list[Ranked], *, impact: bool = False) -> str:
    if not items:
        return "-"
    return ", ".join(f"{md(r.name)} ({r.mentions}" + (f", impact {r.impact:.0f})" if impact else ")") for r in items)


def _terms(terms: list[Term]) -> str:
    return ", ".join(f"{md(t.term)} ({t.mentions}, before {t.previous})" for t in terms) or "-"


def _cite(c: Citation) -> str:
    return (
        f"- {mood(c.sentiment)}, impact {c.impact_absolute:.0f}: {md_link(headline(c), c.url)} "
        f"({md(c.author or '?')}, {md(where(c))}, {c.published_at:%Y-%m-%d %H:%M})"
    )

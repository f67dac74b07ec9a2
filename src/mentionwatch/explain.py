"""`mentionwatch explain`: why one mention of a scan matched, how it was scored, what it was clustered with.

Everything is recomputed from the mention as exported and the current config, so the explanation shows the
parts that made each figure (the query clause, each exclusion tested, the scorer's own numbers, the impact
formula's terms) and, beside them, the figures the scan wrote. Impact percentiles are taken among the
mentions of the same input, as the scan took them among its own.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import IO, Any

from mentionwatch.config import BrandConfig, Config, owned_brands
from mentionwatch.dedupe import MIN_TOKENS, SEEN_FIGURES, text_tokens
from mentionwatch.errors import UsageError
from mentionwatch.impact import (
    PERCENTILE_HALF_AT,
    PERCENTILE_SHARE,
    POINTS_PER_DECADE,
    REACH_PER_ENGAGEMENT,
    REACH_PER_REFERRING_SUBNET,
    impact_parts,
    reply_reason,
)
from mentionwatch.matching import BrandMatcher, MatchReport, detect_language
from mentionwatch.models import Mention, parse_time
from mentionwatch.output import sanitize_terminal
from mentionwatch.sentiment import SentimentScorer, sentiment_label, sentiment_text
from mentionwatch.text import excerpt
from mentionwatch.urls import canonical_url


def read_records(text: str, where: str) -> list[dict[str, Any]]:
    """The mentions of a scan's output: JSONL (one object a line) or a JSON array (`scan -f json`). A record that
    cannot be read as a mention is a UsageError naming `where` and its line (its place in an array)."""
    # A byte-order mark (a file a spreadsheet or editor saved as "UTF-8 with BOM") is no part of the first record.
    text = text.removeprefix("\ufeff")
    stripped = text.lstrip()
    if stripped.startswith("["):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}: not valid JSON: {exc}") from None
        if not isinstance(data, list):
            raise UsageError(f"{where}: not valid JSON: expected an array of mentions")
        for number, record in enumerate(data, 1):
            _check(record, f"{where}: mention {number} of the array")
        return data
    records = []
    # Lines end at \n only: a JSON string may hold U+2028 and other characters str.splitlines() would split at.
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            data = json.loads(line)
        except json.JSONDecodeError as exc:
            raise UsageError(f"{where}:{number}: not a JSON object: {exc.msg}") from None
        _check(data, f"{where}:{number}")
        records.append(data)
    return records


def _check(record: Any, place: str) -> None:
    """Refuse, naming `place`, a record that is not a mention as a scan writes it."""
    if not isinstance(record, dict):
        raise UsageError(f"{place}: not a JSON object (a scan's output has one mention a line): {_kind(record)}")
    try:
        _read(record)
    except ValueError as exc:
        raise UsageError(f"{place}: mention {_shown_id(record)}: cannot read it: {exc}") from None


def _shown_id(record: dict[str, Any]) -> str:
    value = record.get("id")
    return repr(value) if isinstance(value, (str, int)) and not isinstance(value, bool) else "(no id)"


def _kind(value: Any) -> str:
    """A JSON value's type, as JSON names it."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "text"
    return "an array" if isinstance(value, list) else "an object"


def _expect(record: dict[str, Any], name: str, kinds: tuple[type, ...], wanted: str) -> None:
    value = record.get(name)
    if value is not None and (not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds)):
        raise ValueError(f"{name} is {_kind(value)}, not {wanted}")


# What a scan writes in an `also_seen` entry (dedupe.seen_entry): where the copy is, how it joined, its figures.
_SEEN_TEXT = ("source", "id", "url")


def _read(record: dict[str, Any]) -> Mention:
    """The mention a scan's record holds, with what explain reads beside it; ValueError says what is wrong (a text
    field holding an object, an `also_seen` that is no list of entries...)."""
    for name in ("source", "id", "url", "link", "title", "text", "author", "kind", "lang", "source_type"):
        _expect(record, name, (str, int, float), "text")
    for name in ("brand", "matched_query", "sentiment_label"):
        _expect(record, name, (str,), "text")
    for name in ("sentiment", "impact"):
        _expect(record, name, (int, float), "a number")
    _expect(record, "duplicates", (int,), "a whole number")
    _expect(record, "needs_reply", (bool,), "true or false")
    _expect(record, "matched_terms", (list,), "a list of terms")
    _expect(record, "also_seen", (list,), "a list of entries")
    _expect(record, "published_at", (str,), "a time")
    if isinstance(record.get("published_at"), str):
        try:
            parse_time(record["published_at"])
        except ValueError:
            raise ValueError(f"published_at {record['published_at']!r} is not a time") from None
    for name in SEEN_FIGURES:  # the counts a source gives
        value = record.get(name)
        if isinstance(value, (str, bool)) and not str(value).strip().lstrip("+-").isdigit():
            raise ValueError(f"{name} is {_kind(value)} ({value!r}), not a count")
        _expect(record, name, (int, float, str), "a count")
    for term in record.get("matched_terms") or []:
        if not isinstance(term, str):
            raise ValueError(f"matched_terms holds {_kind(term)}, not text")
    for i, seen in enumerate(record.get("also_seen") or []):
        if not isinstance(seen, dict):
            raise ValueError(f"also_seen[{i}] is {_kind(seen)}, not an entry (an object with source, id and url)")
        missing = [k for k in _SEEN_TEXT if k not in seen]
        if missing:
            raise ValueError(f"also_seen[{i}] has no {', '.join(missing)}")
        try:
            for name in (*_SEEN_TEXT, "match", "kind"):
                _expect(seen, name, (str, int) if name == "id" else (str,), "text")
            for name in SEEN_FIGURES:
                _expect(seen, name, (int, float), "a number")
        except ValueError as exc:
            raise ValueError(f"also_seen[{i}].{exc}") from None
    try:
        mention = Mention.from_dict(record, default_source=str(record.get("source") or "input"))
    except (ValueError, TypeError, OverflowError) as exc:
        raise ValueError(str(exc)) from None
    mention.brand = record.get("brand")
    mention.matched_terms = list(record.get("matched_terms") or [])
    # The cluster's shares and copies count in its impact (impact.cluster_reach, impact.scored_weight).
    mention.also_seen = list(record.get("also_seen") or [])
    return mention


def find(records: Sequence[dict[str, Any]], key: str) -> list[int]:
    """Indexes of the records whose id or URL is `key` (URLs compared canonically)."""
    wanted = canonical_url(key) if "://" in key else None
    return [i for i, record in enumerate(records) if _is(record, key, wanted)]


def find_in_clusters(records: Sequence[dict[str, Any]], key: str) -> list[tuple[int, dict[str, Any]]]:
    """The records whose cluster holds a duplicate whose id or URL is `key` (dedupe kept another mention of it and
    listed it in `also_seen`): each record's index and that `also_seen` entry."""
    wanted = canonical_url(key) if "://" in key else None
    found = []
    for i, record in enumerate(records):
        seen = record.get("also_seen")
        entry = next((s for s in seen if isinstance(s, dict) and _is(s, key, wanted)), None) if seen else None
        if entry is not None:
            found.append((i, entry))
    return found


def _is(record: dict[str, Any], key: str, wanted: str | None) -> bool:
    """Whether a record (or an `also_seen` entry) has the id or URL `key`; `wanted`: the URL's canonical form."""
    url = record.get("url")
    same_url = wanted is not None and isinstance(url, str) and canonical_url(url) == wanted
    return str(record.get("id")) == key or url == key or same_url


def _mention(record: dict[str, Any]) -> Mention:
    try:
        return _read(record)
    except ValueError as exc:
        raise UsageError(f"mention {_shown_id(record)}: cannot read it: {exc}") from None


def _match_section(report: MatchReport) -> dict[str, Any]:
    return {
        "brand": report.brand,
        "matched": report.matched,
        "reason": report.reason,
        "terms_found": report.terms_found,
        "query": report.query,
        "query_alternatives": [{"clause": c, "holds": ok} for c, ok in report.clauses],
        "clause": report.clause,
        "checks": [{"name": c.name, "tested": c.detail, "fired": c.fired} for c in report.checks],
        "lang": report.lang,
        # Whether the brand's rules (terms, query, exclusions) were read from the config and tested here.
        "rules_known": True,
    }


def _recorded_match(record: dict[str, Any], mention: Mention) -> dict[str, Any]:
    """What the scan's own record says of the match, and nothing more: without the config, the brand's terms, query
    and exclusions are unknown (a stand-in brand made of the terms found would say "no exclusion", and "terms found"
    for what a query matched)."""
    clause = record.get("matched_query")
    terms = mention.matched_terms
    if mention.brand is None:
        reason = "the record names no brand (a scan writes only the mentions that matched one)"
    elif clause:
        reason = f"query alternative holds: {clause}"
    elif terms:
        reason = "terms found: " + ", ".join(terms)
    else:  # a source on the brand's own ground: matched with no term and no query clause
        reason = "said on the brand's own page or account: its filters apply, its terms are not needed"
    return {
        "brand": mention.brand or "?",
        "matched": mention.brand is not None,
        "reason": reason,
        "terms_found": terms,
        "query": None,
        "query_alternatives": [],
        "clause": clause,
        "checks": [],
        "lang": mention.lang or detect_language(mention.title, mention.text),
        "rules_known": False,
    }


def explain(
    records: Sequence[dict[str, Any]], index: int, config: Config | None, scorer: SentimentScorer
) -> dict[str, Any]:
    """The explanation of records[index], as plain data (what `--json` prints). Without a config, the match is
    what the scan recorded (its brand, the terms it found, the query clause that held), and says that the brand's
    rules are unknown; with one, every rule is tested again."""
    record = records[index]
    mention = _mention(record)
    brands: list[BrandConfig] = []
    if config is None:
        match = [_recorded_match(record, mention)]
    else:
        brands = [b for b in config.brands if b.name == mention.brand] or list(config.brands)
        # An item of a source on the brand's own ground matched with no term and no query clause: the config's
        # sources say which brand owns which source.
        owner = owned_brands(config.sources).get(mention.source)
        match = [
            _match_section(
                BrandMatcher(brand).explain(
                    mention.title,
                    mention.text,
                    author=mention.author,
                    url=mention.url,
                    lang=mention.lang,
                    owned=brand.name == owner,
                )
            )
            for brand in brands
        ]

    text = sentiment_text(mention)
    found = scorer.score(text) if text else None
    polarity = found.polarity if found else 0.0
    sentiment = {
        "scorer": scorer.name,
        "polarity": round(polarity, 4),
        "label": sentiment_label(polarity),
        "subjectivity": None if found is None or found.subjectivity is None else round(found.subjectivity, 4),
        "parts": {k: round(v, 4) for k, v in (found.parts if found else {}).items()},
        "text_scored": text,
        "in_scan": {"sentiment": record.get("sentiment"), "sentiment_label": record.get("sentiment_label")},
    }

    everyone = [_mention(r) for r in records]
    parts = impact_parts(everyone)[index].to_dict()
    # The cluster's reach (what `weight` counted when larger than its own) follows the fields explain printed first.
    later = {k: parts.pop(k) for k in ("cluster_reach", "cluster_reach_from", "weight_reach")}
    impact = {**parts, "in_scan": record.get("impact"), "mentions_in_input": len(records), **later}

    mention.sentiment = round(polarity, 4)
    mention.sentiment_label = sentiment_label(polarity)
    mention.reach = parts["reach"]
    reply_reach = brands[0].reply_reach if len(brands) == 1 else 1000
    # The brand's terms say what names it, and which only as written (without its config: the terms found).
    reason = reply_reason(mention, reply_reach, brand=brands[0] if len(brands) == 1 else None)
    needs_reply = {
        "needs_reply": reason is not None,
        "reason": reason,
        "reply_reach": reply_reach,
        "in_scan": record.get("needs_reply"),
        # False: no config, so `reply_reach` is the default, not the brand's own.
        "reply_reach_known": config is not None,
    }

    tokens = len(text_tokens(mention))
    also_seen = mention.also_seen
    duplicates = {
        "canonical_url": canonical_url(mention.url),
        "words": tokens,
        "text_clustering": tokens >= MIN_TOKENS,
        "duplicates": record.get("duplicates") or len(also_seen),
        "also_seen": [
            {k: s[k] for k in ("source", "id", "url", "match", *SEEN_FIGURES) if s.get(k) is not None}
            for s in also_seen
        ],
    }
    return {
        "mention": {
            "source": mention.source,
            "id": mention.id,
            "url": mention.url,
            "title": mention.title,
            "text": excerpt(mention.text, 300),
            "author": mention.author,
            "published_at": record.get("published_at"),
            "brand": mention.brand,
        },
        "match": match,
        "sentiment": sentiment,
        "impact": impact,
        "needs_reply": needs_reply,
        "duplicates": duplicates,
    }


# --------------------------------------------------------------------------------------------------------
# Human-readable form


def render(explanations: Iterable[dict[str, Any]], out: IO[str], *, width: int | None = None) -> None:
    """Print explanations for people. Every string from the internet is sanitised and printed as a rich
    `Text`, never parsed as markup."""
    from mentionwatch.output import make_console

    console = make_console(file=out, highlight=False, width=width, soft_wrap=False)
    for i, data in enumerate(explanations):
        if i:
            console.print()
        for line in _lines(data):
            console.print(line)


def _t(value: Any) -> str:
    """Text from the internet (or derived from it), made safe for a terminal."""
    return sanitize_terminal(str(value))


def _reach_from(impact: dict[str, Any]) -> str:
    """Where an impact's reach came from, in words."""
    if impact["reach_source"] == "followers":
        return "the author's followers"
    if impact["reach_source"] != "outlet ranking":
        return f"the {_t(impact['reach_source'])} its source counts"
    subnets = impact["reach"] // REACH_PER_REFERRING_SUBNET
    return f"{_t(impact['outlet'])} in the outlet ranking (#{impact['outlet_rank']:,}, {subnets:,} referring subnets)"


def _cluster_reach_from(impact: dict[str, Any]) -> str:
    """Which share or copy of the cluster has its largest reach, and where that figure came from, in words."""
    seen = impact["cluster_reach_from"]
    how = _reach_from({**seen, "reach": impact["cluster_reach"]}).replace("the author's", "its author's")
    where = f" on {_t(seen['outlet'])}" if seen.get("outlet") else ""
    what = "share" if seen.get("match") == "link" else "copy"
    url = f" ({_t(seen['url'])})" if seen["url"] != seen["id"] else ""
    return f"its {what}{where}, {_t(seen['source'])} {_t(seen['id'])}{url}: {how}"


def _weight(p: dict[str, Any]) -> str:
    """The weight's formula, its terms as counted, and which reach it used: the terms add up to the weight."""
    reach = p.get("weight_reach") or 0
    terms = [str(p["engagement"] or 0), f"{reach} / {REACH_PER_ENGAGEMENT}"]
    formula = f"engagement + reach / {REACH_PER_ENGAGEMENT}"
    if p.get("shared_engagement"):
        terms.insert(1, str(p["shared_engagement"]))
        formula = f"engagement + shared + reach / {REACH_PER_ENGAGEMENT}"
    line = f"{formula} = {' + '.join(terms)} = {p['weight']}"
    if p.get("cluster_reach") is not None and reach == p["cluster_reach"] and reach > (p["reach"] or 0):
        line += " (reach: its cluster's, larger than its own)"
    return line


def _lines(data: dict[str, Any]) -> Iterable[Any]:
    from rich.text import Text

    def head(title: str) -> Text:
        return Text(title, style="bold")

    def row(label: str, value: str, style: str = "") -> Text:
        # `value` is already sanitised where it holds outside text; Text() never parses markup.
        line = Text(f"  {label}: ", style="dim")
        line.append(value, style=style)
        return line

    m = data["mention"]
    top = Text(f"{_t(m['source'])} {_t(m['id'])}", style="bold")
    top.append(f"  {_t(m['url'])}")
    yield top
    if m["title"]:
        yield row("title", _t(m["title"]))
    if m["text"]:
        yield row("text", _t(m["text"]))
    yield row("author", _t(m["author"]) or "unknown")
    yield row("published", _t(m["published_at"]))
    found = data.get("found_in_cluster")
    if found:
        yield row(
            "asked for",
            f"{_t(found['source'])} {_t(found['id'])}, a duplicate folded into this mention's cluster"
            f" (joined by {_t(found.get('match') or 'unknown')}): the mention kept for it is explained",
            "yellow",
        )

    for match in data["match"]:
        verdict = "matched" if match["matched"] else "does not match"
        yield head(f"Why it matched brand {_t(match['brand'])}: {verdict}")
        yield row("reason", _t(match["reason"]), "green" if match["matched"] else "red")
        yield row("terms found", _t(", ".join(match["terms_found"])) or "none")
        if match["query"]:
            yield row("query", _t(match["query"]))
            for alt in match["query_alternatives"]:
                held = "holds" if alt["holds"] else "does not hold"
                yield row("alternative", f"{_t(alt['clause'])}  ->  {held}")
        if match["clause"] and not match["query"]:
            yield row("query alternative", _t(match["clause"]))
        for check in match["checks"]:
            state = "FIRED" if check["fired"] else "did not fire"
            yield row(check["name"], f"{_t(check['tested'])}  ->  {state}", "red" if check["fired"] else "")
        if not match.get("rules_known", True):
            yield row("rules", "unknown without -c (the brand's terms, query, exclusions): as the scan recorded it")
        elif not match["checks"]:
            yield row("exclusions", "none configured")
        yield row("language", _t(match["lang"] or "unknown"))

    s = data["sentiment"]
    yield head("Sentiment")
    yield row("scorer", _t(s["scorer"]))
    yield row("polarity", f"{s['polarity']} ({s['label']}; neutral between -0.05 and 0.05)")
    if s["subjectivity"] is not None:
        yield row("subjectivity", str(s["subjectivity"]))
    if s["parts"]:
        yield row("parts", ", ".join(f"{_t(k)} {v}" for k, v in s["parts"].items()))
    yield row("scored text", _t(excerpt(s["text_scored"], 200)) or "(empty)")
    yield row("in the scan", f"{_t(s['in_scan']['sentiment'])} ({_t(s['in_scan']['sentiment_label'])})")

    p = data["impact"]
    share = p["percentile_share"]
    yield head("Impact")
    yield row("engagement", str(p["engagement"]) if p["engagement"] is not None else "unknown")
    yield row("reach", str(p["reach"]) if p["reach"] is not None else "unknown")
    if p.get("reach_source"):
        yield row("reach from", _reach_from(p))
    if p.get("cluster_reach") is not None:
        yield row("cluster reach", f"{p['cluster_reach']}, the largest in its cluster: {_cluster_reach_from(p)}")
    if p.get("shared_engagement"):
        yield row("shared", f"{p['shared_engagement']} (what its shares and copies drew, listed below)")
    yield row("weight", _weight(p))
    yield row("absolute", f"min(100, {POINTS_PER_DECADE:g} * log10(1 + {p['weight']})) = {p['absolute']}")
    yield row("percentile", f"{p['percentile']} among {p['peers']} {_t(p['group'])} mention(s) in the input")
    yield row("share", f"{PERCENTILE_SHARE:g} * n / (n + {PERCENTILE_HALF_AT}) = {share}")
    yield row(
        "impact",
        f"(1 - {share}) * {p['absolute']} + {share} * {p['percentile']} = {p['impact']}"
        f" (in the scan: {_t(p['in_scan'])})",
        "bold",
    )

    r = data["needs_reply"]
    yield head("Needs a reply")
    if r["reason"]:
        yield row("verdict", f"yes: {_t(r['reason'])}", "yellow")
    else:
        yield row(
            "verdict", f"no: no question to the brand, no complaint, and not negative with reach > {r['reply_reach']:,}"
        )
    if not r.get("reply_reach_known", True):
        yield row("reply_reach", f"{r['reply_reach']:,} is the default: the brand's own is unknown without -c")

    d = data["duplicates"]
    yield head("Duplicates")
    yield row("canonical URL", _t(d["canonical_url"]))
    clustering = "yes" if d["text_clustering"] else f"no (fewer than {MIN_TOKENS} words: URL only)"
    yield row("words", f"{d['words']}; near-duplicate text clustering: {clustering}")
    yield row("also seen", f"{d['duplicates']} other(s)" if d["also_seen"] else "nowhere else")
    for seen in d["also_seen"]:
        figures = ", ".join(f"{seen[k]} {k}" for k in SEEN_FIGURES if k in seen)
        how = ", ".join(x for x in (_t(seen.get("match", "")), figures) if x)
        yield Text(f"    - {_t(seen['source'])} {_t(seen['id'])}{f' ({how})' if how else ''}  {_t(seen['url'])}")

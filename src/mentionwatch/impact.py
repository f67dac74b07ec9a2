"""Impact and "needs a reply": what to act on first.

Impact puts every mention on one 0-100 scale, whatever its source (see `impact_parts`); a mention needs a reply
when it asks the brand something, tells of a problem with it, or is negative and loud (see `reply_reason`).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol
from urllib.parse import urlsplit

from mentionwatch.ahead import Ahead
from mentionwatch.models import Mention
from mentionwatch.outlets import Outlet, outlet_of
from mentionwatch.text import URL
from mentionwatch.urls import canonical_url


def engagement_of(mention: Mention) -> int | None:
    """The source's own engagement figures, added up: score/points, comments, likes, reposts, quotes."""
    figures = [mention.score, mention.comments, mention.likes, mention.reposts, mention.quotes]
    known = [max(0, f) for f in figures if f is not None]
    return sum(known) if known else None


def reach_of(mention: Mention) -> int | None:
    """The audience its source counts: the author's followers, else the item's views, else unknown."""
    if mention.followers is not None:
        return max(0, mention.followers)
    if mention.views is not None:
        return max(0, mention.views)
    return None


# 100 followers or views are worth one engagement (a like, a point, a comment): ~1% is a typical rate.
REACH_PER_ENGAGEMENT = 100
# The absolute scale: 25 points per decade, 100 at 10,000 engagement-equivalents.
POINTS_PER_DECADE = 25.0
# How much the within-source percentile counts: at most 30%, less when the source gave few mentions (a
# percentile among three is noise). The absolute scale keeps the larger share, so sources stay comparable.
PERCENTILE_SHARE = 0.3
PERCENTILE_HALF_AT = 10
# An article's reach when its source counts none: its outlet's referring subnets (outlets.py), one reader each.
# The link count is a stand-in, not a readership: at one per subnet an article in the FT (45,142) weighs like a
# post seen by 45,000 people, one on a site ranked 5,000th (about 6,000) like one seen by 6,000, and the order
# between outlets is the data's own.
REACH_PER_REFERRING_SUBNET = 1
# The kind of item an outlet publishes (a feed item). A post, comment, story, question or video has its author's
# audience, not the site's: the site is the platform it was said on (a Hacker News comment is not an article of
# ycombinator.com).
OUTLET_KIND = "article"
# Mentions that answer another (a comment under a story, a reply, a quote post): never a share of a page.
REPLY_KINDS = frozenset({"comment", "reply", "quote"})


@dataclass(frozen=True)
class Reach:
    """A mention's audience and where the figure came from: "followers" or "views" (as its source counts
    them), or "outlet ranking" (the site's referring subnets, for an article whose source counts neither)."""

    audience: int | None
    source: str | None = None
    outlet: Outlet | None = None


def reach_with_source(mention: Mention) -> Reach:
    """The mention's audience (see `Reach`): the source's own figure, else its outlet's, else unknown."""
    audience = reach_of(mention)
    if audience is not None:
        return Reach(audience, "followers" if mention.followers is not None else "views")
    outlet = outlet_of(mention.url) if mention.kind == OUTLET_KIND else None
    if outlet is None:
        return Reach(None)
    return Reach(outlet.ref_subnets * REACH_PER_REFERRING_SUBNET, "outlet ranking", outlet)


# How a duplicate joined its cluster (dedupe's `also_seen` entries): a share of the story (`link`) or a copy of its
# text (`text`) drew its own discussion, which is the story's too; the same post seen again (`url`) did not.
_OWN_DISCUSSION = frozenset({"link", "text"})


@dataclass(frozen=True)
class ClusterReach:
    """The largest reach among a mention's shares and copies (`cluster_reach`): how large, what kind of figure
    ("followers", "views" or "outlet ranking", as `Reach` names them), and which `also_seen` entry has it."""

    audience: int
    source: str
    seen: Mapping[str, Any]
    outlet: Outlet | None = None

    def describe(self) -> dict[str, Any]:
        """Where the figure came from, as plain data (`explain`'s JSON)."""
        return {
            "source": self.seen.get("source"),
            "id": self.seen.get("id"),
            "url": self.seen.get("url"),
            "match": self.seen.get("match"),
            "reach_source": self.source,
            "outlet": self.outlet.domain if self.outlet else None,
            "outlet_rank": self.outlet.rank if self.outlet else None,
        }


def _count(value: Any) -> int | None:
    return max(0, value) if isinstance(value, int) and not isinstance(value, bool) else None


def _seen_reach(seen: Mapping[str, Any]) -> ClusterReach | None:
    """One share's or copy's reach: its followers, else its views, else for a copy of an article its outlet's."""
    for name in ("followers", "views"):
        audience = _count(seen.get(name))
        if audience is not None:
            return ClusterReach(audience, name, seen)
    if seen.get("kind") == OUTLET_KIND and isinstance(seen.get("url"), str):
        outlet = outlet_of(seen["url"])  # a copy of the article on another outlet
        if outlet is not None:
            return ClusterReach(outlet.ref_subnets * REACH_PER_REFERRING_SUBNET, "outlet ranking", seen, outlet)
    return None


def cluster_reach(mention: Mention) -> ClusterReach | None:
    """The largest reach among the mention's shares and copies (audiences overlap: reach is never summed), and
    which one has it; None when none is known."""
    best: ClusterReach | None = None
    for seen in mention.also_seen:
        if seen.get("match") in _OWN_DISCUSSION:
            found = _seen_reach(seen)
            if found is not None and (best is None or found.audience > best.audience):
                best = found
    return best


def scored_weight(mention: Mention) -> float:
    """The weight of a mention scored already (its `engagement` and `reach` fields), with what its cluster adds: the
    engagement its shares and copies drew, and the largest reach among them when larger than its own (as
    `impact_parts` weighs it; the store weighs what its rows hold so)."""
    best = cluster_reach(mention) if mention.also_seen else None
    audience = max(mention.reach or 0, best.audience if best else 0)
    shared = _shared_engagement(mention) if mention.also_seen else 0
    return (mention.engagement or 0) + shared + audience / REACH_PER_ENGAGEMENT


def _shared_engagement(mention: Mention) -> int:
    shared = 0
    for seen in mention.also_seen:
        if seen.get("match") not in _OWN_DISCUSSION:
            continue
        figures = [seen.get(name) for name in ("score", "comments", "likes", "reposts", "quotes")]
        shared += sum(max(0, int(f)) for f in figures if isinstance(f, int) and not isinstance(f, bool))
    return shared


@dataclass(frozen=True)
class ImpactParts:
    """The terms of the impact formula for one mention (what `mentionwatch explain` prints)."""

    group: str
    engagement: int | None
    reach: int | None
    weight: float
    absolute: float
    percentile: float
    peers: int
    percentile_share: float
    impact: float
    # The engagement its cluster's shares and copies drew, counted in `weight` (0 for a mention alone).
    shared_engagement: int = 0
    # Where `reach` came from: "followers", "views", "outlet ranking", or None when it is unknown; for the outlet
    # ranking, the ranked domain and its rank in the Majestic Million.
    reach_source: str | None = None
    outlet: str | None = None
    outlet_rank: int | None = None
    # The largest reach among its cluster's shares and copies, and which one has it (`ClusterReach.describe`);
    # `weight` counts the larger of the two: `weight_reach` (None when neither is known).
    cluster_reach: int | None = None
    cluster_reach_from: dict[str, Any] | None = None
    weight_reach: int | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def absolute_impact(weight: float) -> float:
    return min(100.0, POINTS_PER_DECADE * math.log10(1 + weight))


def impact_parts(mentions: Sequence[Mention]) -> list[ImpactParts]:
    """Impact in [0, 100] for each mention, comparable across sources.

        weight     = engagement + shared + reach / 100       shared: what its cluster's shares and copies drew
        absolute   = min(100, 25 * log10(1 + weight))          100 at 10,000 engagement-equivalents
        percentile = mid-rank of weight among the n mentions of the same source type in this scan, 0-100
        share      = 0.3 * n / (n + 10)                         0.03 for one mention, 0.15 for ten, -> 0.3
        impact     = (1 - share) * absolute + share * percentile

    The absolute log scale makes a 2,000-point Hacker News story (~83 alone, ~89 atop 100 HN items)
    outrank a reply with one like (~7 alone, ~26 atop 20 silent Mastodon posts) in any scan, even one with
    a single item; the percentile lifts what stands out within its own source, so sources whose figures
    run small (a Mastodon boost vs a Reddit upvote) still surface their best. A mention with no figures at
    all weighs 0 and sits at its source's median: its impact is the percentile's share of 50.

    A story's impact includes the discussion it drew elsewhere: the engagement of its cluster's shares and
    copies (`also_seen` entries that joined by `link` or `text`; the same post seen twice adds nothing), and the
    largest reach among them when it is larger than its own (audiences overlap: reach is never summed). The
    mention's own `engagement` and `reach` stay its own; `cluster_reach` is the largest among its shares and copies
    (`cluster_reach_from` says which), `weight_reach` the larger of the two, which `weight` counts.

    `reach` is the source's own figure (followers, else views); an article whose source counts neither takes its
    outlet's weight, the site's referring subnets in the shipped Majestic Million extract (`outlets.py`), so the
    FT (45,142: ~66 alone) outranks a content farm (unknown: 0) and a mid-size paper (~10,000: ~50) sits between.
    """
    groups: dict[str, list[float]] = {}
    weights: list[tuple[str, int | None, Reach, float]] = []
    clusters: list[tuple[int, ClusterReach | None]] = []
    for m in mentions:
        engagement, reach = engagement_of(m), reach_with_source(m)
        shared, copies = (_shared_engagement(m), cluster_reach(m)) if m.also_seen else (0, None)
        audience = max(reach.audience or 0, copies.audience if copies else 0)
        weight = (engagement or 0) + shared + audience / REACH_PER_ENGAGEMENT
        group = m.source_type or m.source
        groups.setdefault(group, []).append(weight)
        weights.append((group, engagement, reach, weight))
        clusters.append((shared, copies))
    sorted_groups = {g: sorted(ws) for g, ws in groups.items()}
    out = []
    for (group, engagement, reach, weight), (shared, copies) in zip(weights, clusters, strict=True):
        peers = sorted_groups[group]
        n = len(peers)
        below = bisect.bisect_left(peers, weight)
        equal = bisect.bisect_right(peers, weight) - below
        percentile = 100.0 * (below + 0.5 * equal) / n
        share = PERCENTILE_SHARE * n / (n + PERCENTILE_HALF_AT)
        absolute = absolute_impact(weight)
        impact = round((1 - share) * absolute + share * percentile, 1)
        out.append(
            ImpactParts(
                group=group,
                engagement=engagement,
                reach=reach.audience,
                weight=round(weight, 2),
                absolute=round(absolute, 2),
                percentile=round(percentile, 2),
                peers=n,
                percentile_share=round(share, 4),
                impact=impact,
                shared_engagement=shared,
                reach_source=reach.source,
                outlet=reach.outlet.domain if reach.outlet else None,
                outlet_rank=reach.outlet.rank if reach.outlet else None,
                cluster_reach=copies.audience if copies else None,
                cluster_reach_from=copies.describe() if copies else None,
                weight_reach=_larger(reach.audience, copies.audience if copies else None),
            )
        )
    return out


def _larger(a: int | None, b: int | None) -> int | None:
    return b if a is None else a if b is None else max(a, b)


# --------------------------------------------------------------------------------------------------------
# Needs a reply

# Question marks beyond ASCII's: full-width ？ (Chinese, Japanese), Arabic ؟ (also Persian, Urdu), the Greek
# question mark U+037E (not the ASCII semicolon, which ends English clauses), the reversed ⸮, Ethiopic ፧, small ﹖,
# and the interrobangs ‽ ⁇ ⁈ ⁉.
QUESTION_MARKS = "?\uff1f\u061f\u037e\u2e2e\u1367\ufe56\u203d\u2047\u2048\u2049"
# Full stops and marks of scripts written without spaces (。！？｡): a sentence ends there even with no space after.
_UNSPACED_ENDS = "\u3002\uff01\uff1f\uff61"
# What may close a question after its mark: `(does Acme ship to Canada?)`, `「いつ届きますか？」`.
_CLOSERS = " \t)]}\"'\u201d\u2019\u00bb\u300d\u300f\uff09\u3011"
# Where a sentence ends: after . ! or a question mark and a space, and at a line break.
_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
# ... and in text beyond ASCII, also after the other scripts' question marks and full stops (Devanagari, Urdu,
# Ethiopic), and after a mark of a script written without spaces with none (but not between `？？` nor before a
# closing quote): tried only there, as it costs half as much again.
_ANY_SENTENCE_BREAK = re.compile(
    rf"(?<=[.!{QUESTION_MARKS}\u0964\u06d4\u1362{_UNSPACED_ENDS}])\s+"
    rf"|(?<=[{_UNSPACED_ENDS}])(?=[^\s.!{QUESTION_MARKS}{_UNSPACED_ENDS}{re.escape(_CLOSERS)}])"
    r"|\n+"
)
_LEAD_IN = re.compile(r"^(?:ask hn|ask reddit|q|question|help|psa)\s*:\s*|^[\"'“(\[]+", re.IGNORECASE)
# A question to someone starts like one: "does Acme ...?", "how do I ...?", "anyone know ...?"
_INTERROGATIVE = re.compile(
    r"^(?:how|why|what|where|when|which|who|does|do|did|is|are|was|can|could|should|would|will|has|have"
    r"|any(?:one|body| one)|some(?:one|body)|help)\b",
    re.IGNORECASE,
)
# ... and these ask even without a question mark: "how do I export from Acme", "anyone know if Acme ...".
_ASKING = re.compile(
    r"^(?:how (?:do|can|does|should|would|to)\b|why (?:does|do|is|are|won't|doesn't|isn't|can't)\b"
    r"|where (?:do|can|is|are)\b|is there\b|can (?:i|you|someone|anyone)\b"
    r"|(?:does |has )?any(?:one|body| one) (?:know|have|tried|else)\b|please help\b)",
    re.IGNORECASE,
)


def _ends_question(sentence: str) -> bool:
    """Ends with a question mark of any script (a closing bracket or quote after it aside)."""
    return sentence.rstrip(_CLOSERS).endswith(tuple(QUESTION_MARKS))


class BrandNames(Protocol):
    """What rule 1 reads of a brand (config's `BrandConfig` is one): its name and terms, and which terms match
    only as written. Impact sits below config, so it names the fields it needs (as `matching.BrandRules` does)."""

    @property
    def name(self) -> str: ...
    @property
    def terms(self) -> Sequence[str]: ...
    @property
    def case_sensitive(self) -> bool: ...
    @property
    def case_sensitive_terms(self) -> Sequence[str]: ...


@dataclass(frozen=True)
class _Names:
    """A brand's names, as patterns: `any_case` searched in the casefolded sentence, `as_written` in the sentence."""

    any_case: re.Pattern[str] | None
    as_written: re.Pattern[str] | None

    def named_in(self, sentence: str) -> bool:
        if self.as_written is not None and self.as_written.search(sentence):
            return True
        return self.any_case is not None and self.any_case.search(sentence.casefold()) is not None


@dataclass(frozen=True)
class _Spelling:
    """A brand's names as rule 1 reads them, worked out once per brand: its terms, those that match only as
    written, and whether its name does."""

    name: str
    terms: frozenset[str]
    written: frozenset[str]
    name_written: bool


def _spelling(brand: BrandNames) -> _Spelling:
    every = frozenset((*brand.terms, *brand.case_sensitive_terms))
    written = frozenset((*brand.case_sensitive_terms, *(brand.terms if brand.case_sensitive else ())))
    # Its name is one of its names too, as its terms spell it: "Slack" as written when only a case-sensitive term
    # spells it; a name no term spells ("Acme Corp") as the brand's terms are matched.
    spelled = [t for t in every if t.casefold() == brand.name.casefold()]
    name_written = all(t in written for t in spelled) if spelled else brand.case_sensitive
    return _Spelling(brand.name, every, written, name_written)


def _brand_names(mention: Mention, brand: _Spelling | None) -> _Names | None:
    """What names the brand in a sentence: its name and the terms of it found in this mention, each matching as
    the brand's config says (a case-sensitive term only as written: "Slack", not "some slack"). A query's words
    are no names: in `"acme cloud" AND (outage OR down*)`, `down*` is what is said, not whom it is said to.

    Without the brand's config (a record read back without `-c`), its name and the terms found stand in, in any
    case; a query's words are left out where they can be told apart: every word found when a query clause
    matched (`matched_query`: no term did), and a `prefix*`."""
    if brand is None:
        terms = () if mention.matched_query else tuple(t for t in mention.matched_terms if not t.endswith("*"))
        return _compiled_names(tuple(n for n in (mention.brand, *terms) if n), ())
    found = [t for t in mention.matched_terms if t in brand.terms]
    any_case = [t for t in found if t not in brand.written] + ([] if brand.name_written else [brand.name])
    as_written = [t for t in found if t in brand.written] + ([brand.name] if brand.name_written else [])
    return _compiled_names(tuple(any_case), tuple(as_written))


# `re` keeps 512 compiled patterns; a brand of a thousand terms makes more distinct ones than that, and
# compiling one costs as much as the rest of a mention's scoring.
@lru_cache(maxsize=4096)
def _compiled_names(any_case: tuple[str, ...], as_written: tuple[str, ...]) -> _Names | None:
    folded, written = _alternation(t.casefold() for t in any_case), _alternation(as_written)
    return None if folded is None and written is None else _Names(folded, written)


def _alternation(names: Iterable[str]) -> re.Pattern[str] | None:
    # Whole words; a phrase's words apart by any whitespace, as matching has them.
    alternatives = {r"\s+".join(map(re.escape, name.strip().strip('"').split())) for name in names}
    alternatives.discard("")
    if not alternatives:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(sorted(alternatives, key=len, reverse=True))})(?!\w)")


# What tells of a problem, in English, read in lower-cased text (IGNORECASE makes these patterns 3x slower).
# A fault a person tells of: "no crashes", "never fails", "zero errors", "crashes less" are good news, so a fault
# with a negation before it (`_NEGATED`) or "anymore" / "less" after it tells of none.
_FAULT = (
    r"errors?|bugs?|buggy|glitch(?:es|y)?|crash(?:es|ed|ing)?|broken|broke|outages?|downtime|data loss"
    r"|fail(?:s|ed|ing|ures?)?|freez(?:es|ing)|froze|lost (?:my|all|our|every|the)\b|deleted (?:all )?(?:my|our)\b"
    r"|(?:is|are|was|were|been|goes|went) down(?! \d)(?!\s+(?:by|to|from)\b)|down again"
)
# Troubles whose words carry their own negation ("doesn't work", "never replied"), a refund asked for, bad support.
_TROUBLE = (
    r"(?:doesn'?t|does not|don'?t|do not|isn'?t|is not|not|stopped|no longer) work(?:s|ing)?"
    r"|won'?t (?:load|work|open|start|sync|let me|connect|install|update|launch|log)"
    r"|(?:can'?t|cannot|unable to) (?:log ?in|login|sign ?in|access|connect|open|sync|install|update|cancel)"
    r"|keeps? (?:crashing|freezing|failing|logging me out|disconnecting)|locked (?:me )?out"
    r"|(?:account|i'?m|i am) (?:is |was |got |has been |been )?locked"
    r"|(?:never|nobody|no one|no-one) (?:arrived|replied|replies|answered|answers|responded|responds|got back)"
    r"|no (?:reply|answer|response) from|(?:charged|billed) (?:me )?twice|double[- ]charged|overcharged|refund"
    r"|(?:no|bad|poor|awful|terrible|horrible|useless|zero|non-?existent) (?:customer )?support"
    r"|support (?:is|was) (?:useless|awful|terrible|horrible|bad|poor|non-?existent|a joke)"
    r"|support (?:never|still|hasn'?t|has not|didn'?t|did not|won'?t|doesn'?t|does not|ignored|ignores|refused)"
)
# What tells of a problem whatever the mention's tone.
_PROBLEM = re.compile(rf"\b(?:(?P<fault>{_FAULT})|{_TROUBLE})\b")
# ... and, in a mention its scorer calls negative, these words too: its tone says they are a complaint.
_COMPLAINT = re.compile(
    rf"\b(?:(?P<fault>{_FAULT})|{_TROUBLE}"
    r"|lost|losing|support|cancel(?:led|ed)?|charged|scam|slow|awful|terrible|horrible|worst|useless"
    r"|unusable|disappointed|disappointing|frustrat\w*|annoying|no luck|unacceptable|ripped off"
    r"|can'?t (?:log|sign|get|find))\b",
)
_NEGATED = re.compile(
    r"\b(?:no|zero|never|without|not|nor|fewer|less|no more|no longer|hardly|rarely|\w+n't)\s+"
    r"(?:(?:a|an|any|single|more|further|other|real|major|big|one|the|those)\s+){0,2}$",
)
_NONE_SINCE = re.compile(r"\s+(?:anymore|any more|any longer|less)\b")
# A problem told as solved: "Acme fixed the crash", "got my refund". Not when the fix is denied ("hasn't fixed").
_RESOLVED = re.compile(
    r"(?<!n't )(?<!not )(?<!never )(?<!yet )\b(?:fixed|fixes|resolved|solved|sorted out|patched|refunded"
    r"|works again|working again|back up|back online|(?:got|received) (?:me )?(?:a |my |the |our )?refund)\b",
)
# Praise in the same clause as a fault makes it none ("Acme's error messages are great"); its tone is clearly
# positive. (A sentiment score cannot tell: VADER gives "Acme fixed the crash, great work" +0.34 and "Acme support
# never replied to my ticket and my account is locked" +0.40, its lexicon counting "support" as praise.)
_PRAISE = re.compile(
    r"\b(?:great|love[sd]?|loving|thanks|thank you|thx|awesome|amazing|excellent|perfect|kudos|brilliant"
    r"|fantastic|impressed|impressive|well done|good job|nice work|props)\b",
)
# Clauses: a fault and the praise or the fix it is set against are told apart ("love it, but it keeps crashing").
_CLAUSE_BREAK = re.compile(r"[,;:]\s+|\s+(?:but|though|although|however|yet|except)\s+|\s+[-–—]+\s+")


def _tells_of_problem(clause: str, words: re.Pattern[str]) -> bool:
    """Whether the clause tells of a problem in `words`: one not denied ("no crashes") nor told as solved."""
    for found in words.finditer(clause):
        if found.group("fault") is None:
            return _RESOLVED.search(clause) is None
        if not _NEGATED.search(clause, 0, found.start()) and not _NONE_SINCE.match(clause, found.end()):
            return _RESOLVED.search(clause) is None
    return False


def reply_reason(
    mention: Mention, reply_reach: int, ahead: Ahead[str | None] | None = None, brand: BrandNames | None = None
) -> str | None:
    """Why the brand should answer this mention, or None. Three rules, in this order (English phrasing; a
    question mark works in any language):

    1. a question to the brand: addressed to its handle (`@acme ...?`), or naming it ("does Acme ...?", "how do
       I ... in Acme") by its name or one of its terms (as the brand's config matches them: `brand`; a query's
       other words are no names);
    2. a complaint about its product or service, whatever the author's reach: a post or comment (not a press
       article: `kind` "article") telling of a problem (an error, a crash, lost data, a refund, bad support:
       `_PROBLEM`), in a sentence naming the brand unless praise or a fix in the same clause says it is none —
       "Acme won't sync since the update" needs an answer whatever its sentiment; in a mention its scorer calls
       negative, any sentence telling of one, in wider words (`_COMPLAINT`) — "lost my data twice. Awful support"
       needs an answer even from someone with no followers;
    3. a negative mention from an author whose reach (followers, else views: `reach_of`) exceeds the brand's
       `reply_reach`. An outlet's ranking is not an author's reach: a critical article waits for no answer.

    `ahead`: rules 1 and 2 worked out earlier (`replies_ahead`, given the same brands)."""
    if ahead is not None:
        said = ahead.take(mention)
    else:
        said = _asks_or_complains(mention, None if brand is None else _spelling(brand))
    return said if said is not None else _loud_negative(mention, reply_reach)


def _loud_negative(mention: Mention, reply_reach: int) -> str | None:
    """Rule 3 of `reply_reason`."""
    author_reach = reach_of(mention)
    if mention.sentiment_label == "negative" and (author_reach or 0) > reply_reach:
        return f"negative ({mention.sentiment}) from an author with reach {author_reach:,} > {reply_reach:,}"
    return None


def replies_ahead(limit: int = 2000, brands: Iterable[BrandNames] = ()) -> Ahead[str | None]:
    """The first two rules of `reply_reason` (what a mention's words say) worked out before `score_impact` runs,
    for mentions scored already (what unchanged documents gave): 10 of the 25 ms it took for 400 mentions.
    `brands`: as `score_impact` is given them."""
    by_name = {b.name: _spelling(b) for b in brands}
    return Ahead(lambda m: _asks_or_complains(m, by_name.get(m.brand or "")), _what_it_says, limit)


def _what_it_says(mention: Mention) -> tuple[object, ...]:
    """What of a mention the first two rules of `reply_reason` read."""
    return (
        mention.title,
        mention.text,
        tuple(mention.matched_terms),
        mention.sentiment_label,
        mention.kind,
        mention.sentiment,
        mention.brand,
        mention.matched_query,
    )


def _asks_or_complains(mention: Mention, brand: _Spelling | None = None) -> str | None:
    """Rules 1 and 2 of `reply_reason`: a question to the brand, or a complaint."""
    text = URL.sub(" ", f"{mention.title}\n{mention.text}")
    breaks = _SENTENCE_BREAK if text.isascii() else _ANY_SENTENCE_BREAK
    sentences = [_LEAD_IN.sub("", s.strip()) for s in breaks.split(text) if s.strip()]
    handles = [t.casefold() for t in mention.matched_terms if t.startswith("@")]
    if handles:
        # Addressed to the brand's handle: any question in it is for the brand.
        asked = [s for s in sentences if _ends_question(s) or _ASKING.match(s)]
        if asked:
            return f"a question addressed to {handles[0]}: {asked[0][:120]!r}"
    # Matched by whose ground it is said on (the brand's Page or account: `matching.match_owned`), not by a term.
    owned = bool(mention.brand and not mention.matched_terms and not mention.matched_query)
    if owned:
        # A question there is to the brand, in any language (its question mark).
        asked = [s for s in sentences if _ends_question(s) or _ASKING.match(s)]
        if asked:
            return f"a question on the brand's own page: {asked[0][:120]!r}"
    names = _brand_names(mention, brand)
    # Which sentences name the brand (on its own ground, every one is about it).
    named = [owned or (names is not None and names.named_in(s)) for s in sentences]
    for sentence, naming in zip(sentences, named, strict=True):
        asks = (_ends_question(sentence) and _INTERROGATIVE.match(sentence)) or _ASKING.match(sentence)
        if asks and naming and not owned:
            return f"a question to the brand: {sentence[:120]!r}"
    # A share's title is its page's headline, not a complaint of the poster's ("Acme outage takes down thousands of
    # stores" is news).
    if mention.kind == OUTLET_KIND or shared_page(mention) is not None:
        return None
    negative = mention.sentiment_label == "negative"
    words = _COMPLAINT if negative else _PROBLEM
    for sentence, naming in zip(sentences, named, strict=True):
        if not negative and not naming:
            continue
        # Lower case for patterns without IGNORECASE (three times faster), "doesn’t" as typed on phones.
        told = sentence.lower().replace("\u2019", "'")
        if words.search(told) is None:
            continue  # most sentences: no word of a problem at all
        for clause in _CLAUSE_BREAK.split(told):
            if (negative or not _PRAISE.search(clause)) and _tells_of_problem(clause, words):
                return f"a complaint ({mention.sentiment}): {sentence[:120]!r}"
    return None


def shared_page(mention: Mention, canon: str | None = None) -> str | None:
    """The canonical URL of the page a mention shares, or None when it shares none. A share is a titled post
    that links a page and says nothing else (its words are its title): a Hacker News story, a Reddit or Lemmy
    link post, a Lobsters story. Comments carry their story's link but no title; a post with words of its own
    about a link (a Mastodon status with a card) is a mention of its own. A front page (`https://acme.io/`)
    names no story. `canon`: the mention's own canonical URL, when already known."""
    if not mention.link or not mention.title or mention.text.strip() or mention.kind in REPLY_KINDS:
        return None
    page = canonical_url(mention.link)
    if page == (canon if canon is not None else canonical_url(mention.url)):
        return None
    try:
        parts = urlsplit(page)
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not (parts.path or parts.query or parts.fragment):
        return None
    return page


def score_impact(
    mentions: Sequence[Mention],
    *,
    reply_reach: Mapping[str, int] | None = None,
    ahead: Ahead[str | None] | None = None,
    brands: Iterable[BrandNames] = (),
) -> None:
    """Set reach, engagement, impact and needs_reply on every mention (after sentiment: a negative mention
    from a loud author needs a reply). `ahead`: what some mentions' words say, worked out earlier. `brands`: the
    brands' config, whose names and terms (with their case-sensitivity) make a question one to the brand; a
    brand not among them is known by its name and the terms found (see `_brand_names`)."""
    by_name = {b.name: _spelling(b) for b in brands}
    for mention, parts in zip(mentions, impact_parts(mentions), strict=True):
        mention.engagement = parts.engagement
        mention.reach = parts.reach
        mention.impact = parts.impact
        threshold = (reply_reach or {}).get(mention.brand or "", 1000)
        brand = by_name.get(mention.brand or "")
        said = ahead.take(mention) if ahead is not None else _asks_or_complains(mention, brand)
        mention.needs_reply = said is not None or _loud_negative(mention, threshold) is not None

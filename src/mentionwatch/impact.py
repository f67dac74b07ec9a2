"""Impact and "needs a reply": what to act on first.

Impact puts every mention on one 0-100 scale, whatever its source (see `impact_parts`); a mention needs a reply
when it asks the brand something, or is negative and loud (see `reply_reason`).
"""

from __future__ import annotations

import bisect
import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from mentionwatch.ahead import Ahead
from mentionwatch.models import Mention
from mentionwatch.outlets import Outlet, outlet_of
from mentionwatch.text import URL


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


def cluster_figures(mention: Mention) -> tuple[int, int | None]:
    """What the mention's cluster adds: the engagement its shares and copies drew (added up), and the largest
    reach among them (audiences overlap: reach is never summed): followers, else views, else for a copy of an
    article its outlet's (see `reach_with_source`)."""
    shared = 0
    reach: int | None = None
    for seen in mention.also_seen:
        if seen.get("match") not in _OWN_DISCUSSION:
            continue
        figures = [seen.get(name) for name in ("score", "comments", "likes", "reposts", "quotes")]
        shared += sum(max(0, int(f)) for f in figures if isinstance(f, int) and not isinstance(f, bool))
        audience = seen.get("followers", seen.get("views"))
        if audience is None and seen.get("kind") == OUTLET_KIND and isinstance(seen.get("url"), str):
            outlet = outlet_of(seen["url"])  # a copy of the article on another outlet
            audience = None if outlet is None else outlet.ref_subnets * REACH_PER_REFERRING_SUBNET
        if isinstance(audience, int) and not isinstance(audience, bool):
            reach = max(reach or 0, audience)
    return shared, reach


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
    mention's own `engagement` field stays its own.

    `reach` is the source's own figure (followers, else views); an article whose source counts neither takes its
    outlet's weight, the site's referring subnets in the shipped Majestic Million extract (`outlets.py`), so the
    FT (45,142: ~66 alone) outranks a content farm (unknown: 0) and a mid-size paper (~10,000: ~50) sits between.
    """
    groups: dict[str, list[float]] = {}
    weights: list[tuple[str, int | None, Reach, float]] = []
    shares: list[int] = []
    for m in mentions:
        engagement, reach = engagement_of(m), reach_with_source(m)
        shared, cluster_reach = cluster_figures(m) if m.also_seen else (0, None)
        audience = max(reach.audience or 0, cluster_reach or 0)
        weight = (engagement or 0) + shared + audience / REACH_PER_ENGAGEMENT
        group = m.source_type or m.source
        groups.setdefault(group, []).append(weight)
        weights.append((group, engagement, reach, weight))
        shares.append(shared)
    sorted_groups = {g: sorted(ws) for g, ws in groups.items()}
    out = []
    for (group, engagement, reach, weight), shared in zip(weights, shares, strict=True):
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
            )
        )
    return out


# --------------------------------------------------------------------------------------------------------
# Needs a reply

_SENTENCE_BREAK = re.compile(r"(?<=[.!?])\s+|\n+")
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


def _term_pattern(terms: Iterable[str]) -> re.Pattern[str] | None:
    return _compiled_term_pattern(tuple(terms))


# `re` keeps 512 compiled patterns; a brand of a thousand terms makes more distinct ones than that, and
# compiling one costs as much as the rest of a mention's scoring.
@lru_cache(maxsize=4096)
def _compiled_term_pattern(terms: tuple[str, ...]) -> re.Pattern[str] | None:
    alternatives = []
    for term in terms:
        term = term.strip().strip('"').casefold()
        if term.endswith("*"):
            alternatives.append(re.escape(term[:-1]) + r"\w*")
        elif term:
            alternatives.append(re.escape(term))
    if not alternatives:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(sorted(alternatives, key=len, reverse=True))})(?!\w)")


# A person telling of a problem: what a complaint about a product or a service says (English).
_COMPLAINT = re.compile(
    r"\b(?:error|errors|bug|bugs|buggy|crash(?:es|ed|ing)?|broken|broke|outage|down again|lost|losing|fail(?:s|ed|ing)?"
    r"|doesn'?t work|does not work|not working|stopped working|won'?t (?:load|work|open|start|sync)"
    r"|can'?t (?:log|sign|get|find)"
    r"|support|refund|cancel(?:led|ed)?|charged|overcharged|scam|slow|awful|terrible|horrible|worst|useless|unusable"
    r"|disappointed|disappointing|frustrat\w*|annoying|no luck|unacceptable|ripped off)\b",
    re.IGNORECASE,
)


def reply_reason(mention: Mention, reply_reach: int, ahead: Ahead[str | None] | None = None) -> str | None:
    """Why the brand should answer this mention, or None. Three rules, in this order (English phrasing; a
    question mark works in any language):

    1. a question to the brand: addressed to its handle (`@acme ...?`), or naming it ("does Acme ...?", "how do
       I ... in Acme");
    2. a complaint about its product or service, whatever the author's reach: a negative post or comment (not a
       press article: `kind` "article") telling of a problem (an error, a crash, lost data, a refund, bad support:
       `_COMPLAINT`) — "lost my data twice. Awful support" needs an answer even from someone with no followers;
    3. a negative mention from an author whose reach (followers, else views: `reach_of`) exceeds the brand's
       `reply_reach`. An outlet's ranking is not an author's reach: a critical article waits for no answer."""
    said = ahead.take(mention) if ahead is not None else _asks_or_complains(mention)
    if said is not None:
        return said
    author_reach = reach_of(mention)
    if mention.sentiment_label == "negative" and (author_reach or 0) > reply_reach:
        return f"negative ({mention.sentiment}) from an author with reach {author_reach:,} > {reply_reach:,}"
    return None


def replies_ahead(limit: int = 2000) -> Ahead[str | None]:
    """The first two rules of `reply_reason` (what a mention's words say) worked out before `score_impact` runs,
    for mentions scored already (what unchanged documents gave): 10 of the 25 ms it took for 400 mentions."""
    return Ahead(_asks_or_complains, _what_it_says, limit)


def _what_it_says(mention: Mention) -> tuple[object, ...]:
    """What of a mention the first two rules of `reply_reason` read."""
    return (
        mention.title,
        mention.text,
        tuple(mention.matched_terms),
        mention.sentiment_label,
        mention.kind,
        mention.sentiment,
    )


def _asks_or_complains(mention: Mention) -> str | None:
    """Rules 1 and 2 of `reply_reason`: a question to the brand, or a complaint."""
    text = URL.sub(" ", f"{mention.title}\n{mention.text}")
    sentences = [_LEAD_IN.sub("", s.strip()) for s in _SENTENCE_BREAK.split(text) if s.strip()]
    handles = [t.casefold() for t in mention.matched_terms if t.startswith("@")]
    if handles:
        # Addressed to the brand's handle: any question in it is for the brand.
        asked = [s for s in sentences if s.endswith("?") or _ASKING.match(s)]
        if asked:
            return f"a question addressed to {handles[0]}: {asked[0][:120]!r}"
    if mention.brand and not mention.matched_terms and not mention.matched_query:
        # Matched by whose ground it is said on (the brand's Page or account: `matching.match_owned`), not by a term:
        # a question there is to the brand, in any language (its question mark).
        asked = [s for s in sentences if s.endswith("?") or _ASKING.match(s)]
        if asked:
            return f"a question on the brand's own page: {asked[0][:120]!r}"
    pattern = _term_pattern(mention.matched_terms)
    if pattern is not None:
        for sentence in sentences:
            asks = (sentence.endswith("?") and _INTERROGATIVE.match(sentence)) or _ASKING.match(sentence)
            if asks and pattern.search(sentence.casefold()):
                return f"a question to the brand: {sentence[:120]!r}"
    if mention.sentiment_label == "negative" and mention.kind != "article":
        complaint = next((s for s in sentences if _COMPLAINT.search(s)), None)
        if complaint is not None:
            return f"a complaint ({mention.sentiment}): {complaint[:120]!r}"
    return None


def score_impact(
    mentions: Sequence[Mention], *, reply_reach: Mapping[str, int] | None = None, ahead: Ahead[str | None] | None = None
) -> None:
    """Set reach, engagement, impact and needs_reply on every mention (after sentiment: a negative mention
    from a loud author needs a reply). `ahead`: what some mentions' words say, worked out earlier."""
    for mention, parts in zip(mentions, impact_parts(mentions), strict=True):
        mention.engagement = parts.engagement
        mention.reach = parts.reach
        mention.impact = parts.impact
        threshold = (reply_reach or {}).get(mention.brand or "", 1000)
        mention.needs_reply = reply_reason(mention, threshold, ahead) is not None

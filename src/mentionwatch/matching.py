"""Deciding whether a mention is about a brand: terms, exclusions, boolean queries and field filters.

Matching is whole-word and Unicode-aware: title and text are NFKC-normalised and casefolded (accents are
folded too only when the brand says `accent_insensitive: true`), whitespace runs count as one space, and
obfuscated dots (`acme[.]io`, `acme(dot)io`) read as dots. Handles, hashtags and domains (`@acme`, `#acme`,
`acme.io`) are terms like any other: "whole word" means no word character touches the term on either side,
which is exactly the regex `(?<!\\w)TERM(?!\\w)`.

Every word a brand uses (its `terms`, its `exclude` list and the words of its `query`) is compiled into one
Aho-Corasick automaton, so a post is scanned once whatever the number of terms (twice when whitespace must be
tidied for a phrase: see `_stand_in`); the boolean query is then evaluated on the set of words found.

The query language (syntax, precedence) is `mentionwatch.query`; this module evaluates its syntax tree.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, Protocol

import ahocorasick

from mentionwatch.query import And, Near, Node, Not, Or, Site, Word, parse_query, query_words
from mentionwatch.text import INVISIBLE, strip_urls_and_handles
from mentionwatch.urls import host_of, on_domain

# `[.]`, `(.)`, `{.}`, `[dot]`, `(dot)`: how people write a domain so that it is not a link.
_OBFUSCATED_DOT = re.compile(r"\s*[\[({]\s*(?:\.|dot)\s*[\])}]\s*")
# The same without the spaces around it: found when, and only when, the one above is. It starts with a bracket,
# so a search skips ahead to the next bracket, where the one above tries every position.
_OBFUSCATED_DOT_CORE = re.compile(r"[\[({]\s*(?:\.|dot)\s*[\])}]")
_WORD = re.compile(r"\w+")


def normalize(text: str, *, fold_accents: bool = False) -> str:
    """The form text and terms are compared in: NFKC (full-width letters, ligatures), casefold (Unicode-aware
    lowercasing), optionally without accents, obfuscated dots restored and whitespace runs as one space."""
    return _tidy(fold(text, fold_accents=fold_accents))


def fold(text: str, *, fold_accents: bool = False) -> str:
    """`normalize` without its last step: whitespace is left as it is. A term with no space in it is found,
    whole-word, in exactly the same places either way (whitespace is never a word character), so a post is
    scanned in this form, which is cheaper, and in the normalised one only when it may hold a phrase."""
    if text.isascii():
        # ASCII is NFKC-invariant and has no accents, and its casefold is lower(): skip the Unicode work.
        text = text.lower()
    else:
        # Invisible characters go first: `a\u200bcme` is "acme" to a reader, so it must be to the matcher too.
        text = unicodedata.normalize("NFKC", text.translate(INVISIBLE)).casefold()
        if fold_accents:
            text = strip_accents(text)
    if _has_obfuscated_dot(text):
        text = _OBFUSCATED_DOT.sub(".", text)
    return text


def _has_obfuscated_dot(text: str) -> bool:
    """`_OBFUSCATED_DOT_CORE.search(text)`, but tried only where a bracket is: str.find skips to one far
    faster than the regex engine tests each character against the pattern's first set."""
    match = _OBFUSCATED_DOT_CORE.match
    for bracket in "[({":
        at = text.find(bracket)
        while at >= 0:
            if match(text, at):
                return True
            at = text.find(bracket, at + 1)
    return False


def _tidy(text: str) -> str:
    """Whitespace runs as one space, none at either end: the last step of `normalize` (the same object when
    there is nothing to tidy)."""
    return text if _single_spaced(text) else " ".join(text.split())


def _single_spaced(text: str) -> bool:
    """True when `" ".join(text.split()) == text`, found without building a string per word: no whitespace but
    single spaces between words. Space (U+0020) is the only whitespace character that is printable; in ASCII,
    the others are these nine."""
    if text.isascii():
        if (
            "\n" in text
            or "\t" in text
            or "\r" in text
            or "\x0b" in text
            or "\x0c" in text
            or "\x1c" in text
            or "\x1d" in text
            or "\x1e" in text
            or "\x1f" in text
        ):
            return False
    elif not text.isprintable():
        return False
    return "  " not in text and not text.startswith(" ") and not text.endswith(" ")


def strip_accents(text: str) -> str:
    """`café` -> `cafe`: decompose, drop the combining marks, recompose."""
    decomposed = unicodedata.normalize("NFD", text)
    if decomposed.isascii():
        return decomposed
    kept = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", kept)


def is_word_char(ch: str) -> bool:
    """What the regex `\\w` matches in a str pattern: letters, digits (any script) and `_`."""
    return ch.isalnum() or ch == "_"


class BrandRules(Protocol):
    """What matching reads of a brand (config's `BrandConfig` is one): matching sits below config, so it names
    the fields it needs instead of importing the config schema."""

    @property
    def name(self) -> str: ...
    @property
    def terms(self) -> Sequence[str]: ...
    @property
    def exclude(self) -> Sequence[str]: ...
    @property
    def query(self) -> str | None: ...
    @property
    def exclude_authors(self) -> Sequence[str]: ...
    @property
    def exclude_domains(self) -> Sequence[str]: ...
    @property
    def languages(self) -> Sequence[str]: ...
    @property
    def accent_insensitive(self) -> bool: ...
    @property
    def case_sensitive(self) -> bool: ...
    @property
    def case_sensitive_terms(self) -> Sequence[str]: ...


def all_terms(brand: BrandRules) -> list[str]:
    """The brand's terms, the case-sensitive ones included."""
    return [*brand.terms, *(t for t in brand.case_sensitive_terms if t not in brand.terms)]


def search_terms_of(brand: BrandRules) -> list[str]:
    """What to ask a searchable service for: the brand's terms, then its query's positive words (a prefix
    without its `*`, a phrase as its words)."""
    out = all_terms(brand)
    if brand.query:
        out.extend(w.text for w, negated in query_words(parse_query(brand.query)) if not negated)
    return out


# --------------------------------------------------------------------------------------------------------
# Matching


@dataclass(frozen=True)
class Match:
    """Why a mention belongs to a brand: the words found (as the brand wrote them) and the query clause."""

    brand: str
    terms: list[str]
    # The query alternative that held, e.g. `acme NEAR/3 outage`; None when one of `terms` matched.
    clause: str | None = None


@dataclass(frozen=True)
class Check:
    """One test `explain` reports: what was tested, and whether it vetoed the match."""

    name: str
    detail: str
    fired: bool


@dataclass
class MatchReport:
    """Everything `explain` says about one mention and one brand."""

    brand: str
    matched: bool
    reason: str
    terms_found: list[str] = field(default_factory=list)
    query: str | None = None
    clauses: list[tuple[str, bool]] = field(default_factory=list)
    clause: str | None = None
    checks: list[Check] = field(default_factory=list)
    lang: str | None = None


@dataclass(frozen=True)
class _Needle:
    key: str
    prefix: bool


Span = tuple[int, int]


class Haystack:
    """A mention's title and text, normalised once and shared by every brand's matcher."""

    __slots__ = ("_forms", "_words", "text", "title")

    def __init__(self, title: str, text: str) -> None:
        self.title = title
        self.text = text
        self._forms: list[str | None] = [None, None, None, None]
        self._words: dict[str, tuple[list[int], list[int]]] | None = None

    def form(self, fold_accents: bool, *, spaces: bool = True) -> str:
        """Title and text, `normalize`d (`spaces=False`: only `fold`ed, whitespace as it is)."""
        slot = 2 * fold_accents + spaces
        found = self._forms[slot]
        if found is None:
            found = self._forms[slot] = self._spaced(fold_accents) if spaces else self._folded(fold_accents)
        return found

    def _folded(self, fold_accents: bool) -> str:
        title, text = self.title, self.text
        # Title and text are folded apart and joined by a newline, so that a phrase never spans both.
        joined = f"{title}\n{text}" if title and text else title or text
        if joined.isascii():
            folded = joined.lower()
            # Folding ASCII is lower(), which may as well run once on both; but an obfuscated dot must be
            # read in its own part (its pattern eats whitespace, so it could reach across the newline).
            if ("[" not in folded and "(" not in folded and "{" not in folded) or not _has_obfuscated_dot(folded):
                return folded
        if title and text:
            return f"{fold(title, fold_accents=fold_accents)}\n{fold(text, fold_accents=fold_accents)}"
        return fold(joined, fold_accents=fold_accents)

    def _spaced(self, fold_accents: bool) -> str:
        # The same object as the folded form when whitespace needs no tidying: a matcher then knows that its
        # scan of the folded form stands.
        folded = self.form(fold_accents, spaces=False)
        title, text = self.title, self.text
        if title and text:
            spaced = f"{normalize(title, fold_accents=fold_accents)}\n{normalize(text, fold_accents=fold_accents)}"
        else:
            spaced = _tidy(folded)  # one part: `normalize` is `fold` and then `_tidy`
        return folded if spaced == folded else spaced

    def words(self, form: str) -> tuple[list[int], list[int]]:
        """Start and end offsets of each word of `form` (one of this haystack's forms), for NEAR/n."""
        if self._words is None:
            self._words = {}
        found = self._words.get(form)
        if found is None:
            spans = [m.span() for m in _WORD.finditer(form)]
            found = self._words[form] = ([s for s, _ in spans], [e for _, e in spans])
        return found


# What the automaton yields: (end, (length, exact needle, prefix needle, a phrase's stand-in)); -1: no needle.
_Output = tuple[int, tuple[int, int, int, bool]]


# A post is scanned in its folded form first, which skips the costly whitespace check, though a phrase is
# looked for in the normalised form (whitespace runs as one space). Each word of a phrase is in the folded
# form when the phrase is in the normalised one, so one word stands in for the phrase: only when a stand-in
# is found is the normalised form needed. A word shorter than this is in too many posts to be worth it.
_MIN_STAND_IN = 4


def _stand_in(phrase: str) -> str:
    """The word of a (normalised) phrase most likely to be rare: the longest, the last of equals (`with acme`)."""
    return max(reversed(phrase.split(" ")), key=len)


def _nothing(hay: str) -> Iterator[_Output]:
    """What a brand with no words to look for finds (an empty automaton cannot scan)."""
    return iter(())


class BrandMatcher:
    """Matches one brand: its `terms` or its `query`, vetoed by `exclude`, `exclude_authors`,
    `exclude_domains` and `languages`."""

    def __init__(self, brand: BrandRules) -> None:
        self.brand = brand.name
        self.config = brand
        self.fold = brand.accent_insensitive
        self.query = parse_query(brand.query) if brand.query else None
        self._needles: list[_Needle] = []
        self._needle_ids: dict[_Needle, int] = {}
        # Each `terms` / `exclude` entry and each query word points at a needle (one per normalised key).
        self._terms = [(t, self._needle(t, prefix=False)) for t in all_terms(brand)]
        self._exclude = [(t, self._needle(t, prefix=False)) for t in brand.exclude]
        self._words: dict[Word, int] = {}
        if self.query is not None:
            for word, _ in query_words(self.query):
                self._words[word] = self._needle(word.text, prefix=word.prefix)
        # Needles whose presence can make the brand match: without one of them, nothing else is evaluated.
        self._positive = {i for _, i in self._terms}
        if self.query is not None:
            self._positive.update(self._words[w] for w, negated in query_words(self.query) if not negated)
        # What to report for each needle found, in config order (looked up from the hits, so a post costs
        # the same whether the brand has ten terms or a thousand).
        self._reported: dict[int, list[tuple[int, str, bool]]] = {}
        for order, (term, i) in enumerate(self._terms):
            self._reported.setdefault(i, []).append((order, term, True))
        for order, (word, i) in enumerate(self._words.items(), start=len(self._terms)):
            if i in self._positive:
                self._reported.setdefault(i, []).append((order, word.render(), False))
        self._excluded = frozenset(i for _, i in self._exclude)
        # Whitespace matters only to a phrase: one space in the normalised form stands for any run. (NEAR/n
        # counts the same words in either form: whitespace is never part of a word.)
        stand_ins = {_stand_in(n.key) for n in self._needles if " " in n.key}
        self._spaces = bool(stand_ins)
        # A phrase of short words only (`is up`) has no stand-in worth the name: found in most posts, it would
        # send nearly every post to the whitespace check anyway, so such a brand scans the normalised form.
        self._tidy_first = any(len(word) < _MIN_STAND_IN for word in stand_ins)
        self._automaton = self._build(set() if self._tidy_first else stand_ins)
        self._find: Callable[[str], Iterator[_Output]] = self._automaton.iter if len(self._automaton) else _nothing
        self._case = self._case_checks(brand)
        self._authors = frozenset(_author_key(a) for a in brand.exclude_authors)
        self._domains = tuple(d.lower().removeprefix("www.") for d in brand.exclude_domains)
        self._languages = frozenset(_primary_lang(code) for code in brand.languages)

    def _case_checks(self, brand: BrandRules) -> dict[int, re.Pattern[str]]:
        """For each needle that only case-sensitive terms use: the pattern its hits must also meet in the text
        as written. The automaton finds words case-folded; these are confirmed on the original text."""
        sensitive = set(brand.terms if brand.case_sensitive else ()) | set(brand.case_sensitive_terms)
        if not sensitive:
            return {}
        used_otherwise = {i for t, i in self._terms if t not in sensitive}
        used_otherwise |= {i for _, i in self._exclude} | set(self._words.values())
        spellings: dict[int, list[str]] = {}
        for term, i in self._terms:
            if term in sensitive and i not in used_otherwise:
                spellings.setdefault(i, []).append(re.escape(" ".join(term.split())).replace(r"\ ", r"\s+"))
        return {i: re.compile(rf"(?<!\w)(?:{'|'.join(forms)})(?!\w)") for i, forms in spellings.items()}

    def _confirm_case(self, hits: dict[int, list[Span]], hay: Haystack) -> None:
        """Drop the hits of case-sensitive terms that are not in the text as written."""
        for i in self._case.keys() & hits.keys():
            pattern = self._case[i]
            if not (pattern.search(hay.title) or pattern.search(hay.text)):
                del hits[i]

    def _needle(self, text: str, *, prefix: bool) -> int:
        needle = _Needle(normalize(text, fold_accents=self.fold), prefix)
        found = self._needle_ids.get(needle)
        if found is None:
            found = self._needle_ids[needle] = len(self._needles)
            self._needles.append(needle)
        return found

    def _build(self, stand_ins: set[str]) -> Any:
        # One automaton key per distinct normalised text; its value says which needle is the whole-word
        # form and which the prefix form, so `acme` and `acme*` share one key.
        by_key: dict[str, list[int]] = {}
        for i, needle in enumerate(self._needles):
            slot = by_key.setdefault(needle.key, [-1, -1])
            slot[1 if needle.prefix else 0] = i
        # The stand-ins of phrases (see `_stand_in`), found alone, stand for no needle.
        for key in stand_ins:
            by_key.setdefault(key, [-1, -1])
        automaton = ahocorasick.Automaton()
        for key, (exact, prefix) in by_key.items():
            if key:
                automaton.add_word(key, (len(key), exact, prefix, key in stand_ins))
        if len(automaton):
            automaton.make_automaton()
        return automaton

    # -- scanning

    def _scan(self, hay: str, outputs: Iterable[_Output] | None = None) -> dict[int, list[Span]]:
        """Every whole-word occurrence of every needle: needle id -> spans in `hay`. `outputs` are what the
        automaton found in `hay`, when that is known already."""
        hits: dict[int, list[Span]] = {}
        n = len(hay)
        for end, (length, exact, prefix, _) in self._find(hay) if outputs is None else outputs:
            start = end - length + 1
            if start and (hay[start - 1].isalnum() or hay[start - 1] == "_"):
                continue
            stop = end + 1
            if exact >= 0 and (stop == n or not (hay[stop].isalnum() or hay[stop] == "_")):
                hits.setdefault(exact, []).append((start, stop))
            if prefix >= 0:
                while stop < n and (hay[stop].isalnum() or hay[stop] == "_"):
                    stop += 1
                hits.setdefault(prefix, []).append((start, stop))
        return hits

    # -- the public API

    def match(self, title: str, text: str, *, author: str = "", url: str = "", lang: str | None = None) -> Match | None:
        """The brand's Match for this title and text (and author, URL and language), or None."""
        return self.match_haystack(Haystack(title, text), author=author, url=url, lang=lang)

    def match_haystack(
        self, hay: Haystack, *, author: str = "", url: str = "", lang: str | None = None
    ) -> Match | None:
        form = hay.form(self.fold, spaces=self._tidy_first)
        outputs = list(self._find(form))
        if not outputs:
            return None  # the fast path: most posts contain none of the brand's words, nor a phrase's stand-in
        # A needle without a space is found in the same places in either form (whitespace is never a word
        # character); a phrase can be in the normalised form only if its stand-in is in the folded one.
        if self._spaces and not self._tidy_first and any(stand_in for _, (_, _, _, stand_in) in outputs):
            spaced = hay.form(self.fold)
            if spaced is not form:  # whitespace was tidied up: the positions found in the folded form are off
                form, outputs = spaced, list(self._find(spaced))
        hits = self._scan(form, outputs)
        if self._case:
            self._confirm_case(hits, hay)
        if self._positive.isdisjoint(hits):
            return None
        reported_of = self._reported
        reported = [r for i in hits if i in reported_of for r in reported_of[i]]
        reported.sort()
        clause = None
        # Without a query, every needle that can make the brand match is one of its terms.
        if self.query is not None and not any(is_term for _, _, is_term in reported):
            clause = self._holding_clause(hits, form, hay, url)
            if clause is None:
                return None
        if not self._excluded.isdisjoint(hits):
            return None
        if self._authors and _author_key(author) in self._authors:
            return None
        if self._domains and on_domain(host_of(url), self._domains):
            return None
        if self._languages and not self._language_ok(lang, hay):
            return None
        texts = [text for _, text, _ in reported]
        return Match(self.brand, texts if len(texts) == 1 else _unique(texts), clause)

    def match_owned(
        self, hay: Haystack, *, author: str = "", url: str = "", lang: str | None = None
    ) -> Match | None:
        """The brand's Match for an item said on its own ground (its Facebook Page, its Instagram account), which
        belongs to it whatever it says: only the vetoes apply (`exclude`, `exclude_authors`, `exclude_domains`,
        `languages`). The brand's words found in it are still reported; none is needed."""
        hits = self._scan(hay.form(self.fold))
        if self._case:
            self._confirm_case(hits, hay)
        if not self._excluded.isdisjoint(hits):
            return None
        if self._authors and _author_key(author) in self._authors:
            return None
        if self._domains and on_domain(host_of(url), self._domains):
            return None
        if self._languages and not self._language_ok(lang, hay):
            return None
        reported = sorted(r for i in hits if i in self._reported for r in self._reported[i])
        return Match(self.brand, _unique(text for _, text, _ in reported))

    def _holding_clause(self, hits: Mapping[int, list[Span]], form: str, hay: Haystack, url: str) -> str | None:
        """The first alternative of the query that holds; `hits` are the spans found in `form`."""
        if self.query is None:
            return None
        host = host_of(url)
        for branch in _branches(self.query):
            if self._eval(branch, hits, form, hay, host):
                return branch.render()
        return None

    def _language_ok(self, lang: str | None, hay: Haystack) -> bool:
        code = lang or detect_language(hay.title, hay.text)
        return code is None or _primary_lang(code) in self._languages

    def _eval(self, node: Node, hits: Mapping[int, list[Span]], form: str, hay: Haystack, host: str) -> bool:
        if isinstance(node, Word):
            return self._words[node] in hits
        if isinstance(node, Site):
            return on_domain(host, (node.domain,))
        if isinstance(node, Not):
            return not self._eval(node.child, hits, form, hay, host)
        if isinstance(node, And):
            return all(self._eval(c, hits, form, hay, host) for c in node.children)
        if isinstance(node, Or):
            return any(self._eval(c, hits, form, hay, host) for c in node.children)
        return self._near(node, hits, form, hay)

    def _spans(self, node: Node, hits: Mapping[int, list[Span]]) -> list[Span]:
        words = node.children if isinstance(node, Or) else (node,)
        return [span for w in words if isinstance(w, Word) for span in hits.get(self._words[w], ())]

    def _near(self, node: Near, hits: Mapping[int, list[Span]], form: str, hay: Haystack) -> bool:
        left, right = self._spans(node.left, hits), self._spans(node.right, hits)
        if not left or not right:
            return False
        starts, ends = hay.words(form)
        lw = [_word_range(s, starts, ends) for s in left]
        rw = [_word_range(s, starts, ends) for s in right]
        return any(_gap(a, b) <= node.distance for a in lw for b in rw)

    def positive_terms(self) -> list[str]:
        return search_terms_of(self.config)

    def explain(
        self, title: str, text: str, *, author: str = "", url: str = "", lang: str | None = None, owned: bool = False
    ) -> MatchReport:
        """The whole story of matching, for `mentionwatch explain`: every test, whether or not it fired. `owned`:
        the item was said on the brand's own page or account, where its filters apply and its terms are not needed
        (`match_owned`)."""
        hay = Haystack(title, text)
        form = hay.form(self.fold)
        hits = self._scan(form)
        if self._case:
            self._confirm_case(hits, hay)
        host = host_of(url)
        report = MatchReport(self.brand, matched=False, reason="", query=self.config.query)
        terms_hit = _unique(t for t, i in self._terms if i in hits)
        words_hit = [w.render() for w, i in self._words.items() if i in hits and i in self._positive]
        report.terms_found = _unique([*terms_hit, *words_hit])
        if self.query is not None:
            report.clauses = [(b.render(), self._eval(b, hits, form, hay, host)) for b in _branches(self.query)]
            for word, negated in query_words(self.query):
                if negated:
                    found = self._words[word] in hits
                    report.checks.append(Check("query NOT", f"{word.render()} in the text", found))
            for site, negated in _sites(self.query):
                on = on_domain(host, (site.domain,))
                detail = f"{'-' if negated else ''}site:{site.domain} (host {host or 'unknown'})"
                report.checks.append(Check("query site", detail, on == negated))
        for term, i in self._exclude:
            report.checks.append(Check("exclude", term, i in hits))
        if self._authors:
            fired = _author_key(author) in self._authors
            report.checks.append(Check("exclude_authors", f"author {author or 'unknown'}", fired))
        if self._domains:
            report.checks.append(Check("exclude_domains", f"host {host or 'unknown'}", on_domain(host, self._domains)))
        code = lang or detect_language(title, text)
        report.lang = code
        if self._languages:
            ok = code is None or _primary_lang(code) in self._languages
            shown = f"{code}{'' if lang else ' (detected)'}" if code else "unknown (passes)"
            report.checks.append(Check("languages", f"{shown}; wanted {', '.join(sorted(self._languages))}", not ok))
        held = [clause for clause, ok in report.clauses if ok]
        vetoes = [c for c in report.checks if c.fired and not c.name.startswith("query ")]
        if owned and not vetoes:
            report.matched = True
            report.reason = "said on the brand's own page or account: its filters apply, its terms are not needed"
        elif owned:
            report.reason = f"vetoed by {vetoes[0].name}: {vetoes[0].detail}"
        elif not report.terms_found:
            report.reason = "none of the brand's terms or query words is in the title or text"
        elif not terms_hit and not held:
            report.reason = "query words were found, but no alternative of the query holds"
        elif vetoes:
            report.reason = f"vetoed by {vetoes[0].name}: {vetoes[0].detail}"
        else:
            report.matched = True
            if terms_hit:
                report.reason = "terms found: " + ", ".join(terms_hit)
            else:
                report.clause = held[0]
                report.reason = f"query alternative holds: {held[0]}"
        return report


def _branches(node: Node) -> tuple[Node, ...]:
    return node.children if isinstance(node, Or) else (node,)


def _sites(node: Node, *, negated: bool = False) -> Iterable[tuple[Site, bool]]:
    if isinstance(node, Site):
        yield node, negated
    elif isinstance(node, Not):
        yield from _sites(node.child, negated=not negated)
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from _sites(child, negated=negated)


def _word_range(span: Span, starts: Sequence[int], ends: Sequence[int]) -> tuple[int, int]:
    """The first and last word index a span covers (a handle `@acme` covers the word `acme`)."""
    first = bisect.bisect_right(ends, span[0])
    last = bisect.bisect_left(starts, span[1]) - 1
    return (first, max(first, last))


def _gap(a: tuple[int, int], b: tuple[int, int]) -> int:
    """Words strictly between two word ranges (0 when adjacent or overlapping)."""
    if a[1] < b[0]:
        return b[0] - a[1] - 1
    if b[1] < a[0]:
        return a[0] - b[1] - 1
    return 0


def _unique(items: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(items))


def _author_key(author: str) -> str:
    return normalize(author).removeprefix("@")


def _primary_lang(code: str) -> str:
    return code.replace("_", "-").split("-")[0].lower()


_UNKNOWN_LANGS = frozenset({"un", "xx", "xxx", "und", "zxx"})


@lru_cache(maxsize=4096)
def detect_language(title: str, text: str) -> str | None:
    """The language of a mention (ISO 639-1, e.g. `en`), or None when CLD2 is not sure.

    CLD2 (pycld2) is Chromium's detector: offline, ~10 MB, ~20 µs a post. It says "not reliable" for short
    or mixed text; that is None here, and an unknown language passes every `languages` filter.
    """
    import pycld2

    sample = strip_urls_and_handles(f"{title}\n{text}")
    if not _WORD.search(sample):
        return None
    try:
        reliable, _, details = pycld2.detect(sample)
    except Exception:  # invalid UTF-8 (lone surrogates) or cld2's own refusal: no opinion
        return None
    code = str(details[0][1]).lower() if details else ""
    if not reliable or code in _UNKNOWN_LANGS:
        return None
    return code

"""Deciding whether a mention is about a brand: whole-word, case-insensitive, Unicode-normalised."""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

from mentionwatch.config import BrandConfig


def normalize(text: str) -> str:
    """NFKC folds look-alike forms (full-width letters, ligatures); casefold is Unicode-aware lowercasing."""
    return unicodedata.normalize("NFKC", text).casefold()


def _compile(terms: list[str]) -> tuple[re.Pattern[str] | None, dict[str, str]]:
    """One pattern per brand, not a `re.search` per term; original spellings kept for reporting."""
    originals: dict[str, str] = {}
    for term in terms:
        originals.setdefault(normalize(term.strip()), term)
    if not originals:
        return None, originals
    alternation = "|".join(re.escape(t) for t in sorted(originals, key=len, reverse=True))
    # Whole words: no word character may touch the term on either side. `\w` is Unicode-aware, so
    # "acmeology" and "überacme" do not match `acme`, while "Acme's", "#acme" and "@acme" do.
    return re.compile(rf"(?<!\w)(?:{alternation})(?!\w)"), originals


@dataclass(frozen=True)
class Match:
    brand: str
    terms: list[str]


class BrandMatcher:
    """Matches one brand's `terms`, vetoed by its `exclude` list."""

    def __init__(self, brand: BrandConfig) -> None:
        self.brand = brand.name
        self._terms, self._originals = _compile(brand.terms)
        self._exclude, _ = _compile(brand.exclude)

    def match(self, title: str, text: str) -> Match | None:
        haystack = normalize(f"{title}\n{text}")
        if self._terms is None:
            return None
        found = {self._originals[m.group(0)] for m in self._terms.finditer(haystack)}
        if not found:
            return None
        if self._exclude is not None and self._exclude.search(haystack):
            return None
        return Match(self.brand, sorted(found, key=str.casefold))

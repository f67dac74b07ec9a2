"""Duplicate clusters: the same thing seen twice is one mention.

Two mentions of one brand are one cluster when their own URLs (permalinks, not the page they link to: every
comment under a Hacker News story shares the story's link) are the same page once canonicalised, or when
their texts are near-duplicates: syndicated copies of an article, a post copy-pasted with a handle or a
hashtag added, an excerpt. The earliest mention of a cluster is kept; the others are listed in its
`also_seen` and counted in `duplicates`.

Near-duplicates are found in O(n), never by comparing every pair: each text's word bigrams are hashed (its
shingles), the 4 smallest hashes of its word trigrams (a bottom-k MinHash sketch) are its index keys, and a
mention that shares a key with an earlier one is compared with it: Jaccard similarity of the shingle sets
>= 0.5, or containment >= 0.8 of a shorter text of 15+ word pairs in the longer; and no figure in the shorter
text that the longer one lacks (templated reports that differ only in their numbers are different news). The
keys live in a flat open-addressing table of 8-byte slots (each key keeps its 8 latest mentions), and each
mention's shingles are kept at 16 bits apiece too, which sets most candidates aside without re-reading their
text: about 200 bytes a mention in all, where a MinHash-LSH index with 128 permutations takes 3-5 KB.

Texts shorter than 8 words never cluster on text alone: "Love Acme!" posted by two people is two mentions.
They still cluster when their URLs are the same page.
"""

from __future__ import annotations

import heapq
import re
import unicodedata
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Sequence, Set
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from itertools import pairwise

from mentionwatch.models import Mention
from mentionwatch.text import HANDLE, URL, might_hold_url
from mentionwatch.urls import canonical_url

# --------------------------------------------------------------------------------------------------------
# Near-duplicate texts

MIN_TOKENS = 8
SKETCH_SIZE = 4
MIN_JACCARD = 0.5
MIN_CONTAINMENT = 0.8
MIN_CONTAINED_SHINGLES = 15
MAX_PER_KEY = 8
MAX_CANDIDATES = SKETCH_SIZE * MAX_PER_KEY
# How many recent mentions keep their word pairs and figures: bounded, whatever the number of mentions (a
# mention of 50 words takes about 4 KB here).
RECENT_TEXTS = 2048
# Texts of more word pairs than this keep no 16-bit copy (400 bytes);
# a candidate without one is verified directly.
MAX_SHORT_PAIRS = 200
_FILTER_MARGIN = 0.1
_MASK16 = 0xFFFF
_WORD = re.compile(r"\w+")
_NUMBER = re.compile(r"\d[\d,.]*\d|\d")
_URL_OR_HANDLE = re.compile(rf"{URL.pattern}|{HANDLE.pattern}", re.IGNORECASE)
_APOSTROPHES = re.compile(r"(?<=\w)['’ʼ](?=\w)")
_MASK32 = 0xFFFFFFFF


def text_tokens(mention: Mention) -> list[str]:
    """The words compared for near-duplicates: title and text, casefolded, without URLs and @handles
    (a copy-paste often adds its own)."""
    # `strip_urls_and_handles` without its whitespace tidying, which changes no word.
    raw = f"{mention.title}\n{mention.text}"
    if might_hold_url(raw):
        raw = URL.sub(" ", raw)
    if "@" in raw:
        raw = HANDLE.sub(" ", raw)
    # "don't" and "dont" are one word: copies lose apostrophes (and curly ones become straight).
    if "'" in raw or "’" in raw or "ʼ" in raw:
        raw = _APOSTROPHES.sub("", raw)
    return _WORD.findall(unicodedata.normalize("NFKC", raw).casefold())


def _hash64(text: str) -> int:
    return int.from_bytes(blake2b(text.encode("utf-8", "surrogatepass"), digest_size=8).digest(), "little")


# A word pair is hashed from its words' hashes: each word once (blake2b, memoised), then the pair (a, b) as
# (a * K1 + b * K2) >> 64, a multiply-add-shift hash. The same on every run and machine (Python's own str hash
# is salted per process), and a quarter of the cost of a blake2b per pair.
_PAIR_K1 = 0x9E3779B97F4A7C15
_PAIR_K2 = 0xC2B2AE3D27D4EB4F
_word_hash = lru_cache(maxsize=1 << 16)(_hash64)


def shingles(tokens: Sequence[str]) -> set[int]:
    """Hashed word bigrams."""
    return set(_pairs(tokens))


def _pairs(tokens: Sequence[str]) -> list[int]:
    hashes = list(map(_word_hash, tokens))
    return [(a * _PAIR_K1 + b * _PAIR_K2) >> 64 for a, b in pairwise(hashes)]


def index_keys(tokens: Sequence[str]) -> tuple[set[int], list[int]]:
    """A text's shingles (hashed word bigrams), and its index keys: the bottom-k sketch of its word
    *trigrams*. Bigrams such as "i am" or "in the" are in a large share of all posts, and any of them among a
    text's smallest hashes made every post holding it a candidate; trigrams are far rarer, so keys shared by
    unrelated posts are too."""
    pairs = _pairs(tokens)
    # Two overlapping word pairs (a b, b c) name the triple (a b c).
    triples = {(p * _PAIR_K1 + q * _PAIR_K2) >> 64 for p, q in pairwise(pairs)}
    return set(pairs), sketch(triples)


def sketch(hashes: Iterable[int]) -> list[int]:
    """The bottom-k MinHash sketch: the smallest shingle hashes. Two texts with Jaccard similarity J share
    each of them with probability about J."""
    return heapq.nsmallest(SKETCH_SIZE, hashes)


@dataclass(frozen=True)
class Similarity:
    jaccard: float
    containment: float

    smaller: int = 0

    @property
    def near_duplicate(self) -> bool:
        # Containment catches an excerpt of a longer text, but only for excerpts long enough that sharing
        # most of their word pairs is no accident ("haven't been this sore in a while" is in many posts).
        contained = self.containment >= MIN_CONTAINMENT and self.smaller >= MIN_CONTAINED_SHINGLES
        return self.jaccard >= MIN_JACCARD or contained


def similarity(a: set[int], b: set[int]) -> Similarity:
    if not a or not b:
        return Similarity(0.0, 0.0)
    common = len(a & b)
    smaller = min(len(a), len(b))
    return Similarity(common / len(a | b), common / smaller, smaller)


def near_duplicate(a: Set[int], b: Set[int]) -> bool:
    """`similarity(a, b).near_duplicate`, without building the union or the Similarity."""
    if not a or not b:
        return False
    common = len(a & b)
    smaller = min(len(a), len(b))
    if common / (len(a) + len(b) - common) >= MIN_JACCARD:
        return True
    return common / smaller >= MIN_CONTAINMENT and smaller >= MIN_CONTAINED_SHINGLES


def numbers(mention: Mention) -> frozenset[str]:
    """The figures in a text (not in its URLs or handles), separators dropped: "99,342" is "99342"."""
    raw = f"{mention.title}\n{mention.text}"
    if raw.isascii() and not any(digit in raw for digit in "0123456789"):
        return frozenset()  # most posts state no figure (\d is other scripts' digits too: ASCII only)
    if "@" in raw or might_hold_url(raw):
        raw = _URL_OR_HANDLE.sub(" ", raw)
    return frozenset(n.replace(",", "").replace(".", "") for n in _NUMBER.findall(raw))


def numbers_agree(
    a: Mention, b: Mention, a_numbers: frozenset[str] | None = None, b_numbers: frozenset[str] | None = None
) -> bool:
    """True unless the texts state different figures. Templated reports ("insider sells 99,342 shares on
    June 21st" / "... 1,500 shares on July 5th") share most of their words but are different news; a copy or
    an excerpt keeps the figures it has. So the shorter text's numbers must all be in the longer one."""
    na = numbers(a) if a_numbers is None else a_numbers
    nb = numbers(b) if b_numbers is None else b_numbers
    small, large = (na, nb) if len(a.title) + len(a.text) <= len(b.title) + len(b.text) else (nb, na)
    return small <= large


class _RecentTexts:
    """The word pairs and figures of the mentions indexed or compared most recently, at most `size` of them.
    On templated text every post shares index keys with the same few earlier ones, and re-reading those for
    every post cost milliseconds a mention; a copy is usually compared with a recent post too."""

    def __init__(self, size: int = RECENT_TEXTS) -> None:
        self.size = size
        self._entries: OrderedDict[int, tuple[frozenset[int], frozenset[str] | None]] = OrderedDict()

    def put(self, i: int, pairs: Set[int]) -> None:
        self._entries[i] = (frozenset(pairs), None)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)

    def get(self, i: int, mention: Mention) -> tuple[frozenset[int], frozenset[str]]:
        found = self._entries.get(i)
        if found is None:
            pairs = frozenset(shingles(text_tokens(mention)))
        else:
            self._entries.move_to_end(i)
            pairs, figures = found
            if figures is not None:
                return pairs, figures
        figures = numbers(mention)
        self._entries[i] = (pairs, figures)
        if len(self._entries) > self.size:
            self._entries.popitem(last=False)
        return pairs, figures


class _SlotTable:
    """A multimap from 32-bit keys to 32-bit values in one flat array of 8-byte slots (open addressing,
    linear probing, at most half full): 16-32 bytes an entry, where a dict of Python ints takes ~100."""

    def __init__(self) -> None:
        self._slots = array("Q", bytes(8 * 64))
        self._used = 0

    @property
    def nbytes(self) -> int:
        return self._slots.itemsize * len(self._slots)

    def add(self, key: int, value: int) -> None:
        """Add an entry. A key keeps at most MAX_PER_KEY entries, the latest (values only grow): a key shared
        that widely (a stock phrase, a template) tells little, and would make every later look-up long. The
        oldest makes room because a copy is most often of a recent post, and a recent post's word pairs are
        most often still in `_RecentTexts`, so that checking it costs no re-reading."""
        key = (key & _MASK32) or 1
        if 2 * (self._used + 1) > len(self._slots):
            self._grow()
        slots = self._slots
        mask = len(slots) - 1
        i = (key * 0x9E3779B1) & mask
        held = 0
        oldest = -1
        while slot := slots[i]:
            if slot >> 32 == key:
                held += 1
                if oldest < 0 or slot < slots[oldest]:  # the same key: the smaller slot holds the older value
                    oldest = i
            i = (i + 1) & mask
        if held >= MAX_PER_KEY:
            slots[oldest] = key << 32 | (value + 1)
            return
        slots[i] = key << 32 | (value + 1)
        self._used += 1

    def get(self, key: int) -> Iterator[int]:
        key = (key & _MASK32) or 1
        slots = self._slots
        mask = len(slots) - 1
        i = (key * 0x9E3779B1) & mask
        while slot := slots[i]:
            if slot >> 32 == key:
                yield (slot & _MASK32) - 1
            i = (i + 1) & mask

    @staticmethod
    def _put(slots: array[int], packed: int) -> None:
        mask = len(slots) - 1
        i = ((packed >> 32) * 0x9E3779B1) & mask
        while slots[i]:
            i = (i + 1) & mask
        slots[i] = packed

    def _grow(self) -> None:
        old = self._slots
        self._slots = array("Q", bytes(8 * 2 * len(old)))
        for packed in old:
            if packed:
                self._put(self._slots, packed)


class DuplicateIndex:
    """Finds, for each new mention, the earlier cluster it belongs to. Keys are salted with the brand, so
    clusters never cross brands; every hit is verified, so a hash collision never merges anything.

    Most candidates a key brings are unrelated posts that happen to share a phrase, and verifying one exactly
    means re-reading its text (tens of µs). So every mention's word pairs are also kept as 16 bits each (about
    90 bytes a post): a candidate whose 16-bit pairs are clearly not similar enough (a margin of 0.1 under
    either threshold, far more than 16-bit collisions can move them) is set aside on those alone; the others
    are verified on their full hashes."""

    def __init__(self) -> None:
        self._table = _SlotTable()
        self.mentions: list[Mention] = []
        self._root = array("l")  # the cluster each mention belongs to (its own index when it leads one)
        self._recent = _RecentTexts()
        self._salts: dict[str | None, int] = {}
        # Mention i's word pairs, 16 bits of each: _short[_starts[i]:_starts[i + 1]] (none kept: not filtered).
        self._short = array("H")
        self._starts = array("I", [0])

    @property
    def nbytes(self) -> int:
        return (
            self._table.nbytes
            + self._root.itemsize * len(self._root)
            + 8 * len(self.mentions)
            + self._short.itemsize * len(self._short)
            + self._starts.itemsize * len(self._starts)
        )

    def add(self, mention: Mention) -> int | None:
        """Index a mention (given in time order); return the index of the cluster it joins, or None when it
        starts one."""
        i = len(self.mentions)
        self.mentions.append(mention)
        salt = self._salts.get(mention.brand)
        if salt is None:
            salt = self._salts[mention.brand] = _hash64(mention.brand or "")
        canon = canonical_url(mention.url)
        url_key = _hash64(canon) ^ salt
        # No URL (a feed item without a link) names no page: such a mention joins others by its text only.
        root = self._by_url(url_key, canon, mention.brand) if canon else None
        tokens = text_tokens(mention)
        # Members are indexed too (a later copy may be closer to a member than to the cluster's first), so a
        # mention clustered by its URL still needs its sketch.
        text: set[int] | None = None
        keys: list[int] = []
        short: set[int] = set()
        if len(tokens) >= MIN_TOKENS:
            text, keys = index_keys(tokens)
            short = {h & _MASK16 for h in text}
        if root is None and text is not None:
            root = self._by_text(mention, text, short, keys, salt)
        self._root.append(i if root is None else root)
        if canon:
            self._table.add(url_key, i)
        if text:
            self._recent.put(i, text)
            for h in keys:
                self._table.add(h ^ salt, i)
            if len(short) <= MAX_SHORT_PAIRS:
                self._short.extend(short)
        self._starts.append(len(self._short))
        return root

    def _by_url(self, key: int, canon: str, brand: str | None) -> int | None:
        for j in self._table.get(key):
            other = self.mentions[j]
            if other.brand == brand and canonical_url(other.url) == canon:
                return int(self._root[j])
        return None

    def _by_text(self, mention: Mention, text: set[int], short: set[int], keys: list[int], salt: int) -> int | None:
        brand = mention.brand
        seen: set[int] = set()
        mine: frozenset[str] | None = None
        starts = self._starts
        for h in keys:
            for j in self._table.get(h ^ salt):
                if j in seen:
                    continue
                seen.add(j)
                if len(seen) > MAX_CANDIDATES:
                    return None
                other = self.mentions[j]
                if other.brand != brand:
                    continue
                start, end = starts[j], starts[j + 1]
                if start < end and _clearly_apart(short, self._short[start:end]):
                    continue
                mine = numbers(mention) if mine is None else mine
                pairs, figures = self._recent.get(j, other)
                if not numbers_agree(mention, other, mine, figures):
                    continue
                if near_duplicate(text, pairs):
                    return int(self._root[j])
        return None


def _clearly_apart(short: set[int], other: Sequence[int]) -> bool:
    """True when two texts' 16-bit word pairs are well under both thresholds. 16-bit collisions can only
    make two sets look a little more alike (rarely a little less): never by the margin."""
    common = len(short.intersection(other))
    smaller = min(len(short), len(other))
    if common / (len(short) + len(other) - common) >= MIN_JACCARD - _FILTER_MARGIN:
        return False
    return common / smaller < MIN_CONTAINMENT - _FILTER_MARGIN or smaller < MIN_CONTAINED_SHINGLES - 2


def dedupe(mentions: Iterable[Mention]) -> list[Mention]:
    """Collapse per brand: one mention per (source, id); one per cluster of the same page or near-duplicate
    text, the earliest kept and the rest listed in its `also_seen`."""
    by_key: dict[tuple[str | None, str, str], Mention] = {}
    for m in mentions:
        by_key.setdefault((m.brand, m.source, m.id), m)
    ordered = sorted(by_key.values(), key=lambda m: (m.published_at, m.source, m.id))
    index = DuplicateIndex()
    out: list[Mention] = []
    for m in ordered:
        root = index.add(m)
        if root is None:
            out.append(m)
            continue
        first = index.mentions[root]
        first.also_seen.append({"source": m.source, "id": m.id, "url": m.url})
        first.duplicates = len(first.also_seen)
    return out

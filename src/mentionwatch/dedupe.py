"""Duplicate clusters: the same thing seen twice is one mention, and two different things never are.

Two mentions of one brand are one cluster when

- their own URLs (permalinks, not the page they link to: every comment under a Hacker News story shares the
  story's link) are the same page once canonicalised (`urls.canonical_url`): the same post seen twice;
- one shares the other, or both share the same page: a share is a titled post that links a page and has no
  words of its own beyond its title (a Hacker News story, a Reddit or Lemmy link post). The article in a feed,
  the HN story that links it and the Reddit post of it are one story; the comments under them are not shares
  (no title) and stay mentions of their own. A link to a site's front page names no story and shares nothing;
- or their texts are near-duplicates: syndicated copies of an article, a post copy-pasted with a handle or
  a hashtag added, an excerpt.

The earliest mention of a cluster is kept (the shared page itself, when the scan holds it and a share came
first); the others are listed in its `also_seen`, each with how it joined (`match`: "url", "link" or
"text"), its kind and its own engagement figures, and counted in `duplicates`.

Near-duplicates are found in O(n), never by comparing every pair: each text's word bigrams are hashed (its
shingles), the 4 smallest hashes of its word trigrams (a bottom-k MinHash sketch) are its index keys, and a
mention that shares a key with an earlier one is compared with it: Jaccard similarity of the shingle sets
>= 0.5, or containment >= 0.8 of a shorter text of 15+ word pairs in the longer; and no figure in the shorter
text that the longer one lacks (templated reports that differ only in their numbers are different news). The
keys live in a flat open-addressing table of 8-byte slots (each key keeps its 8 latest mentions), and each
mention's shingles are kept at 16 bits apiece too, which sets most candidates aside without re-reading their
text: about 200 bytes a mention in all, where a MinHash-LSH index with 128 permutations takes 3-5 KB.

Shared words are not sameness. Issue templates, signatures, quoted text, cookie banners and share buttons
make different posts alike; what tells them apart is what each says that the other does not. So texts that
are alike still stay apart when both have titles that disagree (each holds a word the other lacks: two Stack
Overflow questions with one templated body), when each has words of its own (`OWN_WORDS`; in a long text, a
share of its words or a sentence of them in a row: two comments that quote one notice and each add a line),
or when a reply holds the whole of another post and adds its own words (it quotes it). And a merge never hides
a mention that needs a reply unless the one kept needs a reply too (`ReplyGuard`).

Texts shorter than 8 words never cluster on text alone: "Love Acme!" posted by two people is two mentions.
They still cluster when their URLs are the same page.
"""

from __future__ import annotations

import dataclasses
import difflib
import heapq
import re
import unicodedata
from array import array
from collections import OrderedDict
from collections.abc import Iterable, Iterator, Mapping, Sequence, Set
from dataclasses import dataclass
from functools import lru_cache
from hashlib import blake2b
from itertools import pairwise
from typing import Any

from mentionwatch.ahead import Ahead
from mentionwatch.impact import OUTLET_KIND, reach_of, reply_reason
from mentionwatch.impact import REPLY_KINDS as REPLY_KINDS  # dedupe's word for them too (the store reads it here)
from mentionwatch.impact import shared_page as shared_page  # what a share is: needs-reply's rule 2 reads it too
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


# A mention's words, and (MIN_TOKENS words or more) its shingles and index keys: what `DuplicateIndex.add` reads
# of its text.
TextKeys = tuple[list[str], frozenset[int] | None, list[int]]


def text_keys(mention: Mention) -> TextKeys:
    tokens = text_tokens(mention)
    if len(tokens) < MIN_TOKENS:
        return tokens, None, []
    pairs, keys = index_keys(tokens)
    return tokens, frozenset(pairs), keys


def keys_ahead(limit: int = 2000) -> Ahead[TextKeys]:
    """Dedupe keys worked out before `dedupe` runs (400 mentions of unchanged feeds: 40 of the 60 ms it took)."""
    return Ahead(text_keys, _words_of, limit)


def _words_of(mention: Mention) -> tuple[object, ...]:
    return (mention.title, mention.text)


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


# --------------------------------------------------------------------------------------------------------
# Different posts that share most of their words

# Each text must hold this many words the other lacks (and 4% of its distinct words, rounded down: in a long
# article a copy editor's few changes make no new post) for two alike texts to be two posts. One word is
# what a copy changes (a typo fixed, a word swapped); two are the words someone filled a template in with.
OWN_WORDS = 2
OWN_SHARE = 0.04
# ... or, between posts and comments (not articles), this many of them in a row: a sentence of its own
# ("Charged twice, need refund."), which is something said, however long the text the two share (two comments
# quoting one long notice). The share is for edits scattered through a copy, and for an article's copies, whose
# bylines and footers differ by whole lines.
OWN_RUN = 4
# Words a copy adds on its way round without saying anything: retweet and credit markers.
_DECORATION = frozenset({"rt", "via", "cc", "ht", "mt"})
_HASHTAG = re.compile(r"(?<![\w&])#(\w+)")
# A publisher appended to a headline: "Acme launches skates - The Verge", "... | Reuters" (capitalised words).
_PUBLISHER = re.compile(r"\s+[-–—|·]\s+(?:[A-Z0-9][\w.&'’]*\s*){1,5}$")


def _normal_words(text: str) -> list[str]:
    if "'" in text or "’" in text or "ʼ" in text:
        text = _APOSTROPHES.sub("", text)
    return _WORD.findall(unicodedata.normalize("NFKC", text).casefold())


def _has_own(own: set[str], runs: list[Sequence[str]], distinct: int, least: int) -> bool:
    if len(own) >= max(least, int(OWN_SHARE * distinct)):
        return True
    return any(len(own.intersection(run)) >= max(least, OWN_RUN) for run in runs)


def own_words_differ(
    a: Mention, a_tokens: Sequence[str], b: Mention, b_tokens: Sequence[str], least: int = OWN_WORDS
) -> bool:
    """True when two alike texts are two posts: each says something the other does not (different answers
    to one template, one signature or banner under different messages), or one is a reply that holds the
    other whole and adds words of its own.

    A text's own words are those outside the word runs the two texts have in common, in order (a word diff):
    so a word of a filled-in template that the template happens to hold elsewhere ("tell me what *you*
    think") still counts. Hashtags, retweet or credit markers and figures (`numbers_agree` judges those) are
    nobody's own words, nor is a word the other writes apart ("well-known", "wellknown"). `least`: how many
    own words each needs (more, to set apart two posts that are each alike to a third).

    A long text needs more own words (`OWN_SHARE`) unless they come in a row (`OWN_RUN`): a copy editor
    changes a word here and there, someone quoting the same text adds a sentence. Symmetric: which of the two
    came first changes nothing."""
    runs_a, runs_b = _unmatched(a_tokens, b_tokens)
    own_a = {w for run in runs_a for w in run if not w.isdigit()}.difference(_DECORATION, _hashtags(a))
    own_b = {w for run in runs_b for w in run if not w.isdigit()}.difference(_DECORATION, _hashtags(b))
    words_a, words_b = set(a_tokens), set(b_tokens)
    if len(own_a) >= least and len(own_b) >= least:
        own_a.difference_update(_rejoined(a_tokens, words_a, b_tokens, words_b))
        own_b.difference_update(_rejoined(b_tokens, words_b, a_tokens, words_a))
    # A sentence of its own sets people's posts apart; an article's copies differ by a whole line (a byline, a
    # "first published on" footer) and are still one story.
    said = OUTLET_KIND not in (a.kind, b.kind)
    has_a = _has_own(own_a, runs_a if said else [], len(words_a), least)
    has_b = _has_own(own_b, runs_b if said else [], len(words_b), least)
    if has_a and has_b:
        return True
    return (has_a and a.kind in REPLY_KINDS) or (has_b and b.kind in REPLY_KINDS)


def _unmatched(a: Sequence[str], b: Sequence[str]) -> tuple[list[Sequence[str]], list[Sequence[str]]]:
    """The runs of words of each text outside the runs both hold in the same order (difflib's word diff).
    Only near-duplicates about to merge get here, a few per thousand mentions."""
    if list(b) < list(a):  # difflib breaks ties by its first sequence: the same diff whichever text came first
        runs_b, runs_a = _unmatched(b, a)
        return runs_a, runs_b
    found_a: list[Sequence[str]] = []
    found_b: list[Sequence[str]] = []
    diff = difflib.SequenceMatcher(None, a, b, autojunk=False)
    for tag, i1, i2, j1, j2 in diff.get_opcodes():
        if tag != "equal":
            found_a.append(a[i1:i2])
            found_b.append(b[j1:j2])
    return found_a, found_b


def _rejoined(tokens: Sequence[str], words: Set[str], other: Sequence[str], other_words: Set[str]) -> set[str]:
    """The words of `tokens` that the other text writes together or apart: a copy that lost its punctuation
    has "wellknown" for "well-known", "email" for "e-mail", "offbeatornette" for "off-beat/Ornette"."""
    found: set[str] = set()
    for run in _runs(other):
        if (joined := "".join(run)) in words:
            found.add(joined)  # a word of ours that the other writes in pieces
    for run in _runs(tokens):
        if "".join(run) in other_words:
            found.update(run)  # pieces of ours that the other writes as one word
    return found


def _runs(tokens: Sequence[str]) -> Iterator[Sequence[str]]:
    """Every two and three consecutive words."""
    for size in (2, 3):
        for i in range(len(tokens) - size + 1):
            yield tokens[i : i + size]


def _hashtags(mention: Mention) -> list[str]:
    raw = f"{mention.title}\n{mention.text}"
    return [w for tag in _HASHTAG.findall(raw) for w in _normal_words(tag)] if "#" in raw else []


def _title_words(title: str) -> set[str]:
    bare = _PUBLISHER.sub("", title)
    return set(_normal_words(bare or title))


def titles_agree(a: Mention, b: Mention) -> bool:
    """False when both mentions have a title and each title holds a word the other lacks: "Acme CLI fails on
    Windows" and "Acme CLI hangs on Linux" are two questions, whatever their bodies share. A publisher
    appended to a headline (" - The Verge") does not count; a title that only adds words to the other's does
    not disagree with it."""
    if not a.title or not b.title:
        return True
    words_a, words_b = _title_words(a.title), _title_words(b.title)
    return words_a <= words_b or words_b <= words_a


# --------------------------------------------------------------------------------------------------------
# Shares


# --------------------------------------------------------------------------------------------------------
# Never hide who is waiting for an answer

# BrandConfig.reply_reach's default, for a brand the caller gives no threshold for.
DEFAULT_REPLY_REACH = 1000


class ReplyGuard:
    """Whether a mention may be folded into a cluster kept as another. Never when that would hide a mention
    that needs a reply, unless the one kept needs a reply too.

    "Needs a reply" is `impact.reply_reason`: a question to the brand, or a negative mention from an author
    whose reach exceeds the brand's `reply_reach`. The pipeline scores sentiment after dedupe, so a mention
    without a sentiment label from such an author *may* be negative: it is not folded into a mention that
    does not surely need a reply. With sentiment scored first, the test is exact."""

    def __init__(self, reply_reach: Mapping[str, int] | None = None) -> None:
        self._reply_reach = reply_reach or {}
        self._needs: dict[int, bool] = {}
        self._may: dict[int, bool] = {}

    def _threshold(self, mention: Mention) -> int:
        return self._reply_reach.get(mention.brand or "", DEFAULT_REPLY_REACH)

    def needs(self, mention: Mention) -> bool:
        """Surely needs a reply (what `score_impact` will say, as far as is known now)."""
        found = self._needs.get(id(mention))
        if found is None:
            probe = mention
            if mention.reach is None and mention.sentiment_label == "negative":
                probe = dataclasses.replace(mention, reach=reach_of(mention))  # reach is set after dedupe
            found = self._needs[id(mention)] = reply_reason(probe, self._threshold(mention)) is not None
        return found

    def may_need(self, mention: Mention) -> bool:
        found = self._may.get(id(mention))
        if found is None:
            loud = (reach_of(mention) or 0) > self._threshold(mention)
            found = self.needs(mention) or (mention.sentiment_label is None and loud)
            self._may[id(mention)] = found
        return found

    def allows(self, member: Mention, kept: Mention) -> bool:
        return not self.may_need(member) or self.needs(kept)


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
    are verified on their full hashes.

    `reply_reach`: each brand's threshold for "a loud negative mention needs a reply" (see `ReplyGuard`).
    `ahead`: the keys of some mentions, worked out earlier."""

    def __init__(self, reply_reach: Mapping[str, int] | None = None, ahead: Ahead[TextKeys] | None = None) -> None:
        self._ahead = ahead
        self._table = _SlotTable()
        self.mentions: list[Mention] = []
        self._root = array("l")  # the cluster each mention belongs to (its own index when it leads one)
        self._recent = _RecentTexts()
        self._salts: dict[str | None, int] = {}
        # Mention i's word pairs, 16 bits of each: _short[_starts[i]:_starts[i + 1]] (none kept: not filtered).
        self._short = array("H")
        self._starts = array("I", [0])
        self.guard = ReplyGuard(reply_reach)
        # How each mention that joined a cluster joined it: "url", "link" or "text" (duplicates only).
        self.joined_by: dict[int, str] = {}
        # Per cluster (by its root), the first member that is the page the cluster's shares link to.
        self.shared_pages: dict[int, int] = {}

    @property
    def nbytes(self) -> int:
        return (
            self._table.nbytes
            + self._root.itemsize * len(self._root)
            + 8 * len(self.mentions)
            + self._short.itemsize * len(self._short)
            + self._starts.itemsize * len(self._starts)
        )

    def root_of(self, i: int) -> int:
        return int(self._root[i])

    def add(self, mention: Mention) -> int | None:
        """Index a mention (given in time order); return the index of the cluster it joins, or None when it
        starts one."""
        i = len(self.mentions)
        self.mentions.append(mention)
        salt = self._salts.get(mention.brand)
        if salt is None:
            salt = self._salts[mention.brand] = _hash64(mention.brand or "")
        canon = canonical_url(mention.url)
        page = shared_page(mention, canon)
        # No URL (a feed item without a link) names no page: such a mention joins others by its text, or by the
        # page it links to.
        page_keys = [_hash64(canon) ^ salt] if canon else []
        if page is not None:
            page_keys.append(_hash64(page) ^ salt)
        found = self._by_page(i, mention, canon, page, page_keys)
        # Members are indexed too (a later copy may be closer to a member than to the cluster's first), so a
        # mention clustered by its URL still needs its sketch.
        tokens, text, keys = self._ahead.take(mention) if self._ahead is not None else text_keys(mention)
        short = {h & _MASK16 for h in text} if text is not None else set()
        if found is None and text is not None:
            found = self._by_text(mention, tokens, text, short, keys, salt)
        root = None if found is None else found[0]
        self._root.append(i if root is None else root)
        if found is not None:
            self.joined_by[i] = found[1]
        for key in page_keys:
            self._table.add(key, i)
        if text:
            self._recent.put(i, text)
            for h in keys:
                self._table.add(h ^ salt, i)
            if len(short) <= MAX_SHORT_PAIRS:
                self._short.extend(short)
        self._starts.append(len(self._short))
        return root

    def _by_page(
        self, i: int, mention: Mention, canon: str, page: str | None, page_keys: list[int]
    ) -> tuple[int, str] | None:
        """The cluster of the same post (its URL), else of the story it shares or that shares it (a link)."""
        shared: tuple[int, str] | None = None
        for key in page_keys:
            for j in self._table.get(key):
                other = self.mentions[j]
                if other.brand != mention.brand:
                    continue
                other_canon = canonical_url(other.url)
                if canon and other_canon == canon:
                    return self.root_of(j), "url"  # the same post: nothing else to hide
                if shared is not None:
                    continue
                other_page = shared_page(other, other_canon)
                is_the_page = other_page is not None and other_page == canon
                if not (is_the_page or (page is not None and page in (other_canon, other_page))):
                    continue
                root = self.root_of(j)
                if not self.guard.allows(mention, self.mentions[root]):
                    continue
                shared = root, "link"
                if is_the_page:
                    self.shared_pages.setdefault(root, i)
        return shared

    def _by_text(
        self, mention: Mention, tokens: list[str], text: Set[int], short: set[int], keys: list[int], salt: int
    ) -> tuple[int, str] | None:
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
                if not near_duplicate(text, pairs) or not titles_agree(mention, other):
                    continue
                if own_words_differ(mention, tokens, other, text_tokens(other)):
                    continue
                root = self.root_of(j)
                kept = self.mentions[root]
                # A post with few words of its own under shared boilerplate is alike to each of several
                # different posts: joined through it, they would chain into one cluster. The one kept must
                # not say something else either.
                if root != j and own_words_differ(mention, tokens, kept, text_tokens(kept), OWN_WORDS + 1):
                    continue
                if self.guard.allows(mention, kept):
                    return root, "text"
        return None


def _clearly_apart(short: set[int], other: Sequence[int]) -> bool:
    """True when two texts' 16-bit word pairs are well under both thresholds. 16-bit collisions can only
    make two sets look a little more alike (rarely a little less): never by the margin."""
    common = len(short.intersection(other))
    smaller = min(len(short), len(other))
    if common / (len(short) + len(other) - common) >= MIN_JACCARD - _FILTER_MARGIN:
        return False
    return common / smaller < MIN_CONTAINMENT - _FILTER_MARGIN or smaller < MIN_CONTAINED_SHINGLES - 2


# The engagement figures a duplicate carries into `also_seen`: what it drew where it was seen.
SEEN_FIGURES = ("score", "comments", "likes", "reposts", "quotes", "views", "followers")


def seen_entry(mention: Mention, match: str) -> dict[str, Any]:
    """One `also_seen` entry: where the duplicate is (`source`, `id`, `url`), how it joined the cluster
    (`match`: "url" the same post, "link" a share of the same story, "text" a near-duplicate text), its `kind`,
    and its own figures (`score` is Hacker News' points and Reddit's score; a figure the source does not give
    is left out)."""
    entry: dict[str, Any] = {"source": mention.source, "id": mention.id, "url": mention.url, "match": match}
    # The service, not the configured name: the store keys duplicates by it across runs.
    entry["source_type"] = mention.source_type
    if mention.kind:
        entry["kind"] = mention.kind
    for name in SEEN_FIGURES:
        value = getattr(mention, name)
        if value is not None:
            entry[name] = value
    return entry


def dedupe(
    mentions: Iterable[Mention], *, reply_reach: Mapping[str, int] | None = None, ahead: Ahead[TextKeys] | None = None
) -> list[Mention]:
    """Collapse per brand: one mention per (source, id); one per cluster of the same post, the same story
    (shares) or near-duplicate text, the earliest kept (or the shared page itself, see `_leader`) and the rest
    listed in its `also_seen`. `reply_reach`: each brand's threshold, as `impact.score_impact` takes it.
    `ahead`: the keys of some of the mentions, worked out earlier (taken out of it)."""
    by_key: dict[tuple[str | None, str, str], Mention] = {}
    for m in mentions:
        by_key.setdefault((m.brand, m.source, m.id), m)
    ordered = sorted(by_key.values(), key=lambda m: (m.published_at, m.source, m.id))
    index = DuplicateIndex(reply_reach, ahead)
    roots: list[int] = []
    members: dict[int, list[int]] = {}
    for i, m in enumerate(ordered):
        root = index.add(m)
        if root is None:
            roots.append(i)
        else:
            members.setdefault(root, []).append(i)
    out: list[Mention] = []
    for root in roots:
        cluster = members.get(root)
        if cluster is None:
            out.append(index.mentions[root])
            continue
        leader = _leader(index, root)
        kept = index.mentions[leader]
        for i in [root, *cluster]:
            if i != leader:
                match = index.joined_by.get(i, "link")  # the root, when a shared page took the lead: a share
                kept.also_seen.append(seen_entry(index.mentions[i], match))
        kept.duplicates = len(kept.also_seen)
        out.append(kept)
    return out


def copies_of_stored(
    fresh: Sequence[Mention], stored: Iterable[Mention], guard: ReplyGuard | None = None
) -> dict[int, Mention]:
    """Which of `fresh` (a scan's mentions the store has not seen, that joined no stored cluster by id, page or
    link) are copies by their text of one of `stored` (earlier scans' cluster heads of their brands): {the index
    in `fresh`: the stored mention}. A syndicated article that turns up days after its original then joins the
    stored cluster and is not new. The rules are a scan's own (`DuplicateIndex`): near-duplicate text, verified;
    boilerplate is not sameness; a copy never hides a mention that needs a reply (`guard`: how the store judges
    that of what it saved)."""
    index = DuplicateIndex()
    if guard is not None:
        index.guard = guard
    for m in sorted(stored, key=lambda m: (m.published_at, m.source, m.id)):
        index.add(m)
    known = len(index.mentions)
    found: dict[int, Mention] = {}
    if not known:
        return found
    for i, m in sorted(enumerate(fresh), key=lambda pair: (pair[1].published_at, pair[1].source, pair[1].id)):
        root = index.add(m)
        # Only a join by text: ids, pages and links were the store's to find (and found none).
        if root is not None and root < known and index.joined_by.get(len(index.mentions) - 1) == "text":
            found[i] = index.mentions[root]
    return found


def _leader(index: DuplicateIndex, root: int) -> int:
    """The mention a cluster is shown as: its earliest, unless a share came before the page it shares (a feed
    that dates its items late): then the page, so the story is one row with its shares listed under it. Not
    when that would hide a mention that needs a reply (the members joined under the earliest's flag)."""
    page = index.shared_pages.get(root)
    if page is None:
        return root
    guard = index.guard
    if guard.may_need(index.mentions[root]) and not guard.needs(index.mentions[page]):
        return root
    return page

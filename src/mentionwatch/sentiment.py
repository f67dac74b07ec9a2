"""Sentiment: how a mention speaks of the brand, from -1 to 1, and how subjective it is.

Sentiment comes from a pluggable scorer, found through the `mentionwatch.scorers` entry-point group (the
built-ins, `vader` and `textblob`, are registered there too). VADER is the default: on 4,200 human-rated
tweets it agrees with people far better than TextBlob (benchmarks/README.md, "Sentiment accuracy").
Subjectivity is TextBlob's whichever scorer is chosen.
"""

from __future__ import annotations

import importlib
import importlib.util
import logging
import re
import sys
import types
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from typing import Any, Protocol, runtime_checkable

from mentionwatch import pattern
from mentionwatch.errors import ConfigError
from mentionwatch.models import Mention
from mentionwatch.text import html_to_text, strip_urls_and_handles

log = logging.getLogger(__name__)

SCORERS_GROUP = "mentionwatch.scorers"
DEFAULT_SCORER = "vader"
NEUTRAL_BAND = 0.05


@dataclass(frozen=True)
class Sentiment:
    """One text's sentiment: polarity in [-1, 1], subjectivity in [0, 1] (None: not known), and the
    scorer's own figures that made them (shown by `mentionwatch explain`)."""

    polarity: float
    subjectivity: float | None = None
    parts: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class SentimentScorer(Protocol):
    """What a sentiment plugin provides: a name and `score(text)`. Register a class (or any callable that
    returns one) under the `mentionwatch.scorers` entry-point group; `scoring.sentiment: NAME` selects it."""

    name: str

    def score(self, text: str) -> Sentiment: ...


# A text's polarity and subjectivity: all a scan keeps of its sentiment (`explain` shows the scorer's parts too).
Figures = tuple[float, float | None]


class SharedScoring(Protocol):
    """Scoring shared with other processes (`mentionwatch.workers.SentimentWorkers`): each text's figures."""

    def score(self, texts: Sequence[str], scorer: SentimentScorer) -> list[Figures]: ...


class SentimentMemo:
    """Sentiment by text. A scan scores the mentions that have arrived while the network is still busy
    (`prime`); the scorer it then scores with (`wrap`) looks those up instead of scoring them again."""

    def __init__(self) -> None:
        self._found: dict[str, Sentiment] = {}

    def __len__(self) -> int:
        return len(self._found)

    def prime(self, scorer: SentimentScorer, texts: Iterable[str]) -> None:
        for text in texts:
            if text and text not in self._found:
                self._found[text] = scorer.score(text)

    def add(self, texts: Iterable[str], found: Iterable[Sentiment]) -> None:
        """Remember what was scored elsewhere (by worker processes)."""
        self._found.update(zip(texts, found, strict=True))

    def wrap(self, scorer: SentimentScorer) -> SentimentScorer:
        return _Memoized(scorer, self._found)

    def clear(self) -> None:
        """Forget what was scored (a scan worked in windows lets go of each window's texts)."""
        self._found.clear()


class _Memoized:
    def __init__(self, scorer: SentimentScorer, found: dict[str, Sentiment]) -> None:
        self.name = scorer.name
        self._scorer = scorer
        self._found = found

    def score(self, text: str) -> Sentiment:
        found = self._found.get(text)
        return found if found is not None else self._scorer.score(text)

    def known(self, text: str) -> Sentiment | None:
        return self._found.get(text)


def unwrapped(scorer: SentimentScorer) -> SentimentScorer:
    """The scorer itself, without the memo a scan may have wrapped it in."""
    return scorer._scorer if isinstance(scorer, _Memoized) else scorer


class TextBlobScorer:
    """TextBlob's pattern lexicon (movie and product reviews): polarity and subjectivity, offline."""

    name = "textblob"

    def __init__(self) -> None:
        self._pattern = pattern_sentiment()

    def score(self, text: str) -> Sentiment:
        found = self._pattern(text)
        polarity, subjectivity = float(found[0]), float(found[1])
        return Sentiment(polarity, subjectivity, {"polarity": polarity, "subjectivity": subjectivity})

    def polarity(self, text: str) -> float:
        return self.score(text).polarity

    def subjectivity(self, text: str) -> float:
        return float(self._pattern(text)[1])


class VaderScorer:
    """VADER (Hutto & Gilbert, ICWSM 2014): a lexicon and rules made for social media (emoticons, slang,
    capitals, "!!!", "but", negation). Polarity is its `compound` score; subjectivity is TextBlob's."""

    name = "vader"

    def __init__(self) -> None:
        self._vader = vader_analyzer()
        self._textblob = TextBlobScorer()

    def score(self, text: str) -> Sentiment:
        figures = {k: float(v) for k, v in self._vader.polarity_scores(text).items()}
        subjectivity = self._textblob.subjectivity(text)
        return Sentiment(figures["compound"], subjectivity, {**figures, "subjectivity": subjectivity})


def pattern_sentiment() -> Callable[[str], tuple[float, float]]:
    """TextBlob's sentiment function: `f(text)` is `TextBlob(text).sentiment` (polarity, subjectivity).

    On textblob 0.20.1, `pattern.pattern_scorer`: the same rules in one pass, a quarter of the cost. On
    another release, the library's own function, at half the cost of `TextBlob(text).sentiment`: that is
    `PatternAnalyzer().analyze(text)`, which returns `textblob.en.sentiment(text)` after building a blob (a regex
    pass over the text) and a new namedtuple class, on every call; and that `sentiment` is a lazy dict (its
    lexicon is read on first use), whose every look-up (three a word) first checks whether it is loaded. Here:
    the same lexicon, loaded, in a plain dict's clothes."""
    from importlib.metadata import version

    en, text_module = _textblob_modules()
    sentiment = en.sentiment

    class _Loaded(type(sentiment)):  # type: ignore[misc]
        __contains__ = dict.__contains__
        __getitem__ = dict.__getitem__
        __iter__ = dict.__iter__
        __len__ = dict.__len__
        get = dict.get
        items = dict.items

    len(sentiment)  # loads the lexicon
    loaded = _Loaded.__new__(_Loaded)
    dict.update(loaded, dict.items(sentiment))
    # Its settings (tokenizer, negations, modifiers, labels), not the methods the lazy dict bound to itself.
    loaded.__dict__.update((k, v) for k, v in vars(sentiment).items() if not k.startswith("__"))
    if version("textblob") == pattern.TEXTBLOB_VERSION:
        return pattern.pattern_scorer(loaded, text_module)
    return loaded


def _textblob_modules() -> tuple[Any, Any]:
    """`textblob.en` and `textblob._text`, without running `textblob/__init__.py`.

    That `__init__` imports `textblob.blob` and with it nltk (0.25 s of a 2-core machine's CPU, on every
    scan), for tokenizers and taggers the sentiment lexicon never uses: `textblob.en` and `textblob._text`
    import only the standard library. So the package is stood in for while `textblob.en` loads, and every
    `textblob` module is then taken out of `sys.modules` again: a later `import textblob` gets the real,
    complete package, as if this had never run."""
    if "textblob" in sys.modules:  # already imported for real: nothing to save
        return importlib.import_module("textblob.en"), importlib.import_module("textblob._text")
    spec = importlib.util.find_spec("textblob")  # finds the package without executing it
    if spec is None or spec.submodule_search_locations is None:
        return importlib.import_module("textblob.en"), importlib.import_module("textblob._text")  # the usual error
    stand_in = types.ModuleType("textblob")
    stand_in.__path__ = list(spec.submodule_search_locations)
    sys.modules["textblob"] = stand_in
    try:
        return importlib.import_module("textblob.en"), importlib.import_module("textblob._text")
    finally:
        for name in [n for n in sys.modules if n == "textblob" or n.startswith("textblob.")]:
            del sys.modules[name]


# The vaderSentiment release whose internals `_LinearVader` was checked against (tests/test_fast_paths.py
# compares the two on the 4,200 human-rated tweets, on a phrase for each rule and on generated text).
LINEAR_VADER_VERSION = "3.3.2"


def vader_analyzer() -> Any:
    """VADER's analyzer: the stock one, or on vaderSentiment 3.3.2 the same rules without their quadratic
    steps (identical figures, three times faster on posts of 50 words)."""
    from importlib.metadata import version

    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    if version("vaderSentiment") != LINEAR_VADER_VERSION:
        return SentimentIntensityAnalyzer()
    return _linear_vader_class()()


def _linear_vader_class() -> Any:
    import string

    from vaderSentiment import vaderSentiment as vs

    punctuation = string.punctuation

    class _LinearVader(vs.SentimentIntensityAnalyzer):  # type: ignore[misc]
        """vaderSentiment 3.3.2, where `_negation_check` and `_special_idioms_check` lower-case every word of
        the text each time one sentiment word is looked at (O(words²): most of the time on a 50-word post),
        and `polarity_scores` rebuilds the text a character at a time to replace emojis. Here the words are
        lowered once, the rules for one word run in one loop (`_negation`, `_idioms`, `_but`: the library's checks
        on the lowered words), and a text without emojis is taken as it is. `score_valence` and the lexicons are
        the library's."""

        def __init__(self) -> None:
            super().__init__()
            # The emoji loop looks at one character at a time: only one-character keys can ever match.
            self._emoji_chars = frozenset(k for k in self.emojis if len(k) == 1)

        def polarity_scores(self, text: str) -> dict[str, float]:
            if not self._emoji_chars.isdisjoint(text):
                text = self._describe_emojis(text)
            # From here on, the library's polarity_scores with `SentiText`, `sentiment_valence`, `scalar_inc_dec`,
            # `_negation_check` and `_least_check` written out in one loop over words lowered once: the same
            # operations on the same floats in the same order (its function calls were half of its time).
            text = text.strip()
            split = text.split()
            words = [s if len(s) > 2 else w for w, s in zip(split, [w.strip(punctuation) for w in split], strict=True)]
            lowered = [w.lower() for w in words]
            n = len(words)
            capitals = sum(1 for w in words if w.isupper())
            is_cap_diff = 0 < n - capitals < n
            lexicon = self.lexicon
            sentiments: list[float] = []
            for i, low in enumerate(lowered):
                if low in boosters or low not in lexicon or (low == "kind" and i < n - 1 and lowered[i + 1] == "of"):
                    sentiments.append(0)  # an int 0, as the library appends: `_but` looks values up
                    continue
                valence = lexicon[low]
                if low == "no" and i != n - 1 and lowered[i + 1] in lexicon:
                    valence = 0.0
                if (
                    (i > 0 and lowered[i - 1] == "no")
                    or (i > 1 and lowered[i - 2] == "no")
                    or (i > 2 and lowered[i - 3] == "no" and lowered[i - 1] in ("or", "nor"))
                ):
                    valence = lexicon[low] * n_scalar
                if words[i].isupper() and is_cap_diff:
                    if valence > 0:
                        valence += c_incr
                    else:
                        valence -= c_incr
                for start_i in range(0, 3):
                    before = i - (start_i + 1)
                    if i > start_i and lowered[before] not in lexicon:
                        s = 0.0  # scalar_inc_dec
                        if lowered[before] in boosters:
                            s = boosters[lowered[before]]
                            if valence < 0:
                                s *= -1
                            if words[before].isupper() and is_cap_diff:
                                if valence > 0:
                                    s += c_incr
                                else:
                                    s -= c_incr
                        if start_i == 1 and s != 0:
                            s = s * 0.95
                        if start_i == 2 and s != 0:
                            s = s * 0.9
                        valence = valence + s
                        valence = _negation(valence, lowered, start_i, i)
                        if start_i == 2 and not idiom_words.isdisjoint(lowered[i - 3 : i + 3]):
                            valence = _idioms(valence, lowered, i)
                # _least_check
                if i > 1 and lowered[i - 1] not in lexicon and lowered[i - 1] == "least":
                    if lowered[i - 2] != "at" and lowered[i - 2] != "very":
                        valence = valence * n_scalar
                elif i > 0 and lowered[i - 1] not in lexicon and lowered[i - 1] == "least":
                    valence = valence * n_scalar
                sentiments.append(valence)
            sentiments = _but(lowered, sentiments)
            return self.score_valence(sentiments, text)  # type: ignore[no-any-return]

        def _describe_emojis(self, text: str) -> str:
            """The library's emoji loop, as it is: each emoji replaced by its description."""
            text_no_emoji = ""
            prev_space = True
            for char in text:
                if char in self.emojis:
                    description = self.emojis[char]
                    if not prev_space:
                        text_no_emoji += " "
                    text_no_emoji += description
                    prev_space = False
                else:
                    text_no_emoji += char
                    prev_space = char == " "
            return text_no_emoji

    negations = frozenset(vs.NEGATE)
    boosters, n_scalar, c_incr = vs.BOOSTER_DICT, vs.N_SCALAR, vs.C_INCR
    # `_special_idioms_check` looks up the 2 and 3 words around word i (i-3 to i+2) in SPECIAL_CASES and among
    # BOOSTER_DICT's phrases: when none of those words is in any of their keys, it returns the valence unchanged.
    idiom_words = frozenset(w for key in [*vs.SPECIAL_CASES, *boosters] if " " in key for w in key.split(" "))

    def _negation(valence: float, low: list[str], start_i: int, i: int) -> float:
        """`_negation_check` on the lowered words."""
        if start_i == 0 and negated(low[i - 1]):
            valence = valence * n_scalar
        if start_i == 1:
            if low[i - 2] == "never" and low[i - 1] in ("so", "this"):
                valence = valence * 1.25
            elif low[i - 2] == "without" and low[i - 1] == "doubt":
                pass
            elif negated(low[i - 2]):
                valence = valence * n_scalar
        if start_i == 2:
            if (low[i - 3] == "never" and low[i - 2] in ("so", "this")) or low[i - 1] in ("so", "this"):
                valence = valence * 1.25
            elif low[i - 3] == "without" and (low[i - 2] == "doubt" or low[i - 1] == "doubt"):
                pass
            elif negated(low[i - 3]):
                valence = valence * n_scalar
        return valence

    def _idioms(valence: float, low: list[str], i: int) -> float:
        """`_special_idioms_check` on the lowered words (negative indexes wrap round as the library's do)."""
        onezero = f"{low[i - 1]} {low[i]}"
        twoonezero = f"{low[i - 2]} {low[i - 1]} {low[i]}"
        twoone = f"{low[i - 2]} {low[i - 1]}"
        threetwoone = f"{low[i - 3]} {low[i - 2]} {low[i - 1]}"
        threetwo = f"{low[i - 3]} {low[i - 2]}"
        for seq in (onezero, twoonezero, twoone, threetwoone, threetwo):
            if seq in vs.SPECIAL_CASES:
                valence = vs.SPECIAL_CASES[seq]
                break
        if len(low) - 1 > i:
            zeroone = f"{low[i]} {low[i + 1]}"
            if zeroone in vs.SPECIAL_CASES:
                valence = vs.SPECIAL_CASES[zeroone]
        if len(low) - 1 > i + 1:
            zeroonetwo = f"{low[i]} {low[i + 1]} {low[i + 2]}"
            if zeroonetwo in vs.SPECIAL_CASES:
                valence = vs.SPECIAL_CASES[zeroonetwo]
        for n_gram in (threetwoone, threetwo, twoone):
            if n_gram in boosters:
                valence = valence + boosters[n_gram]
        return valence

    def _but(low: list[str], sentiments: list[float]) -> list[float]:
        """`_but_check` on the lowered words, as it is (`sentiments.index(sentiment)` finds the first equal value,
        not this one)."""
        if "but" in low:
            bi = low.index("but")
            for sentiment in sentiments:
                si = sentiments.index(sentiment)
                if si < bi:
                    sentiments.pop(si)
                    sentiments.insert(si, sentiment * 0.5)
                elif si > bi:
                    sentiments.pop(si)
                    sentiments.insert(si, sentiment * 1.5)
        return sentiments

    def negated(word: str) -> bool:
        """`vs.negated([word])` for one lower-case word (lower-casing is idempotent), without copying the
        list of negations and searching it word by word."""
        return word in negations or "n't" in word

    return _LinearVader


class Scorers:
    """The installed sentiment scorers by name. Passed in, never global, so tests can hand in fakes."""

    def __init__(self, factories: Mapping[str, Callable[[], Any]], broken: Mapping[str, str] | None = None) -> None:
        self._factories = dict(factories)
        self.broken = dict(broken or {})

    @classmethod
    def from_entry_points(cls, group: str = SCORERS_GROUP) -> Scorers:
        from mentionwatch.entrypoints import load_plugins

        factories, broken = load_plugins(
            group, "scorer", lambda loaded: None if callable(loaded) else "is not a class or factory"
        )
        return cls(factories, broken)

    def names(self) -> list[str]:
        return sorted(self._factories)

    def create(self, name: str) -> SentimentScorer:
        factory = self._factories.get(name)
        if factory is None:
            problem = f" (it failed to load: {self.broken[name]})" if name in self.broken else ""
            raise ConfigError(
                [f"scoring.sentiment: unknown scorer {name!r}{problem}; installed: {', '.join(self.names())}"]
            )
        scorer = factory()
        if not isinstance(scorer, SentimentScorer):
            raise ConfigError([f"scoring.sentiment: {name!r} does not provide `name` and `score(text)`"])
        return scorer


def scorer_names(group: str = SCORERS_GROUP) -> list[str]:
    """The names registered in the entry-point group, without importing any of them."""
    return sorted({ep.name for ep in entry_points(group=group)})


# What the built-in scorers' figures come from, beside mentionwatch's own code.
_BUILT_IN_LIBRARIES = ("vaderSentiment", "textblob")


def scorer_identity(name: str, group: str = SCORERS_GROUP) -> str:
    """What the figures of the scorer registered as `name` depend on, found without loading it: the entry
    point, the package that provides it and its version, and for mentionwatch's own scorers the versions of the
    libraries they wrap. Figures kept from an earlier scan are good while this is unchanged."""
    from importlib.metadata import PackageNotFoundError, version

    parts = [name]
    for ep in entry_points(group=group):
        if ep.name != name:
            continue
        dist = ep.dist
        parts += [ep.value, dist.name if dist else "?", dist.version if dist else "?"]
        if dist is not None and dist.name == "mentionwatch":
            for library in _BUILT_IN_LIBRARIES:
                try:
                    parts.append(f"{library} {version(library)}")
                except PackageNotFoundError:
                    parts.append(f"{library} -")
    return " ".join(parts)


def load_scorer(name: str = DEFAULT_SCORER, scorers: Scorers | None = None) -> SentimentScorer:
    return (scorers or Scorers.from_entry_points()).create(name)


def sentiment_label(value: float) -> str:
    if value >= NEUTRAL_BAND:
        return "positive"
    if value <= -NEUTRAL_BAND:
        return "negative"
    return "neutral"


_TAG = re.compile(r"<[a-zA-Z/!][^>]*>")


def sentiment_text(mention: Mention) -> str:
    """What sentiment is computed on: title + text for articles, without URLs, @handles or HTML."""
    parts = [mention.title, mention.text] if mention.title else [mention.text]
    joined = "\n".join(p for p in parts if p)
    if "<" in joined and _TAG.search(joined):  # sources give plain text; this is a guard against one that did not
        joined = html_to_text(joined)
    return strip_urls_and_handles(joined)


def score_sentiment(
    mentions: Iterable[Mention],
    scorer: SentimentScorer,
    workers: SharedScoring | None = None,
    texts: Sequence[str] = (),
) -> None:
    """Set sentiment, its label and subjectivity on every mention. `workers`: processes to share a large batch
    with (`mentionwatch.workers`). `texts`: the `sentiment_text` of the first mentions, when the caller has them."""
    mentions = list(mentions)
    if workers is not None:
        texts = [*texts, *map(sentiment_text, mentions[len(texts) :])]
        by_text = _scored_with(workers, texts, scorer)
        scored: Iterable[Figures] = map(by_text.__getitem__, texts)
    else:
        scored = (figures(scorer.score(text)) if text else (0.0, 0.0) for text in map(sentiment_text, mentions))
    for mention, (polarity, subjectivity) in zip(mentions, scored, strict=True):
        # + 0.0: VADER gives -0.0 when a text's parts cancel out, which PostgreSQL keeps and SQLite stores as 0 (the
        # engines would then print and checksum the same mention differently).
        mention.sentiment = round(polarity, 4) + 0.0
        mention.sentiment_label = sentiment_label(polarity)
        mention.subjectivity = None if subjectivity is None else round(subjectivity, 4)


def figures(found: Sentiment) -> Figures:
    return found.polarity, found.subjectivity


def _scored_with(workers: SharedScoring, texts: Iterable[str], scorer: SentimentScorer) -> dict[str, Figures]:
    """The figures of each different text: what the scan's memo holds, the rest scored with the workers (figures
    only, not the scorer's parts: a large batch is held whole here)."""
    found: dict[str, Figures] = {"": (0.0, 0.0)}
    if isinstance(scorer, _Memoized):
        for text in texts:
            known = scorer.known(text)
            if known is not None:
                found[text] = figures(known)
    todo = list(dict.fromkeys(t for t in texts if t not in found))
    found.update(zip(todo, workers.score(todo, unwrapped(scorer)), strict=True))
    return found

"""TextBlob's sentiment (`textblob.en.sentiment`, the "pattern" lexicon and rules), in one pass.

`TextBlob(text).sentiment` spends most of its time splitting the text into tokens (`_text.find_tokens`: seven
regex substitutions for contractions, two more per sentence for emoticons, and a loop over every token that
tests it against punctuation character by character) and assessing them (a dict built for every known word).
Both are rewritten here for the text TextBlob sees in `Sentiment.__call__`, and give the same figures, float
for float: tests/test_fast_paths.py compares them with textblob's own on the human-rated tweets, on every rule
and on generated text. What is the same as the library's is taken from it (lexicon, punctuation,
abbreviations, emoticons, regexes); `TEXTBLOB_VERSION` is the release this was checked against.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

TEXTBLOB_VERSION = "0.20.1"

# find_tokens' sentence ends, and the tokens that may follow one in the same sentence (its `in (...)` tests).
_ENDS = frozenset(("...", ".", "!", "?", "END-OF-SENTENCE"))
_FOLLOWERS = frozenset(("'", '"', "”", "’", "...", ".", "!", "?", ")", "END-OF-SENTENCE"))
_QUOTES = ("“", "”", "‘", "’", "'", '"')
# find_tokens' contractions, one substitution in place of one per contraction: none overlaps another, and
# none is made by inserting the space before another ("'d" becomes " 'd", and so on).
_CONTRACTION = re.compile(r"'(?:d|m|s|ll|re|ve)|n't")
_LINEBREAK = re.compile(r"\n{2,}")


def pattern_scorer(sentiment: Any, tb: Any) -> Callable[[str], tuple[float, float]]:
    """`f(text)` is `sentiment(text)[:2]` (polarity, subjectivity) for `sentiment`, a loaded
    `textblob.en.sentiment` of TEXTBLOB_VERSION, and `tb`, its module `textblob._text`."""
    eos = tb.EOS
    punctuation = tuple(tb.PUNCTUATION.replace(".", ""))
    with_period = (*punctuation, ".")
    leading = frozenset(punctuation)
    trailing = frozenset(with_period)
    replace = tb.replacements
    abbreviations = tb.ABBREVIATIONS
    abbr1, abbr2, abbr3 = tb.RE_ABBR1.match, tb.RE_ABBR2.match, tb.RE_ABBR3.match
    sarcasm, emoticons = tb.RE_SARCASM.sub, tb.RE_EMOTICONS.sub

    def rejoin(m: re.Match[str]) -> str:
        return m.group(1).replace(" ", "") + m.group(2)

    # Per known word: (polarity, subjectivity, intensity, may modify the next word). Words are looked up with
    # part of speech None, which every entry has (the average of its senses).
    lexicon = {w: (*pos[None], any(map(pos.__contains__, sentiment.modifiers))) for w, pos in dict.items(sentiment)}
    negations = frozenset(sentiment.negations)
    is_modifier = sentiment.modifier
    # Words are assessed without a part of speech: it is a modifier's only if None is among the modifier tags.
    untagged_modifies = None in sentiment.modifiers
    punctuation_text = tb.PUNCTUATION
    # The first emoticon set (in the library's order) that holds a word, lower-cased, gives its polarity.
    moods: dict[str, float] = {}
    for (_kind, p), faces in tb.EMOTICONS.items():
        for face in faces:
            moods.setdefault(face.lower(), p)

    def split(t: str, tokens: list[str]) -> None:
        # find_tokens' loop body, as it is, for the tokens that begin or end with punctuation.
        tail: list[str] = []
        while t.startswith(punctuation) and t not in replace:
            if t.startswith(punctuation):
                tokens.append(t[0])
                t = t[1:]
        while t.endswith(with_period) and t not in replace:
            if t.endswith(punctuation):
                tail.append(t[-1])
                t = t[:-1]
            if t.endswith("..."):
                tail.append("...")
                t = t[:-3].rstrip(".")
            if t.endswith("."):
                if t in abbreviations or abbr1(t) is not None or abbr2(t) is not None or abbr3(t) is not None:
                    break
                tail.append(t[-1])
                t = t[:-1]
        if t != "":
            tokens.append(t)
        tokens.extend(reversed(tail))

    def words(string: str) -> list[str]:
        """`" ".join(find_tokens(string)).split()`."""
        string = _CONTRACTION.sub(r" \g<0>", string)
        for quote in _QUOTES:  # its replace() chain: the spaces put around one quote are not another
            if quote in string:
                string = string.replace(quote, f" {quote} ")
        if "\n" in string:
            string = _LINEBREAK.sub(f" {eos} ", string.replace("\r\n", "\n"))
        tokens: list[str] = []
        for t in string.split():  # what find_tokens' `\s+` collapse and `(\S+)\s` give
            if t[0] in leading or t[-1] in trailing:
                split(t, tokens)
            else:
                tokens.append(t)
        # find_tokens' sentences: a sentence end and what follows it close a sentence; a quote after an end
        # always starts the next (the library counts it in a sentence that is always still empty); EOS goes.
        sentences: list[str] = []
        i, j, n = 0, 0, len(tokens)
        while j < n:
            if tokens[j] in _ENDS:
                while j < n and tokens[j] in _FOLLOWERS:
                    if tokens[j] in ("'", '"'):
                        break
                    j += 1
                sentence = [t for t in tokens[i:j] if t != eos]
                if sentence:
                    sentences.append(" ".join(sentence))
                i = j
            j += 1
        if i < n:
            sentences.append(" ".join(tokens[i:n]))
        # The library runs the two substitutions on each sentence. Joined by newlines they run once: neither
        # pattern can match across one (their optional gaps are spaces), and a newline ends a match as the end
        # of a sentence does (`($|\s)`, kept in the replacement).
        joined: str = emoticons(rejoin, sarcasm("(!)", "\n".join(sentences)))
        return joined.split()

    def score(text: str) -> tuple[float, float]:
        # Sentiment.assessments with part of speech None, keeping only what the averages need: a list of
        # [polarity, subjectivity, intensity, negated] for each assessed chunk.
        a: list[list[Any]] = []
        m = False  # a preceding modifier
        mword = ""
        n: str | None = None  # a preceding negation
        for w in words(text):
            w = w.lower()
            known = lexicon.get(w)
            if known is not None:
                p, s, i, modifies = known
                if not m:
                    a.append([p, s, i, False])
                else:
                    last = a[-1]
                    last[0] = max(-1.0, min(p * last[2], +1.0))
                    last[1] = max(-1.0, min(s * last[2], +1.0))
                    last[2] = i
                if n is not None:
                    last = a[-1]
                    last[2] = 1.0 / last[2]
                    last[3] = True
                m = False
                n = None
                if modifies:
                    m, mword = True, w
                if w in negations:
                    n = w
            else:
                if w in negations:
                    n = w
                elif n and len(w.strip("'")) > 1:
                    n = None
                if n is not None and m and (untagged_modifies or is_modifier(mword)):
                    a[-1][3] = True
                    n = None
                elif m and len(w) > 2:
                    m = False
                if w == "!" and a:
                    a[-1][0] = max(-1.0, min(a[-1][0] * 1.25, +1.0))
                if w == "(!)":
                    a.append([0.0, 1.0, 1.0, False])
                if w.isalpha() is False and len(w) <= 5 and w not in punctuation_text:
                    mood = moods.get(w)
                    if mood is not None:
                        a.append([mood, 1.0, 1.0, False])
        # Sentiment.__call__'s averages: sums in order of 1 * value, over a count (at least 1).
        polarity: float = 0
        subjectivity: float = 0
        for p, s, _i, negated in a:
            polarity += 1 * (p * -0.5 if negated else p)
            subjectivity += 1 * s
        count = float(len(a) or 1)
        return polarity / count, subjectivity / count

    return score

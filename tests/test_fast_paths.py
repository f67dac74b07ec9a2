"""The fast paths give exactly the answers of the slow ways they replace (benchmarks/README.md, "Pipeline")."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import unicodedata
from datetime import UTC, datetime
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentionwatch import dedupe, matching, sentiment, text
from mentionwatch.config import BrandConfig
from mentionwatch.matching import BrandMatcher, Haystack
from mentionwatch.models import Mention

TWEETS = Path(__file__).parents[1] / "benchmarks" / "data" / "vader_tweets_GroundTruth.txt"
T0 = datetime(2026, 11, 1, tzinfo=UTC)


def tweets() -> list[str]:
    lines = TWEETS.read_text(encoding="utf-8").splitlines()
    return [parts[2] for parts in (line.rstrip("\r").split("\t", 2) for line in lines) if len(parts) == 3]


def mention(title: str, body: str) -> Mention:
    return Mention(source="t", id="1", url="https://example.com/1", published_at=T0, title=title, text=body)


# Text that exercises every branch: the words VADER and TextBlob have rules for, handles, URLs, figures,
# apostrophes, brackets, emoji, and every kind of whitespace.
_WORDS = [
    "good", "GOOD", "bad", "not", "isn't", "never", "so", "this", "without", "doubt", "but", "BUT", "kind", "of",
    "least", "at", "very", "extremely", "sort", "no", "nor", "or", "the", "kiss", "of", "death", "bad", "ass",
    "yeah", "right", "cut", "me", "some", "slack", "hand", "to", "mouth", "really", "terribly", "happy", "(!)",
    ":)", ":-(", "!!!", "??", "...", "U.S.", "Mr.", "don't", "it's", "I'm", "we'll", "café", "naïve", "😀", "👍",
    "@acme", "mail@acme.io", "https://t.co/x1", "WWW.acme.io", "acme[.]io", "acme (dot) io", "99,342", "4.5",
    "٣", "“quoted”", "‘single’", "don’t", "l'été",
]  # fmt: skip
_WHITESPACE = [chr(c) for c in range(0x3001) if chr(c).isspace()]  # all 29 (U+3000 is the last)
_SPACES = [" ", " ", " ", " ", " ", "  ", "\n\n", "\r\n", " \n ", *_WHITESPACE]
posts = st.lists(st.tuples(st.sampled_from(_WORDS), st.sampled_from(_SPACES)), max_size=40).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)
any_text = st.one_of(posts, st.text(max_size=60))


# -- text


def _old_normalize_space(value: str) -> str:
    return text._NEWLINES.sub("\n", text._SPACES.sub(" ", value)).strip()


def _old_strip_urls_and_handles(value: str) -> str:
    return _old_normalize_space(re.sub(r"(?<!\w)@[\w.]+", " ", text.URL.sub(" ", value)))


@settings(max_examples=500, deadline=None)
@given(value=any_text)
def test_strip_urls_and_handles_is_unchanged(value: str) -> None:
    assert text.normalize_space(value) == _old_normalize_space(value)
    assert text.strip_urls_and_handles(value) == _old_strip_urls_and_handles(value)


def test_strip_urls_and_handles_is_unchanged_on_real_tweets() -> None:
    for tweet in tweets():
        assert text.strip_urls_and_handles(tweet) == _old_strip_urls_and_handles(tweet)


# -- matching


def _old_normalize(value: str, fold_accents: bool) -> str:
    # Invisible characters are dropped before anything else (issue #11): the one change to what normalize means.
    value = unicodedata.normalize("NFKC", value.translate(text.INVISIBLE)).casefold()
    if fold_accents:
        value = matching.strip_accents(value)
    value = matching._OBFUSCATED_DOT.sub(".", value)
    return " ".join(value.split())


@settings(max_examples=500, deadline=None)
@given(value=any_text, fold=st.booleans())
def test_normalize_is_unchanged(value: str, fold: bool) -> None:
    assert matching.normalize(value, fold_accents=fold) == _old_normalize(value, fold)


_single_words = st.lists(st.sampled_from([w for w in _WORDS if w.strip() and " " not in w]), min_size=1, max_size=6)


@settings(max_examples=500, deadline=None)
@given(terms=_single_words, title=any_text, body=any_text, prefix=st.booleans())
def test_terms_without_spaces_are_found_alike_whatever_the_whitespace(
    terms: list[str], title: str, body: str, prefix: bool
) -> None:
    """A brand with no phrase is matched on the text with its whitespace left as it is."""
    query = " OR ".join(f"{t}*" if prefix and t.isascii() and t.isalpha() and len(t) > 1 else f'"{t}"' for t in terms)
    for config in (BrandConfig(name="P", terms=terms), BrandConfig(name="P", query=query)):
        matcher = BrandMatcher(config)
        hay = Haystack(title, body)
        assert not matcher._spaces
        loose = matcher._scan(hay.form(False, spaces=False))
        assert set(loose) == set(matcher._scan(hay.form(False)))


def test_only_space_is_printable_whitespace() -> None:
    """What `_single_spaced` rests on, checked over every code point."""
    spaces = [chr(c) for c in range(0x110000) if chr(c).isspace()]
    assert [c for c in spaces if c.isprintable()] == [" "]
    assert {c for c in spaces if c.isascii()} == set(" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f")


# -- dedupe


def _old_text_tokens(m: Mention) -> list[str]:
    raw = re.sub(r"(?<=\w)['’ʼ](?=\w)", "", _old_strip_urls_and_handles(f"{m.title}\n{m.text}"))
    return re.findall(r"\w+", unicodedata.normalize("NFKC", raw).casefold())


def _old_numbers(m: Mention) -> frozenset[str]:
    raw = re.sub(r"https?://\S+|www\.\S+|(?<!\w)@[\w.]+", " ", f"{m.title}\n{m.text}", flags=re.IGNORECASE)
    return frozenset(n.replace(",", "").replace(".", "") for n in re.findall(r"\d[\d,.]*\d|\d", raw))


@settings(max_examples=500, deadline=None)
@given(title=any_text, body=any_text)
def test_tokens_and_figures_are_unchanged(title: str, body: str) -> None:
    m = mention(title, body)
    assert dedupe.text_tokens(m) == _old_text_tokens(m)
    assert dedupe.numbers(m) == _old_numbers(m)


@settings(max_examples=300, deadline=None)
@given(a=st.sets(st.integers(0, 60), max_size=40), b=st.sets(st.integers(0, 60), max_size=40))
def test_near_duplicate_is_similarity_near_duplicate(a: set[int], b: set[int]) -> None:
    assert dedupe.near_duplicate(a, b) == dedupe.similarity(a, b).near_duplicate


def test_word_pair_hashes_are_the_same_on_every_run() -> None:
    # Python's str hash is salted per process; these are not (the figures are fixed, whatever PYTHONHASHSEED).
    assert dedupe.shingles(["acme", "rockets", "fly"]) == {13620758948908704820, 14096635905152844287}


# -- scoring


@pytest.fixture(scope="module")
def stock_vader() -> object:
    from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

    return SentimentIntensityAnalyzer()


@pytest.fixture(scope="module")
def fast_vader() -> object:
    return sentiment.vader_analyzer()


@pytest.fixture(scope="module")
def pattern() -> object:
    return sentiment.pattern_sentiment()


def test_the_linear_vader_is_used_on_the_release_it_was_checked_against(fast_vader: object) -> None:
    from importlib.metadata import version

    if version("vaderSentiment") == sentiment.LINEAR_VADER_VERSION:
        assert type(fast_vader).__name__ == "_LinearVader"


# A phrase for each of VADER's rules (negation 1-3 words back, "never so/this", "without doubt", "least",
# boosters, "kind of", idioms, "but", capitals, "no"), before, after and between other words.
RULES = [
    "not good", "isn't really good", "never so good", "never this good", "never so very good", "never really so good",
    "never this really good", "without doubt good", "without doubt very good", "without a doubt good",
    "no good", "no or bad", "no nor good", "no problem", "at least good", "very least good", "the least good",
    "least good", "kind of good", "sort of good", "extremely good", "GOOD", "VERY good", "the kiss of death",
    "yeah right good", "cut me some slack", "hand to mouth", "bad ass", "good but bad", "bad BUT good",
    "ain't good", "aint good", "never good", "not really not good", "don't NOT good", "good!!!", "good??",
]  # fmt: skip


def test_the_linear_vader_scores_the_real_tweets_as_vader_does(stock_vader: object, fast_vader: object) -> None:
    texts = [*tweets(), *RULES, *(f"so {r} then" for r in RULES), *(f"{a} and {b}" for a in RULES for b in RULES)]
    # And long posts, where the quadratic steps were: ten tweets in one.
    texts += [" ".join(texts[i : i + 10]) for i in range(0, len(texts), 10)]
    for t in texts:
        assert fast_vader.polarity_scores(t) == stock_vader.polarity_scores(t), t  # type: ignore[attr-defined]


@settings(max_examples=1000, deadline=None)
@given(value=any_text)
def test_the_linear_vader_scores_anything_as_vader_does(stock_vader: object, fast_vader: object, value: str) -> None:
    assert fast_vader.polarity_scores(value) == stock_vader.polarity_scores(value)  # type: ignore[attr-defined]


def _vader_words() -> list[str]:
    """Every word VADER has a rule for (boosters, negations, the words of its idioms and phrases), a sample of its
    lexicon, in lower case, capitals and with punctuation around, and emoji it describes."""
    from vaderSentiment import vaderSentiment as vs

    ruled = {w for key in [*vs.SPECIAL_CASES, *vs.BOOSTER_DICT] for w in key.split(" ")} | set(vs.NEGATE)
    ruled |= {"no", "nor", "or", "least", "at", "very", "kind", "of", "but", "never", "so", "this", "without", "doubt"}
    lexicon = sorted(vs.SentimentIntensityAnalyzer().lexicon)[::97]
    base = sorted(ruled) + lexicon
    return [*base, *(w.upper() for w in base[::3]), *(f"{w}!" for w in base[::5]), *(f"({w})" for w in base[::7]),
            ":)", ":-(", "!!!", "??", "😀", "👍", "💔", "😡"]  # fmt: skip


vader_posts = st.lists(st.sampled_from(_vader_words()), max_size=30).map(" ".join)


@settings(max_examples=3000, deadline=None)
@given(value=vader_posts)
def test_the_linear_vader_scores_its_own_words_as_vader_does(
    stock_vader: object, fast_vader: object, value: str
) -> None:
    # Texts made of the words VADER's rules look at, so every rule meets every other, in every order.
    assert fast_vader.polarity_scores(value) == stock_vader.polarity_scores(value)  # type: ignore[attr-defined]


def test_pattern_sentiment_is_textblobs(pattern: object) -> None:
    from textblob import TextBlob

    for t in tweets():
        assert tuple(pattern(t)) == tuple(TextBlob(t).sentiment), t  # type: ignore[operator]


def test_pattern_sentiment_loads_without_nltk_and_leaves_textblob_whole() -> None:
    # In a fresh interpreter, where textblob was not imported before (here, other tests may have).
    script = """
import sys
from mentionwatch import sentiment
pattern = sentiment.pattern_sentiment()
assert "nltk" not in sys.modules, "nltk was imported"
assert not [n for n in sys.modules if n.split(".")[0] == "textblob"], "a textblob module was left behind"
import textblob.en
from textblob import TextBlob
assert textblob.en.sentiment is not None and "nltk" in sys.modules
texts = sys.stdin.read().splitlines()
for t in texts:
    assert tuple(pattern(t)) == tuple(TextBlob(t).sentiment), t
print(len(texts))
"""
    texts = tweets()[:300]
    done = subprocess.run(
        [sys.executable, "-c", script], input="\n".join(texts), capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == str(len(texts))


# What TextBlob's tokenizer and rules treat specially: contractions, quotes, sentence ends and what may follow
# them, abbreviations, emoticons whole and spread over tokens (also over a sentence end, where the library
# does not join them), sarcasm, modifiers and negations, the text that marks a paragraph break.
_PATTERN_WORDS = [
    *_WORDS, "it's", "I'd", "we're", "they've", "you'll", "can't", "N'T", "'s", "'", '"', "“", "”", "‘", "’", ".",
    "!", "?", "...", "....", "?!", "!?", "(", ")", "( ! )", "(!)", "e.g.", "etc.", "a.m.", "Mr.", "Med.", "x.",
    "U.S.A.", "Dr.", "END-OF-SENTENCE", ":-)", ": )", ":'(", ": ' (", ">.>", "> . >", "o.O", "o. O", "XD", "X D",
    "xD", ":-.", ": - .", "<3", "♥", ":D", ";)", ":p", "=/", "very", "really", "not", "never", "n't", "terribly",
    "so", "nice", "awful", "great", "most", "badly", "no", "!!", "wow!", "good.", "(good)", "[bad]", "@", "#tag",
    "'good'", '"bad"', "—", "w/",
]  # fmt: skip
pattern_posts = st.lists(st.tuples(st.sampled_from(_PATTERN_WORDS), st.sampled_from(_SPACES)), max_size=40).map(
    lambda pairs: "".join(w + s for w, s in pairs)
)


@settings(max_examples=2000, deadline=None)
@given(value=st.one_of(pattern_posts, st.text(max_size=60)))
def test_pattern_sentiment_is_textblobs_on_anything(pattern: object, value: str) -> None:
    from textblob import TextBlob

    assert tuple(pattern(value)) == tuple(TextBlob(value).sentiment)  # type: ignore[operator]


def test_pattern_sentiment_is_textblobs_on_long_posts(pattern: object) -> None:
    """Whole comments and articles: the Hacker News fixture's and ten tweets at a time, with paragraphs."""
    from textblob import TextBlob

    texts = tweets()
    posts = ["\n\n".join(texts[i : i + 10]) for i in range(0, len(texts), 10)]
    hn = Path(__file__).parent / "fixtures" / "jsonl" / "hackernews-nodejs.jsonl"
    posts += [json.loads(line)["text"] for line in hn.read_text(encoding="utf-8").splitlines()]
    for post in posts:
        assert tuple(pattern(post)) == tuple(TextBlob(post).sentiment), post  # type: ignore[operator]


def test_pattern_sentiment_is_the_one_pass_scorer_on_the_release_it_was_checked_against(pattern: object) -> None:
    from importlib.metadata import version

    from mentionwatch import pattern as one_pass

    if version("textblob") == one_pass.TEXTBLOB_VERSION:
        assert getattr(pattern, "__module__", None) == "mentionwatch.pattern"


# -- the report's terms

_ASCII_TERMS_WORDS = [
    *(w for w in _WORDS if w.isascii()), "#acme", "#", "##x", "acme's", "it's'", "'tis", "don't", "a'b'c", "x'", "'",
    "_", "__init__", "a_b", "Ab1", "1999", "e-mail", "#1", "#a1", "o'neil's", "rock'n'roll", "x#y", "a.b", "A",
]  # fmt: skip
ascii_posts = st.lists(
    st.tuples(st.sampled_from(_ASCII_TERMS_WORDS), st.sampled_from([" ", "", "\n", ",", ".", "'", "#"])), max_size=30
).map(lambda pairs: "".join(w + s for w, s in pairs))


@settings(max_examples=2000, deadline=None)
@given(value=st.one_of(ascii_posts, st.text(alphabet=st.characters(max_codepoint=127), max_size=60)))
def test_the_ascii_tokens_of_terms_are_the_unicode_ones(value: str) -> None:
    # ASCII text takes the faster `[A-Za-z0-9_]` form of `\w`: the same tokens, so the same terms.
    from mentionwatch import vocabulary

    assert vocabulary._ASCII_TOKEN.findall(value) == vocabulary._TOKEN.findall(value)

"""Brand matching: whole words, Unicode, handles and domains, exclusions and field filters."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mentionwatch import matching
from mentionwatch.config import BrandConfig
from mentionwatch.matching import BrandMatcher, Haystack, detect_language, fold, normalize
from mentionwatch.models import Mention
from mentionwatch.pipeline import process
from mentionwatch.text import INVISIBLE

SINCE = datetime(2000, 1, 1, tzinfo=UTC)


def matcher(**kwargs: object) -> BrandMatcher:
    kwargs.setdefault("name", "Acme")
    return BrandMatcher(BrandConfig.model_validate(kwargs))


def found(text: str, terms: list[str], **kwargs: object) -> list[str] | None:
    hit = matcher(terms=terms, **kwargs).match("", text)
    return None if hit is None else hit.terms


def test_whole_words_only() -> None:
    assert found("Acme's new plan", ["acme"]) == ["acme"]
    assert found("acmeology and superacme", ["acme"]) is None
    assert found("acme_bot says hi", ["acme"]) is None  # `_` is a word character
    assert found("acme-cloud", ["acme"]) == ["acme"]


def test_matching_ignores_case_and_folds_full_width_and_ligature_forms() -> None:
    assert found("ＡＣＭＥ rocks", ["acme"]) == ["acme"]
    assert found("the ﬁnest rockets", ["finest"]) == ["finest"]
    assert found("STRASSE", ["straße"]) == ["straße"]  # casefold: ß is ss


def test_accents_count_unless_the_brand_says_accent_insensitive() -> None:
    assert found("meet me at the cafe", ["Café"]) is None
    assert found("meet me at the café", ["Café"]) == ["Café"]
    assert found("meet me at the cafe", ["Café"], accent_insensitive=True) == ["Café"]
    assert found("meet me at the CAFÉ", ["cafe"], accent_insensitive=True) == ["cafe"]


def test_decomposed_accents_match_composed_terms() -> None:
    assert found("cafe\u0301 au lait", ["café"]) == ["café"]


def test_handles_hashtags_and_domains_are_first_class_terms() -> None:
    terms = ["@acme", "#acme", "acme.io"]
    assert found("thanks @acme!", terms) == ["@acme"]
    assert found("#acme all day", terms) == ["#acme"]
    assert found("see https://www.acme.io/pricing", terms) == ["acme.io"]
    assert found("@acmecorp and #acmefan and acme.ios", terms) is None


def test_obfuscated_domains_are_read_as_domains() -> None:
    for text in ("acme[.]io", "acme(.)io", "acme [dot] io", "acme{.}io", "acme(dot)io"):
        assert found(f"phishing at {text} again", ["acme.io"]) == ["acme.io"], text


def test_a_plain_term_also_matches_inside_handles_and_hashtags() -> None:
    assert found("@acme and #acme", ["acme"]) == ["acme"]


def test_title_and_text_are_both_searched_but_a_phrase_never_spans_them() -> None:
    m = matcher(terms=["acme cloud"])
    assert m.match("Acme cloud launch", "") is not None
    assert m.match("", "hello acme cloud") is not None
    assert m.match("Acme", "cloud news") is None


def test_exclude_vetoes_a_match() -> None:
    assert found("acme and the coyote", ["acme"], exclude=["coyote"]) is None
    assert found("acme and the coyotes", ["acme"], exclude=["coyote"]) == ["acme"]


def test_exclude_authors_compares_without_case_or_at_sign() -> None:
    m = matcher(terms=["acme"], exclude_authors=["@AcmeSupport"])
    assert m.match("", "acme", author="acmesupport") is None
    assert m.match("", "acme", author="someone") is not None


def test_exclude_domains_covers_subdomains_and_unwrapped_redirects() -> None:
    m = matcher(terms=["acme"], exclude_domains=["https://www.acme.io/"])
    assert m.match("", "acme", url="https://blog.acme.io/post") is None
    assert m.match("", "acme", url="https://www.google.com/url?q=https://acme.io/x&sa=U") is None
    assert m.match("", "acme", url="https://notacme.io/post") is not None


def test_languages_filter_keeps_the_wanted_language_and_lets_unknown_pass() -> None:
    m = matcher(terms=["acme"], languages=["fr"])
    assert m.match("", "Acme is a wonderful company and I love their rockets very much", lang=None) is None
    assert m.match("", "J'adore Acme, leurs fusées sont vraiment formidables et pas chères", lang=None) is not None
    assert m.match("", "acme", lang=None) is not None  # too short to tell: passes
    assert m.match("", "whatever the text says", lang="fr-CA") is None  # no acme
    assert m.match("", "acme rockets", lang="fr-CA") is not None  # the source's language wins


def test_detect_language_is_none_when_unsure() -> None:
    assert detect_language("", "lol") is None
    assert detect_language("", "The quick brown fox jumps over the lazy dog near the river bank") == "en"
    assert detect_language("", "bad \udcff surrogate") is None


def test_matching_runs_on_the_clean_text_the_source_gave() -> None:
    # Sources hand over plain text (html_to_text); an attribute value never reaches the matcher.
    from mentionwatch.text import html_to_text

    text = html_to_text('<a href="https://acme.io">a link</a> about rockets')
    assert found(text, ["acme.io"]) is None


def test_a_brand_with_only_a_query_reports_the_clause_that_held() -> None:
    m = matcher(query="(acme AND outage) OR (acme NEAR/2 down)")
    hit = m.match("", "acme is down")
    assert hit is not None and hit.clause == "acme NEAR/2 down" and hit.terms == ["acme", "down"]


def test_terms_and_query_either_can_match() -> None:
    m = matcher(terms=["AcmeCloud"], query="acme NEAR/2 rocket")
    assert m.match("", "AcmeCloud is great") is not None
    assert m.match("", "acme sells a rocket") is not None
    assert m.match("", "acme sells boxes") is None


def test_explain_lists_every_exclusion_tested() -> None:
    m = matcher(terms=["acme"], exclude=["coyote"], exclude_authors=["bot"], exclude_domains=["spam.com"])
    report = m.explain("", "acme rockets", author="alice", url="https://news.ycombinator.com/item?id=1")
    assert report.matched
    assert [(c.name, c.fired) for c in report.checks] == [
        ("exclude", False),
        ("exclude_authors", False),
        ("exclude_domains", False),
    ]
    vetoed = m.explain("", "acme and coyote")
    assert not vetoed.matched and vetoed.reason == "vetoed by exclude: coyote"


def test_process_sets_the_detected_language_only_when_the_source_gave_none() -> None:
    brand = BrandConfig(name="Acme", terms=["acme"])
    english = "Acme shipped a new release today and the changelog is long and detailed"
    items = [
        Mention(source="s", id="1", url="https://e.com/1", published_at=datetime(2026, 1, 1, tzinfo=UTC), text=english),
        Mention(
            source="s",
            id="2",
            url="https://e.com/2",
            published_at=datetime(2026, 1, 1, tzinfo=UTC),
            text="acme",
            lang="de",
        ),
    ]
    out = {m.id: m for m in process(items, [brand], since=SINCE)}
    assert out["1"].lang == "en" and out["2"].lang == "de"


# Property: the automaton finds exactly the terms a naive whole-word regex finds, term by term.

_ALPHABET = "abcé ._-@#'\n" + "ÉßΣς0"
_terms = st.lists(st.text(alphabet=_ALPHABET, min_size=1, max_size=5), min_size=1, max_size=8)


def _naive(terms: list[str], text: str) -> set[str]:
    hay = normalize(text)
    return {t for t in terms if normalize(t) and re.search(rf"(?<!\w){re.escape(normalize(t))}(?!\w)", hay)}


@settings(max_examples=400, deadline=None)
@given(terms=_terms, text=st.text(alphabet=_ALPHABET, max_size=60))
def test_the_automaton_agrees_with_a_naive_whole_word_regex(terms: list[str], text: str) -> None:
    terms = [t for t in terms if t.strip()]
    if not terms:
        return
    hit = BrandMatcher(BrandConfig(name="P", terms=terms)).match("", text)
    assert (set(hit.terms) if hit else set()) == _naive(terms, text)


@settings(max_examples=200, deadline=None)
@given(words=st.lists(st.sampled_from(["acme", "cloud", "rocket", "x", "acmecloud", "#acme", "@acme"]), max_size=12))
def test_matching_text_built_from_words_agrees_with_the_regex(words: list[str]) -> None:
    terms = ["acme", "@acme", "acme cloud", "rocket"]
    text = " ".join(words)
    hit = BrandMatcher(BrandConfig(name="P", terms=terms)).match("", text)
    assert (set(hit.terms) if hit else set()) == _naive(terms, text)


# The fast paths of matching (benchmarks/README.md, "Pipeline"): ASCII folded with lower(), title and text
# folded in one go, a post scanned in its folded form first and a phrase's longest word standing in for it.


def _unicode_fold(value: str, fold_accents: bool) -> str:
    """`fold` as it is written for any text, without its ASCII shortcut."""
    value = unicodedata.normalize("NFKC", value.translate(INVISIBLE)).casefold()
    if fold_accents:
        value = matching.strip_accents(value)
    if matching._OBFUSCATED_DOT_CORE.search(value):
        value = matching._OBFUSCATED_DOT.sub(".", value)
    return value


def _unicode_normalize(value: str, fold_accents: bool) -> str:
    return " ".join(_unicode_fold(value, fold_accents).split())


_PIECES = [
    "acme", "ACME", "Acme's", "cloud", "Cloud", "is", "down", "acme.io", "acme[.]io", "acme [dot] io", "(dot)",
    "[", "(", "{", ".]", "dot)", "#acme", "@acme", "acme_bot", "café", "CAFE", "cafe\u0301", "ﬁne", "ＡＣＭＥ",
    "İstanbul", "ISTANBUL", "istanbul", "straße", "STRASSE", "x", "_", "٣",
]  # fmt: skip
_GAPS = ["", " ", " ", " ", "  ", "\n", "\t", "\r\n", " \n ", "\u00a0", "\u3000", "\x1c", "\x0b"]
_texts = st.one_of(
    st.lists(st.tuples(st.sampled_from(_PIECES), st.sampled_from(_GAPS)), max_size=12).map(
        lambda pairs: "".join(w + g for w, g in pairs)
    ),
    st.text(alphabet=st.characters(max_codepoint=127), max_size=40),
    st.text(max_size=30),
)


@settings(max_examples=500, deadline=None)
@given(value=_texts, fold_accents=st.booleans())
def test_ascii_text_folds_as_unicode_text_does(value: str, fold_accents: bool) -> None:
    assert fold(value, fold_accents=fold_accents) == _unicode_fold(value, fold_accents)
    assert normalize(value, fold_accents=fold_accents) == _unicode_normalize(value, fold_accents)


def test_the_ascii_shortcut_changes_nothing_that_unicode_folding_would() -> None:
    for value in ("ACME Cloud", "Acme's #1 (dot) [.] io", "A\tB\n\x1cC", "mixed ÉTÉ", "ﬁne", "İ", "ß"):
        for accents in (False, True):
            assert fold(value, fold_accents=accents) == _unicode_fold(value, accents), value


@settings(max_examples=500, deadline=None)
@given(title=_texts, text=_texts, fold_accents=st.booleans())
def test_a_haystack_is_its_title_and_text_folded_apart(title: str, text: str, fold_accents: bool) -> None:
    hay = Haystack(title, text)
    parts = [p for p in (title, text) if p]
    folded = "\n".join(_unicode_fold(p, fold_accents) for p in parts)
    spaced = "\n".join(_unicode_normalize(p, fold_accents) for p in parts)
    assert hay.form(fold_accents, spaces=False) == folded
    assert hay.form(fold_accents) == spaced
    assert (hay.form(fold_accents) is hay.form(fold_accents, spaces=False)) == (spaced == folded)


def test_an_obfuscated_dot_is_never_read_across_title_and_text() -> None:
    hay = Haystack("acme [", ".] io")
    assert hay.form(False, spaces=False) == "acme [\n.] io"
    m = matcher(terms=["acme.io", "acme"])
    assert m.match("acme [", ".] io") == m.match("acme", "") != m.match("acme [.] io", "")


# (text, terms, accent_insensitive, expected): each is checked alone, in the title and in the text, next to
# ASCII and to non-ASCII text.
_UNICODE_CASES: list[tuple[str, list[str], bool, list[str] | None]] = [
    ("ＡＣＭＥ rocks", ["acme"], False, ["acme"]),
    ("ACME rocks", ["ＡＣＭＥ"], False, ["ＡＣＭＥ"]),
    ("the ﬁnest", ["finest"], False, ["finest"]),
    ("the FINEST", ["ﬁnest"], False, ["ﬁnest"]),
    ("STRASSE", ["straße"], False, ["straße"]),
    ("Straße", ["STRASSE"], False, ["STRASSE"]),
    # Turkish dotted I casefolds to i + U+0307: an accent, so plain `istanbul` needs accent_insensitive.
    ("İSTANBUL", ["İstanbul"], False, ["İstanbul"]),
    ("ISTANBUL", ["İstanbul"], False, None),
    ("ISTANBUL", ["İstanbul"], True, ["İstanbul"]),
    ("İstanbul", ["istanbul"], True, ["istanbul"]),
    ("CAFE", ["café"], False, None),
    ("CAFÉ", ["café"], False, ["café"]),
    ("CAFE", ["café"], True, ["café"]),
    ("café", ["CAFE"], True, ["CAFE"]),
    ("cafe\u0301", ["CAFE"], True, ["CAFE"]),
]


def test_full_width_ligatures_dotted_i_sharp_s_and_accents_in_title_and_text() -> None:
    for value, terms, accents, expected in _UNICODE_CASES:
        for title, text in (("", value), (value, ""), (value, "plain"), ("plain", value), ("été", value)):
            hit = matcher(terms=terms, accent_insensitive=accents).match(title, text)
            assert (None if hit is None else hit.terms) == expected, (title, text, terms, accents)
        alone = Haystack("", value).form(accents)
        assert alone == _unicode_normalize(value, accents)


def found_in(title: str, text: str, terms: list[str]) -> list[str] | None:
    hit = matcher(terms=terms).match(title, text)
    return None if hit is None else hit.terms


def test_a_phrase_is_found_across_any_whitespace_but_never_across_title_and_text() -> None:
    terms = ["acme cloud", "acme"]
    for gap in (" ", "  ", "\n", "\t", " \r\n ", "\u00a0", "\u3000"):
        assert found_in("", f"try acme{gap}cloud now", terms) == ["acme cloud", "acme"], repr(gap)
        assert found_in(f"try acme{gap}cloud now", "x", terms) == ["acme cloud", "acme"], repr(gap)
    assert found_in("about acme", "cloud news", terms) == ["acme"]
    assert found_in("", "acme clouds", ["acme cloud"]) is None  # the stand-in `cloud` alone is no hit
    assert found_in("", "cloud", ["acme cloud"]) is None
    assert found_in("", "cloudy acme cloud", ["acme cloud", "cloud"]) == ["acme cloud", "cloud"]


def test_near_counts_words_in_the_tidied_text_whatever_the_whitespace() -> None:
    m = matcher(query="acme NEAR/1 down")
    for gap in (" ", " " * 10, "\n\n", "\t \u3000"):
        assert m.match("", f"acme{gap}x{gap}down") is not None, repr(gap)
        assert m.match(f"{gap}acme{gap}x{gap}y{gap}down", "") is None, repr(gap)
    assert matcher(query='"acme cloud" NEAR/0 down').match("", "acme \n cloud  down") is not None


def _tidied(hay: Haystack, fold_accents: bool) -> Haystack:
    """The same post, but scanned in its normalised form straight away (as matching did before the folded
    form was scanned first)."""
    hay._forms[2 * fold_accents] = hay.form(fold_accents)
    return hay


_words = st.sampled_from(["acme", "cloud", "down", "café", "acme.io", "#acme", "@acme", "straße", "is"])
_phrases = st.lists(_words, min_size=1, max_size=3).map(" ".join)


@st.composite
def _brands(draw: st.DrawFn) -> BrandConfig:
    terms = draw(st.lists(_phrases, max_size=3))
    a, b, c = draw(_phrases), draw(_phrases), draw(_words)
    query = draw(
        st.sampled_from(
            [None, f'"{a}" NEAR/{len(b) % 4} "{b}"', f'"{a}" OR {c}', f'({c} OR "{b}") NEAR/1 "{a}"', f'"{a}" NOT {c}']
        )
    )
    exclude = draw(st.lists(_phrases, max_size=1))
    accents = draw(st.booleans())
    if query is None:
        terms = terms or [a]
    return BrandConfig(name="P", terms=terms, query=query, exclude=exclude, accent_insensitive=accents)


@settings(max_examples=600, deadline=None)
@given(brand=_brands(), title=_texts, text=_texts)
def test_scanning_the_folded_form_first_changes_no_match(brand: BrandConfig, title: str, text: str) -> None:
    m = BrandMatcher(brand)
    fast = m.match_haystack(Haystack(title, text))
    assert fast == m.match_haystack(_tidied(Haystack(title, text), brand.accent_insensitive))


_near_text = st.lists(
    st.tuples(st.sampled_from(["acme", "cloud", "down", "x", "#acme", "acme cloud"]), st.sampled_from(_GAPS[1:])),
    max_size=10,
).map(lambda pairs: "".join(w + g for w, g in pairs))


@settings(max_examples=300, deadline=None)
@given(
    left=st.sampled_from(["acme", "acme*", '"acme cloud"', "#acme"]),
    right=st.sampled_from(["down", "cloud", '"cloud down"', "(x OR down)"]),
    distance=st.integers(0, 3),
    title=_near_text,
    text=_near_text,
)
def test_near_holds_alike_in_the_folded_and_the_normalised_form(
    left: str, right: str, distance: int, title: str, text: str
) -> None:
    m = matcher(query=f"{left} NEAR/{distance} {right}")
    assert m.match_haystack(Haystack(title, text)) == m.match_haystack(_tidied(Haystack(title, text), False))


def _naive_in(terms: list[str], title: str, text: str) -> set[str]:
    hay = "\n".join(normalize(p) for p in (title, text) if p)
    return {t for t in terms if normalize(t) and re.search(rf"(?<!\w){re.escape(normalize(t))}(?!\w)", hay)}


@settings(max_examples=400, deadline=None)
@given(terms=st.lists(_phrases, min_size=1, max_size=6), title=_texts, text=_texts)
def test_terms_and_phrases_in_title_and_text_agree_with_the_naive_regex(
    terms: list[str], title: str, text: str
) -> None:
    hit = BrandMatcher(BrandConfig(name="P", terms=terms)).match(title, text)
    assert (set(hit.terms) if hit else set()) == _naive_in(terms, title, text)


@pytest.mark.parametrize("char", ["\u200b", "\u200c", "\u200d", "\u2060", "\ufeff", "\u180e", "\u00ad"])
def test_an_invisible_character_neither_hides_a_brand_nor_makes_one(char: str) -> None:
    acme = BrandMatcher(BrandConfig(name="Acme", terms=["Acme"]))
    assert acme.match("", f"we switched to a{char}cme last week") is not None
    assert acme.match("", f"a{char}cme{char}") is not None
    # Shown as "acmecloud" to a reader, it is not the word "acme": the invisible character does not split it.
    assert acme.match("", f"acme{char}cloud rocks") is None


def test_case_sensitive_terms_match_only_as_written() -> None:
    slack = BrandMatcher(BrandConfig(name="Slack", case_sensitive_terms=["Slack"], terms=["slack.com"]))
    assert slack.match("", "Our team moved to Slack last year") is not None
    assert slack.match("", "there was some slack in his uniform") is None
    assert slack.match("", "SLACK IS DOWN") is None
    assert slack.match("", "see slack.com/help") is not None, "the brand's other terms match whatever their case"
    whole = BrandMatcher(BrandConfig(name="Slack", terms=["Slack", "Slack Huddles"], case_sensitive=True))
    assert whole.match("", "Slack  Huddles are great") is not None
    assert whole.match("", "slack huddles") is None
    assert whole.match("Slack's new pricing", "") is not None


def test_a_case_sensitive_term_keeps_its_case_inside_a_query_brand() -> None:
    brand = BrandMatcher(BrandConfig(name="Slack", case_sensitive_terms=["Slack"], exclude=["slack water"]))
    assert brand.match("", "Slack water fountain") is None, "exclusions still apply"
    assert brand.match("", "Slack outage today") is not None

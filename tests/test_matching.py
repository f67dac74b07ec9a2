"""Brand matching: whole words, Unicode, handles and domains, exclusions and field filters."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from mentionwatch.config import BrandConfig
from mentionwatch.matching import BrandMatcher, detect_language, normalize
from mentionwatch.models import Mention
from mentionwatch.pipeline import process

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

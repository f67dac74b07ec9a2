"""The brand query language: parsing, precedence, and errors that say where the problem is."""

from __future__ import annotations

from pathlib import Path

import pytest

from mentionwatch.config import BrandConfig, load_config
from mentionwatch.errors import ConfigError
from mentionwatch.matching import BrandMatcher
from mentionwatch.pipeline import search_terms
from mentionwatch.query import And, Near, Not, Or, QuerySyntaxError, Site, Word, parse_query
from mentionwatch.registry import Registry


def matches(query: str, text: str, url: str = "https://example.com/post/1") -> bool:
    return BrandMatcher(BrandConfig(name="Acme", query=query)).match("", text, url=url) is not None


def column_of(query: str) -> int:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query(query)
    return info.value.column


def test_not_binds_tighter_than_and_which_binds_tighter_than_or() -> None:
    node = parse_query("a OR b AND NOT c")
    assert isinstance(node, Or)
    assert node.children[0] == Word("a", 1)
    second = node.children[1]
    assert isinstance(second, And) and isinstance(second.children[1], Not)


def test_near_binds_tighter_than_not() -> None:
    node = parse_query("acme AND NOT foo NEAR/2 bar")
    assert isinstance(node, And)
    negated = node.children[1]
    assert isinstance(negated, Not) and isinstance(negated.child, Near)


def test_precedence_decides_what_matches() -> None:
    # a OR (b AND c): "a" alone is enough, "b" alone is not.
    assert matches("acme OR widget AND gadget", "acme only")
    assert not matches("acme OR widget AND gadget", "widget only")
    assert matches("(acme OR widget) AND gadget", "widget and gadget")
    assert not matches("(acme OR widget) AND gadget", "acme only")


def test_binary_not_is_and_not() -> None:
    assert matches("acme NOT coyote", "acme rockets")
    assert not matches("acme NOT coyote", "acme rockets for the coyote")


def test_quoted_phrase_matches_the_words_in_order_only() -> None:
    assert matches('"acme cloud"', "we moved to Acme  Cloud last year")
    assert not matches('"acme cloud"', "cloud by acme")
    assert not matches('"acme cloud"', "acme cloudy")


def test_phrase_tolerates_line_breaks_and_runs_of_spaces() -> None:
    assert matches('"acme cloud"', "acme\n   cloud")


def test_trailing_wildcard_matches_word_prefixes_from_a_word_start() -> None:
    assert matches("acme*", "AcmeCloud is out")
    assert matches("acme*", "acme's")
    assert not matches("acme*", "superacme")


def test_near_counts_words_between_in_either_order() -> None:
    assert matches("acme NEAR/2 outage", "acme had an outage")  # two words between
    assert not matches("acme NEAR/1 outage", "acme had an outage")
    assert matches("acme NEAR/2 outage", "outage at acme")
    assert matches("acme NEAR/0 cloud", "acme cloud")


def test_near_takes_phrases_and_or_groups() -> None:
    query = '(acme OR "acme corp") NEAR/3 (down OR "not working")'
    assert matches(query, "Acme Corp is not working today")
    assert matches(query, "acme is down")
    assert not matches(query, "acme is sadly and totally and really down")


def test_near_handles_and_hashtags_count_as_their_word() -> None:
    assert matches("@acme NEAR/1 broken", "@acme is broken")
    assert matches("#acme NEAR/0 outage", "#acme outage")


def test_site_and_minus_site_test_the_mentions_own_host() -> None:
    assert matches("acme site:reddit.com", "acme", url="https://old.reddit.com/r/x/comments/1")
    assert not matches("acme site:reddit.com", "acme", url="https://news.ycombinator.com/item?id=1")
    assert not matches("acme -site:acme.io", "acme", url="https://blog.acme.io/post")
    assert matches("acme -site:acme.io", "acme", url="https://notacme.io/post")


def test_query_without_operators_between_words_points_at_the_second_word() -> None:
    with pytest.raises(QuerySyntaxError) as info:
        parse_query("acme cloud")
    assert info.value.column == 6
    assert 'quote it: "acme cloud"' in info.value.message


@pytest.mark.parametrize(
    ("query", "column"),
    [
        ("acme AND (", 11),  # the query ended where a word was expected
        ("(acme OR b", 1),  # the unclosed parenthesis
        ("acme)", 5),
        ('acme OR "road runner', 9),  # the unclosed quote
        ("acme NEAR/x b", 6),
        ("ac*me", 3),  # the misplaced star
        ("acme and b", 6),  # lower-case operator
        ("NOT acme", 1),  # nothing positive to match
        ("acme OR NOT b", 9),
        ("site:acme.io", 1),
        ("a NEAR/2 b NEAR/3 c", 12),  # NEAR's left side is itself a NEAR
        ("", 1),
        ("acme OR", 8),
    ],
)
def test_syntax_errors_name_the_column(query: str, column: int) -> None:
    assert column_of(query) == column


def test_lower_case_operator_error_says_operators_are_upper_case() -> None:
    with pytest.raises(QuerySyntaxError, match="upper case"):
        parse_query("acme or widget")


def test_a_query_error_in_the_config_names_file_line_brand_query_and_column(tmp_path: Path) -> None:
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(
        "brands:\n  - name: Acme\n    query: 'acme AND (cloud OR'\nsources:\n  - type: hackernews\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError) as info:
        load_config(path, Registry.from_entry_points(), environ={})
    [problem] = info.value.problems
    assert problem.startswith(f"{path}:3: brands[0].query: brand 'Acme': query 'acme AND (cloud OR': column 19:")


def test_a_brand_needs_terms_or_a_query() -> None:
    with pytest.raises(ValueError, match="`terms`, or a `query`"):
        BrandConfig(name="Acme")
    assert BrandConfig(name="Acme", query="acme").query == "acme"


def test_render_round_trips_through_the_parser() -> None:
    for query in ["a OR b AND NOT c", '"acme cloud" NEAR/3 (down OR out*)', "acme -site:acme.io", "(a OR b) AND c"]:
        node = parse_query(query)
        assert parse_query(node.render()).render() == node.render()


def test_search_terms_of_a_query_only_brand_are_its_positive_words() -> None:
    brand = BrandConfig(name="Acme", query='("acme cloud" OR acme*) NEAR/3 outage NOT coyote -site:acme.io')
    assert search_terms([brand]) == ["acme cloud", "acme", "outage"]


def test_search_terms_merge_terms_and_query_words_once_each() -> None:
    brands = [
        BrandConfig(name="Acme", terms=["Acme", "@acme"], query="acme AND rocket"),
        BrandConfig(name="Other", terms=["ACME"]),
    ]
    assert search_terms(brands) == ["Acme", "@acme", "rocket"]


def test_site_filter_parses_to_a_site_node() -> None:
    node = parse_query("acme site:WWW.Example.com")
    assert isinstance(node, And) and node.children[1] == Site("example.com", 6)

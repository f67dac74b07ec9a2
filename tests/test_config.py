from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mentionwatch.config import find_config, load_config, write_starter
from mentionwatch.errors import ConfigError, UsageError
from mentionwatch.registry import Registry
from mentionwatch.when import parse_duration, parse_since

from conftest import Run

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)

GOOD = """\
since: 7d
brands:
  - name: Acme
    terms: [Acme, AcmeCloud, "@acme", "#acme", acme.io]
    exclude: [coyote, "road runner"]
sources:
  - type: hackernews
  - type: rss
    urls: [https://example.com/feed.xml]
  - type: rss
    name: acme-news
    google_news: "Acme cloud"
"""


@pytest.fixture
def registry() -> Registry:
    return Registry.from_entry_points()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, registry: Registry, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), registry, environ=env or {})
    return info.value.problems


def test_the_issue_example_config_loads(tmp_path: Path, registry: Registry) -> None:
    config = load_config(write(tmp_path, GOOD), registry, environ={})
    assert [s.name for s in config.sources] == ["hackernews", "rss", "acme-news"]
    assert config.brands[0].exclude == ["coyote", "road runner"]
    gnews = config.sources[2].config
    assert gnews.feed_urls() == [  # type: ignore[attr-defined]
        "https://news.google.com/rss/search?q=Acme+cloud&hl=en-US&gl=US&ceid=US:en"
    ]


def test_the_shipped_example_and_starter_configs_load(registry: Registry) -> None:
    root = Path(__file__).parent.parent
    for path in (root / "config.example.yaml", root / "examples" / "mentionwatch.yaml"):
        load_config(path, registry, environ={})
    starter = root / "src" / "mentionwatch" / "starter.yaml"
    assert starter.read_text() == (root / "config.example.yaml").read_text()


def test_unknown_key_names_file_line_and_key_path(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("    urls: [https://example.com/feed.xml]", "    url: [https://example.com/feed.xml]")
    [problem] = problems(tmp_path, text, registry)
    assert problem.startswith(f"{tmp_path / 'mentionwatch.yaml'}:9: sources[1].url: unknown key")
    assert "did you mean 'urls'" in problem


def test_wrong_type_names_line_and_key(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("    urls: [https://example.com/feed.xml]", "    urls: {feed: https://example.com/feed.xml}")
    [problem] = problems(tmp_path, text, registry)
    assert ":9: sources[1].urls: Input should be a valid list" in problem


def test_every_problem_is_reported_one_per_line(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("terms: [Acme", "termz: [Acme").replace("  - type: hackernews", "  - type: hackernwes")
    found = problems(tmp_path, text, registry)
    assert any("brands[0].termz: unknown key" in p for p in found)


def test_unknown_source_type_suggests_the_closest(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, GOOD.replace("type: hackernews", "type: hackernwes"), registry)
    assert ":7: sources[0].type: unknown source type 'hackernwes'" in problem
    assert "did you mean 'hackernews'" in problem


def test_a_source_plugin_that_fails_to_load_is_named_with_its_error(tmp_path: Path) -> None:
    from importlib.metadata import EntryPoint

    broken = EntryPoint(name="acmefeed", value="no_such_module_xyz:AcmeSource", group="mentionwatch.sources")
    registry = Registry.from_entry_points()
    registry = Registry({"rss": registry.get("rss")}, unloaded={"acmefeed": broken})  # type: ignore[dict-item]
    [problem] = problems(tmp_path, GOOD.replace("type: hackernews", "type: acmefeed"), registry)
    assert ":7: sources[0].type: source type 'acmefeed' failed to load: ModuleNotFoundError" in problem
    assert "no_such_module_xyz" in problem


def test_only_the_configured_source_adapters_are_imported() -> None:
    # A fresh interpreter: here, other tests have imported every adapter already.
    script = (
        "import sys\n"
        "from mentionwatch.registry import Registry\n"
        "r = Registry.from_entry_points()\n"
        "assert r.get('rss') is not None and 'reddit' in r.names()\n"
        "print(sorted(n for n in sys.modules if n.startswith('mentionwatch.sources.')))\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "['mentionwatch.sources.rss']"


def test_second_source_of_a_type_needs_its_own_name(tmp_path: Path, registry: Registry) -> None:
    text = GOOD + "  - type: hackernews\n"
    [problem] = problems(tmp_path, text, registry)
    assert "sources[3]" in problem and "needs its own `name`" in problem


def test_python_tags_are_refused_not_executed(tmp_path: Path, registry: Registry) -> None:
    marker = tmp_path / "pwned"
    text = GOOD + f'evil: !!python/object/apply:os.system ["touch {marker}"]\n'
    [problem] = problems(tmp_path, text, registry)
    assert ":13:" in problem and "python" in problem
    assert not marker.exists()


def test_yaml_syntax_error_names_the_line(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, GOOD.replace("exclude: [coyote,", "exclude: [coyote,:"), registry)
    assert str(tmp_path / "mentionwatch.yaml") in problem


def test_env_vars_are_interpolated_and_remembered_as_secrets(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("[https://example.com/feed.xml]", '["https://example.com/feed.xml?key=${FEED_KEY}"]')
    config = load_config(write(tmp_path, text), registry, environ={"FEED_KEY": "s3cr3t-value"})
    assert config.sources[1].config.urls == ["https://example.com/feed.xml?key=s3cr3t-value"]  # type: ignore[attr-defined]
    assert "s3cr3t-value" in config.secrets


def test_unset_env_var_is_a_clear_error(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("[https://example.com/feed.xml]", '["https://example.com/${NOPE_NOT_SET}"]')
    [problem] = problems(tmp_path, text, registry)
    assert ":9: sources[1].urls[0]: environment variable ${NOPE_NOT_SET} is not set" in problem


def test_unquoted_env_var_in_a_flow_list_gets_a_hint(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("https://example.com/feed.xml", "https://example.com/${FEED}")
    [problem] = problems(tmp_path, text, registry, env={"FEED": "x"})
    assert ":9:" in problem and "quote" in problem


def test_brand_needs_terms(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace('    terms: [Acme, AcmeCloud, "@acme", "#acme", acme.io]\n', "")
    [problem] = problems(tmp_path, text, registry)
    assert "brands[0]" in problem and "terms" in problem


def test_empty_file_is_an_error(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, "", registry)
    assert "mapping" in problem


def test_missing_file_is_a_usage_error(tmp_path: Path, registry: Registry) -> None:
    with pytest.raises(UsageError):
        load_config(tmp_path / "nope.yaml", registry)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("24h", datetime(2026, 11, 24, 12, 0, tzinfo=UTC)),
        ("7d", datetime(2026, 11, 18, 12, 0, tzinfo=UTC)),
        ("2w", datetime(2026, 11, 11, 12, 0, tzinfo=UTC)),
        ("30m", datetime(2026, 11, 25, 11, 30, tzinfo=UTC)),
        ("2026-11-01", datetime(2026, 11, 1, tzinfo=UTC)),
        ("2026-11-01T08:00Z", datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
        ("2026-11-01T09:00+01:00", datetime(2026, 11, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_since_forms(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


def test_since_garbage_is_refused() -> None:
    with pytest.raises(ValueError, match="24h"):
        parse_since("yesterday", NOW)


def test_a_capital_m_is_refused_not_taken_for_minutes() -> None:
    # `1M` reads as a month to many: it was one minute, and a scan of "the last month" saw a minute of it.
    with pytest.raises(ValueError, match="M is not a unit"):
        parse_since("1M", NOW)
    with pytest.raises(ValueError, match="M is not a unit"):
        parse_duration("10M")
    assert parse_since("2H", NOW) == parse_since("2h", NOW)


def test_config_lookup_order(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UsageError, match="mentionwatch init"):
        find_config(None)
    user = tmp_path / "xdg_config_home" / "mentionwatch" / "config.yaml"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "xdg_config_home"))
    user.parent.mkdir(parents=True)
    user.write_text(GOOD)
    assert find_config(None) == user
    (tmp_path / "mentionwatch.yaml").write_text(GOOD)
    assert find_config(None) == Path("mentionwatch.yaml")
    monkeypatch.setenv("MENTIONWATCH_CONFIG", "/from/env.yaml")
    assert find_config(None) == Path("/from/env.yaml")
    assert find_config(Path("explicit.yaml")) == Path("explicit.yaml")


# --- hostile and mistaken YAML (issue #11): refused with file:line, never a raw exception ---------------------

BASE = "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: hackernews\n"


def alias_bomb(levels: int = 9) -> str:
    """The "billion laughs": each level is a list of nine aliases of the level before."""
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    for i in range(1, levels):
        lines.append(f"l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]")
    return "bomb:\n" + "".join(f"  {line}\n" for line in lines)


def test_an_alias_bomb_is_refused_at_the_alias_that_crosses_the_limit(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + alias_bomb(), registry)
    # l5 holds 9 * 9^5 values: its aliases on line 12 push the expansion past 100,000.
    assert problem.startswith(f"{tmp_path / 'mentionwatch.yaml'}:12: aliases expand to more than 100,000 values")


def test_twenty_thousand_nested_brackets_are_refused_not_a_recursion_error(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "deep: " + "[" * 20_000 + "]" * 20_000 + "\n", registry)
    assert ":6: nested more than 64 levels deep" in problem


def test_nesting_built_from_aliases_is_refused_too(tmp_path: Path, registry: Registry) -> None:
    # Each anchor is 40 levels deep with the previous one at the bottom: a1 is 81 levels once expanded.
    chain = "".join(f"a{i}: &a{i} " + "[" * 40 + (f"*a{i - 1}" if i else "x") + "]" * 40 + "\n" for i in range(3))
    [problem] = problems(tmp_path, BASE + chain, registry)
    assert ":7: nested more than 64 levels deep once this alias is expanded" in problem


def test_an_alias_inside_the_node_it_names_is_refused(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "http: &h\n  timeout: [*h]\n", registry)
    assert ":7: this alias refers to a node that contains it" in problem


def test_anchors_aliases_and_merge_keys_within_the_limits_still_work(tmp_path: Path, registry: Registry) -> None:
    text = (
        "brands:\n"
        "  - name: Acme\n    terms: &shared [Acme, AcmeCloud]\n"
        "  - name: Acme Labs\n    terms: *shared\n    exclude: [coyote]\n"
        "sources:\n"
        "  - &feed {type: rss, urls: [feeds/acme.xml]}\n"
        "  - <<: *feed\n    name: second\n    urls: [https://example.com/feed.xml]\n"
    )
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.brands[1].terms == ["Acme", "AcmeCloud"]
    assert config.sources[1].config.urls == ["https://example.com/feed.xml"]  # type: ignore[attr-defined]


def test_a_repeated_top_level_key_is_an_error_not_a_silent_replacement(tmp_path: Path, registry: Registry) -> None:
    text = BASE + "brands:\n  - name: Other\n    terms: [other]\n"
    [problem] = problems(tmp_path, text, registry)
    assert (
        problem
        == f"{tmp_path / 'mentionwatch.yaml'}:6: brands: duplicate key (also on line 1): YAML would keep only this one; merge the two"
    )


def test_every_repeated_key_is_reported_with_its_path(tmp_path: Path, registry: Registry) -> None:
    text = BASE.replace("    terms: [Acme]\n", "    terms: [Acme]\n    terms: [AcmeCloud]\n") + "    type: rss\n"
    found = problems(tmp_path, text, registry)
    assert [p.split(": ", 1)[0].rsplit(":", 1)[1] for p in found] == ["4", "7"]
    assert "brands[0].terms: duplicate key (also on line 3)" in found[0]
    assert "sources[0].type: duplicate key (also on line 6)" in found[1]


def test_a_key_may_override_what_a_merge_key_brought_in(tmp_path: Path, registry: Registry) -> None:
    text = BASE + "  - <<: {type: hackernews, name: a}\n    name: b\n"
    config = load_config(write(tmp_path, text), registry, environ={})
    assert [s.name for s in config.sources] == ["hackernews", "b"]


def test_two_brands_of_one_name_are_an_error(tmp_path: Path, registry: Registry) -> None:
    text = BASE.replace("sources:", "  - name: acme\n    terms: [AcmeCloud]\nsources:")
    [problem] = problems(tmp_path, text, registry)
    assert ":4: brands[1].name: brand name 'acme' is already used by brands[0]" in problem


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("https://example.com/${1ABC}", "`${1ABC}` is not an environment variable name"),
        ("https://example.com/${}", "`${}` is not an environment variable name"),
        ("https://example.com/${FEED", "`${FEED` is not closed"),
    ],
)
def test_a_malformed_env_reference_is_an_error_not_kept_as_text(
    tmp_path: Path, registry: Registry, value: str, message: str
) -> None:
    text = GOOD.replace("[https://example.com/feed.xml]", f'["{value}"]')
    [problem] = problems(tmp_path, text, registry, env={"FEED": "x", "ABC": "y"})
    assert f":9: sources[1].urls[0]: {message}" in problem
    assert "$${ for a literal" in problem


def test_double_dollar_brace_is_a_literal_dollar_brace(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace("[https://example.com/feed.xml]", '["https://example.com/$${FEED}/${FEED}"]')
    config = load_config(write(tmp_path, text), registry, environ={"FEED": "x"})
    assert config.sources[1].config.urls == ["https://example.com/${FEED}/x"]  # type: ignore[attr-defined]


def test_a_tab_in_the_indentation_is_named(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE.replace("    terms", "\tterms"), registry)
    assert ":3:" in problem and "did you indent this line with a tab? YAML indents with spaces only" in problem


def test_a_line_indented_less_than_its_mapping_says_so(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE.replace("    terms", "   terms"), registry)
    assert ":3:" in problem and "must start in the same column; did you mix indents" in problem


def test_a_line_indented_more_than_its_mapping_says_so(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE.replace("    terms", "      terms"), registry)
    assert ":3:" in problem and "this line is indented more than the key above it" in problem


def test_an_unquoted_colon_in_a_value_says_to_quote_it(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE.replace("    terms: [Acme]", "    query: acme: outage"), registry)
    assert ":3:" in problem and 'a value that holds ": " must be quoted' in problem


def test_an_impossible_date_names_its_line(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, "since: 2026-02-30\n" + BASE, registry)
    assert problem.endswith(":1: since: cannot read '2026-02-30' as a timestamp: day is out of range for month")


def test_a_value_that_does_not_fit_its_tag_names_its_line(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "x: !!timestamp soon\n", registry)
    assert problem.endswith(":6: x: cannot read 'soon' as a timestamp")


def test_a_character_yaml_forbids_names_its_line(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "x: \x00\n", registry)
    assert ":6: character U+0000 is not allowed in YAML" in problem


def test_an_infinite_timeout_is_refused(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "http:\n  timeout: .inf\n", registry)
    assert ":7: http.timeout:" in problem


# --- friendlier schema -------------------------------------------------------------------------------------------


def test_a_scalar_where_a_list_belongs_is_a_one_item_list(tmp_path: Path, registry: Registry) -> None:
    text = (
        "brands:\n  - name: Acme\n    terms: Acme\n    exclude: coyote\n    languages: en\n"
        "sources:\n  - type: rss\n    urls: https://example.com/feed.xml\n  - type: github\n    kinds: issue\n"
    )
    config = load_config(write(tmp_path, text), registry, environ={})
    brand = config.brands[0]
    assert (brand.terms, brand.exclude, brand.languages) == (["Acme"], ["coyote"], ["en"])
    assert config.sources[0].config.urls == ["https://example.com/feed.xml"]  # type: ignore[attr-defined]
    assert config.sources[1].config.kinds == ("issue",)  # type: ignore[attr-defined]


@pytest.mark.parametrize(("written", "meant"), [("twitter", "x"), ("Twitter", "x"), ("bsky", "bluesky")])
def test_another_name_for_a_service_suggests_its_adapter(
    tmp_path: Path, registry: Registry, written: str, meant: str
) -> None:
    [problem] = problems(tmp_path, BASE.replace("type: hackernews", f"type: {written}"), registry)
    assert problem.endswith(f"did you mean {meant!r}?")


def test_google_news_as_a_type_points_to_rss_with_google_news(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE.replace("type: hackernews", "type: google_news"), registry)
    assert problem.endswith("did you mean 'rss' with `google_news: QUERY`?")


def test_a_missing_credential_says_what_it_is_and_how_to_set_it(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE.replace("type: hackernews", "type: youtube"), registry)
    assert ":5: sources[0].key: required key is missing: a YouTube Data API v3 key (Google Cloud console" in problem
    assert "`key: ${YOUTUBE_KEY}` and export YOUTUBE_KEY" in problem


def test_a_missing_plain_option_gets_its_description_without_an_env_hint(tmp_path: Path, registry: Registry) -> None:
    text = BASE.replace("type: hackernews", "type: bluesky\n    app_password: ${BSKY_PW}")
    [problem] = problems(tmp_path, text, registry, env={"BSKY_PW": "abcd-efgh-ijkl-mnop"})
    assert problem.endswith("sources[0].handle: required key is missing: your handle (you.bsky.social), or your DID")


# --- URLs: what `check` passes, `scan` can fetch ------------------------------------------------------------------

BAD_URLS = [
    ("ftp://example.com/feed.xml", "only http:// and https:// URLs can be fetched, not ftp:"),
    ("javascript:alert(1)", "not javascript:"),
    ("data:text/xml,<rss/>", "not data:"),
    ("http://[::1/feed", "unbalanced [ ]"),
    ("http://example.com:99999/feed", "the port must be a number from 1 to 65535"),
    ("http://example.com:0/feed", "port 0 cannot be connected to"),
    ("http://example.com:http/feed", "the port must be a number from 1 to 65535"),
    ("https:///feed.xml", "has no host"),
    ("http://256.1.1.1/feed", "'256.1.1.1' is not a host name or IP address"),
    ("http://exa mple.com/feed", "'exa mple.com' is not a host name"),
    ("http://example..com/feed", "is not a host name"),
    ("http://example.com/\tfeed", "holds a control character"),
]


@pytest.mark.parametrize(("url", "message"), BAD_URLS)
def test_a_feed_url_scan_could_not_fetch_is_refused(tmp_path: Path, registry: Registry, url: str, message: str) -> None:
    text = GOOD.replace("[https://example.com/feed.xml]", json.dumps([url]))
    [problem] = problems(tmp_path, text, registry)
    assert ":9: sources[1].urls[0]:" in problem and message in problem


def test_an_empty_feed_location_is_refused(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, GOOD.replace("[https://example.com/feed.xml]", '["  "]'), registry)
    assert ":9: sources[1].urls[0]: empty feed location" in problem


@pytest.mark.parametrize(("url", "message"), [*BAD_URLS, ("", "empty URL"), ("example.com/api", "has no scheme")])
def test_a_base_url_scan_could_not_fetch_is_refused(tmp_path: Path, registry: Registry, url: str, message: str) -> None:
    text = BASE + f"    base_url: {json.dumps(url)}\n"
    [problem] = problems(tmp_path, text, registry)
    assert ":6: sources[0].base_url:" in problem and message in problem


@pytest.mark.parametrize("url", ["http://127.0.0.1:8080/hn?api_key=s3cr3tk3y", "https://hn.example/api#v1"])
def test_a_base_url_with_a_query_or_fragment_is_refused_as_the_adapters_would_lose_it(
    tmp_path: Path, registry: Registry, url: str
) -> None:
    # The adapters join the API's paths below the root and send their own query: the key would be dropped.
    [problem] = problems(tmp_path, BASE + f"    base_url: {url}\n", registry)
    assert ":6: sources[0].base_url:" in problem and "an API root takes no query string or fragment" in problem
    assert "s3cr3tk3y" not in problem


def test_every_option_named_base_url_is_checked(tmp_path: Path, registry: Registry) -> None:
    text = BASE.replace("type: hackernews", "type: reddit\n    oauth_base_url: http://oauth.test:99999")
    [problem] = problems(tmp_path, text, registry)
    assert ":6: sources[0].oauth_base_url:" in problem and "port" in problem


@pytest.mark.parametrize(
    "location",
    [
        "feeds/acme.xml",
        "/srv/feeds/acme.xml",
        "file:///srv/feeds/acme.xml",
        "C:\\feeds\\acme.xml",
        "http://127.0.0.1:8080/feed.xml",
        "http://[::1]:8080/feed.xml",
        "https://bücher.example/feed?q=a b",
        "HTTPS://EXAMPLE.COM/feed.xml",
        "https://user:pw@example.com:443/feed.xml",
    ],
)
def test_feed_urls_and_local_feed_files_pass(tmp_path: Path, registry: Registry, location: str) -> None:
    text = GOOD.replace("[https://example.com/feed.xml]", json.dumps([location]))
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.sources[1].config.urls == [location]  # type: ignore[attr-defined]


def test_an_empty_base_url_is_allowed_only_where_it_is_the_default(tmp_path: Path, registry: Registry) -> None:
    text = BASE + "  - type: jsonl\n    path: '-'\n    base_url: ''\n"
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.sources[1].config.base_url == ""
    [problem] = problems(tmp_path, BASE + "    base_url: ''\n", registry)
    assert "sources[0].base_url: empty URL" in problem


# --- since, and the starter -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text", ["99999999999d", "999999999d", "9999-12-31T23:59:59-01:00", "0001-01-01T00:00:00+01:00", "99999999999w"]
)
def test_a_since_out_of_range_is_a_value_error_not_an_overflow(text: str) -> None:
    with pytest.raises(ValueError, match="out of range"):
        parse_since(text, NOW)


def test_a_since_out_of_range_in_the_config_names_its_line(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, "since: 99999999999d\n" + BASE, registry)
    assert problem.endswith(":1: since: '99999999999d' is out of range: mentionwatch reads times from year 1 to 9999")


def test_the_starter_is_written_once_then_only_with_force(tmp_path: Path) -> None:
    path = tmp_path / "new" / "mentionwatch.yaml"
    write_starter(path)
    assert path.read_text(encoding="utf-8").startswith("# mentionwatch config")
    path.write_text("mine")
    with pytest.raises(UsageError, match="exists; pass --force"):
        write_starter(path)
    assert path.read_text() == "mine"
    write_starter(path, force=True)
    assert path.read_text(encoding="utf-8").startswith("# mentionwatch config")


def test_a_starter_that_cannot_be_written_is_a_usage_error(tmp_path: Path) -> None:
    # A file where the folder should be: refused even for root, unlike a read-only folder.
    (tmp_path / "afile").write_text("x")
    with pytest.raises(UsageError, match="cannot write the starter config"):
        write_starter(tmp_path / "afile" / "mentionwatch.yaml")


# --- the command: the user's mistakes exit 2 with one plain line ------------------------------------------------


@pytest.mark.e2e
@pytest.mark.parametrize("since", ["99999999999d", "9999-12-31T23:59:59-01:00"])
def test_scan_since_out_of_range_exits_2_with_a_message(
    tmp_path: Path, run_cli: Callable[..., Run], since: str
) -> None:
    path = write(tmp_path, BASE)
    run = run_cli("scan", "-c", str(path), "--since", since)
    assert run.code == 2, run.stderr
    assert (
        run.stderr
        == f"mentionwatch: error: --since: {since!r} is out of range: mentionwatch reads times from year 1 to 9999\n"
    )


@pytest.mark.e2e
def test_sources_with_a_missing_config_exits_2_with_a_message(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    run = run_cli("sources", "-c", "missing.yaml")
    assert run.code == 2
    assert run.stderr == "mentionwatch: error: missing.yaml: config file not found\n"


@pytest.mark.e2e
def test_init_where_it_cannot_write_exits_2_with_a_message(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    # A file where the folder should be: unwritable even for root, unlike a read-only folder.
    (tmp_path / "afile").write_text("x")
    run = run_cli("init", "afile/mentionwatch.yaml")
    assert run.code == 2
    assert run.stderr.startswith("mentionwatch: error: afile/mentionwatch.yaml: cannot write the starter config: ")
    assert len(run.stderr.splitlines()) == 1


@pytest.mark.e2e
def test_init_given_a_folder_writes_the_starter_config_in_it(tmp_path: Path, run_cli: Callable[..., Run]) -> None:
    (tmp_path / "conf").mkdir()
    run = run_cli("init", "conf")
    assert run.code == 0, run.stderr
    assert "wrote conf/mentionwatch.yaml" in run.stderr
    assert (tmp_path / "conf" / "mentionwatch.yaml").read_text(encoding="utf-8").startswith("#")
    again = run_cli("init", "conf")
    assert again.code == 2 and "conf/mentionwatch.yaml exists; pass --force" in again.stderr
    assert run_cli("init", "conf", "--force").code == 0


def test_env_values_are_masked_in_the_errors_of_validation(tmp_path: Path, registry: Registry) -> None:
    text = BASE + '  - type: rss\n    urls: ["https://feeds.example.com:0/u/${FEED_KEY}/alerts.xml"]\n'
    text += '  - type: mastodon\n    base_url: "${MASTODON_TOKEN}"\n'
    env = {"FEED_KEY": "fkey_Secret123", "MASTODON_TOKEN": "mtok_ABCdef456"}
    found = problems(tmp_path, text, registry, env)
    assert len(found) == 2
    assert found[0].endswith(
        "sources[1].urls[0]: 'https://feeds.example.com:0/u/****/alerts.xml': port 0 cannot "
        "be connected to (ports are 1-65535)"
    )
    assert found[1].endswith("sources[2].base_url: '****' has no scheme: write https:// (or http://) in front of it")
    assert not any(secret in "\n".join(found) for secret in env.values())


def test_env_values_join_the_callers_redactor_before_anything_is_validated(tmp_path: Path, registry: Registry) -> None:
    from mentionwatch.redaction import Redactor

    redactor = Redactor()
    text = BASE + '  - type: mastodon\n    base_url: "${MASTODON_TOKEN}"\n'
    with pytest.raises(ConfigError):
        load_config(write(tmp_path, text), registry, environ={"MASTODON_TOKEN": "mtok_ABCdef456"}, redactor=redactor)
    assert redactor("a log line with mtok_ABCdef456 in it") == "a log line with **** in it"


def test_an_impossible_date_deep_in_the_file_names_its_key(tmp_path: Path, registry: Registry) -> None:
    text = BASE.replace("    terms: [Acme]", "    terms: [Acme]\n    exclude: [ok, 2026-02-30]")
    [problem] = problems(tmp_path, text, registry)
    assert problem.endswith(
        ":4: brands[0].exclude[1]: cannot read '2026-02-30' as a timestamp: day is out of range for month"
    )


@pytest.mark.parametrize(
    ("key", "shown"), [("1", "['1']"), ("true", "true"), ("on", "on"), ("~", "['~']"), ("2026-01-01", "['2026-01-01']")]
)
def test_a_key_yaml_reads_as_a_number_or_boolean_is_the_key_written_on_its_own_line(
    tmp_path: Path, registry: Registry, key: str, shown: str
) -> None:
    [top] = problems(tmp_path, BASE + f"{key}: x\n", registry)
    assert f"mentionwatch.yaml:6: {shown}: unknown key (" in top
    [in_source] = problems(tmp_path, BASE + f"    {key}: x\n", registry)
    assert f"mentionwatch.yaml:6: sources[0]{'.' if shown == key else ''}{shown}: unknown key (" in in_source


def test_a_key_written_as_a_number_and_as_text_is_a_duplicate(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "http:\n  1: a\n  '1': b\n", registry)
    assert ":8: http['1']: duplicate key (also on line 7)" in problem


def test_notify_on_is_the_key_on_not_yaml_true(tmp_path: Path, registry: Registry) -> None:
    text = BASE + "notify:\n  on: [spike]\n  targets:\n    - type: webhook\n      url: https://hooks.example.com/x\n"
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.notify is not None and config.notify.on == ["spike"]


def test_a_file_that_is_not_utf8_names_its_line_and_column(tmp_path: Path, registry: Registry) -> None:
    path = tmp_path / "mentionwatch.yaml"
    path.write_bytes(BASE.replace("[Acme]", "[Acm\xe9]").encode("latin-1"))
    with pytest.raises(ConfigError) as info:
        load_config(path, registry, environ={})
    assert info.value.problems == [f"{path}:3: byte 0xe9 (column 16) is not UTF-8: save the file as UTF-8"]


def test_a_plain_integer_where_text_is_wanted_is_the_text_as_written(tmp_path: Path, registry: Registry) -> None:
    text = (
        "brands:\n  - name: 2048\n    terms: [2048, 0x1F]\n    exclude: 1984\n"
        "sources:\n  - type: facebook_page\n    page_id: 104325678901234\n    token: ${FB_TOKEN}\n"
        "  - type: facebook_page\n    name: other\n    page_id: 0123\n    token: ${FB_TOKEN}\n"
    )
    config = load_config(write(tmp_path, text), registry, environ={"FB_TOKEN": "EAAtoken"})
    [brand] = config.brands
    assert (brand.name, brand.terms, brand.exclude) == ("2048", ["2048", "0x1F"], ["1984"])
    pages = [(s.config.page_id, s.config.brand) for s in config.sources]  # type: ignore[attr-defined]
    assert pages == [("104325678901234", "2048"), ("0123", "2048")]  # 0123 is not octal 83


@pytest.mark.parametrize(
    ("value", "line"),
    [
        ("yes", 'yes reads as a boolean; text is expected here: quote it ("yes")'),
        ("1.10", '1.10 reads as a number; text is expected here: quote it ("1.10")'),
    ],
)
def test_a_boolean_or_a_decimal_where_text_is_wanted_says_to_quote_it(
    tmp_path: Path, registry: Registry, value: str, line: str
) -> None:
    [problem] = problems(tmp_path, BASE.replace("name: Acme", f"name: {value}"), registry)
    assert problem.endswith(f":2: brands[0].name: {line}")


@pytest.mark.parametrize(
    ("store", "expected"),
    [
        ("postgresql://mw@db.example.com/mentions", "postgresql://mw@db.example.com/mentions"),
        ("postgres://mw@db.example.com/mentions", "postgres://mw@db.example.com/mentions"),
        ("sqlite:///rel/m.sqlite3", "{base}/rel/m.sqlite3"),
        ("sqlite:////var/m.sqlite3", "/var/m.sqlite3"),
        ("rel.sqlite3", "{base}/rel.sqlite3"),
    ],
)
def test_the_store_is_a_path_relative_to_the_config_or_a_url_kept_whole(
    tmp_path: Path, registry: Registry, store: str, expected: str
) -> None:
    config = load_config(write(tmp_path, f"store: {store}\n" + BASE), registry, environ={})
    assert config.store.path == expected.format(base=tmp_path)


def test_a_store_of_an_unknown_scheme_names_its_line_and_the_schemes(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, BASE + "store: mysql://u:pw@db/m\n", registry)
    assert ":6: store.path: store mysql://...: unknown scheme 'mysql': a store is a SQLite file" in problem
    assert "postgresql://" in problem and "pw" not in problem


def test_a_list_key_left_empty_is_an_empty_list(tmp_path: Path, registry: Registry) -> None:
    text = GOOD.replace('exclude: [coyote, "road runner"]', "exclude:   # nothing yet")
    assert "exclude:   # nothing yet" in text
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.brands[0].exclude == []


# --- an unset ${VAR} in a part the command does not use (`unset_env_ok`: replays, commands that read the store)

SLACK_FROM_ENV = BASE + "notify:\n  targets: [{type: slack, url: '${SLACK_URL}'}]\n"


def test_an_unset_slack_url_holds_notify_back_until_it_is_read(tmp_path: Path, registry: Registry) -> None:
    config = load_config(write(tmp_path, SLACK_FROM_ENV), registry, environ={}, unset_env_ok=True)
    assert [b.name for b in config.brands] == ["Acme"] and [s.name for s in config.sources] == ["hackernews"]
    with pytest.raises(ConfigError) as read:
        config.notify  # noqa: B018 - reading it is the use that must fail
    assert read.value.problems == [
        f"{tmp_path / 'mentionwatch.yaml'}:7: notify.targets[0].url: environment variable ${{SLACK_URL}} is not set"
    ]
    assert "SLACK_URL" in repr(config)  # the repr reads no held-back part


def test_an_unset_secret_that_would_validate_as_the_mask_still_holds_notify_back(
    tmp_path: Path, registry: Registry
) -> None:
    # A webhook signed with "****" would be sent: the mask must not stand in for what notify sends.
    text = BASE + "notify:\n  targets:\n    - type: webhook\n      url: https://hooks.example.com/x\n"
    text += "      secret: ${WEBHOOK_SECRET}\n"
    config = load_config(write(tmp_path, text), registry, environ={}, unset_env_ok=True)
    with pytest.raises(ConfigError, match=r":10: notify\.targets\[0\]\.secret: environment variable \$\{WEBHOOK"):
        config.notify  # noqa: B018


def test_without_unset_env_ok_an_unset_slack_url_is_an_error_at_once(tmp_path: Path, registry: Registry) -> None:
    [problem] = problems(tmp_path, SLACK_FROM_ENV, registry)
    assert problem.endswith(":7: notify.targets[0].url: environment variable ${SLACK_URL} is not set")


def test_a_source_the_mask_cannot_stand_in_for_is_held_back_and_the_others_load(
    tmp_path: Path, registry: Registry
) -> None:
    text = BASE + '  - type: mastodon\n    base_url: "${MASTODON_URL}"\n'
    config = load_config(write(tmp_path, text), registry, environ={}, unset_env_ok=True)
    assert config.brands[0].name == "Acme" and config.notify is None
    with pytest.raises(ConfigError) as read:
        config.sources  # noqa: B018
    assert read.value.problems[0].endswith(":7: sources[1].base_url: environment variable ${MASTODON_URL} is not set")


def test_a_source_whose_token_is_unset_still_loads_with_the_mask_for_a_replay(
    tmp_path: Path, registry: Registry
) -> None:
    text = BASE + "  - type: github\n    token: ${GITHUB_TOKEN}\n"
    config = load_config(write(tmp_path, text), registry, environ={}, unset_env_ok=True)
    assert [s.name for s in config.sources] == ["hackernews", "github"]
    assert config.sources[1].config.secret_values() == ["****"]


def test_a_source_with_another_problem_beside_an_unset_variable_is_still_an_error(
    tmp_path: Path, registry: Registry
) -> None:
    text = BASE + '  - type: mastodon\n    base_url: "${MASTODON_URL}"\n    max_pagez: 2\n'
    found = problems(tmp_path, text, registry)
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), registry, environ={}, unset_env_ok=True)
    assert any("sources[1].max_pagez: unknown key" in p for p in info.value.problems)
    assert any(p.endswith("sources[1].base_url: environment variable ${MASTODON_URL} is not set") for p in found)


def test_an_unset_password_in_the_store_url_is_left_for_the_store_to_say(tmp_path: Path, registry: Registry) -> None:
    from mentionwatch.errors import StoreError
    from mentionwatch.store import open_store

    text = "store: postgresql://mw:${MW_PG_PASSWORD}@db.example/mentions\n" + BASE
    config = load_config(write(tmp_path, text), registry, environ={}, unset_env_ok=True)
    assert config.store.path == "postgresql://mw:${MW_PG_PASSWORD}@db.example/mentions"
    with pytest.raises(StoreError, match=r"environment variable \$\{MW_PG_PASSWORD\} is not set"):
        open_store(config.store.path)  # what `report` and `stats` open: no connection is tried


def test_an_unset_variable_elsewhere_names_the_variable_not_what_the_mask_fails(
    tmp_path: Path, registry: Registry
) -> None:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, "since: ${SINCE}\n" + BASE), registry, environ={}, unset_env_ok=True)
    assert info.value.problems == [f"{tmp_path / 'mentionwatch.yaml'}:1: since: environment variable ${{SINCE}} is not set"]


# --- a mapping where a list is expected, and a word where a mapping is


def test_one_brand_written_as_a_mapping_is_a_one_item_list(tmp_path: Path, registry: Registry) -> None:
    text = "brands:\n  name: Acme\n  terms: [Acme]\nsources:\n  - type: hackernews\n"
    config = load_config(write(tmp_path, text), registry, environ={})
    assert [(b.name, b.terms) for b in config.brands] == [("Acme", ["Acme"])]


def test_an_error_in_a_brand_written_as_a_mapping_names_its_own_line(tmp_path: Path, registry: Registry) -> None:
    text = "brands:\n  name: Acme\n  terms: [Acme]\n  excude: [x]\nsources:\n  - type: hackernews\n"
    [problem] = problems(tmp_path, text, registry)
    assert problem.startswith(f"{tmp_path / 'mentionwatch.yaml'}:4: brands[0].excude: unknown key")


def test_one_source_written_as_a_mapping_is_a_one_item_list(tmp_path: Path, registry: Registry) -> None:
    text = "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  type: rss\n  urls: https://example.com/f.xml\n"
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.sources[0].config.urls == ["https://example.com/f.xml"]  # type: ignore[attr-defined]


def test_one_notify_target_written_as_a_mapping_is_a_one_item_list(tmp_path: Path, registry: Registry) -> None:
    text = BASE + "notify:\n  targets:\n    type: webhook\n    url: https://hooks.example.com/x\n"
    config = load_config(write(tmp_path, text), registry, environ={})
    assert config.notify is not None and [t.label for t in config.notify.targets] == ["webhook"]
    [problem] = problems(tmp_path, text.replace("url: https://hooks.example.com/x", "url: ftp://x"), registry)
    assert f"{tmp_path / 'mentionwatch.yaml'}:9: notify.targets[0].url: not an http:// or https:// URL" in problem


@pytest.mark.parametrize(
    ("text", "said"),
    [
        (
            "brands: [Acme]\nsources:\n  - type: hackernews\n",
            ":1: brands[0]: a brand is a mapping: write `- name: Acme` (with its `terms:`)",
        ),
        (
            "brands:\n  - Acme\nsources:\n  - type: hackernews\n",
            ":2: brands[0]: a brand is a mapping: write `- name: Acme` (with its `terms:`)",
        ),
        (
            "brands: Acme\nsources:\n  - type: hackernews\n",
            ":1: brands[0]: a brand is a mapping: write `- name: Acme` (with its `terms:`)",
        ),
        (
            "brands:\n  - name: Acme\n    terms: [Acme]\nsources: [hackernews]\n",
            ":4: sources[0]: a source is a mapping: write `- type: hackernews`",
        ),
        (
            "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: hackernews\n  - github\n",
            ":6: sources[1]: a source is a mapping: write `- type: github`",
        ),
        (
            "brands: [[Acme]]\nsources:\n  - type: hackernews\n",
            ":1: brands[0]: a brand is a mapping: write `- name: NAME` (with its `terms:`)",
        ),
        (BASE + "http: 30\n", ":6: http: a mapping is expected here (keys: cache, concurrency, connect_timeout,"),
    ],
    ids=["brands flow list", "brands block list", "brands word", "sources flow list", "second source", "list", "http"],
)
def test_a_word_where_a_mapping_belongs_says_what_to_write(
    tmp_path: Path, registry: Registry, text: str, said: str
) -> None:
    [problem] = problems(tmp_path, text, registry)
    assert f"mentionwatch.yaml{said}" in problem

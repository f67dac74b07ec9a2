from __future__ import annotations

import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from mentionwatch.config import find_config, load_config, parse_since
from mentionwatch.errors import ConfigError, UsageError
from mentionwatch.registry import Registry

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
    text = GOOD.replace("    urls: [https://example.com/feed.xml]", "    urls: 42")
    [problem] = problems(tmp_path, text, registry)
    assert ":9: sources[1].urls:" in problem


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

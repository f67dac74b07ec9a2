"""Any config file either loads or is refused with lines that each name the file: never another exception.

Random YAML documents (keys from the real schema and made-up ones, odd values, shared subtrees that YAML
writes as anchors and aliases) and random edits of a good config's text (tabs, stray brackets, tags,
repeated lines, `${...}` forms) go through the loader in-process; a few nasty files go through the
installed `mentionwatch check` to show that no traceback reaches the user.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mentionwatch.config import BrandConfig, HttpConfig, ScoringConfig, load_config
from mentionwatch.errors import ConfigError, UsageError
from mentionwatch.registry import Registry

from conftest import Run

REGISTRY = Registry.from_entry_points()
TYPES = REGISTRY.names()
TOP_KEYS = ["since", "brands", "sources", "http", "scoring"]
BRAND_KEYS = sorted(BrandConfig.model_fields)
SOURCE_KEYS = sorted({key for name in TYPES for key in REGISTRY.get(name).Config.model_fields})  # type: ignore[union-attr]
OTHER_KEYS = sorted({*HttpConfig.model_fields, *ScoringConfig.model_fields})
ENV = {"TOKEN": "t0k3n-value", "FEED": "https://example.com/feed.xml"}

GOOD = """\
since: 7d
brands:
  - name: Acme
    terms: [Acme, AcmeCloud, "@acme"]
    exclude: [coyote]
    query: '"acme cloud" AND outage'
sources:
  - type: hackernews
  - type: rss
    urls:
      - https://example.com/feed.xml
      - feeds/local.xml
  - type: github
    token: ${TOKEN}
http:
  timeout: 20
"""

ODD_TEXT = [
    "",
    " ",
    "-",
    "~",
    "${TOKEN}",
    "${FEED}",
    "${UNSET_VARIABLE}",
    "${1ABC}",
    "${}",
    "${OPEN",
    "$${LITERAL}",
    "https://example.com/feed.xml",
    "http://127.0.0.1:8080/x",
    "ftp://example.com/x",
    "javascript:alert(1)",
    "data:text/xml,<rss/>",
    "http://[::1/feed",
    "http://example.com:99999/",
    "https://",
    "feeds/local.xml",
    "7d",
    "0m",
    "99999999999d",
    "9999-12-31T23:59:59-01:00",
    "2026-11-01",
    '"acme cloud" AND outage',
    "acme NEAR/3",
    "(((",
    "twitter",
    "vader",
    "textblob",
    "en",
    "example.com",
    "[bold red]x[/]",
    "\u202eevil",
    "x" * 500,
]

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=12)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(),
    st.sampled_from(ODD_TEXT),
    text,
    st.dates(),
    st.datetimes(timezones=st.sampled_from([UTC, timezone(timedelta(hours=-1)), timezone(timedelta(hours=14))])),
)
keys = st.one_of(
    st.sampled_from(TOP_KEYS + BRAND_KEYS + SOURCE_KEYS + OTHER_KEYS),
    text,
    st.integers(min_value=-5, max_value=5),
    st.booleans(),
)
trees = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(keys, inner, max_size=4),
    max_leaves=12,
)
brands = st.one_of(
    st.fixed_dictionaries(
        {"name": st.one_of(text, st.sampled_from(["Acme", "acme", "Other"])), "terms": trees},
        optional={key: trees for key in BRAND_KEYS if key not in ("name", "terms")},
    ),
    trees,
)
sources = st.one_of(
    st.fixed_dictionaries(
        {"type": st.sampled_from([*TYPES, "twitter", "", "nope"])},
        optional={key: trees for key in SOURCE_KEYS if key != "type"},
    ),
    trees,
)
documents = st.one_of(
    st.fixed_dictionaries(
        {"brands": st.lists(brands, max_size=3), "sources": st.lists(sources, max_size=3)},
        optional={
            "since": scalars,
            "http": st.dictionaries(st.sampled_from(OTHER_KEYS) | text, scalars, max_size=3),
            "scoring": st.dictionaries(st.sampled_from(OTHER_KEYS) | text, scalars, max_size=2),
            "extra": trees,
        },
    ),
    trees,
)


def containers(node: Any, found: list[Any]) -> list[Any]:
    """Every list and dict in a tree, each once."""
    if isinstance(node, (list, dict)) and not any(node is seen for seen in found):
        found.append(node)
        for child in node.values() if isinstance(node, dict) else node:
            containers(child, found)
    return found


@st.composite
def yaml_documents(draw: st.DrawFn) -> str:
    """A document, with some subtrees placed a second time (yaml.dump writes those as &anchor and *alias;
    placing one inside itself makes a loop)."""
    doc = draw(documents)
    for _ in range(draw(st.integers(0, 3))):
        found = containers(doc, [])
        if not found:
            break
        target, shared = draw(st.sampled_from(found)), draw(st.sampled_from(found))
        if isinstance(target, list):
            target.append(shared)
        else:
            target[draw(keys)] = shared
    return yaml.safe_dump(doc, allow_unicode=True, sort_keys=False)


FRAGMENTS = [
    "\t",
    "  ",
    "- ",
    ": ",
    "[",
    "]",
    "{",
    "}",
    "&a ",
    "*a",
    "<<: *a",
    "? ",
    "---\n",
    "...\n",
    "%YAML 1.1\n",
    "!!python/object/apply:os.system ['true']",
    "!!binary ",
    "!!timestamp ",
    "!!int ",
    "!!float ",
    "!!bool ",
    "!!null ",
    "!!str ",
    "!!set ",
    "!!omap ",
    "!!pairs ",
    "!!seq ",
    "!!map ",
    "!!value ",
    "!!merge ",
    "!custom ",
    "2026-02-30",
    "0001-01-01T00:00:00+01:00",
    ".inf",
    "0x1F",
    "1_000",
    "'",
    '"',
    "|",
    ">",
    "#",
    "${",
    "$${",
    "${1ABC}",
    "\x00",
    "\ufeff",
    "\u2028",
    "brands:\n",
    "sources:\n",
    "  - type: rss\n",
    "    terms: [a]\n",
]


@st.composite
def edited_good_configs(draw: st.DrawFn) -> str:
    """The good config with a few random edits: fragments put in, lines repeated, dropped or re-indented."""
    lines = GOOD.splitlines(keepends=True)
    for _ in range(draw(st.integers(1, 4))):
        i = draw(st.integers(0, len(lines) - 1))
        edit = draw(st.sampled_from(["insert", "repeat", "drop", "indent", "dedent"]))
        if edit == "insert":
            at = draw(st.integers(0, len(lines[i])))
            lines[i] = lines[i][:at] + draw(st.sampled_from(FRAGMENTS) | text) + lines[i][at:]
        elif edit == "repeat":
            lines.insert(i, lines[i])
        elif edit == "drop" and len(lines) > 1:
            del lines[i]
        elif edit == "indent":
            lines[i] = " " * draw(st.integers(1, 3)) + lines[i]
        else:
            lines[i] = lines[i][min(len(lines[i]) - len(lines[i].lstrip(" ")), draw(st.integers(1, 3))) :]
    return "".join(lines)


def loads_or_explains(path: Path, content: str) -> None:
    """The contract: a Config, or ConfigError/UsageError whose every line starts with the file's name."""
    path.write_text(content, encoding="utf-8")
    try:
        load_config(path, REGISTRY, environ=ENV)
    except (ConfigError, UsageError) as exc:
        lines = str(exc).splitlines()
        assert lines, "an error with no message"
        for line in lines:
            assert line.startswith(str(path)), line


# Modest counts: the suite runs on 2 cores. 4,000 examples of each found nothing more than these do.
FUZZ = {"deadline": None, "suppress_health_check": [HealthCheck.function_scoped_fixture]}


@settings(max_examples=150, **FUZZ)  # type: ignore[arg-type]
@given(content=yaml_documents())
def test_any_yaml_document_loads_or_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    loads_or_explains(tmp_path / "fuzz.yaml", content)


@settings(max_examples=300, **FUZZ)  # type: ignore[arg-type]
@given(content=edited_good_configs())
def test_any_edit_of_a_good_config_loads_or_is_refused_naming_the_file(tmp_path: Path, content: str) -> None:
    loads_or_explains(tmp_path / "fuzz.yaml", content)


def test_the_fuzzed_good_config_itself_loads(tmp_path: Path) -> None:
    # The edits start from a config that loads: a refusal after an edit is the edit's doing.
    path = tmp_path / "good.yaml"
    path.write_text(GOOD, encoding="utf-8")
    config = load_config(path, REGISTRY, environ=ENV)
    assert [s.name for s in config.sources] == ["hackernews", "rss", "github"]


BASE = "brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n  - type: hackernews\n"
NASTY = {
    "alias-bomb": BASE
    + "bomb:\n  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 9) + "]\n" for i in range(1, 9)),
    "deep-brackets": BASE + "deep: " + "[" * 20_000 + "]" * 20_000 + "\n",
    "alias-loop": BASE + "http: &h {timeout: [*h]}\n",
    "repeated-key": BASE + "brands:\n  - name: Other\n    terms: [other]\n",
    "since-overflow": "since: 99999999999d\n" + BASE,
    "bad-urls": BASE + "  - type: rss\n    urls: ['ftp://x', 'http://[::1/feed', 'http://e.com:99999/']\n",
    "nul-and-tab": BASE.replace("    terms", "\tterms") + "x: \x00\n",
    "python-tag": BASE + "evil: !!python/object/apply:os.system ['true']\n",
}


@pytest.mark.e2e
@pytest.mark.parametrize("name", sorted(NASTY))
def test_check_on_a_nasty_config_exits_2_with_plain_lines(
    tmp_path: Path, run_cli: Callable[..., Run], name: str
) -> None:
    path = tmp_path / f"{name}.yaml"
    path.write_text(NASTY[name], encoding="utf-8")
    run = run_cli("check", "-c", str(path), timeout=30)
    assert run.code == 2, run.stderr
    assert run.stdout == ""
    assert "Traceback" not in run.stderr
    lines = run.stderr.splitlines()
    assert lines and all(line.startswith(f"mentionwatch: error: {path}:") for line in lines), run.stderr

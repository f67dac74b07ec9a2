"""The config's YAML reader: libyaml's parser under PyYAML's own composer and constructor gives the same nodes,
lines and data as the pure-Python loader; anything wrong is said by the pure-Python loader, as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from mentionwatch import yamlload
from mentionwatch.errors import ConfigError

ROOT = Path(__file__).resolve().parents[1]

# Every YAML feature a config (or a recorded cassette) may use, in one document.
TRICKY = """\
%YAML 1.1
---
defaults: &defaults
  reply_reach: 500
  languages: [en, "de", 'fr']
brands:
  - <<: *defaults
    name: "Acme \\u00e9\\t\\"quoted\\""
    terms: [Acme, "@acme", '#acme', acme.io, "it's", 'it''s']
    exclude:
      - coyote   # a comment
      - "road runner"
  - name: Beta
    notes: |
      line one
        indented
      line three
    folded: >-
      folded
      text

      paragraph
    when: 2026-11-01
    at: 2026-11-01T08:00:00Z
    on: [new]
    yes_no: [yes, no, on, off, ~, null, 0x1F, 0o17, 1_000, .inf, -.5e3]
    empty: {}
    list_in_flow: {a: [1, {b: c}], "k e y": v}
    ? complex key
    : value
    multi word plain: this is plain, with a comma:no-space
    unicode: "日本語 ünïcödé 😀"
    long: >
      a
      b
sources:
  - {type: rss, urls: ["https://example.com/feed.xml?a=1&b=2", https://example.com/b]}
"""

BROKEN = {
    "tab": "brands:\n  - name: Acme\n\tterms: [Acme]\n",
    "duplicate key": "brands: []\nbrands: []\n",
    "bad date": "since: 2026-02-30\n",
    "bad date deep": "brands:\n  - name: Acme\n    exclude: [x, 2026-02-30]\n",
    "nul": "brands:\x00\n",
    "unclosed": 'brands: [Acme, "x\n',
    "indent": "brands:\n  - name: Acme\n   terms: [x]\n",
    "python tag": "brands: !!python/object:os.system x\n",
    "laughs": "a: &a [x, x, x, x, x, x, x, x, x]\n"
    + "".join(f"{chr(98 + i)}: &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 9)}]\n" for i in range(8)),
    "deep": "a: " + "[" * 200 + "]" * 200 + "\n",
    "alias loop": "a: &a [*a]\n",
    "two documents": "a: 1\n---\nb: 2\n",
    "lone surrogate": "a: \ud800\n",
}


def _tree(node: yaml.Node | None) -> Any:
    """Everything of a node that anything reads (its style aside: libyaml says "" where PyYAML says None)."""
    if node is None:
        return None
    where = (node.tag, node.start_mark.line, node.start_mark.column)
    if isinstance(node, yaml.ScalarNode):
        return ("scalar", *where, node.value)
    if isinstance(node, yaml.SequenceNode):
        return ("sequence", *where, [_tree(n) for n in node.value])
    assert isinstance(node, yaml.MappingNode)
    return ("mapping", *where, [(_tree(k), _tree(v)) for k, v in node.value])


def _both(text: str) -> tuple[tuple[yaml.Node | None, Any], tuple[yaml.Node | None, Any]]:
    path = Path("c.yaml")
    assert yamlload._fast_loader is not None, "PyYAML here is built with libyaml: the fast loader must be tried"
    slow = yamlload._load(path, text, yamlload._Loader(text))
    fast = yamlload._load(path, text, yamlload._fast_loader(text))
    return slow, fast


def _project_yaml() -> list[Path]:
    found = [
        p
        for pattern in ("*.yaml", "*.yml")
        for p in ROOT.rglob(pattern)
        if not {".venv", ".git", "node_modules"} & set(p.relative_to(ROOT).parts)
    ]
    assert len(found) >= 10  # the examples, the starter, the fixtures' cassettes
    return sorted(found)


@pytest.mark.parametrize("path", _project_yaml(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_yaml_file_of_the_project_reads_the_same_through_libyaml(path: Path) -> None:
    (slow_root, slow_data), (fast_root, fast_data) = _both(path.read_text(encoding="utf-8"))
    assert _tree(fast_root) == _tree(slow_root)
    assert fast_data == slow_data


def test_every_yaml_feature_reads_the_same_through_libyaml() -> None:
    (slow_root, slow_data), (fast_root, fast_data) = _both(TRICKY)
    assert _tree(fast_root) == _tree(slow_root)
    assert fast_data == slow_data
    # The document really holds what it is meant to test.
    assert slow_data["brands"][0]["reply_reach"] == 500 and slow_data["brands"][1]["yes_no"][0] is True
    assert slow_data["brands"][0]["name"] == 'Acme é\t"quoted"'


@pytest.mark.parametrize("name", sorted(BROKEN))
def test_whatever_is_wrong_is_said_as_the_pure_python_loader_says_it(name: str) -> None:
    text = BROKEN[name]
    path = Path("c.yaml")
    with pytest.raises(ConfigError) as through_load:
        yamlload.load_yaml(path, text)
    with pytest.raises(ConfigError) as pure:
        yamlload._load_pure(path, text)
    assert through_load.value.problems == pure.value.problems


def test_keys_are_the_text_written_and_values_keep_their_yaml_types() -> None:
    text = "1: a\non: b\ntrue: c\n~: d\n2026-01-01: e\n0x1F: f\nvalues: [on, 1, ~, 2026-01-01]\n"
    (_, slow), (_, fast) = _both(text)
    assert slow == fast
    assert list(slow) == ["1", "on", "true", "~", "2026-01-01", "0x1F", "values"]
    assert slow["values"][:3] == [True, 1, None]


def test_a_value_that_does_not_fit_its_tag_is_named_by_its_key_path() -> None:
    with pytest.raises(ConfigError) as caught:
        yamlload.load_yaml(Path("c.yaml"), BROKEN["bad date deep"])
    assert caught.value.problems == [
        "c.yaml:3: brands[0].exclude[1]: cannot read '2026-02-30' as a timestamp: day is out of range for month"
    ]

"""Every registered source keeps the house rules (gallery-dl tests every extractor the same way)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from mentionwatch.registry import Registry
from mentionwatch.source import Source

REGISTRY = Registry.from_entry_points()
FIXTURES = Path(__file__).parent / "fixtures"
TESTS = Path(__file__).parent


def test_built_ins_are_registered_through_entry_points() -> None:
    assert {"hackernews", "rss", "jsonl"} <= set(REGISTRY.names())
    assert {name for name, _ in REGISTRY.items()} == set(REGISTRY.names())  # every one loads...
    assert REGISTRY.broken == {}  # ...and none is refused


@pytest.mark.parametrize(("name", "cls"), REGISTRY.items())
def test_source_keeps_the_conventions(name: str, cls: type[Source]) -> None:
    assert cls.type == name, "entry-point name and Source.type must agree"
    assert (cls.__doc__ or "").strip(), "a source says what it is for"
    assert "base_url" in cls.Config.model_fields, "every adapter takes a base_url"
    assert cls.credentials in ("no", "optional", "yes")
    with pytest.raises(ValidationError, match="Extra inputs"):
        cls.Config.model_validate({"type": name, "no_such_option_xyz": 1})
    fixtures = FIXTURES / name
    assert fixtures.is_dir() and any(fixtures.iterdir()), f"tests/fixtures/{name}/ holds real payloads"
    assert (TESTS / f"test_source_{name}.py").exists(), f"tests/test_source_{name}.py tests the parser"


@pytest.mark.parametrize(("name", "cls"), [(n, c) for n, c in REGISTRY.items() if c.searchable])
def test_network_sources_default_to_their_real_api_root(name: str, cls: type[Source]) -> None:
    default = cls.Config.model_fields["base_url"].default
    assert isinstance(default, str) and default.startswith("https://")

"""Finds source adapters through the `mentionwatch.sources` entry points; built-ins register the same way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from importlib.metadata import entry_points
from typing import Any

from mentionwatch.source import Source

log = logging.getLogger(__name__)

SOURCES_GROUP = "mentionwatch.sources"


def load_plugins(group: str, kind: str, refuse: Callable[[Any], str | None]) -> tuple[dict[str, Any], dict[str, str]]:
    """Every entry point of `group`, loaded. One that fails to load, or that `refuse` rejects (it returns the
    reason), is logged and listed as broken: a broken plugin must not take the built-ins down with it."""
    loaded_by_name: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=group):
        try:
            loaded = ep.load()
        except Exception as exc:
            broken[ep.name] = f"{type(exc).__name__}: {exc}"
            log.warning("%s plugin %r (%s) failed to load: %s", kind, ep.name, ep.value, exc)
            continue
        reason = refuse(loaded)
        if reason is not None:
            broken[ep.name] = f"{ep.value} {reason}"
            log.warning("%s plugin %r: %s", kind, ep.name, broken[ep.name])
            continue
        loaded_by_name[ep.name] = loaded
    return loaded_by_name, broken


class Registry:
    """The installed source adapters by type name. Passed in, never global, so tests can hand in fakes."""

    def __init__(self, sources: Mapping[str, type[Source]], broken: Mapping[str, str] | None = None) -> None:
        self._sources = dict(sources)
        self.broken = dict(broken or {})

    @classmethod
    def from_entry_points(cls, group: str = SOURCES_GROUP) -> Registry:
        def is_source(loaded: Any) -> str | None:
            ok = isinstance(loaded, type) and issubclass(loaded, Source)
            return None if ok else "is not a mentionwatch Source subclass"

        sources, broken = load_plugins(group, "source", is_source)
        return cls(sources, broken)

    def get(self, type_name: str) -> type[Source] | None:
        return self._sources.get(type_name)

    def names(self) -> list[str]:
        return sorted(self._sources)

    def items(self) -> list[tuple[str, type[Source]]]:
        return sorted(self._sources.items())

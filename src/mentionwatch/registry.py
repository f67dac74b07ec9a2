"""Finds source adapters through the `mentionwatch.sources` entry points; built-ins register the same way."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import entry_points

from mentionwatch.source import Source

log = logging.getLogger(__name__)

SOURCES_GROUP = "mentionwatch.sources"


class Registry:
    """The installed source adapters by type name. Passed in, never global, so tests can hand in fakes."""

    def __init__(self, sources: Mapping[str, type[Source]], broken: Mapping[str, str] | None = None) -> None:
        self._sources = dict(sources)
        self.broken = dict(broken or {})

    @classmethod
    def from_entry_points(cls, group: str = SOURCES_GROUP) -> Registry:
        sources: dict[str, type[Source]] = {}
        broken: dict[str, str] = {}
        for ep in entry_points(group=group):
            try:
                loaded = ep.load()
            except Exception as exc:  # a broken plugin must not take the built-ins down with it
                broken[ep.name] = f"{type(exc).__name__}: {exc}"
                log.warning("source plugin %r (%s) failed to load: %s", ep.name, ep.value, exc)
                continue
            if not (isinstance(loaded, type) and issubclass(loaded, Source)):
                broken[ep.name] = f"{ep.value} is not a mentionwatch Source subclass"
                log.warning("source plugin %r: %s", ep.name, broken[ep.name])
                continue
            sources[ep.name] = loaded
        return cls(sources, broken)

    def get(self, type_name: str) -> type[Source] | None:
        return self._sources.get(type_name)

    def names(self) -> list[str]:
        return sorted(self._sources)

    def items(self) -> list[tuple[str, type[Source]]]:
        return sorted(self._sources.items())

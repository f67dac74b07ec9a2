"""Finds source adapters through the `mentionwatch.sources` entry points; built-ins register the same way."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from mentionwatch.source import Source

log = logging.getLogger(__name__)

SOURCES_GROUP = "mentionwatch.sources"


def load_plugins(
    group: str | Iterable[EntryPoint], kind: str, refuse: Callable[[Any], str | None]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Every entry point of `group` (a group name, or the entry points themselves), loaded. One that fails to
    load, or that `refuse` rejects (it returns the reason), is logged and listed as broken: a broken plugin
    must not take the built-ins down with it."""
    loaded_by_name: dict[str, Any] = {}
    broken: dict[str, str] = {}
    for ep in entry_points(group=group) if isinstance(group, str) else group:
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
    """The installed source adapters by type name. Passed in, never global, so tests can hand in fakes.

    Adapters found through entry points are imported when first asked for: a scan of RSS feeds does not
    import the other eleven adapters (20 ms of its start-up)."""

    def __init__(
        self,
        sources: Mapping[str, type[Source]],
        broken: Mapping[str, str] | None = None,
        *,
        unloaded: Mapping[str, EntryPoint] | None = None,
    ) -> None:
        self._sources = dict(sources)
        self.broken = dict(broken or {})
        self._unloaded = dict(unloaded or {})

    @classmethod
    def from_entry_points(cls, group: str = SOURCES_GROUP) -> Registry:
        found: dict[str, EntryPoint] = {}
        for ep in entry_points(group=group):
            found[ep.name] = ep
        return cls({}, unloaded=found)

    def get(self, type_name: str) -> type[Source] | None:
        ep = self._unloaded.pop(type_name, None)
        if ep is not None:
            self._load(ep)
        return self._sources.get(type_name)

    def names(self) -> list[str]:
        return sorted({*self._sources, *self._unloaded})

    def items(self) -> list[tuple[str, type[Source]]]:
        for name in list(self._unloaded):
            self.get(name)
        return sorted(self._sources.items())

    def _load(self, ep: EntryPoint) -> None:
        loaded, broken = load_plugins([ep], "source", _refuse_non_source)
        self._sources.update(loaded)
        self.broken.update(broken)


def _refuse_non_source(loaded: Any) -> str | None:
    ok = isinstance(loaded, type) and issubclass(loaded, Source)
    return None if ok else "is not a mentionwatch Source subclass"

"""Finds source adapters through the `mentionwatch.sources` entry points; built-ins register the same way."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from typing import Any

from mentionwatch.entrypoints import load_plugins
from mentionwatch.source import Source

log = logging.getLogger(__name__)

SOURCES_GROUP = "mentionwatch.sources"


class Registry:
    """The installed source adapters by type name. Passed in, never global, so tests can hand in fakes.

    Adapters found through entry points are imported when first asked for: a scan of RSS feeds does not
    import the other eleven adapters (20 ms of its start-up)."""

    def __init__(
        self,
        sources: Mapping[str, type[Source[Any]]],
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

    def get(self, type_name: str) -> type[Source[Any]] | None:
        ep = self._unloaded.pop(type_name, None)
        if ep is not None:
            self._load(ep)
        return self._sources.get(type_name)

    def names(self) -> list[str]:
        return sorted({*self._sources, *self._unloaded})

    def items(self) -> list[tuple[str, type[Source[Any]]]]:
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


def catalog(registry: Registry, configured: Mapping[str, list[str]]) -> list[dict[str, Any]]:
    """Every installed source: its options and their defaults, whether it needs credentials, whether it
    searches or reads, and which configured sources use it (`mentionwatch sources`)."""
    from pydantic_core import PydanticUndefined

    rows: list[dict[str, Any]] = []
    for type_name, cls in registry.items():
        options = {}
        for field_name, info in cls.Config.model_fields.items():
            if field_name == "type":
                continue
            default = None if info.default is PydanticUndefined else info.default
            if info.default_factory is not None:
                default = info.default_factory()  # type: ignore[call-arg,unused-ignore]
            options[field_name] = {"default": default, "help": info.description or ""}
        rows.append(
            {
                "type": type_name,
                "about": _about(cls),
                "credentials": cls.credentials,
                "searchable": cls.searchable,
                "configured": list(configured.get(type_name, [])),
                "options": options,
            }
        )
    return rows


def _about(cls: type[Source[Any]]) -> str:
    """What a source is, in one line: its docstring's first paragraph, its lines joined (a first line alone
    stops mid-sentence: "...comments and replies under its")."""
    import inspect

    doc = inspect.cleandoc(cls.__doc__ or "")
    return " ".join(doc.split("\n\n", 1)[0].split())

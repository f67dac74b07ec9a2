"""The one way plugins are loaded: every entry point of a group, each failure named, none fatal.

Sources (`mentionwatch.sources`) and sentiment scorers (`mentionwatch.scorers`) both come through here; the
built-ins are registered in the same groups as third-party plugins (pyproject.toml), so there is one discovery
path. Its own module, below everything that loads plugins, so that scoring need not import the source registry.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from importlib.metadata import EntryPoint, entry_points
from typing import Any

log = logging.getLogger(__name__)


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

"""Changing the user's config file in place: their comments, order and layout kept (ruamel.yaml's round trip).

Used by `mentionwatch ignore`, which adds an exclusion to a brand so the noise never comes back.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

from mentionwatch.errors import UsageError
from mentionwatch.output import atomic_file

# What `ignore` can add, and the brand key it goes under.
EXCLUSION_KEYS = {"author": "exclude_authors", "domain": "exclude_domains", "term": "exclude"}


def add_exclusion(path: Path, brand: str, what: str, value: str) -> bool:
    """Add `value` to the brand's exclusion list for `what` (author, domain, term) in the config at `path`.
    Returns False when it was there already. The file is rewritten atomically, keeping its mode."""
    from ruamel.yaml import YAML
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    yaml = YAML()  # round-trip mode: comments, key order, quoting and flow style survive
    yaml.preserve_quotes = True
    try:
        data = yaml.load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the config: {exc.strerror}") from None
    brands = data.get("brands") if isinstance(data, dict) else None
    entry = next(
        (b for b in brands or [] if isinstance(b, dict) and str(b.get("name", "")).casefold() == brand.casefold()),
        None,
    )
    if entry is None:
        raise UsageError(f"--brand {brand}: no brand of that name in {path}")
    key = EXCLUSION_KEYS[what]
    current: Any = entry.get(key)
    if isinstance(current, str):  # a scalar where a list belongs: it is a list of one
        current = CommentedSeq([current])
        entry[key] = current
    if current is None:
        current = CommentedSeq()
        if isinstance(entry, CommentedMap):
            # Right after the brand's matching keys, where a person would write it.
            anchor = next((k for k in ("exclude", "terms", "query", "name") if k in entry), None)
            position = list(entry).index(anchor) + 1 if anchor else len(entry)
            entry.insert(position, key, current)
        else:
            entry[key] = current
    if any(str(v).casefold() == value.casefold() for v in current):
        return False
    current.append(value)
    buffer = io.StringIO()
    yaml.dump(data, buffer)
    with atomic_file(path) as out:
        out.write(buffer.getvalue())
    return True

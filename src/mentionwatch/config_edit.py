"""Changing the user's config file in place: only the lines of the change are touched.

Used by `mentionwatch ignore`, which adds an exclusion to a brand so the noise never comes back. The edit is made
on the text, at the positions PyYAML's parser gives each node: a round trip through a YAML library lays the whole
file out again (ruamel.yaml gives every list in the file one indentation, drops anchors no alias uses and wraps
long flow lines), where a person who keeps their config by hand expects the one line they asked for.

Before the file is replaced the result is checked twice: it must read as the same data but for the value added
(so a list that other brands share through a YAML anchor or `<<:` changes for this brand only), and it must load
as a valid config. An edit that fails either is refused with the reason, the file untouched.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml
from pydantic import ValidationError
from yaml.constructor import SafeConstructor

from mentionwatch.config import BrandConfig, Config, load_config
from mentionwatch.errors import ConfigError, OutputError, UsageError
from mentionwatch.output import atomic_file
from mentionwatch.registry import Registry
from mentionwatch.yamlload import load_yaml

# What `ignore` can add, and the brand key it goes under.
EXCLUSION_KEYS = {"author": "exclude_authors", "domain": "exclude_domains", "term": "exclude"}
# A new key goes after the first of these the brand has: with its other exclusions, else after what it matches.
_NEIGHBOURS = ("exclude_domains", "exclude_authors", "exclude", "terms", "query", "name")
_MERGE_TAG = "tag:yaml.org,2002:merge"
_TAB_BEFORE_COMMENT = re.compile(r"\t(?=[ \t]*#)")


@dataclass(frozen=True)
class Exclusion:
    """One rule `ignore` was given: what it is, its value as the config reads it, and whether it was new."""

    what: str  # author, domain, term
    value: str  # a domain as its bare host (the loader's own reading of it)
    added: bool  # False: the brand had it already


def add_exclusions(config: Config, brand: str, rules: dict[str, str], registry: Registry) -> list[Exclusion]:
    """Add each of `rules` (what -> value) to `brand`'s exclusion lists in the file `config` was loaded from.

    A value the loader would refuse is refused here, before anything is written. The file is rewritten once,
    atomically and keeping its mode, and only when the whole edited config still loads."""
    path = config.path
    index = next(i for i, b in enumerate(config.brands) if b.name == brand)
    done = [_checked(config.brands[index], what, value) for what, value in rules.items()]
    try:
        with path.open(encoding="utf-8", newline="") as file:  # line ends as they are: CRLF stays CRLF
            text = file.read()
    except (OSError, UnicodeDecodeError) as exc:
        raise UsageError(f"{path}: cannot read the config: {getattr(exc, 'strerror', None) or exc}") from None
    edited = text
    for rule in done:
        if rule.added:
            edited = _add(path, edited, index, EXCLUSION_KEYS[rule.what], rule.value, brand)
    if edited != text:
        _check_loads(path, edited, registry)
        with atomic_file(path, newline="") as out:
            out.write(edited)
    return done


def _checked(brand: BrandConfig, what: str, value: str) -> Exclusion:
    """`value` read by the loader's own rules for the key (a URL's host for a domain), or the loader's reason."""
    key = EXCLUSION_KEYS[what]
    if what == "domain" and "://" in value:
        # A URL names its host ("a URL is written as its host"), its port included in no domain rule.
        with contextlib.suppress(ValueError):
            value = urlsplit(value.strip()).hostname or value
    try:
        read = BrandConfig.model_validate({"name": brand.name, "terms": ["-"], key: [value]})
    except ValidationError as exc:
        reason = str(exc.errors()[0]["msg"]).removeprefix("Value error, ")
        raise UsageError(f"--{what}: {reason}; nothing was changed") from None
    value = getattr(read, key)[0]
    had = any(v.casefold() == value.casefold() for v in getattr(brand, key))
    return Exclusion(what, value, not had)


def _add(path: Path, text: str, index: int, key: str, value: str, brand: str) -> str:
    """The config's text with `value` added to `key` of brand number `index`, and nothing else changed."""
    raw = value.replace("${", "$${")  # written as the loader reads it: `$${` is a literal `${`
    doc = _Document(path, text)
    target = doc.brand(index)
    edits = doc.add_to(target, key, raw)
    # A brand that takes this brand's entries with `<<:` must keep the list it had, in its own words.
    for other in doc.mappings():
        if other is not target and doc.owner(other, key, assume=target) is target:
            edits.append(doc.insert_key(other, key, doc.items(doc.owner(other, key), key)))
    edited = _apply(text, edits)

    expected = _plain(doc.data, key)
    entry = expected["brands"][index]
    before = entry.get(key)
    entry[key] = [*([] if before is None else before if isinstance(before, list) else [before]), raw]
    if _plain(load_yaml(path, edited)[1], key) != expected:
        raise UsageError(
            f"{path}: cannot add {value!r} to {brand}'s `{key}` without changing other entries that share it "
            f"(a YAML anchor or `<<:`): add it by hand; the file is unchanged"
        )
    return edited


@dataclass(frozen=True)
class _Edit:
    start: int
    end: int
    text: str


def _apply(text: str, edits: list[_Edit]) -> str:
    out, at = [], 0
    for edit in sorted(edits, key=lambda e: (e.start, e.end)):
        if edit.start < at:  # two edits of one span: never written half-right
            raise UsageError("cannot make this edit: two changes overlap; add the rule by hand")
        out += [text[at : edit.start], edit.text]
        at = edit.end
    return "".join([*out, text[at:]])


class _Composer(yaml.SafeLoader):
    """PyYAML's composer, noting where each alias is written and each anchor's name: the node tree has one
    node for all of a node's uses, and the text of each use is where an edit may have to go."""

    def __init__(self, text: str) -> None:
        super().__init__(text)
        self.uses: dict[tuple[int, int], tuple[int, int]] = {}  # (parent, slot) -> the alias's span
        self.first_use: dict[int, tuple[int, int]] = {}  # node -> the span of the first alias of it
        self.names: dict[int, str] = {}  # node -> its anchor (`anchors` is the composer's own)

    def compose_node(self, parent: yaml.Node | None, index: Any) -> yaml.Node | None:
        event = self.peek_event()  # type: ignore[no-untyped-call]
        node: yaml.Node | None = super().compose_node(parent, index)
        if node is None:
            return None
        if isinstance(event, yaml.AliasEvent) and event.start_mark and event.end_mark:
            span = (event.start_mark.index, event.end_mark.index)
            self.uses[_slot(parent, index)] = span
            self.first_use.setdefault(id(node), span)
        elif getattr(event, "anchor", None):
            self.names[id(node)] = event.anchor
        return node


def _slot(parent: yaml.Node | None, index: Any) -> tuple[int, int]:
    """A place a node is used: its parent, and its position (a list's index, or a mapping's key node)."""
    return id(parent), index if isinstance(index, int) else id(index)


class _Document:
    """A config's text, its data and its node tree, with the edits that add to one of its lists."""

    def __init__(self, path: Path, text: str) -> None:
        self.path = path
        self.text = text
        self.newline = "\r\n" if "\r\n" in text else "\n"
        _, self.data = load_yaml(path, text)  # the loader's limits and messages first
        # The loader reads with libyaml, which takes a tab before a comment (`name: Acme\t# HQ`); the node positions
        # come from PyYAML's own parser, which refuses it. A space for such a tab keeps every position where it is.
        composer = _Composer(_TAB_BEFORE_COMMENT.sub(" ", text))
        try:
            self.root = composer.get_single_node()
        except yaml.YAMLError as exc:  # what libyaml read and PyYAML does not: no traceback, nothing changed
            where = getattr(exc, "problem_mark", None)
            line = f":{where.line + 1}" if where is not None else ""
            raise UsageError(
                f"{path}{line}: cannot edit this file in place ({getattr(exc, 'problem', None) or exc}): add the rule"
                " by hand; nothing was changed"
            ) from None
        finally:
            composer.dispose()
        self.uses, self.first_use, self.anchors = composer.uses, composer.first_use, composer.names

    def brand(self, index: int) -> yaml.MappingNode:
        found = _entry(self.root, "brands") if isinstance(self.root, yaml.MappingNode) else None
        node = found[1].value[index] if found and isinstance(found[1], yaml.SequenceNode) else None
        if not isinstance(node, yaml.MappingNode) or self.uses.get(_slot(found[1] if found else None, index)):
            raise UsageError(f"{self.path}: brands[{index}] is not written as a mapping of its own: edit it by hand")
        return node

    def mappings(self) -> list[yaml.MappingNode]:
        """Every mapping in the document, once each (an alias is not another mapping)."""
        seen: dict[int, yaml.Node] = {}
        stack = [self.root] if self.root is not None else []
        while stack:
            node = stack.pop()
            if id(node) in seen:
                continue
            seen[id(node)] = node
            if isinstance(node, yaml.SequenceNode):
                stack += node.value
            elif isinstance(node, yaml.MappingNode):
                stack += [part for pair in node.value for part in pair]
        return [n for n in seen.values() if isinstance(n, yaml.MappingNode)]

    def owner(
        self, mapping: yaml.MappingNode | None, key: str, assume: yaml.MappingNode | None = None
    ) -> yaml.MappingNode | None:
        """The mapping whose own `key` is the one `mapping` has, itself or through `<<:` (the first merged wins,
        as PyYAML reads it); `assume` counts as having `key` of its own."""
        if mapping is None or mapping is assume or _entry(mapping, key) is not None:
            return mapping
        for merged in _merged(mapping):
            found = self.owner(merged, key, assume)
            if found is not None:
                return found
        return None

    def items(self, mapping: yaml.MappingNode | None, key: str) -> list[str]:
        """The strings of `mapping`'s own `key`."""
        entry = _entry(mapping, key) if mapping is not None else None
        return [] if entry is None else self.strings(entry[1], key)

    def strings(self, node: yaml.Node, key: str) -> list[str]:
        """A list's strings, as the loader reads it: a scalar where a list belongs is a list of one, a null none."""
        values = [_construct(v) for v in (node.value if isinstance(node, yaml.SequenceNode) else [node])]
        if not isinstance(node, yaml.SequenceNode) and values == [None]:
            return []
        strings = [v for v in values if isinstance(v, str)]
        if len(strings) != len(values):
            raise UsageError(f"{self.path}:{node.start_mark.line + 1}: `{key}` is not a list of text: edit it by hand")
        return strings

    def add_to(self, target: yaml.MappingNode, key: str, raw: str) -> list[_Edit]:
        """The edits that give `target` `raw` in its own `key` list, leaving every other use of that list as it is."""
        entry = _entry(target, key)
        if entry is None:  # a new key: with a copy of what `<<:` gave the brand, if anything
            return [self.insert_key(target, key, [*self.items(self.owner(target, key), key), raw])]
        key_node, node = entry
        alias = self.uses.get(_slot(target, key_node))
        if alias is not None:  # another's list, used here through an alias: this brand gets a copy of its own
            return [_Edit(*alias, _flow([*self.items(target, key), raw]))]
        edits = []
        anchor, used = self.anchors.get(id(node)), self.first_use.get(id(node))
        if anchor and used:  # aliases use this list: they keep it as it was, written out where the first one is
            edits.append(_Edit(*used, f"&{anchor} {self._flow_node(node, key)}"))
        if isinstance(node, yaml.SequenceNode):
            if anchor and used:
                edits.append(self._drop_anchor(node, anchor))
            return [*edits, self._append(node, raw)]
        # A scalar (or nothing) where a list belongs: it becomes a list, keeping an anchor no alias uses.
        start, end = node.start_mark.index, node.end_mark.index
        keep = f"&{anchor} " if anchor and not used else ""
        space = " " if self.text[start - 1 : start] == ":" else ""
        return [*edits, _Edit(start, end, f"{space}{keep}{_flow([*self.items(target, key), raw])}")]

    def insert_key(self, mapping: yaml.MappingNode, key: str, items: list[str]) -> _Edit:
        """A new `key: [items]` entry in `mapping`, after its matching keys (or its last entry)."""
        own = {k.value: (k, v) for k, v in mapping.value if isinstance(k, yaml.ScalarNode)}
        key_node, value = next((own[k] for k in _NEIGHBOURS if k in own), mapping.value[-1])
        end = self._end(mapping, key_node, value)
        entry = f"{key}: {_flow(items)}"
        if mapping.flow_style:
            return _Edit(end, end, f", {entry}")
        return self._line_after(end, " " * key_node.start_mark.column + entry)

    def _append(self, seq: yaml.SequenceNode, raw: str) -> _Edit:
        if seq.flow_style:
            if not seq.value:  # `[]`: the value goes before the closing bracket
                close = seq.end_mark.index - 1
                return _Edit(close, close, _scalar(raw, flow=True))
            end = self._end(seq, len(seq.value) - 1, seq.value[-1])
            return _Edit(end, end, f", {_scalar(raw, flow=True)}")
        # A block list: a new `- item` line after the last, indented as that one is.
        last = len(seq.value) - 1
        start = self.uses.get(_slot(seq, last), (seq.value[last].start_mark.index, 0))[0]
        prefix = self.text[self.text.rfind("\n", 0, start) + 1 : start]
        if not re.fullmatch(r"[ \t]*-[ \t]+", prefix):
            raise UsageError(f"{self.path}:{seq.start_mark.line + 1}: an unusual list layout: add the rule by hand")
        return self._line_after(self._end(seq, last, seq.value[last]), prefix + _scalar(raw, flow=False))

    def _end(self, parent: yaml.Node, index: Any, node: yaml.Node) -> int:
        """Where a value's text ends: an alias's own end; a block collection's last item's (PyYAML ends the
        collection at the next token, past comments and blank lines)."""
        alias = self.uses.get(_slot(parent, index))
        if alias is not None:
            return alias[1]
        if isinstance(node, yaml.SequenceNode) and not node.flow_style and node.value:
            return self._end(node, len(node.value) - 1, node.value[-1])
        if isinstance(node, yaml.MappingNode) and not node.flow_style and node.value:
            return self._end(node, node.value[-1][0], node.value[-1][1])
        return int(node.end_mark.index)

    def _line_after(self, end: int, line: str) -> _Edit:
        """`line` on a line of its own after the line `end` is on (its comment stays where it is)."""
        if end > 0 and self.text[end - 1] == "\n":  # a block scalar ends at the start of the next line
            return _Edit(end, end, line + self.newline)
        eol = self.text.find("\n", end)
        if eol == -1:  # the last line, with no line end
            return _Edit(len(self.text), len(self.text), self.newline + line)
        return _Edit(eol + 1, eol + 1, line + self.newline)

    def _drop_anchor(self, node: yaml.Node, anchor: str) -> _Edit:
        """`&anchor` taken off `node` (it moves to the node's first alias), with the space it leaves."""
        start = self.text.index(f"&{anchor}", node.start_mark.index)
        end = start + 1 + len(anchor)
        after = len(self.text) - len(self.text[end:].lstrip(" \t")) if end < len(self.text) else end
        if after < len(self.text) and self.text[after] not in "\r\n":
            return _Edit(start, after, "")  # `&a [x]` -> `[x]`
        return _Edit(len(self.text[:start].rstrip(" \t")), end, "")  # `key: &a` + newline -> `key:`

    def _flow_node(self, node: yaml.Node, key: str) -> str:
        """A list or string node written on one line: the copy of it that stands where its first alias was."""
        if isinstance(node, yaml.SequenceNode):
            return _flow(self.strings(node, key))
        value = _construct(node)
        if not isinstance(value, str):
            raise UsageError(f"{self.path}:{node.start_mark.line + 1}: `{key}` is shared in a way to edit by hand")
        return _scalar(value, flow=True)


def _entry(mapping: yaml.Node, key: str) -> tuple[yaml.Node, yaml.Node] | None:
    """`mapping`'s own entry for `key` (not one it merges)."""
    for k, v in mapping.value if isinstance(mapping, yaml.MappingNode) else ():
        if isinstance(k, yaml.ScalarNode) and k.tag != _MERGE_TAG and k.value == key:
            return k, v
    return None


def _merged(mapping: yaml.MappingNode) -> list[yaml.MappingNode]:
    """The mappings `mapping` takes entries from with `<<:`, the winning one first (PyYAML's order: of two
    `<<:` keys the later wins; in `<<: [*a, *b]` the first)."""
    found: list[yaml.MappingNode] = []
    for key, value in mapping.value:
        if isinstance(key, yaml.ScalarNode) and key.tag == _MERGE_TAG:
            found[:0] = [n for n in (value.value if isinstance(value, yaml.SequenceNode) else [value])]
    return [n for n in found if isinstance(n, yaml.MappingNode)]


def _construct(node: yaml.Node) -> Any:
    """A scalar's value as the loader reads it; anything else as the node (not a string: refused by the caller)."""
    if not isinstance(node, yaml.ScalarNode):
        return node
    return SafeConstructor().construct_object(node)


def _flow(items: list[str]) -> str:
    return "[" + ", ".join(_scalar(v, flow=True) for v in items) + "]"


def _scalar(value: str, *, flow: bool) -> str:
    """`value` as YAML: plain when it reads back as the same text where it goes (in `[...]` or after `- `), else
    double-quoted, every character that does not print escaped (a line break, an escape code)."""
    plain = f"[{value}]" if flow else f"- {value}"
    try:
        if value.isprintable() and value == value.strip() and yaml.safe_load(plain) == [value]:
            return value
    except yaml.YAMLError:
        pass
    quoted = json.dumps(value, ensure_ascii=False)  # JSON's escapes are YAML's
    return "".join(c if c.isprintable() else f"\\U{ord(c):08x}" for c in quoted)


def _plain(data: Any, key: str) -> Any:
    """The data with every alias written out (a list two brands share becomes two equal lists, so a change to
    one of them shows), and without empty `key` lists: no list and an empty one read the same."""
    if isinstance(data, dict):
        return {k: _plain(v, key) for k, v in data.items() if not (k == key and v in (None, []))}
    if isinstance(data, list):
        return [_plain(v, key) for v in data]
    return data


def _check_loads(path: Path, text: str, registry: Registry) -> None:
    """Load the edited config as `check` would, from a file beside the original (its relative paths resolve the
    same); refuse the edit with the loader's reasons when it does not load."""
    try:
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".check")
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    temp = Path(name)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as out:
            out.write(text)
        load_config(temp, registry, unset_env_ok=True)
    except ConfigError as exc:
        problems = [p.replace(str(temp), str(path)) for p in exc.problems]
        raise ConfigError([f"{path}: not changed: with the rule added it would not load:", *problems]) from None
    except OSError as exc:
        raise OutputError(f"cannot write {path}: {exc.strerror or exc}") from None
    finally:
        temp.unlink(missing_ok=True)

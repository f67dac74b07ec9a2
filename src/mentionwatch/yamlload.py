"""Plain YAML, read defensively: the config's YAML layer, every problem as `file:line: ...`.

`yaml.SafeLoader` builds no Python object from a tag, but on its own it still
- expands aliases without limit: nine levels of `&a [*b, *b, ...]` stand for a billion values (the
  "billion laughs" attack), and walking them took `check` past a minute and 1.5 GB;
- recurses once per nesting level: 20,000 `[` end in a raw RecursionError;
- lets a repeated key replace the first one silently (`brands:` twice keeps only the second list);
- raises plain ValueError for a scalar it resolved to a bad timestamp (`2026-02-30`);
- reads a key as YAML 1.1 resolves it: `on:` and `yes:` are the boolean true, `1:` a number.
`load_yaml` refuses the first four with the line (and the key), says what an indentation error probably means,
and reads every plain key as the text written: a config's keys are names.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.composer import Composer, ComposerError
from yaml.constructor import ConstructorError, SafeConstructor
from yaml.resolver import Resolver

from mentionwatch.errors import ConfigError

# A real config is 5 levels deep (top > sources > [i] > urls > [j]); 64 leaves room for any plugin's options
# and stays far from Python's recursion limit in the composer, the validators and pydantic.
MAX_DEPTH = 64
# Values aliases may add to the document. Reusing a list of terms in a few brands adds hundreds.
MAX_ALIAS_VALUES = 100_000

_MERGE_TAG = "tag:yaml.org,2002:merge"
_STR_TAG = "tag:yaml.org,2002:str"
# What YAML 1.1 resolves a plain scalar to besides text; as a key, each is read as the text written.
_NOT_TEXT_TAGS = frozenset(
    f"tag:yaml.org,2002:{kind}" for kind in ("bool", "int", "float", "null", "timestamp", "value")
)


@dataclass(frozen=True)
class _Alias:
    target: yaml.Node
    line: int
    depth: int  # levels above the alias


class _Composing:
    """What both loaders add to PyYAML's: composing stops at MAX_DEPTH, each alias's use is noted, and a
    scalar's construction error becomes a YAML error with a line."""

    depth = 0
    # Every alias in document order: the node it stands for, its line, and how deep it is used.
    aliases: list[_Alias]

    def compose_node(self, parent: yaml.Node | None, index: int) -> yaml.Node | None:
        event: yaml.Event = self.peek_event()  # type: ignore[attr-defined]  # the parser's, beside this
        if self.depth >= MAX_DEPTH:
            mark = event.start_mark if isinstance(event.start_mark, yaml.error.Mark) else None
            raise ComposerError(None, None, f"nested more than {MAX_DEPTH} levels deep", mark)
        self.depth += 1
        try:
            node: yaml.Node | None = super().compose_node(parent, index)  # type: ignore[misc]  # the composer's, beside this
        finally:
            self.depth -= 1
        if isinstance(event, yaml.AliasEvent) and node is not None and event.start_mark is not None:
            self.aliases.append(_Alias(node, event.start_mark.line + 1, self.depth))
        return node

    def construct_object(self, node: yaml.Node, deep: bool = False) -> Any:
        try:
            return super().construct_object(node, deep)  # type: ignore[misc]  # the constructor's, beside this
        except yaml.YAMLError:
            raise
        except Exception as exc:
            # PyYAML's constructors raise whatever they hit on a scalar that does not fit its tag: `2026-02-30`
            # resolves to a timestamp, then ValueError; `!!timestamp x` gives AttributeError; `!!int x` ValueError.
            text = repr(node.value) if isinstance(node, yaml.ScalarNode) else "this value"
            kind = node.tag.rsplit(":", 1)[-1]
            detail = f": {exc}" if isinstance(exc, ValueError) else ""
            raise _BadScalar(f"cannot read {text} as a {kind}{detail}", node) from None


class _BadScalar(ConstructorError):
    """A scalar that does not fit its tag, with its node: the message names the key it is the value of."""

    def __init__(self, problem: str, node: yaml.Node) -> None:
        super().__init__(None, None, problem, node.start_mark)
        self.node = node


class _Loader(_Composing, yaml.SafeLoader):
    """SafeLoader (plain YAML only: a `!!python/...` tag is an error), pure Python: it says what is wrong."""

    def __init__(self, text: str) -> None:
        yaml.SafeLoader.__init__(self, text)
        self.aliases = []


try:  # libyaml's parser, when PyYAML was built with it (its wheels are)
    from yaml._yaml import CParser
except ImportError:  # pragma: no cover
    _fast_loader: Callable[[str], Any] | None = None  # a loader such as `_Loader`, over libyaml
else:

    class _FastLoader(_Composing, Composer, CParser, SafeConstructor, Resolver):
        """The same loader over libyaml's scanner and parser (1 ms for a config of 200 feeds, where PyYAML's own
        take 14): the composer (and its limits) and the constructor are still PyYAML's, so the nodes, their lines
        and the data are the same (tested on every YAML file of the project)."""

        def __init__(self, text: str) -> None:
            CParser.__init__(self, text)
            Composer.__init__(self)
            SafeConstructor.__init__(self)
            Resolver.__init__(self)
            self.aliases = []

    _fast_loader = _FastLoader


def load_yaml(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    """The document's node tree (for line numbers) and its data. Raises ConfigError naming file and line."""
    if _fast_loader is not None:
        try:
            return _load(path, text, _fast_loader(text))
        except Exception:  # whatever is wrong is said by the pure-Python loader, as it always was
            pass
    return _load_pure(path, text)


def _load_pure(path: Path, text: str) -> tuple[yaml.Node | None, Any]:
    try:
        loader = _Loader(text)  # the reader checks every character here, before any parsing
    except yaml.reader.ReaderError as exc:  # a NUL or another character YAML does not allow: a position, no mark
        line = text.count("\n", 0, exc.position) + 1
        char = f"U+{exc.character:04X}" if isinstance(exc.character, int) else repr(exc.character)
        problem = f"character {char} is not allowed in YAML ({exc.reason})"
        raise ConfigError([f"{path}:{line}: {problem}"]) from None
    return _load(path, text, loader)


def _load(path: Path, text: str, loader: _Loader) -> tuple[yaml.Node | None, Any]:
    root: yaml.Node | None = None
    try:
        root = loader.get_single_node()
        if root is not None:
            _keys_as_text(root)
            problems = _check_graph(path, root, loader.aliases) or _duplicate_keys(path, root)
            if problems:
                raise ConfigError(problems)
        data = loader.construct_document(root) if root is not None else None
    except _BadScalar as exc:
        loc = _path_to(root, exc.node) if root is not None else None
        where = f"{format_loc(loc)}: " if loc else ""
        raise ConfigError([f"{path}:{exc.node.start_mark.line + 1}: {where}{exc.problem}"]) from None
    except yaml.MarkedYAMLError as exc:
        raise ConfigError([_describe_yaml_error(path, text, exc)]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    finally:
        loader.dispose()
    return root, data


def _children(node: yaml.Node) -> list[yaml.Node]:
    if isinstance(node, yaml.SequenceNode):
        return list(node.value)
    if isinstance(node, yaml.MappingNode):
        return [part for pair in node.value for part in pair]
    return []


def _keys_as_text(root: yaml.Node) -> None:
    """Every plain key is the text written: YAML 1.1 reads `on:` as true and `1:` as a number, which no key of a
    config is (a `1: x` would be "Keys should be strings" on line 1, `notify: {on: ...}` keyed by True)."""
    seen: set[int] = set()
    stack = [root]
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        if isinstance(node, yaml.MappingNode):
            for key, _value in node.value:
                if isinstance(key, yaml.ScalarNode) and key.tag in _NOT_TEXT_TAGS:
                    key.tag = _STR_TAG
        stack.extend(_children(node))


def _walk(root: yaml.Node) -> Iterator[tuple[yaml.Node, tuple[str | int, ...]]]:
    """Each distinct node of the document once, in document order, with its key path (its first place, when
    aliases put it in several)."""
    seen: set[int] = set()
    stack: list[tuple[yaml.Node, tuple[str | int, ...]]] = [(root, ())]
    while stack:
        node, loc = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        yield node, loc
        if isinstance(node, yaml.SequenceNode):
            stack.extend((item, (*loc, i)) for i, item in reversed(list(enumerate(node.value))))
        elif isinstance(node, yaml.MappingNode):
            for key, value in reversed(node.value):
                stack.append((value, (*loc, key.value if isinstance(key, yaml.ScalarNode) else "?")))


def _path_to(root: yaml.Node, target: yaml.Node) -> tuple[str | int, ...] | None:
    """The key path of `target` in the document (its first place, when aliases put it in several)."""
    return next((loc for node, loc in _walk(root) if node is target), None)


def _check_graph(path: Path, root: yaml.Node, aliases: list[_Alias]) -> list[str]:
    """Refuse an alias inside the node it names (a loop), and aliases that expand past the limits.

    One walk over the distinct nodes (iterative: an alias chain may be longer than the recursion limit) gives
    each node its size and depth with every alias expanded; aliases share nodes, so the walk stays linear
    in the file however large the expansion.
    """
    size: dict[int, int] = {}
    depth: dict[int, int] = {}
    on_path: set[int] = set()
    stack: list[tuple[yaml.Node, bool]] = [(root, False)]
    while stack:
        node, done = stack.pop()
        key = id(node)
        if done:
            kids = _children(node)
            size[key] = 1 + sum(size[id(k)] for k in kids)
            depth[key] = 1 + max((depth[id(k)] for k in kids), default=0)
            on_path.discard(key)
            continue
        if key in size:
            continue
        on_path.add(key)
        stack.append((node, True))
        for kid in _children(node):
            if id(kid) in on_path:
                line = next((a.line for a in aliases if a.target is kid), kid.start_mark.line + 1)
                return [f"{path}:{line}: this alias refers to a node that contains it (a loop YAML cannot end)"]
            if id(kid) not in size:
                stack.append((kid, False))
    added = 0
    for alias in aliases:
        if alias.depth + depth[id(alias.target)] > MAX_DEPTH:
            return [f"{path}:{alias.line}: nested more than {MAX_DEPTH} levels deep once this alias is expanded"]
        added += size[id(alias.target)]
        if added > MAX_ALIAS_VALUES:
            return [
                f"{path}:{alias.line}: aliases expand to more than {MAX_ALIAS_VALUES:,} values "
                f"(an alias of an alias of ...: write the values out instead)"
            ]
    return []


def _duplicate_keys(path: Path, root: yaml.Node) -> list[str]:
    """Every key written twice in one mapping: YAML keeps the last silently, so the first would be lost."""
    out: list[str] = []
    for node, loc in _walk(root):
        if not isinstance(node, yaml.MappingNode):
            continue
        first: dict[tuple[str, str], int] = {}
        for key, _value in node.value:
            # A merge key (`<<: *defaults`) may be overridden by design; only plain keys are compared.
            if isinstance(key, yaml.ScalarNode) and key.tag != _MERGE_TAG:
                ident = (key.tag, key.value)
                line = key.start_mark.line + 1
                if ident in first:
                    out.append(
                        f"{path}:{line}: {format_loc((*loc, key.value))}: duplicate key (also on line "
                        f"{first[ident]}): YAML would keep only this one; merge the two"
                    )
                else:
                    first[ident] = line
    return sorted(out, key=_line_of)


def _line_of(message: str) -> int:
    found = re.search(r":(\d+): ", message)
    return int(found.group(1)) if found else 0


# Hints for the errors a mis-indented line gives (PyYAML's own words are about tokens, not about indents).
_INDENT_ERRORS = (
    "expected <block end>",
    "expected '<document start>'",
    "did not find expected key",
    "did not find expected '-' indicator",
)
_INDENT_HINT = (
    "the indentation of this line does not match the lines above: keys of one mapping, and the `-` items "
    "of one list, must start in the same column; did you mix indents, or tabs and spaces?"
)


def _describe_yaml_error(path: Path, text: str, exc: yaml.MarkedYAMLError) -> str:
    mark = exc.problem_mark or exc.context_mark
    problem = exc.problem or str(exc)
    if exc.context and not exc.context.startswith("while ") and exc.context_mark is not None:
        # "found duplicate anchor 'a'; first occurrence" / "second occurrence": the context is the message.
        problem = f"{exc.context} (line {exc.context_mark.line + 1}), {problem}"
    if mark is None:
        return f"{path}: {problem}"
    lines = text.splitlines() or [""]
    number = min(mark.line, len(lines) - 1)
    here = lines[number]
    hint = ""
    if "python/" in str(exc):
        hint = "only plain YAML is allowed; tags that build Python objects are refused"
    elif "'\\t'" in problem:
        hint = "did you indent this line with a tab? YAML indents with spaces only"
    elif "${" in here and ("found" in problem or "expected" in problem):
        hint = 'quote values that contain ${VAR}: "...${VAR}..."'
    elif any(p in problem for p in _INDENT_ERRORS) or problem == "mapping values are not allowed here":
        hint = _indent_hint(lines, number, problem)
    return f"{path}:{mark.line + 1}: {problem}" + (f" ({hint})" if hint else "")


def _indent_hint(lines: list[str], number: int, problem: str) -> str:
    """Why a line broke the block structure: a tab, an indent that matches nothing above, or a `key: a: b`."""
    if any("\t" in line[: len(line) - len(line.lstrip())] for line in lines[: number + 1]):
        return "a line above or this one is indented with a tab: YAML indents with spaces only"
    if problem == "mapping values are not allowed here":
        previous = next((line for line in reversed(lines[:number]) if line.strip()), "")
        if _indent(lines[number]) <= _indent(previous) or previous.rstrip().endswith(":"):
            return 'a value that holds ": " must be quoted: key: "a: b"'
        return "this line is indented more than the key above it: keys of one mapping start in the same column"
    return _INDENT_HINT


def _indent(line: str) -> int:
    """The column a line's content starts at; a list item's `- ` counts as indentation, as for its keys."""
    return len(line) - len(line.lstrip(" -"))


def format_loc(loc: tuple[Any, ...]) -> str:
    """A key path as the config's reader writes it: `sources[2].urls[0]`; an odd key quoted: `http['a b']`."""
    out = ""
    for part in loc:
        if isinstance(part, int) and not isinstance(part, bool):
            out += f"[{part}]"
        elif isinstance(part, str) and re.fullmatch(r"[A-Za-z_][\w-]*", part, re.ASCII):
            out += f".{part}" if out else part
        else:  # repr: a key holding a line break or an escape code must not break the one-line message
            out += f"[{part!r}]"
    return out or "(top level)"

"""The boolean query language of a brand's `query:`: its tokenizer, parser and syntax tree.

Syntax (Brandwatch / Talkwalker style):

    acme OR "acme cloud"                  either
    acme AND (outage OR down)             both; parentheses group
    acme NOT coyote                       `a NOT b` is `a AND NOT b`
    acme*                                 prefix: acme, acmecloud, acme's (a trailing `*` only)
    acme NEAR/3 outage                    at most 3 words between them, in either order
    (acme OR acmecorp) NEAR/5 "is down"   NEAR takes words, phrases or (a OR b) groups
    acme -site:acme.io                    `site:` / `-site:` test the host of the mention's own URL
                                          (they need no AND: `acme -site:x` is `acme AND NOT site:x`)

Precedence, tightest first: NEAR, NOT, AND, OR. Operators are upper case; two words with no operator between
them are an error (quote them to mean a phrase). Its own module so that config can validate a query without
importing the matcher; `matching` evaluates the tree.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

_WORD = re.compile(r"\w+")


class QuerySyntaxError(ValueError):
    """A query that does not parse; `column` is 1-based in the query text."""

    def __init__(self, message: str, column: int) -> None:
        self.message = message
        self.column = column
        super().__init__(f"column {column}: {message}")


@dataclass(frozen=True)
class Word:
    """A word, a "quoted phrase", or a trailing-`*` prefix."""

    text: str
    column: int
    phrase: bool = False
    prefix: bool = False

    def render(self) -> str:
        if self.phrase:
            return f'"{self.text}"'
        return f"{self.text}*" if self.prefix else self.text


@dataclass(frozen=True)
class Site:
    """`site:acme.io`: true when the mention's own URL is on that host or a subdomain of it."""

    domain: str
    column: int

    def render(self) -> str:
        return f"site:{self.domain}"


@dataclass(frozen=True)
class Not:
    child: Node
    column: int = 0

    def render(self) -> str:
        return f"NOT {_wrap(self.child, (Word, Site, Near, Not))}"


@dataclass(frozen=True)
class And:
    children: tuple[Node, ...]

    def render(self) -> str:
        return " AND ".join(_wrap(c, (Word, Site, Near, Not, And)) for c in self.children)


@dataclass(frozen=True)
class Or:
    children: tuple[Node, ...]

    def render(self) -> str:
        return " OR ".join(c.render() for c in self.children)


@dataclass(frozen=True)
class Near:
    left: Node
    right: Node
    distance: int

    def render(self) -> str:
        return f"{_wrap(self.left, (Word,))} NEAR/{self.distance} {_wrap(self.right, (Word,))}"


Node = Word | Site | Not | And | Or | Near


def _wrap(node: Node, bare: tuple[type, ...]) -> str:
    text = node.render()
    return text if isinstance(node, bare) else f"({text})"


@dataclass(frozen=True)
class _Token:
    kind: str  # ( ) AND OR NOT NEAR WORD PHRASE SITE END
    text: str
    column: int
    value: Any = None


_NEAR = re.compile(r"NEAR/(\d+)")
_SITE = re.compile(r"(-?)site:(.*)", re.IGNORECASE)
_DOMAIN = re.compile(r"^[\w-]+(\.[\w-]+)*$")


def _tokenize(query: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(query)
    while i < n:
        ch = query[i]
        col = i + 1
        if ch.isspace():
            i += 1
        elif ch in "()":
            tokens.append(_Token(ch, ch, col))
            i += 1
        elif ch == '"':
            end = query.find('"', i + 1)
            if end < 0:
                raise QuerySyntaxError('this quote is never closed: add the closing "', col)
            phrase = " ".join(query[i + 1 : end].split())
            if not phrase:
                raise QuerySyntaxError('an empty phrase "" matches nothing', col)
            tokens.append(_Token("PHRASE", query[i : end + 1], col, phrase))
            i = end + 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in '()"':
                j += 1
            tokens.append(_bare_token(query[i:j], col))
            i = j
    tokens.append(_Token("END", "", n + 1))
    return tokens


def _bare_token(text: str, col: int) -> _Token:
    if text in ("AND", "OR", "NOT"):
        return _Token(text, text, col)
    if text.upper().startswith("NEAR/") or text == "NEAR":
        near = _NEAR.fullmatch(text)
        if near is None:
            raise QuerySyntaxError(f"{text!r}: write NEAR/n with the number of words, e.g. NEAR/3", col)
        return _Token("NEAR", text, col, int(near.group(1)))
    site = _SITE.fullmatch(text)
    if site is not None:
        domain = site.group(2).strip().lower().removeprefix("www.")
        if not _DOMAIN.match(domain):
            raise QuerySyntaxError(f"{text!r}: site: needs a domain, e.g. site:example.com", col)
        return _Token("SITE", text, col, (domain, bool(site.group(1))))
    star = text.find("*")
    if star >= 0 and star != len(text) - 1:
        raise QuerySyntaxError(f"{text!r}: a wildcard * may only end a word (acme*)", col + star)
    if star >= 0 and (len(text) < 3 or not _WORD.search(text[:-1])):
        raise QuerySyntaxError(f"{text!r}: a wildcard needs at least two letters before the *", col)
    return _Token("WORD", text, col)


class _Parser:
    """Recursive descent. or := and (OR and)*; and := not ((AND | NOT) not)*; not := NOT not | near;
    near := primary (NEAR/n primary)*; primary := ( or ) | word | "phrase" | site:x."""

    def __init__(self, query: str) -> None:
        self.tokens = _tokenize(query)
        self.pos = 0

    @property
    def tok(self) -> _Token:
        return self.tokens[self.pos]

    def take(self) -> _Token:
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def parse(self) -> Node:
        if self.tok.kind == "END":
            raise QuerySyntaxError("the query is empty", 1)
        node = self.parse_or()
        if self.tok.kind == ")":
            raise QuerySyntaxError("this ) has no matching (", self.tok.column)
        if self.tok.kind != "END":
            raise self.missing_operator()
        return node

    def missing_operator(self) -> QuerySyntaxError:
        tok = self.tok
        hint = ""
        if (tok.kind == "WORD" and tok.text.lower() in ("and", "or", "not")) or tok.text.lower().startswith("near/"):
            hint = f"; operators are upper case ({tok.text.upper()})"
        elif tok.kind in ("WORD", "PHRASE"):
            prev = self.tokens[self.pos - 1]
            if prev.kind == "WORD" and tok.kind == "WORD":
                hint = f'; to match the phrase, quote it: "{prev.text} {tok.text}"'
        return QuerySyntaxError(f"expected AND, OR, NOT or NEAR/n before {tok.text!r}{hint}", tok.column)

    def parse_or(self) -> Node:
        children = [self.parse_and()]
        while self.tok.kind == "OR":
            self.take()
            children.append(self.parse_and())
        return children[0] if len(children) == 1 else Or(tuple(children))

    def parse_and(self) -> Node:
        children = [self.parse_not()]
        while self.tok.kind in ("AND", "NOT", "SITE"):
            if self.tok.kind == "SITE":  # `acme -site:x` and `acme site:x`, as search engines write them
                children.append(self.parse_primary())
                continue
            op = self.take()
            if op.kind == "NOT":  # `a NOT b` is `a AND NOT b`
                children.append(Not(self.parse_not(), op.column))
            else:
                children.append(self.parse_not())
        return children[0] if len(children) == 1 else And(tuple(children))

    def parse_not(self) -> Node:
        if self.tok.kind == "NOT":
            op = self.take()
            return Not(self.parse_not(), op.column)
        return self.parse_near()

    def parse_near(self) -> Node:
        left = self.parse_primary()
        while self.tok.kind == "NEAR":
            op = self.take()
            _check_near_operand(left, op)
            right = self.parse_primary()
            _check_near_operand(right, op)
            left = Near(left, right, int(op.value))
        return left

    def parse_primary(self) -> Node:
        tok = self.take()
        if tok.kind == "(":
            if self.tok.kind == ")":
                raise QuerySyntaxError("empty parentheses ()", tok.column)
            inner = self.parse_or()
            if self.tok.kind != ")":
                if self.tok.kind == "END":
                    raise QuerySyntaxError("this ( is never closed: add a )", tok.column)
                raise self.missing_operator()
            self.take()
            return inner
        if tok.kind == "WORD":
            prefix = tok.text.endswith("*")
            return Word(tok.text[:-1] if prefix else tok.text, tok.column, prefix=prefix)
        if tok.kind == "PHRASE":
            return Word(str(tok.value), tok.column, phrase=True)
        if tok.kind == "SITE":
            domain, negated = tok.value
            site = Site(domain, tok.column)
            return Not(site, tok.column) if negated else site
        if tok.kind == "END":
            raise QuerySyntaxError("expected a word, a phrase or ( but the query ended", tok.column)
        raise QuerySyntaxError(f"expected a word, a phrase or ( before {tok.text!r}", tok.column)


def _check_near_operand(node: Node, op: _Token) -> None:
    if isinstance(node, Word) or (isinstance(node, Or) and all(isinstance(c, Word) for c in node.children)):
        return
    raise QuerySyntaxError(f"{op.text} needs words, phrases or (a OR b) groups on both sides", op.column)


def _needs_a_word(node: Node) -> bool:
    """True when the node can only hold if some positive word is found (NOT and site: alone cannot)."""
    if isinstance(node, (Word, Near)):
        return True
    if isinstance(node, And):
        return any(_needs_a_word(c) for c in node.children)
    if isinstance(node, Or):
        return all(_needs_a_word(c) for c in node.children)
    return False


def parse_query(query: str) -> Node:
    """Parse a brand query; raises QuerySyntaxError with the 1-based column of the problem."""
    node = _Parser(query).parse()
    if not _needs_a_word(node):
        branch = next((c for c in node.children if not _needs_a_word(c)), node) if isinstance(node, Or) else node
        raise QuerySyntaxError(
            f"{branch.render()!r} would match almost everything: every alternative needs a word or phrase "
            "that is not under NOT (a site: filter goes with a word: acme site:example.com)",
            _first_column(branch),
        )
    return node


def _first_column(node: Node) -> int:
    if isinstance(node, (Word, Site)):
        return node.column
    if isinstance(node, Not):
        return node.column or _first_column(node.child)
    if isinstance(node, Near):
        return _first_column(node.left)
    return _first_column(node.children[0])


def query_words(node: Node, *, negated: bool = False) -> Iterable[tuple[Word, bool]]:
    """Every word of a query, with whether it sits under a NOT."""
    if isinstance(node, Word):
        yield node, negated
    elif isinstance(node, Not):
        yield from query_words(node.child, negated=not negated)
    elif isinstance(node, Near):
        yield from query_words(node.left, negated=negated)
        yield from query_words(node.right, negated=negated)
    elif isinstance(node, (And, Or)):
        for child in node.children:
            yield from query_words(child, negated=negated)

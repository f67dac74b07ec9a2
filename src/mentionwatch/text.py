"""Turning HTML and markup from the internet into clean plain text."""

from __future__ import annotations

import html
import re
from html.parser import HTMLParser

_BLOCK = frozenset(
    {"p", "br", "div", "li", "ul", "ol", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "blockquote", "pre", "hr"}
)
_SKIP = frozenset({"script", "style", "head", "title", "template", "noscript"})
_SPACES = re.compile(r"[ \t\f\v\u00a0]+")
_NEWLINES = re.compile(r"\s*\n\s*")
URL = re.compile(r"https?://\S+|www\.\S+", re.IGNORECASE)
# Invisible format characters: zero-width space, non-joiner and joiner, word joiner and its kin, the BOM, the
# Mongolian vowel separator, the soft hyphen, and the bidi marks and overrides. Inside a word they hide its real
# spelling from a reader (`a\u200bcme` shows as "acme"), so matching and the terminal both drop them.
INVISIBLE = dict.fromkeys(
    map(
        ord,
        "\u00ad\u180e\u200b\u200c\u200d\u200e\u200f\u2060\u2061\u2062\u2063\u2064\ufeff"
        "\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069",
    )
)
# ANSI/VT escape sequences: CSI (ESC [ ... final), OSC (ESC ] ... BEL or ST), other ESC sequences,
# and their 8-bit C1 forms (CSI = U+009B, OSC = U+009D).
ESCAPES = re.compile(
    r"(?:\x1b\[|\x9b)[0-?]*[ -/]*[@-~]"
    r"|(?:\x1b\]|\x9d).*?(?:\x07|\x1b\\|\x9c|$)"
    r"|\x1b[PX^_].*?(?:\x1b\\|\x9c|$)"
    r"|\x1b[ -/]*[0-~]?",
    re.DOTALL,
)
# `(?<!\w)@[\w.]+`, written with the `@` first so that a search jumps from one `@` to the next (the look-behind
# then checks the character before the `@`): seven times faster, the same matches.
HANDLE = re.compile(r"@(?<!\w@)[\w.]+")


class _TextExtractor(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self._skipping = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP:
            self._skipping += 1
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP:
            self._skipping = max(0, self._skipping - 1)
        elif tag in _BLOCK:
            self.parts.append("\n")

    def handle_data(self, data: str) -> None:
        if not self._skipping:
            self.parts.append(data)


def html_to_text(markup: str | None) -> str:
    """Plain text from an HTML fragment: tags dropped, entities decoded, whitespace tidied."""
    if not markup:
        return ""
    if "<" not in markup:
        return normalize_space(html.unescape(markup))
    parser = _TextExtractor()
    parser.feed(markup)
    parser.close()
    return normalize_space("".join(parser.parts))


# GitHub (and Lemmy) bodies are Markdown with inline HTML. No renderer is pulled in: the obvious syntax is stripped,
# code is kept verbatim, and anything unusual is left as the author typed it. Honest plain text, not a renderer.

_FENCED = re.compile(r"^[ \t]{0,3}(`{3,}|~{3,})[^\n]*\n(.*?)^[ \t]{0,3}\1[ \t]*$", re.MULTILINE | re.DOTALL)
_INLINE_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_ESCAPED = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~<])")
_HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
_IMAGE = re.compile(r"!\[([^\]]*)\]\((?:[^()]|\([^)]*\))*\)")
_LINK_INLINE = re.compile(r"\[([^\]]+)\]\((?:[^()]|\([^)]*\))*\)")
_LINK_REFERENCE = re.compile(r"\[([^\]]+)\]\[[^\]]*\]")
_LINK_DEFINITION = re.compile(r"^[ \t]{0,3}\[[^\]]+\]:[ \t]*\S+.*$", re.MULTILINE)
_AUTOLINK = re.compile(r"<((?:https?|mailto):[^>\s]+)>", re.IGNORECASE)
_BLOCK_TAG = re.compile(
    r"</?(?:p|br|div|li|ul|ol|h[1-6]|details|summary|table|tr|blockquote|pre|hr)\b[^<>]*>", re.IGNORECASE
)
_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_HEADING = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+|$)", re.MULTILINE)
_RULE = re.compile(r"^[ \t]{0,3}(?:(?:[-*_][ \t]*){3,}|=+)[ \t]*$", re.MULTILINE)
_QUOTE = re.compile(r"^(?:[ \t]{0,3}>[ \t]?)+", re.MULTILINE)
_LIST_ITEM = re.compile(r"^[ \t]*(?:[-*+]|\d{1,9}[.)])[ \t]+(?:\[[ xX]\][ \t]+)?", re.MULTILINE)
_TABLE_RULE = re.compile(r"^[ \t]*\|?(?:[ \t]*:?-{3,}:?[ \t]*\|)+(?:[ \t]*:?-{3,}:?[ \t]*)?\|?[ \t]*$", re.MULTILINE)
_STRONG = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1", re.DOTALL)
_EM_STAR = re.compile(r"(?<![\w*])\*(?=\S)(.+?)(?<=\S)\*(?![\w*])", re.DOTALL)
_EM_UNDERSCORE = re.compile(r"(?<![\w_])_(?=\S)(.+?)(?<=\S)_(?![\w_])", re.DOTALL)
_STRIKE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~", re.DOTALL)
_PLACEHOLDER = re.compile("\x00(\\d+)\x00")


def markdown_to_text(markdown: str | None) -> str:
    """Plain text from Markdown: markup stripped, link and image text kept, code kept verbatim."""
    if not markdown:
        return ""
    kept: list[str] = []

    def keep(value: str) -> str:
        kept.append(value)
        return f"\x00{len(kept) - 1}\x00"

    text = markdown.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n")
    # Code first, so nothing inside it is read as markup; then backslash escapes, which are literal characters.
    text = _FENCED.sub(lambda m: keep(m.group(2).rstrip("\n")), text)
    text = _INLINE_CODE.sub(lambda m: keep(m.group(2).strip()), text)
    text = _ESCAPED.sub(lambda m: keep(m.group(1)), text)
    text = _HTML_COMMENT.sub("", text)  # issue templates are full of <!-- instructions -->
    text = _IMAGE.sub(r"\1", text)
    text = _LINK_INLINE.sub(r"\1", text)
    text = _LINK_REFERENCE.sub(r"\1", text)
    text = _LINK_DEFINITION.sub("", text)
    text = _AUTOLINK.sub(r"\1", text)
    text = _BLOCK_TAG.sub("\n", text)
    text = _TAG.sub("", text)
    text = _TABLE_RULE.sub("", text)
    text = _RULE.sub("", text)
    text = _HEADING.sub("", text)
    text = _QUOTE.sub("", text)
    text = _LIST_ITEM.sub("", text)
    text = "\n".join(line.replace("|", " ") if line.lstrip().startswith("|") else line for line in text.split("\n"))
    text = _STRONG.sub(r"\2", text)
    text = _STRIKE.sub(r"\1", text)
    text = _EM_STAR.sub(r"\1", text)
    text = _EM_UNDERSCORE.sub(r"\1", text)
    text = html.unescape(text)
    text = _PLACEHOLDER.sub(lambda m: kept[int(m.group(1))], text)
    return normalize_space(text)


# Each regex below costs microseconds on a post even when it has nothing to replace; the `in` tests that skip
# them when they cannot match (every match needs that character or string) cost nanoseconds. Every post of a
# scan goes through here at least once.


def normalize_space(text: str) -> str:
    if "  " in text or "\t" in text or "\f" in text or "\v" in text or "\u00a0" in text:
        text = _SPACES.sub(" ", text)  # otherwise every match is one space, replaced by one space
    if "\n" in text:
        text = _NEWLINES.sub("\n", text)
    return text.strip()


def might_hold_url(text: str) -> bool:
    """False when `URL` cannot match: it needs `://` or `www.` (in any case; no other letter folds to w)."""
    return "://" in text or "www." in text.lower()


def strip_urls_and_handles(text: str) -> str:
    """Text for sentiment: URLs and @handles carry no opinion and confuse lexicon scorers."""
    if might_hold_url(text):
        text = URL.sub(" ", text)
    if "@" in text:
        text = HANDLE.sub(" ", text)
    return normalize_space(text)


def excerpt(text: str, width: int = 160) -> str:
    flat = " ".join(text.split())
    return flat if len(flat) <= width else flat[: width - 1].rstrip() + "…"

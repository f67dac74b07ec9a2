"""Keeps secrets (tokens, keys, passwords from the config or the environment) out of everything that leaves the
process: messages, logs, tracebacks, the health file and `--record` bundles.

A secret seldom travels as it was configured. It goes out URL-encoded in a query string or a form body,
JSON-escaped in a login body, base64-encoded inside an `Authorization: Basic` header (Reddit's
`base64(client_id:client_secret)`, a URL's user-info), and an API that echoes the request in its error answer
hands any of those forms back, sometimes one inside another (a query string in a JSON answer in an HTML
page). A `Redactor` knows each secret in all of those forms, computed once (nothing is encoded per call) and
found in one pass over a text; it also masks what is a credential by its shape (a Basic or Bearer credential, a
URL's user-info, a `?token=` style query parameter) even when nobody configured it.
"""

from __future__ import annotations

import base64
import binascii
import html
import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

import ahocorasick

MASK = "****"
# Shorter values are not treated as secrets: masking every "abc" in a text would mangle it.
MIN_SECRET = 4
# Base64 of shorter values is too short to find without masking random base64 elsewhere.
MIN_BASE64_SECRET = 8

_URLSAFE = str.maketrans("+/", "-_")
_PERCENT = re.compile(r"%[0-9A-F]{2}")
_UNICODE_ESCAPE = re.compile(r"\\u[0-9a-f]{4}")
# What a URL written out whole leaves unencoded, by component (WHATWG URL Standard, "percent-encode sets"):
# a secret in a configured URL (`?token=${TOKEN}`) is sent encoded this way, not as `quote` would.
_QUERY_KEEPS = "".join(chr(i) for i in range(0x21, 0x7F) if chr(i) not in '"#<>')
_PATH_KEEPS = "".join(c for c in _QUERY_KEEPS if c not in "?`{}")
_USERINFO_KEEPS = "".join(c for c in _PATH_KEEPS if c not in "/:;=@[\\]^|")

# Credentials recognised by their shape. A Basic credential is base64 of `user:password` (RFC 7617), so it is
# masked when it decodes to that (or holds a known secret, already masked); a Bearer token is opaque, so it
# must at least look like one (a digit in 16+ characters: "Bearer authentication" in prose is left alone).
_BASIC = re.compile(r"\b([Bb][Aa][Ss][Ii][Cc]\s+)([A-Za-z0-9+/*]{4,}={0,2})")
_BEARER = re.compile(r"\b([Bb][Ee][Aa][Rr][Ee][Rr]\s+)([A-Za-z0-9._~+/-]+=*)")
# Anchored on "://", a literal the regex engine searches for fast (a 1 MB body is scanned in a millisecond).
_USERINFO = re.compile(r"://[^\s/?#@:\"'<>]*:[^\s/?#@\"'<>]*@")
_QUERY_SECRET = re.compile(
    r"([?&;](?:api[_-]?key|apikey|key|token|access_token|auth|password|passwd|secret|client_secret|sig|signature)=)"
    r"[^&#\s\"'<>]+",
    re.IGNORECASE,
)


def _url_encoded(text: str) -> set[str]:
    forms: set[str] = set()
    for keeps in ("", "/", _QUERY_KEEPS, _PATH_KEEPS, _USERINFO_KEEPS):
        for encoded in (quote(text, safe=keeps), quote_plus(text, safe=keeps)):
            forms.update((encoded, _PERCENT.sub(lambda m: m.group(0).lower(), encoded)))
    return forms


def _json_escaped(text: str) -> set[str]:
    forms: set[str] = set()
    for ascii_only in (True, False):
        escaped = json.dumps(text, ensure_ascii=ascii_only)[1:-1]
        go = escaped.replace("<", "\\u003c").replace(">", "\\u003e").replace("&", "\\u0026")
        for form in (escaped, go):
            upper = _UNICODE_ESCAPE.sub(lambda m: "\\u" + m.group(0)[2:].upper(), form)
            forms.update((form, form.replace("/", "\\/"), upper))
    return forms


def _html_escaped(text: str) -> set[str]:
    escaped = html.escape(text)
    return {escaped, escaped.replace("&#x27;", "&#39;"), html.escape(text, quote=False)}


_ENCODINGS = (_url_encoded, _json_escaped, _html_escaped)


def secret_forms(secret: str) -> set[str]:
    """Every form in which `secret` may be found in a text.

    Raw; URL-encoded (a query parameter, a form field, a path, a URL written out whole; upper or lower case
    hex); JSON-escaped (`\\uXXXX` or not, in upper or lower case, `\\/` or not, `<>&` escaped as Go does);
    HTML-escaped; two of those in turn (an echoed query string inside a JSON answer, a JSON answer inside an
    HTML error page); and base64, standard and URL-safe, wherever it sits in a longer encoded string, of the
    secret and of each of its single encodings (an echoed request line base64-encoded), twice for the raw
    secret (an echoed `Authorization: Basic` header, base64-encoded again)."""
    once = {secret}.union(*(encode(secret) for encode in _ENCODINGS))
    twice = once.union(*(encode(form) for form in once for encode in _ENCODINGS))
    inner = base64_forms(secret.encode("utf-8"))
    encoded = set().union(*(base64_forms(form.encode("utf-8")) for form in once | inner))
    return {form for form in twice | inner | encoded if len(form) >= MIN_SECRET}


def base64_forms(data: bytes) -> set[str]:
    """The base64 text `data` becomes, wherever it sits in a longer encoded byte string.

    Base64 turns 3 bytes into 4 characters, so the same bytes encode three ways depending on their offset
    (mod 3) in what is encoded: `base64("id:" + secret)` does not contain `base64(secret)`. For each offset
    this is the run of characters made of the secret's bits alone (the edge characters share bits with the
    neighbouring bytes and are left out), so a secret is found inside any encoded credential.
    """
    if len(data) < MIN_BASE64_SECRET:
        whole = base64.b64encode(data).decode("ascii")
        return {whole, whole.rstrip("="), whole.translate(_URLSAFE)} if len(data) >= MIN_SECRET else set()
    forms: set[str] = set()
    for offset in range(3):
        encoded = base64.b64encode(bytes(offset) + data + bytes(3)).decode("ascii")
        # Character i holds bits [6i, 6i + 6); the secret's bits are [8 * offset, 8 * (offset + len)).
        first = -(-8 * offset // 6)
        last = 8 * (offset + len(data)) // 6
        core = encoded[first:last]
        forms.update((core, core.translate(_URLSAFE)))
    return forms


def _mask_basic(match: re.Match[str]) -> str:
    value = match.group(2)
    if MASK in value:  # a known secret was found in it: the rest of it is the same credential
        return match.group(1) + MASK
    try:
        decoded = base64.b64decode(value + "=" * (-len(value) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return match.group(1) + MASK if b":" in decoded else match.group(0)


def _mask_bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    return match.group(1) + MASK if len(token) >= 16 and any(c.isdigit() for c in token) else match.group(0)


def mask_credential_shapes(text: str) -> str:
    """Masks what is a credential by its shape, whoever configured it: Basic and Bearer credentials, the
    user-info of URLs, and the values of query parameters named like keys, tokens, passwords or signatures."""
    # Cheap substring tests first: the regular expressions cost milliseconds on a large body.
    if "asic" in text or "ASIC" in text:
        text = _BASIC.sub(_mask_basic, text)
    if "earer" in text or "EARER" in text:
        text = _BEARER.sub(_mask_bearer, text)
    if "@" in text:
        text = _USERINFO.sub(f"://{MASK}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return text


class Redactor:
    """Replaces every known secret, in every form it may take (`secret_forms`), and every credential
    recognisable by its shape, with a mask.

    One redactor serves a whole run: the CLI makes it, adds the config's secrets, and hands it to logging,
    the error and health output, and the recorder. The forms (a few for a plain token, a few hundred for one
    full of characters that every encoding changes) are computed once, on first use, into one Aho-Corasick
    automaton: a text is scanned once, whatever their number.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._text: ahocorasick.Automaton | None = None
        self._bytes: ahocorasick.Automaton | None = None
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if s and len(s) >= MIN_SECRET} - self._secrets
        if new:
            self._secrets |= new
            self._text = self._bytes = None  # made again on next use

    def __call__(self, text: str) -> str:
        if self._secrets:
            if self._text is None:
                self._text = _automaton(set().union(*(secret_forms(s) for s in self._secrets)))
            text = _mask_matches(text, self._text)
        return mask_credential_shapes(text)

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for bytes in any encoding (a recorded body): secrets are matched as their UTF-8 bytes,
        credential shapes as ASCII."""
        # Latin-1 maps every byte to one character and back: other bytes pass through unchanged.
        text = data.decode("latin-1")
        if self._secrets:
            if self._bytes is None:
                forms = set().union(*(secret_forms(s) for s in self._secrets))
                self._bytes = _automaton({f.encode("utf-8").decode("latin-1") for f in forms})
            text = _mask_matches(text, self._bytes)
        return mask_credential_shapes(text).encode("latin-1")

    def redact_data(self, value: Any) -> Any:
        """A JSON-able structure (the health report, a recorded exchange) with every string in it, keys
        included, redacted."""
        if isinstance(value, str):
            return self(value)
        if isinstance(value, dict):
            return {self(k) if isinstance(k, str) else k: self.redact_data(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [self.redact_data(v) for v in value]
        return value


def _automaton(forms: set[str]) -> ahocorasick.Automaton:
    automaton = ahocorasick.Automaton()
    for form in forms:
        automaton.add_word(form, len(form))
    automaton.make_automaton()
    return automaton


def _mask_matches(text: str, automaton: ahocorasick.Automaton) -> str:
    """`text` with every stretch covered by matches (overlapping ones merged) replaced by one mask."""
    spans = sorted((end + 1 - length, end + 1) for end, length in automaton.iter(text))
    if not spans:
        return text
    merged = [list(spans[0])]
    for start, end in spans[1:]:
        if start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    parts: list[str] = []
    at = 0
    for start, end in merged:
        parts += (text[at:start], MASK)
        at = end
    parts.append(text[at:])
    return "".join(parts)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message, arguments included."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.redactor(record.getMessage())
        record.args = None
        if record.exc_info:
            # Format the traceback now, so that it is redacted too (handlers format it after filters).
            record.exc_text = logging.Formatter().formatException(record.exc_info)
            record.exc_info = None
        if record.exc_text:
            record.exc_text = self.redactor(record.exc_text)
        return True

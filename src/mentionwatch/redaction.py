"""Keeps secrets (tokens, keys, passwords from the config or the environment) out of everything that leaves the
process: messages, logs, tracebacks, the health file and `--record` bundles.

A secret seldom travels as it was configured. It goes out URL-encoded in a query string or a form body,
JSON-escaped in a login body, base64-encoded inside an `Authorization: Basic` header (Reddit's
`base64(client_id:client_secret)`, a URL's user-info), and an API that echoes the request in its error answer
hands any of those forms back. A `Redactor` knows each secret in all of those forms, computed once when the
secret is added (nothing is encoded per call), and it also masks what is a credential by its shape (a Basic or
Bearer credential, a URL's user-info, a `?token=` style query parameter) even when it is not a configured one.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import re
from collections.abc import Iterable
from typing import Any
from urllib.parse import quote, quote_plus

MASK = "****"
# Shorter values are not treated as secrets: masking every "abc" in a text would mangle it.
MIN_SECRET = 4
# Base64 of shorter values is too short to find without masking random base64 elsewhere.
MIN_BASE64_SECRET = 8

_URLSAFE = str.maketrans("+/", "-_")
_PERCENT = re.compile(r"%[0-9A-F]{2}")

# Credentials recognised by their shape. A Basic credential is base64 of `user:password` (RFC 7617), so it is
# masked only when it decodes to that; a Bearer token is opaque, so it must at least look like one (a digit in
# 16+ characters: "Bearer authentication" in prose is left alone).
_BASIC = re.compile(r"\b([Bb][Aa][Ss][Ii][Cc]\s+)([A-Za-z0-9+/]{4,}={0,2})")
_BEARER = re.compile(r"\b([Bb][Ee][Aa][Rr][Ee][Rr]\s+)([A-Za-z0-9._~+/-]+=*)")
_USERINFO = re.compile(r"\b([A-Za-z][A-Za-z0-9+.-]*://)[^\s/?#@:\"'<>]*:[^\s/?#@\"'<>]*@")
_QUERY_SECRET = re.compile(
    r"([?&;](?:api[_-]?key|apikey|key|token|access_token|auth|password|passwd|secret|client_secret|sig|signature)=)"
    r"[^&#\s\"'<>]+",
    re.IGNORECASE,
)


def secret_forms(secret: str) -> set[str]:
    """Every form in which `secret` may be found in a text: raw, URL-encoded (as a query parameter, a form
    field or a path, with upper or lower case hex), JSON-escaped (`\\uXXXX` or not, `\\/` or not) and base64
    (standard and URL-safe, wherever it sits in a longer encoded string)."""
    forms = {secret}
    for encoded in (quote(secret, safe=""), quote_plus(secret, safe=""), quote(secret)):
        forms.add(encoded)
        forms.add(_PERCENT.sub(lambda m: m.group(0).lower(), encoded))
    for ascii_only in (True, False):
        escaped = json.dumps(secret, ensure_ascii=ascii_only)[1:-1]
        forms.update((escaped, escaped.replace("/", "\\/")))
    forms.update(base64_forms(secret.encode("utf-8")))
    return {form for form in forms if len(form) >= MIN_SECRET}


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
    try:
        decoded = base64.b64decode(match.group(2) + "=" * (-len(match.group(2)) % 4), validate=True)
    except (binascii.Error, ValueError):
        return match.group(0)
    return match.group(1) + MASK if b":" in decoded else match.group(0)


def _mask_bearer(match: re.Match[str]) -> str:
    token = match.group(2)
    return match.group(1) + MASK if len(token) >= 16 and any(c.isdigit() for c in token) else match.group(0)


def mask_credential_shapes(text: str) -> str:
    """Masks what is a credential by its shape, whoever configured it: Basic and Bearer credentials, the
    user-info of URLs, and the values of query parameters named like keys, tokens, passwords or signatures."""
    lowered = text.lower()
    if "basic" in lowered:
        text = _BASIC.sub(_mask_basic, text)
    if "bearer" in lowered:
        text = _BEARER.sub(_mask_bearer, text)
    if "://" in text:
        text = _USERINFO.sub(lambda m: f"{m.group(1)}{MASK}@", text)
    if "=" in text:
        text = _QUERY_SECRET.sub(lambda m: m.group(1) + MASK, text)
    return text


class Redactor:
    """Replaces every known secret, in every form it may take (`secret_forms`), and every credential
    recognisable by its shape, with a mask.

    One redactor serves a whole run: the CLI makes it, adds the config's secrets, and hands it to logging,
    the error and health output, and the recorder. Forms are computed in `add`, never per call.
    """

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._forms: list[str] = []
        self._byte_forms: list[bytes] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        new = {s for s in secrets if s and len(s) >= MIN_SECRET} - self._secrets
        if not new:
            return
        self._secrets |= new
        forms: set[str] = set()
        for secret in self._secrets:
            forms |= secret_forms(secret)
        # Longest first, so a form that contains another is masked whole.
        self._forms = sorted(forms, key=lambda f: (-len(f), f))
        self._byte_forms = sorted({f.encode("utf-8") for f in forms}, key=lambda f: (-len(f), f))

    def __call__(self, text: str) -> str:
        # Shapes first: a Basic credential is then masked whole, not just the secret's part of it.
        text = mask_credential_shapes(text)
        for form in self._forms:
            if form in text:
                text = text.replace(form, MASK)
        return text

    def redact_bytes(self, data: bytes) -> bytes:
        """The same for bytes in any encoding (a recorded body): secrets are matched as their UTF-8 bytes,
        credential shapes as ASCII."""
        # Latin-1 maps every byte to one character and back: the ASCII patterns apply, other bytes pass as-is.
        data = mask_credential_shapes(data.decode("latin-1")).encode("latin-1")
        mask = MASK.encode("ascii")
        for form in self._byte_forms:
            if form in data:
                data = data.replace(form, mask)
        return data

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

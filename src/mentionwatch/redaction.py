"""Keeps secrets (tokens, keys, passwords from the config or the environment) out of everything printed."""

from __future__ import annotations

import logging
from collections.abc import Iterable

MASK = "****"


class Redactor:
    """Replaces every known secret value in a text with a mask."""

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        # Longest first, so a secret that contains another is masked whole.
        self._secrets = sorted({s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def add(self, secrets: Iterable[str]) -> None:
        self._secrets = sorted(set(self._secrets) | {s for s in secrets if s and len(s) >= 4}, key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            if secret in text:
                text = text.replace(secret, MASK)
        return text

    def __bool__(self) -> bool:
        return bool(self._secrets)


class RedactingFilter(logging.Filter):
    """A logging filter that redacts the formatted message, arguments included."""

    def __init__(self, redactor: Redactor) -> None:
        super().__init__()
        self.redactor = redactor

    def filter(self, record: logging.LogRecord) -> bool:
        if self.redactor:
            record.msg = self.redactor(record.getMessage())
            record.args = None
            if record.exc_info:
                # Format the traceback now, so that it is redacted too (handlers format it after filters).
                record.exc_text = logging.Formatter().formatException(record.exc_info)
                record.exc_info = None
            if record.exc_text:
                record.exc_text = self.redactor(record.exc_text)
        return True

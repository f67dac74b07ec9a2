"""The exception tree. Errors that end a run carry their exit code; fetch errors become source health."""

from __future__ import annotations

from typing import Any


class MentionwatchError(Exception):
    """An error that ends the command with one clear line on stderr."""

    exit_code = 1


class UsageError(MentionwatchError):
    exit_code = 2


class ConfigError(MentionwatchError):
    """A broken config: one problem per line, each naming file, line and key path."""

    exit_code = 2

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("\n".join(problems))


class FetchError(Exception):
    """A source could not deliver. Never raised through the pipeline: recorded as the source's health.

    `response` is the HTTP answer behind the error, when there was one, so an adapter can read a
    service's own error body (Stack Exchange sends every error as HTTP 400 with an `error_id`).
    """

    state = "failed"

    def __init__(self, message: str, response: Any = None) -> None:
        super().__init__(message)
        self.response = response

    @property
    def status(self) -> int | None:
        """The HTTP status behind the error, if there was one."""
        status = getattr(self.response, "status", None)
        return status if isinstance(status, int) else None


class Unauthorized(FetchError):
    """401/403, or a login wall served with 200."""

    state = "unauthorized"


class RateLimited(FetchError):
    state = "rate-limited"


class TimedOut(FetchError):
    state = "timed out"


class TransientError(FetchError):
    """A transport error worth retrying (connection refused or reset, a protocol error)."""

    state = "failed"


class BadPayload(FetchError):
    """The service answered, but not with what its API promises (garbage, truncated, wrong type)."""

    state = "failed"

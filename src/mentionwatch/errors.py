"""The exception tree. Errors that end a run carry their exit code; fetch errors become source health."""

from __future__ import annotations


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
    """A source could not deliver. Never raised through the pipeline: recorded as the source's health."""

    state = "failed"


class Unauthorized(FetchError):
    """401/403, or a login wall served with 200."""

    state = "unauthorized"


class RateLimited(FetchError):
    state = "rate-limited"


class TimedOut(FetchError):
    state = "timed out"


class BadPayload(FetchError):
    """The service answered, but not with what its API promises (garbage, truncated, wrong type)."""

    state = "failed"

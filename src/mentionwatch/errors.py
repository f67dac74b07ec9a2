"""The exception tree and the one table of exit codes it maps to.

    MentionwatchError              ends the command: one clear line per problem on stderr
    ├── UsageError                 2  USAGE          a bad flag or argument, an output path that cannot be used
    ├── ConfigError                2  USAGE          a broken config (file:line: key: message, one per line)
    ├── OutputError                5  WRITE_FAILED   the results could not be written (disk full, I/O error)
    ├── StoreError                 6  STORE          the store cannot be opened or written, or a scan held it too long
    ├── ReplyError                 7  REPLY_FAILED   the platform refused a reply, or whether it was posted is unknown
    └── NotifyFailed               8  NOTIFY_FAILED  a notification was not delivered, even after retries
    FetchError                     -  (never raised through the pipeline: the source's health records it)
    ├── Unauthorized                  401/403, or a login wall served with 200
    ├── RateLimited                   429, or a service's own throttling answer
    ├── TimedOut                      no answer in time
    ├── TransientError                connection refused or reset, protocol errors (retried)
    └── BadPayload                    garbage, truncated, or not what the API promises
    any other exception            1  INTERNAL       a bug: reported with a hint to run with -v

A scan's own outcome adds SOME_FAILED (3), ALL_FAILED (4), INTERRUPTED (130, Ctrl-C) and TERMINATED (143,
SIGTERM); a reader that closed the pipe (`scan | head -1`) ends it quietly with BROKEN_PIPE (141), as a shell
reports a command killed by SIGPIPE. New ways to fail get a row in `ExitCode` and an exception class here, never
a literal in the caller.
"""

from __future__ import annotations

from enum import IntEnum
from typing import Any


class ExitCode(IntEnum):
    """What the process's exit status says. `describe()` gives the help text and README table its lines."""

    OK = 0
    INTERNAL = 1
    USAGE = 2
    SOME_FAILED = 3
    ALL_FAILED = 4
    WRITE_FAILED = 5
    STORE = 6
    REPLY_FAILED = 7
    NOTIFY_FAILED = 8
    INTERRUPTED = 130
    BROKEN_PIPE = 141
    TERMINATED = 143

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "every source answered",
    ExitCode.INTERNAL: "internal error (a bug: please report it with the -v output)",
    ExitCode.USAGE: "bad usage or config",
    ExitCode.SOME_FAILED: "some sources failed (the rest is still printed)",
    ExitCode.ALL_FAILED: "every source failed",
    ExitCode.WRITE_FAILED: "the results could not be written (disk full, I/O error)",
    ExitCode.STORE: "the store could not be used (another scan held it too long, it cannot be opened or written)",
    ExitCode.REPLY_FAILED: "a reply was refused, or whether it was posted is not known yet (reply ID checks)",
    ExitCode.NOTIFY_FAILED: "a notification was not delivered after retries (the scan itself succeeded)",
    ExitCode.INTERRUPTED: "interrupted by Ctrl-C (what was gathered is still printed)",
    ExitCode.BROKEN_PIPE: "the reader closed the pipe (scan | head)",
    ExitCode.TERMINATED: "terminated by SIGTERM (what was gathered is still printed)",
}


def describe_exit_codes() -> str:
    """The exit-code table as one line of help text."""
    return "Exit codes: " + " · ".join(f"{code.value} {code.meaning}" for code in ExitCode if code.value != 1) + "."


class MentionwatchError(Exception):
    """An error that ends the command with one clear line on stderr."""

    exit_code = ExitCode.INTERNAL


class UsageError(MentionwatchError):
    exit_code = ExitCode.USAGE


class OutputError(MentionwatchError):
    """Writing the results failed after the scan (a full disk, an I/O error): nothing half-written is left."""

    exit_code = ExitCode.WRITE_FAILED


class StoreError(MentionwatchError):
    """The store cannot be opened, read or written (a read-only file or database, a lock another process held past
    the wait, a full disk), or another scan held it past `store.lock_timeout`."""

    exit_code = ExitCode.STORE


class ReplyError(MentionwatchError):
    """A reply could not be posted: the platform refused it (nothing was posted), or the request may have reached
    it without an answer (the outbox keeps it pending, and the next `reply` checks the platform before anything
    is sent again)."""

    exit_code = ExitCode.REPLY_FAILED


class NotifyFailed(MentionwatchError):
    """A notification target did not take a message, even after retries. `scan` exits with it only when the scan
    itself succeeded (a failed source's code says more); what was not delivered goes with the next run."""

    exit_code = ExitCode.NOTIFY_FAILED


class ConfigError(MentionwatchError):
    """A broken config: one problem per line, each naming file, line and key path."""

    exit_code = ExitCode.USAGE

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

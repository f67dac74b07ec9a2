"""Sending one message, retried with backoff: the loop every channel goes through.

A channel's `send` raises `SendFailed` saying whether trying again could help (a connection refused, a timeout,
HTTP 429 or 5xx, an SMTP 4xx reply) or not (HTTP 4xx, SMTP 5xx, a certificate that is not trusted). The loop
retries the first kind with exponential backoff and jitter, honouring a server's Retry-After, up to `retries`
more attempts and `max_wait` seconds of waiting in all; then the message counts as failed, and the run says so
(its items stay queued for the next run). The sleep function and the random source are passed in: tests
control time.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Answer:
    """What the receiving end said to a message that went through (`HTTP 200: ok`, `250 2.0.0 queued as X`)."""

    said: str


class SendFailed(Exception):
    """A message did not go through. `retryable`: another attempt could succeed; `retry_after`: seconds the
    server asked to wait."""

    def __init__(self, message: str, *, retryable: bool, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after


@dataclass(frozen=True)
class RetryPolicy:
    retries: int = 3
    max_wait: float = 60.0
    backoff: float = 1.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        # Exponential backoff with "equal jitter" (as http.SourceHttp): never zero, never in lockstep.
        ceiling = self.backoff * 2.0**attempt
        return ceiling / 2 + rng.uniform(0, ceiling / 2)


@dataclass(frozen=True)
class Outcome:
    """How sending went: the answer, or the last error; and how many attempts it took."""

    answer: Answer | None
    error: str | None
    attempts: int

    @property
    def ok(self) -> bool:
        return self.answer is not None


async def deliver(
    send: Callable[[], Awaitable[Answer]],
    policy: RetryPolicy,
    *,
    sleep: Callable[[float], Awaitable[None]],
    rng: random.Random,
) -> Outcome:
    """Call `send` until it answers, retrying what may heal; never raises for a failed send."""
    attempt = 0
    waited = 0.0
    while True:
        try:
            return Outcome(await send(), None, attempt + 1)
        except SendFailed as exc:
            delay = exc.retry_after if exc.retry_after is not None else policy.delay(attempt, rng)
            if not exc.retryable or attempt >= policy.retries or waited + delay > policy.max_wait:
                tries = f" (after {attempt + 1} attempts)" if attempt else ""
                return Outcome(None, f"{exc}{tries}", attempt + 1)
            log.debug("%s; retry %d in %.1fs", exc, attempt + 1, delay)
        attempt += 1
        waited += delay
        await sleep(delay)

"""What each target is sent, and when: the notification state kept in the store, and a run's sending.

For each target, on each `scan --new --notify`:

1. A delivery left `sending` by a run that died between sending it and recording the answer is settled as
   `unknown`: the message may have arrived, so it is not sent again (never twice); it is reported on stderr
   and in `--health`, with how many mentions it held.
2. What the target is owed is queued, each mention once ever, as `new` or `needs_reply`, when it passes the
   filters: for a target's first run, the mentions this scan's `--new` printed; from then on, every mention
   the store first saw since the target's mark (the start of its last run), so mentions recorded by a run that
   died before it notified anyone are queued by the next. The mark moves to this scan (its first-seen time and
   the store's newest mention: first-seen times are whole seconds, and a `--seed` run can share one).
3. Everything queued and not yet sent goes out as one digest (and, with `at_once: [needs_reply]`, the
   mentions that need a reply as a message of their own, first). Before a message goes out its delivery is
   written as `sending` (the idempotency record); after, `sent`, or `failed` with its items queued again for
   the next run.

A crash between the record and the answer is the one case that cannot be told apart from the outside: the
message may or may not have been delivered. mentionwatch chooses never to send twice, says so, and names the
delivery's token (the webhook's `X-Mentionwatch-Delivery`, the email's `Message-ID`) so it can be looked up.

A store can be shared by several configs (the default store, one PostgreSQL database), each with a target of the
same label (an unnamed `type: webhook`). So a target's state is kept under `target_key`: its label, its kind and a
hash of where it sends. Two configs sending to one place share its queue, each item once; each config queues only
its own brands' mentions, from a mark of its own (`mark_key`: the target's key and the config's brands), so one
config moving its mark never skips what another's scan saved and has yet to queue; and a config sends only its own
brands' items. A mark kept under the label alone (before `target_key`) is taken over once by the first run of a
target of that label, then dropped (see `_take_over_label`).
"""

from __future__ import annotations

import asyncio
import hashlib
import random
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import httpx

from mentionwatch.config import (
    Config,
    EmailTarget,
    NotifyConfig,
    NotifyFilter,
    NotifyTarget,
    SlackTarget,
    WebhookTarget,
)
from mentionwatch.models import Mention, format_time
from mentionwatch.notify.delivery import Answer, Outcome, RetryPolicy, SendFailed, deliver
from mentionwatch.notify.digest import Digest, build_digest
from mentionwatch.notify.email import send_email, tls_for
from mentionwatch.notify.slack import send_slack
from mentionwatch.notify.spikes import recent_spikes
from mentionwatch.notify.webhook import send_webhook
from mentionwatch.store import Delivery, Key, MentionStore, NotifyMark, Query, key_of


@dataclass
class Wire:
    """What sending needs, passed in (nothing global): the HTTP client (the house's, with its address guard),
    the SMTP timeout, the clock, the sleep between retries and the random source of their jitter."""

    client: httpx.AsyncClient
    now: Callable[[], datetime]
    timeout: float = 20.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    rng: random.Random = field(default_factory=random.Random)
    # The mail server's TLS context for a target's `ca_file` (None: the public CAs).
    smtp_tls: Callable[[str | None], Any] | None = None


@dataclass
class TargetReport:
    """How one target fared in one run: what `scan` says on stderr and writes under `notifications` in
    `--health`."""

    target: str
    type: str
    state: str = "nothing new"  # sent, failed, nothing new
    messages: int = 0
    mentions: int = 0
    pending: int = 0
    attempts: int = 0
    answer: str | None = None
    error: str | None = None
    # Deliveries an earlier run left half-done: they may have arrived and are not sent again.
    uncertain: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return self.state == "failed"

    def to_dict(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "type": self.type,
            "state": self.state,
            "messages": self.messages,
            "mentions": self.mentions,
            "pending": self.pending,
            "attempts": self.attempts,
            "error": self.error,
            "uncertain": self.uncertain,
        }


@dataclass
class NotifyReport:
    targets: list[TargetReport] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        return any(t.failed for t in self.targets)

    def to_list(self) -> list[dict[str, Any]]:
        return [t.to_dict() for t in self.targets]


def event_of(m: Mention, on: Sequence[str]) -> str | None:
    """What a new mention is sent for: `needs_reply` when it needs one and that is asked for, else `new`."""
    if m.needs_reply and "needs_reply" in on:
        return "needs_reply"
    return "new" if "new" in on else None


def passes(m: Mention, *filters: NotifyFilter | None) -> bool:
    """Whether a mention passes every filter given (a brand's, a target's)."""
    for f in filters:
        if f is None:
            continue
        if f.min_impact is not None and (m.impact or 0.0) < f.min_impact:
            return False
        if f.sentiment and (m.sentiment_label or "neutral") not in f.sentiment:
            return False
    return True


def select(mentions: Sequence[Mention], notify: NotifyConfig, target: NotifyTarget) -> list[tuple[Key, str]]:
    """The (mention, event) items `target` is to be sent of `mentions` (pure)."""
    out: list[tuple[Key, str]] = []
    for m in mentions:
        event = event_of(m, notify.on)
        if event is None or (target.brands and m.brand not in target.brands):
            continue
        if passes(m, notify.brands.get(m.brand or ""), target):
            out.append((key_of(m), event))
    return out


def target_key(target: NotifyTarget) -> str:
    """The store's name for what `target` has been sent (its queue, deliveries, spikes told, and the lock a run
    holds on it): its label, its kind, and a short hash of where it sends (the URL, the recipients). A hash, not
    the place: a Slack URL is a credential, and a webhook URL may hold a token. A signing secret or a password is
    no part of it: changing one keeps the target's history."""
    return f"{target.label} {target.type}:{_digest(target.type, *_destination(target))}"


def mark_key(target: NotifyTarget, brands: Sequence[str]) -> str:
    """The store's name for where a config's runs stopped queuing for `target`: the target's key and the config's
    brands, so that configs sharing one destination each catch up on their own brands from their own mark."""
    return f"{target_key(target)} brands:{_digest(*sorted(brands))}"


def _destination(target: NotifyTarget) -> list[str]:
    if isinstance(target, EmailTarget):
        return sorted({address.lower() for address in target.to})
    if isinstance(target, SlackTarget):
        return [target.url.get_secret_value()]
    return [target.url]


def _digest(*parts: str) -> str:
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()[:12]


async def notify_scan(
    config: Config,
    store: MentionStore,
    wire: Wire,
    *,
    started: datetime,
    printed: Sequence[Mention] = (),
    full_list: str | None = None,
    redact: Callable[[str], str] = lambda text: text,
) -> NotifyReport:
    """Queue what each target is to be sent of what the store found new, and send it (see the module's
    docstring). Never raises for a target that cannot be reached: its report says so."""
    notify = config.notify
    if notify is None:
        return NotifyReport()
    # A shared store holds other configs' brands: a target is sent this config's only.
    brands = [b.name for b in config.brands]
    report = NotifyReport()
    report.targets = list(
        await asyncio.gather(
            *(
                _run_target(notify, t, brands, store, wire, started, printed, full_list, redact)
                for t in notify.targets
            )
        )
    )
    return report


async def _run_target(
    notify: NotifyConfig,
    target: NotifyTarget,
    brands: Sequence[str],
    store: MentionStore,
    wire: Wire,
    started: datetime,
    printed: Sequence[Mention],
    full_list: str | None,
    redact: Callable[[str], str],
) -> TargetReport:
    key, marked = target_key(target), mark_key(target, brands)
    report = TargetReport(target.label, target.type)
    report.uncertain = [_uncertain(d) for d in store.settle_interrupted_deliveries(key, wire.now())]
    # This config's mark; else the destination's (this config's brands changed: it catches up from the last run
    # to the destination, not only what this scan printed).
    mark = store.notify_mark(marked) or store.notify_mark(key)
    # Where the store stands before looking: what another scan saves from now on is left for the next run (on a
    # shared store, other hosts save while this one sends), and the mark moves only this far.
    horizon = store.notify_horizon()
    legacy, waiting = _take_over_label(store, target)
    mark = mark or legacy
    fresh = [m for m in [*waiting, *(store.first_seen_after(mark) if mark else printed)] if m.brand in brands]
    # Queued before anything is sent: a spike message that fails ends this run for the target, and what it is owed
    # (on a first run, only what this scan printed) must then be waiting for the next.
    store.enqueue_notifications(key, select(fresh, notify, target), started, wire.now(), horizon)
    # Moved after the items are queued: a run that dies in between queues them again next time, and an item is
    # queued once ever.
    store.enqueue_notifications(marked, [], started, wire.now(), horizon)
    if legacy is not None:
        store.forget_notify_mark(target.label)
    if "spike" in notify.on and not await _tell_spikes(notify, target, key, brands, store, wire, redact, report):
        report.pending = len(_pending(store, key, brands))
        return report
    pending = _pending(store, key, brands)
    policy = RetryPolicy(retries=notify.retries, max_wait=notify.max_retry_wait)
    for event, mentions in _messages(pending, notify):
        digest = build_digest(
            mentions,
            event=event,
            cap=target.max_mentions or notify.max_mentions,
            created=wire.now(),
            full_list=notify.full_list or full_list,
        )
        token = uuid.uuid4().hex
        delivery = store.begin_delivery(key, event, token, [key_of(m) for m in mentions], wire.now())

        async def attempt(digest: Digest = digest, token: str = token) -> Answer:
            return await send(target, digest, token, wire)

        outcome = await deliver(attempt, policy, sleep=wire.sleep, rng=wire.rng)
        error = redact(outcome.error) if outcome.error else None
        store.finish_delivery(delivery, ok=outcome.ok, attempts=outcome.attempts, error=error, now=wire.now())
        report.attempts += outcome.attempts
        if not outcome.ok:
            report.state, report.error = "failed", error
            report.pending = len(_pending(store, key, brands))
            return report
        report.state, report.answer = "sent", redact(outcome.answer.said) if outcome.answer else None
        report.messages += 1
        report.mentions += len(mentions)
    return report


def _take_over_label(store: MentionStore, target: NotifyTarget) -> tuple[NotifyMark | None, list[Mention]]:
    """A store written before `target_key` kept a target's state under its label alone, shared by every config's
    target of that label: its mark (where this config's runs catch up from when there is no mark of the new kind)
    and the mentions still waiting in its queue (the caller keeps this config's brands). The caller drops the mark
    once they are queued anew, so it is taken over once: by the first run of a target of that label (another
    config's target of the label starts afresh, as a target's first run does), never by a target added later."""
    legacy = store.notify_mark(target.label)
    if legacy is None:
        return None, []
    return legacy, [m for m, _ in store.pending_notifications(target.label)]


def _pending(store: MentionStore, key: str, brands: Sequence[str]) -> list[tuple[Mention, str]]:
    """What is waiting for the destination of this config's brands: a config sharing it sends its own."""
    return [(m, e) for m, e in store.pending_notifications(key) if m.brand in brands]


async def _tell_spikes(
    notify: NotifyConfig,
    target: NotifyTarget,
    key: str,
    brands: Sequence[str],
    store: MentionStore,
    wire: Wire,
    redact: Callable[[str], str],
    report: TargetReport,
) -> bool:
    """Send `target` a message for each spike it has not been told of (one per brand and hour, claimed in the
    store before it goes out, so it is never told twice). False when a delivery failed: the run stops there for
    this target, and the next one tells of the spike again."""
    policy = RetryPolicy(retries=notify.retries, max_wait=notify.max_retry_wait)
    for spike in recent_spikes(store, list(target.brands) or list(brands), wire.now()):
        if store.spike_told(key, spike.brand, spike.period):
            continue
        top = store.query(
            Query(
                brands=[spike.brand],
                since=spike.period,
                until=spike.period + timedelta(hours=1),
                exclude_statuses=("ignored",),
                sort="impact",
            )
        )
        digest = build_digest(
            top,
            event="spike",
            cap=target.max_mentions or notify.max_mentions,
            created=wire.now(),
            full_list=notify.full_list,
            spike=spike,
        )
        token = uuid.uuid4().hex
        delivery = store.begin_delivery(key, "spike", token, [], wire.now())
        if not store.claim_spike(key, spike.brand, spike.period, delivery):
            continue

        async def attempt(digest: Digest = digest, token: str = token) -> Answer:
            return await send(target, digest, token, wire)

        outcome = await deliver(attempt, policy, sleep=wire.sleep, rng=wire.rng)
        error = redact(outcome.error) if outcome.error else None
        store.finish_delivery(delivery, ok=outcome.ok, attempts=outcome.attempts, error=error, now=wire.now())
        report.attempts += outcome.attempts
        if not outcome.ok:
            store.release_spike(key, spike.brand, spike.period)
            report.state, report.error = "failed", error
            return False
        report.state, report.answer = "sent", redact(outcome.answer.said) if outcome.answer else None
        report.messages += 1
    return True


def _messages(pending: list[tuple[Mention, str]], notify: NotifyConfig) -> list[tuple[str, list[Mention]]]:
    """One digest of everything pending; the needs-reply ones first in a message of their own with `at_once`."""
    if not pending:
        return []
    if "needs_reply" not in notify.at_once:
        return [("new" if any(e == "new" for _, e in pending) else "needs_reply", [m for m, _ in pending])]
    urgent = [m for m, e in pending if e == "needs_reply"]
    rest = [m for m, e in pending if e != "needs_reply"]
    return [(event, ms) for event, ms in (("needs_reply", urgent), ("new", rest)) if ms]


def _uncertain(d: Delivery) -> dict[str, Any]:
    return {"delivery": d.token, "event": d.event, "started": format_time(d.started), "mentions": d.mentions}


async def send(target: NotifyTarget, digest: Digest, token: str, wire: Wire) -> Answer:
    """One attempt at one message to one target, through its channel."""
    if isinstance(target, WebhookTarget):
        return await send_webhook(target, digest, token, wire.client)
    if isinstance(target, SlackTarget):
        return await send_slack(target, digest, token, wire.client)
    if isinstance(target, EmailTarget):
        return await send_email(target, digest, token, timeout=wire.timeout, tls=wire.smtp_tls or tls_for)
    raise SendFailed(f"unknown target type {target.type!r}", retryable=False)


async def send_samples(config: Config, wire: Wire, names: Sequence[str] = ()) -> list[tuple[NotifyTarget, Outcome]]:
    """`mentionwatch notify test`: a sample message to each target (or those named), once, no retries; the
    store is not touched. Returns each target's outcome: its answer or its error."""
    notify = config.notify
    if notify is None:
        return []
    targets = [t for t in notify.targets if not names or t.label in names]
    digest = build_digest([sample_mention(config, wire.now())], event="test", cap=1, created=wire.now())

    async def one(target: NotifyTarget) -> tuple[NotifyTarget, Outcome]:
        token = "test-" + uuid.uuid4().hex
        outcome = await deliver(lambda: send(target, digest, token, wire), RetryPolicy(retries=0), sleep=wire.sleep,
                                rng=wire.rng)  # fmt: skip
        return target, outcome

    return list(await asyncio.gather(*(one(t) for t in targets)))


def sample_mention(config: Config, now: datetime) -> Mention:
    """The mention a test message lists: plainly a sample, under the first configured brand's name."""
    brand = config.brands[0].name if config.brands else "mentionwatch"
    return Mention(
        source="notify-test",
        id="sample",
        url="https://example.com/mentionwatch/notify-test",
        title=f"A sample mention of {brand}",
        text="If you can read this, this target receives mentionwatch's notifications.",
        author="mentionwatch",
        published_at=now,
        brand=brand,
        matched_terms=[brand],
        sentiment=0.0,
        sentiment_label="neutral",
        impact=0.0,
        kind="sample",
        source_type="notify-test",
    )

"""Notifications: a digest of what a scan found new, sent to webhooks, Slack / Mattermost and email.

`scan --new --notify` calls `notify_scan` after the store has recorded the scan; `mentionwatch notify test`
calls `send_samples`. One module per channel (`webhook`, `slack`, `email`), the pure digest (`digest`), the
retry loop (`delivery`) and what each target has been sent (`outbox`, kept in the store under `target_key`: a
target's label and where it sends, so configs sharing a store keep apart what their targets were sent).

Events: `new` and `needs_reply` (a scan's digest), and `spike` (each run judges every brand's last hours by the
report's hourly rule, `report/spikes.py`, and tells each target of a new spike once: `spikes`, `outbox`).
"""

from __future__ import annotations

from mentionwatch.notify.delivery import Answer, Outcome, RetryPolicy, SendFailed, deliver
from mentionwatch.notify.digest import Digest, build_digest
from mentionwatch.notify.outbox import (
    NotifyReport,
    TargetReport,
    Wire,
    mark_key,
    notify_scan,
    send_samples,
    target_key,
)

__all__ = [
    "Answer",
    "Digest",
    "NotifyReport",
    "Outcome",
    "RetryPolicy",
    "SendFailed",
    "TargetReport",
    "Wire",
    "build_digest",
    "deliver",
    "mark_key",
    "notify_scan",
    "send_samples",
    "target_key",
]

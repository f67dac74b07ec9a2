"""Notifications: a digest of what a scan found new, sent to webhooks, Slack / Mattermost and email.

`scan --new --notify` calls `notify_scan` after the store has recorded the scan; `mentionwatch notify test`
calls `send_samples`. One module per channel (`webhook`, `slack`, `email`), the pure digest (`digest`), the
retry loop (`delivery`) and what each target has been sent (`outbox`, kept in the store).

Events: `new` and `needs_reply` are sent. `spike` is recognised in `notify.on` but not sent yet: spike
detection lives in `report/spikes.py` (`find_spikes`), and sending a spike is to be wired from there.
"""

from __future__ import annotations

from mentionwatch.notify.delivery import Answer, Outcome, RetryPolicy, SendFailed, deliver
from mentionwatch.notify.digest import Digest, build_digest
from mentionwatch.notify.outbox import NotifyReport, TargetReport, Wire, notify_scan, send_samples

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
    "notify_scan",
    "send_samples",
]

"""`mentionwatch notify test`, and what `scan --notify` runs and says once the scan is stored."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import ConfigOpt, VerboseOpt, fail, load, setup_logging
from mentionwatch.errors import ExitCode

if TYPE_CHECKING:
    from mentionwatch.config import Config, NotifyConfig
    from mentionwatch.models import Mention
    from mentionwatch.notify import NotifyReport, Wire
    from mentionwatch.redaction import Redactor
    from mentionwatch.store import MentionStore

notify_app = typer.Typer(
    help="Notifications: a digest of new mentions to webhooks, Slack / Mattermost and email (config `notify:`).",
    no_args_is_help=True,
    rich_markup_mode=None,
)
app.add_typer(notify_app, name="notify")


@notify_app.command("test", epilog=EXIT_CODES_HELP)
def test_targets(
    config_path: ConfigOpt = None,
    target: Annotated[
        list[str] | None, typer.Option("--target", metavar="NAME", help="Only this target (repeatable).")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Send a sample message to each notify target and print what each answered.

    Nothing is recorded: the store and what each target has been sent are left as they were.

    Example: mentionwatch notify test --target team-slack
    """
    import asyncio

    from mentionwatch.errors import NotifyFailed, UsageError
    from mentionwatch.notify import send_samples
    from mentionwatch.output import sanitize_terminal

    redactor = setup_logging(verbose, False)
    try:
        config, _ = load(config_path, redactor)
        notify = require_notify(config)
        known = [t.label for t in notify.targets]
        unknown = [name for name in target or [] if name not in known]
        if unknown:
            raise UsageError(f"--target {', '.join(unknown)}: not in the config (configured: {', '.join(known)})")

        async def run() -> list[tuple[str, str, str, str]]:
            async with wire_for(config) as wire:
                outcomes = await send_samples(config, wire, target or ())
            return [
                (
                    "ok" if o.ok else "failed",
                    t.label,
                    t.type,
                    o.answer.said if o.answer is not None else o.error or "",
                )
                for t, o in outcomes
            ]

        rows = asyncio.run(run())
        for state, label, kind, said in rows:
            clean = [sanitize_terminal(redactor(part)) for part in (label, said)]
            sys.stdout.write(f"{state:<7} {clean[0]:<16} {kind:<8} {clean[1]}\n")
        failed = [label for state, label, _, _ in rows if state != "ok"]
        if failed:
            raise NotifyFailed(f"{len(failed)} of {len(rows)} targets did not take the sample: {', '.join(failed)}")
    except Exception as exc:
        raise fail(exc, redactor, verbose) from None


def require_notify(config: Config) -> NotifyConfig:
    from mentionwatch.errors import UsageError

    if config.notify is None or not config.notify.targets:
        raise UsageError(f"{config.path}: no `notify:` section with targets (see the README, Notifications)")
    return config.notify


@contextlib.asynccontextmanager
async def wire_for(config: Config) -> AsyncIterator[Wire]:
    """The house's HTTP client (address guard, timeouts, proxies) and the clock, for one run of sending."""
    from mentionwatch.http import build_client
    from mentionwatch.notify import Wire
    from mentionwatch.pipeline import http_settings

    async with build_client(http_settings(config)) as client:
        yield Wire(client=client, now=lambda: datetime.now(UTC), timeout=config.http.timeout)


def notify_after_scan(
    config: Config,
    store: MentionStore,
    started: datetime,
    printed: Sequence[Mention],
    redactor: Redactor,
    output: Path | None,
) -> NotifyReport:
    """`scan --notify`, once the scan is stored and printed: send each target what it is owed, under the store's
    lock on each target (two runs never send the same item; on PostgreSQL, scans of other pairs go on)."""
    import asyncio

    from mentionwatch.notify import notify_scan, target_key
    from mentionwatch.store import target_scope

    async def run() -> NotifyReport:
        async with wire_for(config) as wire:
            return await notify_scan(
                config,
                store,
                wire,
                started=started,
                printed=printed,
                full_list=str(output.resolve()) if output is not None else None,
                redact=redactor,
            )

    targets = [target_scope(target_key(t)) for t in config.notify.targets] if config.notify else []
    with store.scan_lock(config.store.lock_timeout, targets):
        return asyncio.run(run())


def mark_seeded(config: Config, store: MentionStore, started: datetime) -> None:
    """`scan --seed`: each notify target that has no mark yet gets one here, so its first `--notify` run is owed
    every mention the store first saw after the seed, not only what that run printed: a run that saved mentions
    and died before notifying anyone (or a scan run without --notify) is then caught up like any later one. The
    mark is this config's (`mark_key`): another config's target of the same name, on a shared store, has its own."""
    from mentionwatch.notify import mark_key, target_key
    from mentionwatch.store import target_scope

    if not config.notify or not config.notify.targets:
        return
    targets = config.notify.targets
    brands = [b.name for b in config.brands]
    with store.scan_lock(config.store.lock_timeout, [target_scope(target_key(t)) for t in targets]):
        horizon = store.notify_horizon()
        for target in targets:
            marked = mark_key(target, brands)
            if store.notify_mark(marked) is None:
                store.enqueue_notifications(marked, [], started, started, horizon)


def print_notifications(report: NotifyReport, *, quiet: bool, redact: Redactor) -> None:
    """What was sent (unless -q), what failed and what may not have arrived (always), on stderr."""
    from mentionwatch.output import sanitize_terminal

    def say(text: str) -> None:
        # Line by line: the padding of the columns stays, anything else a server said is flattened.
        sys.stderr.write(" ".join(sanitize_terminal(redact(part)) for part in text.split(" ")) + "\n")

    for t in report.targets:
        for lost in t.uncertain:
            say(
                f"mentionwatch: warning: notify {t.target}: an earlier run stopped while sending delivery "
                f"{lost['delivery']} ({lost['mentions']} mentions, {lost['started']}); it may not have arrived, "
                "and is not sent again"
            )
        if t.failed:
            say(f"mentionwatch: error: notify {t.target}: {t.error}; {t.pending} mentions kept for the next run")
        elif quiet:
            continue
        elif t.state == "sent":
            noun = "mention" if t.mentions == 1 else "mentions"
            messages = f"{t.messages} message{'s' if t.messages != 1 else ''}"
            say(f"notified     {t.target:<16} {messages}, {t.mentions} {noun} — {t.answer or ''}")
        else:
            say(f"notified     {t.target:<16} nothing new")


def exit_code_with(scan_code: ExitCode, report: NotifyReport | None) -> ExitCode:
    """A failed notification is the run's exit code only when the scan itself succeeded."""
    if report is not None and report.failed and scan_code == ExitCode.OK:
        return ExitCode.NOTIFY_FAILED
    return scan_code


__all__ = ["exit_code_with", "notify_after_scan", "print_notifications", "test_targets"]

"""`mentionwatch inbox` (who is waiting for an answer, `-i` to walk them) and `mentionwatch reply` (answer one)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import (
    ConfigOpt,
    DbOpt,
    Format,
    VerboseOpt,
    existing_store,
    fail,
    load,
    pick_format,
    setup_logging,
)
from mentionwatch.cli.store_commands import TERMINAL_LIMIT, _brands, _resolve, _sources, _store_and_config
from mentionwatch.errors import MentionwatchError, UsageError

if TYPE_CHECKING:
    from mentionwatch.config import Config
    from mentionwatch.models import Mention
    from mentionwatch.outbox import Outbox
    from mentionwatch.redaction import Redactor
    from mentionwatch.store import MentionStore


class Visibility(StrEnum):
    public = "public"
    unlisted = "unlisted"
    private = "private"
    direct = "direct"


@app.command(epilog=EXIT_CODES_HELP)
def inbox(
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand (repeatable).")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", metavar="NAME", help="Only this source, by name or type (repeatable)."),
    ] = None,
    fmt: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help=f"At most N (a table on a terminal: {TERMINAL_LIMIT}).")
    ] = None,
    interactive: Annotated[
        bool, typer.Option("--interactive", "-i", help="Walk them one at a time with single keys (a terminal).")
    ] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Who is waiting for an answer: needs-reply mentions not done, replied or ignored, most urgent first (the
    highest impact, then the longest wait). Reads the store only; `-i` answers from it.

    Examples:

    \b
      mentionwatch inbox
      mentionwatch inbox --brand Acme -f jsonl | jq -r .url
      mentionwatch inbox -i          # r reply, d done, i ignore, t tag, o open, s skip, q quit
    """
    from mentionwatch.inbox import inbox_query, needs_terminal, pending_keys, write_inbox
    from mentionwatch.output import BrokenStdout, write_stdout

    redactor = setup_logging(verbose, False)
    try:
        if interactive and needs_terminal():
            raise UsageError(
                "inbox -i needs a terminal (stdin and stdout): run `mentionwatch inbox` for the list, "
                "`mentionwatch reply ID --text ...` to answer from a script"
            )
        now = datetime.now(UTC)
        fmt_name = "table" if interactive else pick_format(fmt, None)
        config = _config_if_any(config_path, redactor, needed=interactive)
        store, found = _open(config, config_path, db, redactor)
        try:
            shown = limit if limit is not None or fmt_name != "table" or interactive else TERMINAL_LIMIT
            query = inbox_query(_brands(store, brand), _sources(store, source, config or found), shown)
            mentions = store.query(query)
            pending = pending_keys(store)
            total = store.count(query) if shown is not None and len(mentions) == shown else len(mentions)
            if interactive:
                assert config is not None
                _walk(mentions, store, _outbox(config, store, redactor))
                return
        finally:
            store.close()
        write_stdout(lambda out: write_inbox(mentions, fmt_name, out, now=now, pending=pending, total=total))
    except BrokenStdout:
        raise typer.Exit(141) from None
    except KeyboardInterrupt:
        sys.stderr.write("\nmentionwatch: interrupted\n")
        raise typer.Exit(130) from None
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


@app.command(epilog=EXIT_CODES_HELP)
def reply(
    mention_id: Annotated[str, typer.Argument(metavar="ID", help="The mention, as `list` shows it (or SOURCE:ID).")],
    text: Annotated[str | None, typer.Option("--text", metavar="TEXT", help="What to answer.")] = None,
    template: Annotated[
        str | None, typer.Option("--template", metavar="NAME", help="Answer with the config's template NAME.")
    ] = None,
    url: Annotated[
        str | None,
        typer.Option("--url", metavar="URL", help="You answered elsewhere: record that reply and mark it replied."),
    ] = None,
    visibility: Annotated[
        Visibility | None, typer.Option(help="Mastodon: who sees the reply. Default: as the original.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Print exactly what would be sent (secrets masked); send nothing.")
    ] = False,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand's mention of the item.")
    ] = None,
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Answer a stored mention through its source's API with your own account, once: a reply is recorded before
    it is sent and after, and a run that died in between is settled by asking the platform, never by sending
    again. Without --text, --template or --url, it settles such a pending reply.

    Examples:

    \b
      mentionwatch reply 109440146056595641 --text "Thanks, fixed in 2.1!" --dry-run
      mentionwatch reply t3_abc123 --template thanks
      mentionwatch reply 15353312 --url https://news.ycombinator.com/item?id=15353400
    """
    from mentionwatch.outbox import CannotReply
    from mentionwatch.reply import ReplyOptions
    from mentionwatch.source import check_http_url

    redactor = setup_logging(verbose, False)
    try:
        given = [name for name, value in (("--text", text), ("--template", template), ("--url", url)) if value]
        if len(given) > 1:
            raise UsageError(f"{' and '.join(given)}: give one of --text, --template and --url")
        if text is not None and not text.strip():
            raise UsageError("--text is empty")
        if url is not None:
            try:
                check_http_url(url)
            except ValueError as exc:
                raise UsageError(f"--url: {exc}") from None
        config, _ = load(config_path, redactor)
        store, _ = _open(config, config_path, db, redactor)
        try:
            outbox = _outbox(config, store, redactor)
            target = outbox.target(_resolve(store, [mention_id], _brands(store, brand)))
            if visibility is not None:
                _check_option(outbox, target, "visibility")
            if url is not None:
                posted = outbox.elsewhere(target, url, dry_run=dry_run)
                sys.stdout.write(posted.url + "\n")
                if dry_run:
                    sys.stderr.write(
                        f"mentionwatch: dry run: {mention_id} would be marked replied ({posted.url}); nothing was"
                        " recorded\n"
                    )
                else:
                    sys.stderr.write(f"mentionwatch: {mention_id} marked replied ({posted.url})\n")
                return
            options = ReplyOptions(visibility=visibility.value if visibility else None)
            body = outbox.fill(template, target) if template else text
            import asyncio

            if body is None:
                outcome = asyncio.run(outbox.settle(target))
            else:
                outcome = asyncio.run(outbox.reply(target, body, options, dry_run=dry_run))
        except CannotReply as exc:
            sys.stdout.write(exc.url + "\n")
            raise
        finally:
            store.close()
        _say(mention_id, outcome, dry_run=dry_run, settling=body is None)
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


def _say(mention_id: str, outcome: object, *, dry_run: bool, settling: bool) -> None:
    """The reply's URL on stdout (data); what happened on stderr."""
    from mentionwatch.models import format_time
    from mentionwatch.outbox import Outcome

    assert isinstance(outcome, Outcome)
    if dry_run:
        sys.stdout.write(outcome.request + "\n")
        if outcome.pending_since is not None:
            sys.stderr.write(
                f"mentionwatch: a reply to {mention_id} was left pending {format_time(outcome.pending_since)}: a real"
                " run first asks the platform whether it has that one, and sends nothing more if it has\n"
            )
        sys.stderr.write("mentionwatch: dry run: nothing was sent\n")
        return
    if outcome.reply is None:
        sys.stderr.write(
            f"mentionwatch: the pending reply to {mention_id} never reached the platform; nothing is pending now: "
            "answer again with --text or --template\n"
        )
        return
    sys.stdout.write(outcome.reply.url + "\n")
    if outcome.recovered:
        sys.stderr.write(
            f"mentionwatch: {mention_id}: the reply of an earlier run was posted after all; recorded, not sent again\n"
        )
    elif not settling:
        sys.stderr.write(f"mentionwatch: replied to {mention_id}\n")


def _check_option(outbox: Outbox, target: object, option: str) -> None:
    from mentionwatch.outbox import Target
    from mentionwatch.reply import Replier

    assert isinstance(target, Target)
    configured = outbox.configured_source(target)
    if not issubclass(configured.cls, Replier) or option not in configured.cls.reply_options:
        raise UsageError(f"--{option} is for Mastodon replies; {configured.cls.type} has no such choice")


def _config_if_any(config_path: Path | None, redactor: Redactor, *, needed: bool) -> Config | None:
    """The config, when there is one (listing needs only the store; answering needs the sources)."""
    try:
        config, _ = load(config_path, redactor)
    except UsageError:
        if needed or config_path is not None:
            raise
        return None
    return config


def _open(
    config: Config | None, config_path: Path | None, db: str | None, redactor: Redactor
) -> tuple[MentionStore, Config | None]:
    """The store, and the config read to find it when the command had none of its own."""
    if config is None:
        return _store_and_config(config_path, db, redactor)
    return existing_store(db, config), None


def _outbox(config: Config, store: MentionStore, redactor: Redactor) -> Outbox:
    from platformdirs import user_cache_path

    from mentionwatch.outbox import Outbox

    # Sources keep login sessions there, as a scan does (a Bluesky reply reuses the scan's session).
    return Outbox(config, store, redactor, now=lambda: datetime.now(UTC), cache_dir=user_cache_path("mentionwatch"))


def _walk(mentions: list[Mention], store: MentionStore, outbox: Outbox) -> None:
    from mentionwatch.inbox import Terminal, Walk

    with Terminal(sys.stdin, sys.stdout) as terminal:
        Walk(mentions, store, outbox, terminal, sys.stdout, now=lambda: datetime.now(UTC)).run()

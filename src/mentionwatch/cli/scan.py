"""`mentionwatch scan`: fetch, match, score, dedupe and print."""

from __future__ import annotations

import itertools
import sys
import time
from collections.abc import Iterable
from contextlib import ExitStack
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.notify import (
    exit_code_with,
    mark_seeded,
    notify_after_scan,
    print_notifications,
    require_notify,
)
from mentionwatch.cli.options import (
    ConfigOpt,
    DbOpt,
    Format,
    QuietOpt,
    Sort,
    VerboseOpt,
    fail,
    load,
    open_scan_store,
    pick_format,
    select,
    setup_logging,
)
from mentionwatch.errors import ExitCode

if TYPE_CHECKING:
    from collections.abc import Sequence

    from mentionwatch.config import Config, ConfiguredSource
    from mentionwatch.models import Mention
    from mentionwatch.pipeline import ScanEnv, ScanResult
    from mentionwatch.redaction import Redactor
    from mentionwatch.store import MentionStore, NotifyMark


# Longer than taking a free lock takes: another scan held it.
_LOCK_WAITED = 0.05


@app.command(epilog=EXIT_CODES_HELP)
def scan(
    ctx: typer.Context,
    config_path: ConfigOpt = None,
    since: Annotated[
        str | None,
        typer.Option(
            metavar="WHEN",
            help="How far back: 24h, 7d, 2w, 2026-11-01, 2026-11-01T08:00Z. Default: the config's, else 7d.",
        ),
    ] = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand (repeatable).")
    ] = None,
    source: Annotated[
        list[str] | None, typer.Option("--source", metavar="NAME", help="Only this source name (repeatable).")
    ] = None,
    fmt: Annotated[
        Format | None,
        typer.Option("--format", "-f", help="table, json, jsonl or csv. Default: table on a terminal, else jsonl."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", metavar="FILE", help="Write to FILE (format from its extension unless -f)."),
    ] = None,
    limit: Annotated[int | None, typer.Option(min=1, metavar="N", help="At most N mentions.")] = None,
    sort: Annotated[Sort, typer.Option(help="newest first, or highest impact first.")] = Sort.newest,
    health: Annotated[
        Path | None, typer.Option("--health", metavar="FILE", help="Also write each source's health as JSON to FILE.")
    ] = None,
    record: Annotated[
        Path | None,
        typer.Option("--record", metavar="DIR", help="Keep every response with its request in DIR (for --replay)."),
    ] = None,
    replay: Annotated[
        Path | None,
        typer.Option("--replay", metavar="DIR", help="Re-run on the responses recorded in DIR, with no network."),
    ] = None,
    no_cache: Annotated[
        bool, typer.Option("--no-cache", help="Send unconditional requests (ignore ETag / Last-Modified).")
    ] = False,
    append: Annotated[
        bool,
        typer.Option("--append", help="With -o FILE (csv or jsonl): add the mentions the file has not had yet."),
    ] = False,
    db: DbOpt = None,
    no_store: Annotated[
        bool, typer.Option("--no-store", help="Keep nothing: no store is read or written (ad-hoc re-scoring, tests).")
    ] = False,
    new: Annotated[
        bool, typer.Option("--new", help="Only mentions the store has never seen (for cron and alerts).")
    ] = False,
    seed: Annotated[
        bool, typer.Option("--seed", help="Fill the store and print nothing (the first cron run must not flood).")
    ] = False,
    backfill: Annotated[
        bool,
        typer.Option("--backfill", help="Re-read the --since window (after an outage); print only what was missed."),
    ] = False,
    notify: Annotated[
        bool,
        typer.Option("--notify", help="With --new: send one digest of the new mentions to each `notify:` target."),
    ] = False,
    shard: Annotated[
        str | None,
        typer.Option(
            "--shard",
            metavar="K/N",
            help="Scan only shard K of N: the configured (source, brand) pairs split by a stable hash, so N hosts "
            "(cron jobs) with the same config share the work without overlap.",
        ),
    ] = None,
    quiet: QuietOpt = False,
    verbose: VerboseOpt = False,
) -> None:
    """Fetch, match, score, dedupe and print mentions.

    Examples:

    \b
      mentionwatch scan
      mentionwatch scan --since 24h --brand Acme --sort impact --limit 20
      mentionwatch scan -f jsonl | jq -r 'select(.sentiment_label=="negative") | .url'
      mentionwatch scan -q -o mentions.csv            # from cron
      mentionwatch scan --seed && mentionwatch scan --new --since last   # cron: only what is new
      mentionwatch scan -q --new --since last --notify    # and tell Slack / email / a webhook
      mentionwatch scan --since 2d --backfill         # after an outage: only what was missed
      mentionwatch scan -q --new --since last --shard 2/4   # host 2 of 4 sharing one PostgreSQL store
      mentionwatch scan --record bundle/ && mentionwatch scan --replay bundle/
    """
    import asyncio

    from mentionwatch.config import DEFAULT_SINCE
    from mentionwatch.errors import OutputError, UsageError
    from mentionwatch.output import (
        BrokenStdout,
        append_file,
        dash_is_stdout,
        print_health,
        sanitize_terminal,
        usable_output_path,
        write_file,
        write_health,
        write_stdout,
    )
    from mentionwatch.pipeline import ScanEnv, ScanRequest, plan_since, run_scan, shard_pairs
    from mentionwatch.prefetch import Prefetch
    from mentionwatch.store import pair_scope
    from mentionwatch.when import parse_duration, parse_since

    redactor = setup_logging(verbose, quiet)
    output = dash_is_stdout(output)
    closers: list[Any] = []
    try:
        if record is not None and replay is not None:
            raise UsageError("--record and --replay cannot be used together")
        _check_store_flags(no_store=no_store, db=db, new=new, seed=seed, backfill=backfill, since=since)
        config, _ = load(config_path, redactor, unset_env_ok=replay is not None)
        # A replay re-runs an old scan: it keeps nothing unless a store is named (--db).
        memory = no_store or (replay is not None and db is None)
        if notify:
            _check_notify(config, new=new, memory=memory)
        store = open_scan_store(config, db, none=memory)
        closers.append(store)
        env = ScanEnv(now=lambda: datetime.now(UTC), store=store)
        if replay is not None:
            env = _replay_env(replay, redactor, store)
        # The scan's one start time: what the store records as first seen, and a recording's clock.
        now = env.now()
        if record is not None:
            from mentionwatch.replay import Recorder

            try:
                env.recorder = Recorder(record, redactor, now)
            except OSError as exc:  # found before any fetching: nothing is lost
                raise UsageError(f"--record {record}: cannot write the recording there: {exc.strerror}") from None
            closers.append(env.recorder)
        elif replay is None and config.http.cache and not no_cache and not backfill:
            from mentionwatch.cache import HttpCache, default_cache_path

            env.cache = HttpCache(default_cache_path())
            closers.append(env.cache)
        # The requests the command sent while it loaded (`prefetch`): taken when this scan sends the same ones.
        ahead = ctx.obj if isinstance(ctx.obj, Prefetch) else None
        if ahead is not None:
            same = ahead.matches(config.path) and not source and shard is None
            if same and env.cache is not None and config.http.prefetch:
                env.prefetched = ahead
            else:
                ahead.stop()
        if replay is None and record is None:
            # Sources keep login sessions here. Not while recording: a bundle must hold the login exchange
            # too, or its replay would need a session the recording never saw.
            from platformdirs import user_cache_path

            env.cache_dir = user_cache_path("mentionwatch")
        brands = select(config.brands, brand, "brand", lambda b: b.name, any_case=True)
        sources = select(config.sources, source, "source", lambda s: s.name)
        pairs = [(s, b) for s in sources for b in brands]
        sharded: frozenset[tuple[str, str]] | None = None
        if shard is not None:
            pairs = shard_pairs(sources, brands, *_parse_shard(shard))
            sharded = frozenset((s.name, b.name) for s, b in pairs)
            sources = [s for s in sources if any(s is p for p, _ in pairs)]
            brands = [b for b in brands if any(b is p for _, p in pairs)]
            if not pairs:
                sys.stderr.write(f"mentionwatch: shard {shard}: no (source, brand) pair of this config falls to it\n")
                raise typer.Exit(ExitCode.OK)
        since_last = since == "last"
        try:
            since_at = parse_since(
                config.since or DEFAULT_SINCE if since_last else since or config.since or DEFAULT_SINCE, now
            )
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
        fmt_name = pick_format(fmt, output)
        if append and (output is None or fmt_name not in ("csv", "jsonl")):
            raise UsageError("--append needs -o FILE in csv or jsonl")
        # A path that cannot be written is found now, not after a scan whose results would then be lost.
        if output is not None:
            usable_output_path(output, "-o")
        if health is not None:
            usable_output_path(health, "--health")
        # What is loaded by now (modules, config) lives until the process exits: frozen, the cyclic
        # collector stops re-walking it during the scan and at exit (measured: 60-90 ms of a 0.7 s scan).
        from mentionwatch.startup import startup_done

        startup_done()
        new_only = new or backfill
        save = not (no_store or (replay is not None and db is None))
        # The store holds a scan before its output is written, so a `--new` output that is not written (a full
        # disk, a kill) must not cost its mentions their turn: its destination gets a mark in the store before the
        # scan saves anything (the notify targets' kind of mark: the store's position now), cleared once the
        # output is written; a mark left by a run that did not write is what the next `--new` run to it is owed.
        # Per destination and choice of brands and sources (`--brand`, `--source`): another choice writing
        # elsewhere never gets, nor clears, what this one is owed.
        chosen = (
            sorted(b.name for b in brands) if brand else None,
            sorted(s.name for s in sources) if source else None,
        )
        owed_label = _owed_label(config.path, output, *chosen, shard) if new_only and save else None
        # This scan's (source, brand) pairs: another scan of any of them waits (on PostgreSQL, scans of other
        # pairs run meanwhile; SQLite locks the whole file). A `--new` run holds them until it has written its
        # output and cleared its mark: a second run of them would otherwise take the mark for an output left
        # unwritten, and print the first's mentions again.
        scope = [pair_scope(s.config.identity(), b.name) for s, b in pairs]
        lock = ExitStack()
        closers.append(lock)
        asked_until = time.monotonic()
        lock.enter_context(store.scan_lock(config.store.lock_timeout, scope))
        if env.prefetched is not None and time.monotonic() - asked_until > _LOCK_WAITED:
            # Another scan of these pairs ran meanwhile: a feed may have changed since it was asked ahead.
            env.prefetched.forget()
        source_since: dict[str, datetime] = {}
        if since_last:
            overlap = parse_duration(config.store.overlap)
            since_at, source_since = plan_since(store, sources, brands, since_at, overlap, sharded)
        request = ScanRequest(
            since=since_at,
            brands=brands,
            sources=sources,
            sort=sort.value,
            limit=limit,
            source_since=source_since,
            save=save,
            started=now,
            new_only=new_only,
            quiet_seed=seed,
            pairs=sharded,
        )
        owed = store.notify_mark(owed_label) if owed_label is not None else None
        if owed_label is not None and owed is None:
            store.enqueue_notifications(owed_label, [], now, now, store.notify_horizon())
        result = _run_with_progress(lambda: asyncio.run(run_scan(config, request, env)), env, quiet)
        broken = _broken_sources(store, sources)
        if owed_label is None:
            lock.close()
        closers.append(result)
        left_out = result.left_out
        owed_now: list[Mention] | None = None
        if owed is not None:
            owed_now, left_out = _with_owed(
                result, store, owed, {(s.name, b.name) for s, b in pairs}, sort.value, limit
            )

        def given() -> Iterable[Mention]:
            return result.output() if owed_now is None else owed_now

        closed = False
        # Nothing came in: the last good file is worth more to a cron job than an empty one. (Sources that failed
        # after giving mentions, a token expiring mid-scan, gave something: it is written.)
        keep_file = output is not None and result.exit_code == ExitCode.ALL_FAILED and not result.total
        try:
            if output is None:
                try:
                    silent, say = new_only or seed, new_only and not quiet
                    write_stdout(lambda out: _print(given(), fmt_name, out, now, left_out, silent=silent, say=say))
                except BrokenStdout:
                    # The reader has what it wanted (`scan | head -1`): the run ends as grep does (141), once the
                    # health file, the health lines and the notifications are done as after any other output.
                    closed = True
            elif keep_file:
                sys.stderr.write(f"mentionwatch: every source failed; {output} left as it was\n")
            elif append:
                added = append_file(given(), fmt_name, output)
                if not quiet:
                    sys.stderr.write(f"mentionwatch: added {added} mentions to {output}\n")
            else:
                wrote = write_file(given(), fmt_name, output)
                if not quiet:
                    sys.stderr.write(f"mentionwatch: wrote {wrote} mentions to {output}\n")
        except OutputError:
            if owed_label is not None:
                sys.stderr.write("mentionwatch: the next --new run to this output gives this scan's new mentions too\n")
            raise
        # Given once written: on stdout always; to -o unless the file was kept (nothing came in).
        if owed_label is not None and not keep_file:
            store.forget_notify_mark(owed_label)
        lock.close()
        if left_out and (new or backfill):
            sys.stderr.write(
                f"mentionwatch: --limit {limit}: {left_out} more new mentions not printed; they are stored and"
                " will not be new again (`mentionwatch list --status new` shows them)\n"
            )
        if seed and not result.interrupted and not no_store and result.store_error is None:
            mark_seeded(config, store, now)
        # After the output is written and the store holds the scan: a notification can fail, never lose them.
        notified = None
        if notify and not result.interrupted:
            printed = result.mentions if result.stream is None else list(result.output())
            notified = notify_after_scan(config, store, now, printed, redactor, output)
        exit_code = exit_code_with(result.exit_code, notified)
        if result.store_error is not None and not result.interrupted:
            exit_code = ExitCode.STORE
        if health is not None:
            write_health(
                result,
                health,
                redactor=redactor,
                scanned_at=now,
                exit_code=exit_code,
                notifications=notified.to_list() if notified else None,
            )
        windows = _since_labels(sources, since, config.since, since_last)
        print_health(result, quiet=quiet, redact=redactor, since=windows)
        if notified is not None:
            print_notifications(notified, quiet=quiet, redact=redactor)
        for line in broken:
            sys.stderr.write(f"mentionwatch: warning: {sanitize_terminal(redactor(line))}\n")
        if result.store_error is not None:
            said = sanitize_terminal(redactor(str(result.store_error)))
            sys.stderr.write(f"mentionwatch: error: {said}; the scan's mentions were output, but not saved\n")
    except KeyboardInterrupt:
        sys.stderr.write("mentionwatch: interrupted\n")
        raise typer.Exit(ExitCode.INTERRUPTED) from None
    except BrokenStdout:
        # The reader has what it wanted (`scan | head -1`): end quietly, as grep does.
        raise typer.Exit(ExitCode.BROKEN_PIPE) from None
    except BrokenPipeError:
        # stderr's reader went (`scan 2>&1 | head -1`): the same ending, with nothing more said (click would say
        # nothing either, and exit 1).
        from mentionwatch.output import silence

        silence(sys.stderr)
        raise typer.Exit(ExitCode.BROKEN_PIPE) from None
    except typer.Exit:  # an ending chosen above (a shard with nothing to scan): click's Exit is a RuntimeError
        raise
    except Exception as exc:  # one clear line, never a traceback that could carry a secret (-v shows it redacted)
        raise fail(exc, redactor, verbose) from None
    finally:
        for closer in closers:
            closer.close()
    if result.interrupted:
        what = "terminated" if result.exit_code == ExitCode.TERMINATED else "interrupted"
        sys.stderr.write(f"mentionwatch: {what}; printed what was gathered\n")
    raise typer.Exit(ExitCode.BROKEN_PIPE if closed else exit_code)


BROKEN_AFTER = 3


def _owed_label(
    config: Path, output: Path | None, brands: list[str] | None, sources: list[str] | None, shard: str | None
) -> str:
    """The store's name for a `--new` output destination that is owed mentions (kept beside the notify targets'
    marks, which say the same thing of a target: what it has been given up to): the destination as this config's
    runs write to it (stdout, `-`, is every config's), with the run's choice of brands, sources and shard when it
    made one (two shards writing to one path, on two hosts, each have their own)."""
    label = "output " + (str(output.resolve()) if output is not None else "-") + f" config={config.resolve()}"
    if brands is not None:
        label += " brands=" + ",".join(brands)
    if sources is not None:
        label += " sources=" + ",".join(sources)
    if shard is not None:
        label += " shard=" + shard
    return label


def _print(
    mentions: Iterable[Mention], fmt: str, out: IO[str], now: datetime, left_out: int, *, silent: bool, say: bool
) -> None:
    """The scan's output on stdout. `silent` (`--new`, `--backfill`, `--seed`): nothing to print prints nothing at
    all, in every format (no CSV header, no `[]`, no table), as the README promises cron, whose mail is any
    output; `say`: and it is said on stderr. A table counts what it shows against what `--limit` left out ("3 of
    7": of the new mentions, with `--new`, never of all the scan saw)."""
    from mentionwatch.output import write

    rest = iter(mentions)
    first = next(rest, None)
    if first is None and silent:
        if say:
            sys.stderr.write("mentionwatch: no new mentions\n")
        return
    shown = itertools.chain([first] if first is not None else [], rest)
    if fmt != "table":
        write(shown, fmt, out, now=now)
        return
    table = list(shown)
    write(table, fmt, out, now=now, total=len(table) + left_out)


def _with_owed(
    result: ScanResult,
    store: MentionStore,
    owed: NotifyMark,
    pairs: set[tuple[str, str]],
    sort: str,
    limit: int | None,
) -> tuple[list[Mention], int]:
    """What a `--new` run gives a destination a failed write left owed: every mention of the run's (source, brand)
    pairs the store first saw since (not ignored, cluster heads, as `--new` prints them), this scan's among them,
    sorted and cut as asked; and how many the cut left out. Only this run's pairs: a store shared by other configs
    (or shards, running at once on PostgreSQL) holds theirs too, and stdout (`-`) is every config's destination."""
    from mentionwatch.pipeline import sort_mentions
    from mentionwatch.store import key_of

    mine = {key_of(m): m for m in result.output()}
    extra = [m for m in store.first_seen_after(owed) if key_of(m) not in mine and (m.source, m.brand) in pairs]
    mentions = sort_mentions([*extra, *mine.values()], sort)
    if limit is None:
        return mentions, 0
    return mentions[:limit], max(0, len(mentions) - limit)


def _since_labels(
    sources: Sequence[ConfiguredSource], flag: str | None, configured: str | None, since_last: bool
) -> dict[str, str]:
    """How the health line names each source's window: as the user wrote it (`7d`, `2026-11-01`); with `--since
    last`, the watermark, except for sources read whole (feeds), which are read over the configured `since`."""
    from mentionwatch.config import DEFAULT_SINCE

    written = configured or DEFAULT_SINCE if since_last else flag or configured or DEFAULT_SINCE
    return {s.name: "the watermark" if since_last and not s.cls.reads_whole else written for s in sources}


def _parse_shard(text: str) -> tuple[int, int]:
    """`K/N` (1 <= K <= N): this host's shard and how many there are."""
    from mentionwatch.errors import UsageError

    number, _, count = text.partition("/")
    if not (number.isdigit() and count.isdigit() and 1 <= int(number) <= int(count)):
        raise UsageError(f"--shard {text}: write K/N, this host's number K of N hosts (1 <= K <= N), e.g. 2/4")
    return int(number), int(count)


def _check_store_flags(
    *, no_store: bool, db: str | None, new: bool, seed: bool, backfill: bool, since: str | None
) -> None:
    from mentionwatch.errors import UsageError

    if no_store and (db or new or seed or backfill or since == "last"):
        raise UsageError("--no-store keeps nothing: --db, --new, --seed, --backfill and --since last need the store")
    if sum((new, seed, backfill)) > 1:
        raise UsageError("--new, --seed and --backfill are different runs: choose one")
    if backfill and (since is None or since == "last"):
        raise UsageError("--backfill re-reads a window you name: add --since (e.g. --since 2d)")


def _check_notify(config: Config, *, new: bool, memory: bool) -> None:
    from mentionwatch.errors import UsageError

    require_notify(config)
    if not new:
        raise UsageError("--notify sends what --new finds: add --new")
    if memory:
        raise UsageError("--notify needs the store (it remembers what each target was sent): drop --no-store, or "
                         "give --replay a --db")  # fmt: skip


def _broken_sources(store: MentionStore, sources: Sequence[ConfiguredSource]) -> list[str]:
    """A source that has failed in several scans in a row is broken, not unlucky: say since when, and why. Only
    the sources as configured now: the store keeps each source's runs by what it is (`identity`: its type and
    options), so one whose options were changed, a broken URL put right, starts a record of its own, and the
    old one's failures are no longer its."""
    from mentionwatch.models import format_time

    configured = {s.config.identity() for s in sources}
    return [
        f"source {s.name} is broken: it failed in {s.failures} scans in a row since "
        f"{format_time(s.failing_since) if s.failing_since else '?'}; last error: {s.last_error or s.last_state}"
        for s in store.source_status()
        if s.failures >= BROKEN_AFTER and s.identity in configured
    ]


def _replay_env(directory: Path, redactor: Redactor, store: MentionStore) -> ScanEnv:
    from mentionwatch.errors import UsageError
    from mentionwatch.pipeline import ScanEnv
    from mentionwatch.replay import Replayer

    try:
        replayer = Replayer(directory, redactor)
        recorded_at = replayer.recorded_at
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"--replay {directory}: {exc}") from None

    async def no_wait(_seconds: float) -> None:
        return None

    # The recorded scan's clock and no waiting: the same bundle gives the same output, at once.
    return ScanEnv(now=lambda: recorded_at, store=store, replayer=replayer, sleep=no_wait)


def _run_with_progress(run: Any, env: ScanEnv, quiet: bool) -> ScanResult:
    if quiet or not sys.stderr.isatty():
        result: ScanResult = run()
        return result
    from mentionwatch.progress import ProgressDisplay

    with ProgressDisplay() as display:
        env.on_start = display.start
        result = run()
    return result

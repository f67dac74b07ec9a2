"""`mentionwatch list`, `mark`, `tag`, `ignore`, `stats` and `prune`: the store's history and its triage.
None of them touches the network."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated, Any

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import (
    ConfigOpt,
    DbOpt,
    Format,
    Sort,
    VerboseOpt,
    existing_store,
    fail,
    optional_config,
    pick_format,
    print_out,
    setup_logging,
)
from mentionwatch.errors import MentionwatchError, UsageError

if TYPE_CHECKING:
    from mentionwatch.config import Config
    from mentionwatch.models import Mention
    from mentionwatch.redaction import Redactor
    from mentionwatch.store import Key, MentionStore, Query

# A table on a terminal shows this many unless --limit says otherwise; files and pipes get everything.
TERMINAL_LIMIT = 100


def _store(config_path: Path | None, db: str | None, redactor: Redactor) -> MentionStore:
    """The store named by --db, $MENTIONWATCH_DB or the config's `store`; a config is needed only for the last."""
    return _store_and_config(config_path, db, redactor)[0]


def _store_and_config(
    config_path: Path | None, db: str | None, redactor: Redactor
) -> tuple[MentionStore, Config | None]:
    """The store, and the config when one was read to find it."""
    config = None if db is not None or _env_db() else optional_config(config_path, redactor)
    return existing_store(db, config), config


def _env_db() -> str | None:
    import os

    from mentionwatch.store import DB_ENV

    return os.environ.get(DB_ENV)


def _brands(store: MentionStore, wanted: list[str] | None) -> list[str]:
    """--brand names as the store spells them, matched whatever their case."""
    if not wanted:
        return []
    known = set(store.brands())
    by_fold = {b.casefold(): b for b in known}
    unknown = [w for w in wanted if w.casefold() not in by_fold]
    if unknown:
        listed = ", ".join(sorted(known)) or "none yet"
        raise UsageError(f"--brand {', '.join(unknown)}: no mention of that brand in the store (brands: {listed})")
    return [by_fold[w.casefold()] for w in wanted]


def _sources(store: MentionStore, wanted: list[str] | None, config: Config | None) -> list[str]:
    """--source names, each a source's name or type in the config or the store, or an installed type: another name
    is an error, as an unknown --brand is (a typo must not pass for "no mention")."""
    if not wanted:
        return []
    from mentionwatch.registry import Registry
    from mentionwatch.store import Query

    configured = {name for s in config.sources for name in (s.name, s.cls.type)} if config else set()
    known = configured | set(Registry.from_entry_points().names())
    # One mention of the name is enough (the store matches a source's name or type): no scan of the whole store.
    unknown = [w for w in wanted if w not in known and not store.query(Query(sources=(w,), limit=1))]
    if unknown:
        stored = {t.key[0] for t in store.tally(Query(), ("source",))}
        names = stored | ({s.name for s in config.sources} if config else set())
        listed = ", ".join(sorted(names)) or "none yet"
        raise UsageError(
            f"--source {', '.join(unknown)}: no source of that name or type in the config or the store "
            f"(sources: {listed})"
        )
    return list(wanted)


@app.command("list", epilog=EXIT_CODES_HELP)
def list_mentions(
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand (repeatable).")
    ] = None,
    source: Annotated[
        list[str] | None,
        typer.Option("--source", metavar="NAME", help="Only this source, by name or type (repeatable)."),
    ] = None,
    since: Annotated[
        str | None, typer.Option(metavar="WHEN", help="Published at or after: 24h, 7d, 2026-11-01.")
    ] = None,
    until: Annotated[str | None, typer.Option(metavar="WHEN", help="Published before: 24h, 7d, 2026-11-01.")] = None,
    sentiment: Annotated[
        str | None, typer.Option(metavar="LABEL", help="positive, neutral or negative.", show_default=False)
    ] = None,
    needs_reply: Annotated[bool, typer.Option("--needs-reply", help="Only mentions that need an answer.")] = False,
    status: Annotated[
        list[str] | None,
        typer.Option("--status", metavar="STATUS", help="new, read, done, replied or ignored (repeatable)."),
    ] = None,
    tag: Annotated[list[str] | None, typer.Option("--tag", metavar="TAG", help="Only mentions with this tag.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", metavar="TEXT", help='Words in the title, text or author ("a phrase").')
    ] = None,
    fmt: Annotated[Format | None, typer.Option("--format", "-f", help="table, json, jsonl or csv.")] = None,
    output: Annotated[Path | None, typer.Option("--output", "-o", metavar="FILE", help="Write to FILE.")] = None,
    sort: Annotated[Sort, typer.Option(help="newest first, or highest impact first.")] = Sort.newest,
    limit: Annotated[
        int | None, typer.Option(min=1, metavar="N", help=f"At most N (a table on a terminal: {TERMINAL_LIMIT}).")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """List stored mentions, newest first. Reads the store only, never the network.

    Examples:

    \b
      mentionwatch list --since 7d --status new
      mentionwatch list --brand Acme --needs-reply --sort impact --limit 10
      mentionwatch list --search "data loss" -f jsonl | jq -r .url
    """
    from mentionwatch.output import BrokenStdout, dash_is_stdout, usable_output_path, write, write_file, write_stdout
    from mentionwatch.pipeline import FUTURE_SLACK
    from mentionwatch.store import STATUSES, Query
    from mentionwatch.when import parse_since

    redactor = setup_logging(verbose, False)
    output = dash_is_stdout(output)
    try:
        now = datetime.now(UTC)
        bad = [s for s in status or [] if s not in STATUSES]
        if bad:
            raise UsageError(f"--status {', '.join(bad)}: use {', '.join(STATUSES)}")
        if sentiment is not None and sentiment not in ("positive", "neutral", "negative"):
            raise UsageError(f"--sentiment {sentiment}: use positive, neutral or negative")
        if search is not None and not search.strip():
            # Not "every mention": `list --search "$WORDS" | ... mark ignored` with WORDS unset must not take all.
            raise UsageError("--search is empty: give the words to look for, or leave --search out")
        window = {}
        for flag, value in (("since", since), ("until", until)):
            try:
                window[flag] = parse_since(value, now) if value else None
            except ValueError as exc:
                raise UsageError(f"--{flag}: {exc}") from None
        fmt_name = pick_format(fmt, output)
        if output is not None:
            usable_output_path(output, "-o")
        store, config = _store_and_config(config_path, db, redactor)
        if source and config is None:
            # The store named apart (--db, $MENTIONWATCH_DB): the config, if there is one, still names the sources
            # a --source may ask for before any of their mentions is stored.
            config = optional_config(config_path, redactor)
        try:
            shown = limit
            if shown is None and output is None and fmt_name == "table":
                shown = TERMINAL_LIMIT
            query = Query(
                brands=_brands(store, brand),
                sources=_sources(store, source, config),
                since=window["since"],
                until=window["until"],
                sentiment=sentiment,
                needs_reply=needs_reply,
                statuses=status or (),
                tags=tag or (),
                search=search,
                sort=sort.value,
                limit=shown,
            )
            # As a scan judges it with its clock (the store keeps no such flag): a post dated more than a day ahead is
            # flagged, and comes after every other.
            cut = now + FUTURE_SLACK
            mentions = _future_last(store, query, cut)
            for m in mentions:
                m.future_dated = m.published_at > cut
            # Counting them all costs a second pass: only the table says "100 of N".
            counted = fmt_name == "table" and shown is not None and len(mentions) == shown
            total = store.count(query) if counted else len(mentions)
        finally:
            store.close()
        if output is not None:
            write_file(mentions, fmt_name, output)
            sys.stderr.write(f"mentionwatch: wrote {len(mentions)} mentions to {output}\n")
        else:
            write_stdout(lambda out: write(mentions, fmt_name, out, now=now, total=total))
    except BrokenStdout:
        raise typer.Exit(141) from None
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


def _resolve(store: MentionStore, refs: list[str], brands: list[str]) -> list[Key]:
    """Every stored mention the ids name (all of them must exist), for the given brands or all."""
    keys: list[Key] = []
    missing = []
    for ref in refs:
        found = [k for k in store.resolve(ref) if not brands or k[0] in brands]
        if not found:
            missing.append(ref)
        keys.extend(found)
    if missing:
        raise UsageError(f"no stored mention with id {', '.join(missing)} (ids are as `list` shows them)")
    ambiguous = {ref for ref in refs if len({(k[1], k[2]) for k in store.resolve(ref)}) > 1}
    if ambiguous:
        raise UsageError(
            f"{', '.join(sorted(ambiguous))}: more than one source has that id; write it as SOURCE:ID "
            "(the source's name or type)"
        )
    return keys


@app.command(epilog=EXIT_CODES_HELP)
def mark(
    args: Annotated[
        list[str], typer.Argument(metavar="ID... STATUS", help="Mention ids, then new, read, done, replied or ignored.")
    ],
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand's mention of the item.")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Set the triage status of stored mentions: new, read, done, replied or ignored.

    Examples:

    \b
      mentionwatch mark 15348473 done
      mentionwatch mark hackernews:15348473 15347443 read
    """
    from mentionwatch.store import STATUSES

    redactor = setup_logging(verbose, False)
    try:
        if len(args) < 2 or args[-1] not in STATUSES:
            raise UsageError(f"mark ID... STATUS: the last word is the status ({', '.join(STATUSES)})")
        store = _store(config_path, db, redactor)
        try:
            keys = _resolve(store, args[:-1], _brands(store, brand))
            changed = store.set_status(keys, args[-1], datetime.now(UTC))
        finally:
            store.close()
        sys.stderr.write(f"mentionwatch: marked {changed} mention{'s' if changed != 1 else ''} {args[-1]}\n")
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


@app.command(epilog=EXIT_CODES_HELP)
def tag(
    args: Annotated[list[str], typer.Argument(metavar="ID... TAG", help="Mention ids, then the tag.")],
    remove: Annotated[bool, typer.Option("--remove", help="Take the tag off instead.")] = False,
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    brand: Annotated[
        list[str] | None, typer.Option("--brand", metavar="NAME", help="Only this brand's mention of the item.")
    ] = None,
    verbose: VerboseOpt = False,
) -> None:
    """Tag stored mentions (or take a tag off with --remove); `list --tag TAG` finds them.

    Example: mentionwatch tag 15348473 press && mentionwatch list --tag press
    """
    redactor = setup_logging(verbose, False)
    try:
        if len(args) < 2 or not args[-1].strip():
            raise UsageError("tag ID... TAG: name at least one id, then the tag")
        store = _store(config_path, db, redactor)
        try:
            keys = _resolve(store, args[:-1], _brands(store, brand))
            changed = store.set_tag(keys, args[-1].strip(), remove=remove)
        finally:
            store.close()
        verb = "untagged" if remove else "tagged"
        sys.stderr.write(f"mentionwatch: {verb} {changed} mention{'s' if changed != 1 else ''} {args[-1].strip()!r}\n")
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


@app.command(epilog=EXIT_CODES_HELP)
def ignore(
    brand: Annotated[str, typer.Option("--brand", metavar="NAME", help="The brand the rule is for.")],
    author: Annotated[str | None, typer.Option("--author", metavar="NAME", help="Ignore this author's posts.")] = None,
    domain: Annotated[str | None, typer.Option("--domain", metavar="HOST", help="Ignore this site.")] = None,
    term: Annotated[str | None, typer.Option("--term", metavar="TEXT", help="Ignore posts holding this.")] = None,
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Ignore noise for good: add the rule to the brand in the config file (comments and layout kept) and mark
    the stored mentions it covers ignored.

    Examples:

    \b
      mentionwatch ignore --brand Slack --term "slack wax"
      mentionwatch ignore --brand Acme --author spambot --domain coupons.example
    """
    from mentionwatch.config import find_config, load_config
    from mentionwatch.config_edit import add_exclusions
    from mentionwatch.registry import Registry

    redactor = setup_logging(verbose, False)
    try:
        rules = {k: v for k, v in (("author", author), ("domain", domain), ("term", term)) if v}
        if not rules:
            raise UsageError("ignore: give --author, --domain or --term (one or more)")
        path = find_config(config_path)
        registry = Registry.from_entry_points()
        config = load_config(path, registry, unset_env_ok=True)  # validated before it is changed
        redactor.add(config.secrets)
        named = next((b.name for b in config.brands if b.name.casefold() == brand.casefold()), None)
        if named is None:
            raise UsageError(f"--brand {brand}: not in {path} (brands: {', '.join(b.name for b in config.brands)})")
        # Every value is checked and the edited file must load before it replaces the old one.
        done = add_exclusions(config, named, rules, registry)
        for rule in done:
            verb = "added" if rule.added else "already had"
            sys.stderr.write(f"mentionwatch: {path}: {named} {verb} {rule.what} {rule.value!r}\n")
        from mentionwatch.cli.options import open_scan_store

        store = open_scan_store(config, db)
        try:
            # After any scan under way: it matched with the rules it read before the edit, and would save what they
            # now cover as new after this marked the store (and later scans drop it before the store sees it).
            with store.scan_lock(config.store.lock_timeout):
                # One rule at a time: the config vetoes a post that any one of them covers, and so does the store.
                marked = sum(
                    store.ignore_where(
                        named,
                        author=rule.value if rule.what == "author" else None,
                        domain=rule.value if rule.what == "domain" else None,
                        term=rule.value if rule.what == "term" else None,
                    )
                    for rule in done
                )
        finally:
            store.close()
        sys.stderr.write(f"mentionwatch: marked {marked} stored mention{'s' if marked != 1 else ''} ignored\n")
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


@app.command(epilog=EXIT_CODES_HELP)
def stats(
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, for scripts.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """What the store holds: mentions per brand and source and per status, its size, and each source's last
    success (a source failing scan after scan is called out as broken; the record of one whose options have
    changed since, as not configured now)."""
    import json

    from mentionwatch.models import format_time

    redactor = setup_logging(verbose, False)
    try:
        # The config, when there is one: it says which source records are the sources as configured now (the
        # store keeps each source's runs by its type and options, so an old record stays when they change).
        elsewhere = db is not None or bool(_env_db())  # the store named apart from the config, as `_store` has it
        config = optional_config(config_path, redactor) if config_path is not None or not elsewhere else None
        configured = {s.config.identity() for s in config.sources} if config is not None else None
        store = existing_store(db, None if elsewhere else config)
        try:
            data = store.stats()
            data["sources"] = [
                {
                    "name": s.name,
                    "identity": s.identity,
                    "last_run": format_time(s.last_run) if s.last_run else None,
                    "last_state": s.last_state,
                    "last_success": format_time(s.last_success) if s.last_success else None,
                    "failures_in_a_row": s.failures,
                    "failing_since": format_time(s.failing_since) if s.failing_since else None,
                    "last_error": s.last_error,
                    "broken": s.failures >= 3,
                    "configured": None if configured is None else s.identity in configured,
                }
                for s in store.source_status()
            ]
            # New keys after the ones scripts read: the duplicates folded into the mentions counted above.
            data["duplicates"] = data.pop("duplicates")
        finally:
            store.close()
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None
    if as_json:
        print_out(lambda out: out.write(redactor(json.dumps(data, indent=2)) + "\n"), redactor)
        return
    print_out(lambda out: _print_stats(data, redactor, out), redactor)


def _print_stats(data: dict[str, Any], redactor: Redactor, out: IO[str]) -> None:
    from rich.table import Table
    from rich.text import Text

    from mentionwatch.output import make_console, sanitize_terminal

    console = make_console(file=out, highlight=False)
    console.print(
        Text(
            f"{data['store']}: {data['mentions']} mentions ({data['duplicates']} duplicates folded into them), "
            f"{data['bytes'] / 1e6:.1f} MB"
        )
    )
    table = Table("brand", "source", "mentions", "duplicates", title="by brand and source", title_justify="left")
    for row in data["by_brand_and_source"]:
        table.add_row(
            Text(sanitize_terminal(row["brand"])),
            Text(sanitize_terminal(row["source"])),
            str(row["mentions"]),
            str(row["duplicates"]),
        )
    console.print(table)
    table = Table("status", "mentions", title="by status", title_justify="left")
    for row in data["by_status"]:
        table.add_row(row["status"], str(row["mentions"]))
    console.print(table)
    table = Table(title="sources", title_justify="left")
    table.add_column("source", overflow="fold")
    # Times whole (a cut one reads as another), the state folded into what room is left.
    table.add_column("last run", no_wrap=True, min_width=len("2026-12-05T08:00:00Z"))
    table.add_column("last success", no_wrap=True, min_width=len("2026-12-05T08:00:00Z"))
    table.add_column("state", overflow="fold", ratio=1)
    for s in data["sources"]:
        state = Text(s["last_state"] or "")
        if s["broken"]:
            state = Text(
                f"broken: {s['failures_in_a_row']} failures in a row since {s['failing_since']}; "
                f"{sanitize_terminal(redactor(s['last_error'] or ''))}",
                style="red",
            )
        if s["configured"] is False:
            state = Text.assemble("not in the config now (removed, or its options changed); last: ", state, style="dim")
        table.add_row(Text(s["name"]), s["last_run"] or "-", s["last_success"] or "never", state)
    console.print(table)


@app.command(epilog=EXIT_CODES_HELP)
def prune(
    older_than: Annotated[
        str, typer.Option("--older-than", metavar="AGE", help="Forget mentions older than this: 180d, 26w.")
    ],
    keep_nothing: Annotated[bool, typer.Option("--all", help="Tagged mentions too (kept by default).")] = False,
    force: Annotated[
        bool, typer.Option("--force", help="Even inside the config's `since`: scans then report them as new again.")
    ] = False,
    config_path: ConfigOpt = None,
    db: DbOpt = None,
    verbose: VerboseOpt = False,
) -> None:
    """Forget mentions published before a given age; tagged ones are kept unless --all.

    Example: mentionwatch prune --older-than 180d
    """
    from mentionwatch.config import DEFAULT_SINCE
    from mentionwatch.when import parse_duration, parse_since

    redactor = setup_logging(verbose, False)
    try:
        now = datetime.now(UTC)
        try:
            before = now - parse_duration(older_than)
        except (ValueError, OverflowError) as exc:
            raise UsageError(f"--older-than: {exc}") from None
        store, config = _store_and_config(config_path, db, redactor)
        if config is None and not force:
            config = optional_config(config_path, redactor)
        since = (config.since if config is not None else None) or DEFAULT_SINCE
        try:
            window: datetime | None = parse_since(since, now)
        except ValueError:  # the config's loader has read it; a since no clock holds is no window
            window = None
        # What a scan reaches back to and the store forgets would be found again, and reported as new: the store is
        # what tells a scan that it has seen a mention.
        if not force and window is not None and window < before:
            store.close()
            raise UsageError(
                    f"--older-than {older_than} is inside the scans' window (since: {since}): what it forgets, a scan"
                    " finds again and reports as new. Prune older than that window, or say --force"
                )
        try:
            removed = store.prune(before, keep_tagged=not keep_nothing)
        finally:
            store.close()
        sys.stderr.write(f"mentionwatch: forgot {removed} mention{'s' if removed != 1 else ''}\n")
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None


def _future_last(store: MentionStore, query: Query, cut: datetime) -> list[Mention]:
    """What `query` selects, in its order, but every mention published after `cut` after all the others. Under a
    limit, they are asked for only if it leaves room: a post dated next year must not push out a real one."""
    from dataclasses import replace

    # Stored times are whole seconds: published at or before `cut` is published before the next whole second.
    edge = cut.replace(microsecond=0) + timedelta(seconds=1)
    if query.limit is None:
        return sorted(store.query(query), key=lambda m: m.published_at >= edge)  # stable: the store's order
    before = store.query(replace(query, until=min(query.until, edge) if query.until else edge))
    room = query.limit - len(before)
    if room <= 0 or (query.until is not None and query.until <= edge):
        return before
    after = store.query(replace(query, since=max(query.since, edge) if query.since else edge, limit=room))
    return before + after

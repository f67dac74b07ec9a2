"""The `mentionwatch` command: parses flags, calls the core, maps errors to exit codes. No logic here."""

from __future__ import annotations

import gc
import logging
import os
import sys
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from mentionwatch import __version__

# `import httpx` also imports httpx's own command-line client (click, pygments and rich's syntax and tables:
# 30 ms of every scan's start-up), which mentionwatch never runs. That import is optional in httpx (without
# `httpx[cli]` it falls back to a stub), and a None in sys.modules makes it fail at once. Only here, in the
# command's process; a program importing mentionwatch as a library keeps its httpx whole.
sys.modules.setdefault("httpx._main", None)  # type: ignore[arg-type]  # None: "not importable", as documented

if TYPE_CHECKING:
    from mentionwatch.config import Config
    from mentionwatch.pipeline import ScanResult
    from mentionwatch.redaction import Redactor
    from mentionwatch.registry import Registry

EXIT_CODES_HELP = """
Exit codes: 0 every source answered · 2 bad usage or config · 3 some sources failed (the rest is
still printed) · 4 every source failed · 130 interrupted.
"""

app = typer.Typer(
    name="mentionwatch",
    help="Watch what people say about your brand: search and read sources, match, score, dedupe, print.\n\n"
    "Examples:\n\n"
    "\b\n"
    "  mentionwatch init                       # write a starter mentionwatch.yaml\n"
    "  mentionwatch check                      # validate it\n"
    "  mentionwatch scan --since 24h           # a table of the last day's mentions\n"
    "  mentionwatch scan -f jsonl | jq .url    # data for pipes\n"
    "  mentionwatch explain ID -i scan.jsonl   # why a mention matched, how it scored\n\n" + EXIT_CODES_HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
)

log = logging.getLogger("mentionwatch")


class Format(StrEnum):
    table = "table"
    json = "json"
    jsonl = "jsonl"
    csv = "csv"


class Sort(StrEnum):
    newest = "newest"
    impact = "impact"


def _version(value: bool) -> None:
    if value:
        typer.echo(f"mentionwatch {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_version, is_eager=True, help="Show the version and exit.")
    ] = False,
) -> None:
    """Watch what people say about your brand."""


ConfigOpt = Annotated[
    Path | None,
    typer.Option(
        "--config",
        "-c",
        help="Config file. Default: $MENTIONWATCH_CONFIG, else ./mentionwatch.yaml, else config.yaml "
        "in the user config dir.",
        show_default=False,
    ),
]
VerboseOpt = Annotated[bool, typer.Option("--verbose", "-v", help="Debug logs and tracebacks on stderr.")]
QuietOpt = Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr.")]


def _setup_logging(verbose: bool, quiet: bool) -> Redactor:
    from mentionwatch.redaction import RedactingFilter, Redactor

    redactor = Redactor()
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("mentionwatch: %(levelname)s: %(message)s"))
    handler.addFilter(RedactingFilter(redactor))
    root = logging.getLogger("mentionwatch")
    root.handlers[:] = [handler]
    root.propagate = False
    root.setLevel(logging.DEBUG if verbose else logging.ERROR if quiet else logging.WARNING)
    return redactor


def _fail(exc: BaseException, redactor: Redactor, verbose: bool) -> typer.Exit:
    """One clear line per problem on stderr (a traceback only with -v), and the error's exit code."""
    from mentionwatch.errors import MentionwatchError
    from mentionwatch.output import sanitize_terminal

    if verbose:
        import traceback

        sys.stderr.write(redactor("".join(traceback.format_exception(exc))))
    lines = str(exc).splitlines() or [type(exc).__name__]
    if not isinstance(exc, MentionwatchError):
        hint = "" if verbose else "; run with -v for the traceback"
        lines = [f"internal error, please report it: {type(exc).__name__}: {lines[0]}{hint}"]
    for line in lines:
        sys.stderr.write(f"mentionwatch: error: {sanitize_terminal(redactor(line))}\n")
    return typer.Exit(exc.exit_code if isinstance(exc, MentionwatchError) else 1)


def _load(config_path: Path | None, redactor: Redactor, unset_env_ok: bool = False) -> tuple[Config, Registry]:
    from mentionwatch.config import find_config, load_config
    from mentionwatch.registry import Registry

    registry = Registry.from_entry_points()
    config = load_config(find_config(config_path), registry, unset_env_ok=unset_env_ok)
    redactor.add(config.secrets)
    if config.secrets_in_file and config.path.exists() and config.path.stat().st_mode & 0o077:
        log.warning(
            "%s holds secrets and other users can read it: `chmod 600 %s`, or move them to ${ENV} variables",
            config.path,
            config.path,
        )
    return config, registry


@app.command(epilog=EXIT_CODES_HELP)
def scan(
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
      mentionwatch scan --record bundle/ && mentionwatch scan --replay bundle/
    """
    import asyncio

    from mentionwatch.config import DEFAULT_SINCE, parse_since
    from mentionwatch.errors import UsageError
    from mentionwatch.pipeline import ScanEnv, ScanRequest, run_scan
    from mentionwatch.store import Store, default_state_path

    redactor = _setup_logging(verbose, quiet)
    closers: list[Any] = []
    try:
        if record is not None and replay is not None:
            raise UsageError("--record and --replay cannot be used together")
        config, _ = _load(config_path, redactor, unset_env_ok=replay is not None)
        env = ScanEnv(now=lambda: datetime.now(UTC), store=Store(_state_path(default_state_path)))
        closers.append(env.store)
        if replay is not None:
            env = _replay_env(replay, redactor)
        elif record is not None:
            from mentionwatch.replay import Recorder

            env.recorder = Recorder(record, redactor, env.now())
            closers.append(env.recorder)
        elif config.http.cache and not no_cache:
            from mentionwatch.cache import HttpCache, default_cache_path

            env.cache = HttpCache(default_cache_path())
            closers.append(env.cache)
        if replay is None and record is None:
            # Sources keep login sessions here. Not while recording: a bundle must hold the login exchange
            # too, or its replay would need a session the recording never saw.
            from platformdirs import user_cache_path

            env.cache_dir = user_cache_path("mentionwatch")
        now = env.now()
        try:
            since_at = parse_since(since or config.since or DEFAULT_SINCE, now)
        except ValueError as exc:
            raise UsageError(f"--since: {exc}") from None
        brands = _select(config.brands, brand, "brand", lambda b: b.name)
        sources = _select(config.sources, source, "source", lambda s: s.name)
        fmt_name = _pick_format(fmt, output)
        request = ScanRequest(since=since_at, brands=brands, sources=sources, sort=sort.value, limit=limit)
        # What is loaded by now (modules, config) lives until the process exits: frozen, the cyclic
        # collector stops re-walking it during the scan and at exit (measured: 60-90 ms of a 0.7 s scan).
        gc.freeze()
        result = _run_with_progress(lambda: asyncio.run(run_scan(config, request, env)), env, quiet)
        _emit(result, fmt_name, output, now)
        if health is not None:
            _write_health(result, health)
        _report_health(result, quiet, redactor)
    except KeyboardInterrupt:
        sys.stderr.write("mentionwatch: interrupted\n")
        raise typer.Exit(130) from None
    except Exception as exc:  # one clear line, never a traceback that could carry a secret (-v shows it redacted)
        raise _fail(exc, redactor, verbose) from None
    finally:
        for closer in closers:
            closer.close()
    if result.interrupted:
        sys.stderr.write("mentionwatch: interrupted; printed what was gathered\n")
    raise typer.Exit(result.exit_code)


def _replay_env(directory: Path, redactor: Redactor) -> Any:
    from mentionwatch.errors import UsageError
    from mentionwatch.pipeline import ScanEnv
    from mentionwatch.replay import Replayer
    from mentionwatch.store import Store

    try:
        replayer = Replayer(directory, redactor)
        recorded_at = replayer.recorded_at
    except (OSError, ValueError, KeyError) as exc:
        raise UsageError(f"--replay {directory}: {exc}") from None

    async def no_wait(_seconds: float) -> None:
        return None

    # The recorded scan's clock and no waiting: the same bundle gives the same output, at once.
    return ScanEnv(now=lambda: recorded_at, store=Store(None), replayer=replayer, sleep=no_wait)


def _run_with_progress(run: Any, env: Any, quiet: bool) -> ScanResult:
    if quiet or not sys.stderr.isatty():
        result: ScanResult = run()
        return result
    from mentionwatch.progress import ProgressDisplay

    with ProgressDisplay() as display:
        env.on_start = display.start
        result = run()
    return result


def _state_path(default: Any) -> Path:
    override = os.environ.get("MENTIONWATCH_STATE")
    return Path(override) if override else Path(default())


def _select(items: list[Any], wanted: list[str] | None, what: str, name: Any) -> list[Any]:
    from mentionwatch.errors import UsageError

    if not wanted:
        return items
    names = {name(i) for i in items}
    unknown = [w for w in wanted if w not in names]
    if unknown:
        raise UsageError(f"--{what} {', '.join(unknown)}: not in the config (configured: {', '.join(sorted(names))})")
    return [i for i in items if name(i) in wanted]


def _pick_format(fmt: Format | None, output: Path | None) -> str:
    from mentionwatch.output import format_for_path

    if output is not None:
        return format_for_path(str(output), fmt.value if fmt else None)
    if fmt is not None:
        return fmt.value
    return "table" if sys.stdout.isatty() else "jsonl"


def _emit(result: ScanResult, fmt: str, output: Path | None, now: datetime) -> None:
    from mentionwatch.output import write

    if output is None:
        write(result.mentions, fmt, sys.stdout, now=now)
        sys.stdout.flush()
        return
    # Written beside the target and renamed into place, so a cron job never leaves half a file.
    tmp = output.with_name(f".{output.name}.tmp")
    newline = "" if fmt == "csv" else None
    with tmp.open("w", encoding="utf-8", newline=newline) as out:
        write(result.mentions, fmt, out, now=now, width=160)
    tmp.replace(output)


def _write_health(result: ScanResult, path: Path) -> None:
    import json

    data = {"exit_code": result.exit_code, "sources": [h.to_dict() for h in result.health]}
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _report_health(result: ScanResult, quiet: bool, redactor: Redactor) -> None:
    """A line per source on stderr: people read it; `--health FILE` is the same for machines."""
    from rich.console import Console
    from rich.text import Text

    from mentionwatch.output import sanitize_terminal

    console = Console(stderr=True, highlight=False)
    for h in result.health:
        if quiet and not h.failed:
            continue
        style = "red" if h.failed else ("yellow" if h.state == "empty" else "green")
        line = Text()
        line.append(f"{h.state:<12}", style=style)
        line.append(f" {h.name:<16} {h.items} items, {h.mentions} mentions, {h.requests} requests, {h.seconds:.1f}s")
        if h.error:
            line.append(f" — {sanitize_terminal(redactor(h.error))}", style=style)
        console.print(line)


@app.command(epilog=EXIT_CODES_HELP)
def check(config_path: ConfigOpt = None, verbose: VerboseOpt = False) -> None:
    """Validate the config and print the resolved brands and sources (secrets masked).

    Example: mentionwatch check -c mentionwatch.yaml
    """
    import yaml

    from mentionwatch.errors import MentionwatchError

    redactor = _setup_logging(verbose, False)
    try:
        config, _ = _load(config_path, redactor)
    except MentionwatchError as exc:
        raise _fail(exc, redactor, verbose) from None
    resolved = {
        "config": str(config.path),
        "since": config.since or "7d (default)",
        "brands": [b.model_dump() for b in config.brands],
        "sources": [{"name": s.name, **s.config.model_dump(mode="json", exclude={"name"})} for s in config.sources],
        "http": config.http.model_dump(),
    }
    text = yaml.safe_dump(resolved, sort_keys=False, allow_unicode=True)
    sys.stdout.write(redactor(text))
    sys.stderr.write(f"mentionwatch: {config.path}: OK, {len(config.brands)} brands, {len(config.sources)} sources\n")


@app.command("sources")
def list_sources(
    config_path: ConfigOpt = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, for scripts.")] = False,
) -> None:
    """List the installed source adapters, their options and defaults, and whether they need credentials."""
    import json

    from pydantic_core import PydanticUndefined

    from mentionwatch.config import find_config, load_config
    from mentionwatch.errors import MentionwatchError
    from mentionwatch.registry import Registry

    redactor = _setup_logging(False, False)
    registry = Registry.from_entry_points()
    configured: dict[str, list[str]] = {}
    try:
        config = load_config(find_config(config_path), registry)
        for s in config.sources:
            configured.setdefault(s.cls.type, []).append(s.name)
    except MentionwatchError:
        if config_path is not None:
            raise
    rows: list[dict[str, Any]] = []
    for type_name, cls in registry.items():
        options = {}
        for field_name, info in cls.Config.model_fields.items():
            if field_name == "type":
                continue
            default = None if info.default is PydanticUndefined else info.default
            if info.default_factory is not None:
                default = info.default_factory()  # type: ignore[call-arg,unused-ignore]
            options[field_name] = {"default": default, "help": info.description or ""}
        rows.append(
            {
                "type": type_name,
                "about": (cls.__doc__ or "").strip().splitlines()[0] if cls.__doc__ else "",
                "credentials": cls.credentials,
                "searchable": cls.searchable,
                "configured": configured.get(type_name, []),
                "options": options,
            }
        )
    if as_json:
        sys.stdout.write(redactor(json.dumps(rows, indent=2, default=str)) + "\n")
        return
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    table = Table()
    for col in ("type", "credentials", "configured", "options (default)", "about"):
        table.add_column(col)
    for row in rows:
        opts = ", ".join(
            f"{k}={v['default']!r}" if v["default"] not in (None, "", []) else k for k, v in row["options"].items()
        )
        table.add_row(
            Text(row["type"]),
            Text(row["credentials"]),
            Text(", ".join(row["configured"]) or "-"),
            Text(redactor(opts)),
            Text(row["about"]),
        )
    Console(highlight=False).print(table)
    for name, problem in registry.broken.items():
        sys.stderr.write(f"mentionwatch: warning: plugin {name} failed to load: {problem}\n")


@app.command()
def init(
    path: Annotated[Path, typer.Argument(help="Where to write the starter config.")] = Path("mentionwatch.yaml"),
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented starter config (never overwrites without --force).

    Example: mentionwatch init && mentionwatch check
    """
    from importlib.resources import files

    if path.exists() and not force:
        sys.stderr.write(f"mentionwatch: error: {path} exists; pass --force to overwrite it\n")
        raise typer.Exit(2)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(files("mentionwatch").joinpath("starter.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    sys.stderr.write(f"mentionwatch: wrote {path}; edit the brands, then run `mentionwatch check -c {path}`\n")


@app.command(epilog=EXIT_CODES_HELP)
def explain(
    mention: Annotated[
        str, typer.Argument(metavar="ID_OR_URL", help="The mention's id or URL, as in the scan output.")
    ],
    config_path: ConfigOpt = None,
    input_path: Annotated[
        Path | None,
        typer.Option("--input", "-i", help="A scan's JSONL (or JSON) output. Default: read it from stdin."),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="As JSON, for scripts.")] = False,
    verbose: VerboseOpt = False,
) -> None:
    """Explain one mention of a scan: why it matched (query clause, terms, each exclusion tested), its
    sentiment and impact with the parts that made them, and its duplicate cluster.

    Exit 2 when no mention in the input has that id or URL.

    Examples:

      mentionwatch scan -o scan.jsonl && mentionwatch explain 15353312 -i scan.jsonl

      mentionwatch scan -f jsonl | mentionwatch explain https://news.ycombinator.com/item?id=15353312

      mentionwatch explain 15353312 -i scan.jsonl --json | jq .impact
    """
    from mentionwatch.errors import MentionwatchError, UsageError
    from mentionwatch.explain import explain as explain_one
    from mentionwatch.explain import find, read_records, render
    from mentionwatch.scoring import load_scorer

    redactor = _setup_logging(verbose, False)
    try:
        config, _ = _load(config_path, redactor)
        if input_path is not None:
            try:
                text, where = input_path.read_text(encoding="utf-8"), str(input_path)
            except (OSError, UnicodeDecodeError) as exc:
                raise UsageError(f"--input {input_path}: cannot read it: {exc}") from None
        elif sys.stdin.isatty():
            raise UsageError("no input: pass --input FILE (a scan's JSONL output) or pipe it on stdin")
        else:
            text, where = sys.stdin.read(), "stdin"
        records = read_records(text, where)
        found = find(records, mention)
        if not found:
            raise UsageError(f"no mention with id or URL {mention!r} among the {len(records)} in {where}")
        scorer = load_scorer(config.scoring.sentiment)
        explanations = [explain_one(records, i, config, scorer) for i in found]
    except MentionwatchError as exc:
        raise _fail(exc, redactor, verbose) from None
    if as_json:
        import json

        payload = explanations[0] if len(explanations) == 1 else explanations
        sys.stdout.write(redactor(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n")
        return
    render(explanations, sys.stdout)


def main() -> None:
    try:
        app()
    finally:
        # The process ends here: spare it the collector's last walk over everything the run made (see scan).
        gc.freeze()

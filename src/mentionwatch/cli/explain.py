"""`mentionwatch explain`: why one mention of a scan matched, and how it was scored."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from mentionwatch.cli.app import EXIT_CODES_HELP, app
from mentionwatch.cli.options import ConfigOpt, VerboseOpt, fail, load, print_out, setup_logging
from mentionwatch.errors import MentionwatchError, UsageError

if TYPE_CHECKING:
    from mentionwatch.config import Config
    from mentionwatch.redaction import Redactor


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

    An id or URL that dedupe folded into another mention's cluster (its `also_seen`) explains the mention that
    cluster was kept as, and says so. Exit 2 when no mention in the input, nor any cluster, has that id or URL.

    Examples:

      mentionwatch scan -o scan.jsonl && mentionwatch explain 15348473 -i scan.jsonl

      mentionwatch scan -f jsonl | mentionwatch explain https://news.ycombinator.com/item?id=15348473

      mentionwatch explain 15348473 -i scan.jsonl --json | jq .impact
    """
    from mentionwatch.explain import explain as explain_one
    from mentionwatch.explain import find, find_in_clusters, read_records, render
    from mentionwatch.sentiment import DEFAULT_SCORER, load_scorer

    redactor = setup_logging(verbose, False)
    try:
        config = _config_if_any(config_path, redactor)
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
        # Its own record first; else the mention whose cluster holds it, with the entry that says how it joined.
        found = [(i, None) for i in find(records, mention)] or find_in_clusters(records, mention)
        if not found:
            raise UsageError(f"no mention with id or URL {mention!r} among the {len(records)} in {where}")
        scorer = load_scorer(config.scoring.sentiment if config else DEFAULT_SCORER)
        explanations = []
        for i, entry in found:
            explanation = explain_one(records, i, config, scorer)
            if entry is not None:
                explanation["found_in_cluster"] = entry
            explanations.append(explanation)
    except MentionwatchError as exc:
        raise fail(exc, redactor, verbose) from None
    if as_json:
        import json

        payload = explanations[0] if len(explanations) == 1 else explanations
        print_out(lambda out: out.write(redactor(json.dumps(payload, indent=2, ensure_ascii=False)) + "\n"), redactor)
        return
    print_out(lambda out: render(explanations, out), redactor)


def _config_if_any(config_path: Path | None, redactor: Redactor) -> Config | None:
    """The config, or None when there is none to find (a scan's output explains itself well enough); a config
    named with -c must load."""
    import os

    from mentionwatch.config import CONFIG_ENV

    try:
        config, _ = load(config_path, redactor)
    except UsageError:
        if config_path is not None or os.environ.get(CONFIG_ENV):
            raise
        return None
    return config

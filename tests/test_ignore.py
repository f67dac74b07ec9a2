"""`mentionwatch ignore`: the rule goes into the config file with only its own lines changed, for the brand named
and no other, and a value the config would refuse is refused before the file is touched.

Each layout below is one people write (or mentionwatch ships); the test is the diff between before and after."""

from __future__ import annotations

import difflib
import json
import re
import shutil
from collections.abc import Callable
from pathlib import Path

import pytest

from mentionwatch.config import BrandConfig, load_config
from mentionwatch.config_edit import add_exclusions
from mentionwatch.errors import ConfigError
from mentionwatch.registry import Registry

from conftest import Run

REPO = Path(__file__).parent.parent
SOURCES_AT_2 = "sources:\n  - type: jsonl   # an export\n    path: mentions.jsonl\n"


def write(tmp_path: Path, text: str) -> Path:
    (tmp_path / "mentions.jsonl").write_text("", encoding="utf-8")
    path = tmp_path / "mentionwatch.yaml"
    path.write_bytes(text.encode())
    return path


def changes(before: str, after: str) -> tuple[list[str], list[str]]:
    """The lines taken out of `before` and the lines put into it, in order."""
    diff = list(difflib.ndiff(before.splitlines(), after.splitlines()))
    return [d[2:] for d in diff if d.startswith("- ")], [d[2:] for d in diff if d.startswith("+ ")]


def brand(path: Path, name: str) -> BrandConfig:
    config = load_config(path, Registry.from_entry_points(), unset_env_ok=True)
    return next(b for b in config.brands if b.name == name)


def ignore(cli: Callable[..., Run], path: Path, *args: str) -> Run:
    run = cli("ignore", "-c", str(path), *args)
    assert run.code == 0, run.stderr
    assert cli("check", "-c", str(path)).code == 0
    return run


# -- layout: only the rule's lines change

LAYOUTS = {
    # Lists indented under their key, comments at the ends of lines.
    "two-space offset": (
        "brands:\n"
        "  - name: Acme   # the main brand\n"
        "    terms:\n"
        "      - Acme\n"
        "    exclude_authors:\n"
        "      - bob      # a bot\n"
        "    competitor: false\n" + SOURCES_AT_2,
        ["--brand", "Acme", "--author", "spambot", "--term", "coyote"],
        [],
        ["      - spambot", "    exclude: [coyote]"],
    ),
    # Items in the column of their key; block lists everywhere.
    "zero offset": (
        "brands:\n"
        "- name: Acme   # the main brand\n"
        "  terms:\n"
        "  - Acme\n"
        "  exclude:\n"
        "  - coyote    # not that Acme\n"
        "sources:\n"
        "- type: jsonl\n"
        "  path: mentions.jsonl\n",
        ["--brand", "Acme", "--author", "spambot", "--term", "road runner"],
        [],
        ["  - road runner", "  exclude_authors: [spambot]"],
    ),
    # Brands in flow style, on lines far longer than 80 columns.
    "flow": (
        "brands: [{name: Acme, terms: [Acme, AcmeCloud, 'Acme Corporation International Holdings'], exclude: [coyote]},\n"
        "  {name: Globex, terms: [Globex, GlobexCloud, Globex Corporation International Holdings Limited]}]   # both\n"
        "sources: [{type: jsonl, path: mentions.jsonl}]\n",
        ["--brand", "Globex", "--domain", "coupons.example"],
        [
            "  {name: Globex, terms: [Globex, GlobexCloud, Globex Corporation International Holdings Limited]}]   # both"
        ],
        [
            "  {name: Globex, terms: [Globex, GlobexCloud, Globex Corporation International Holdings Limited], "
            "exclude_domains: [coupons.example]}]   # both"
        ],
    ),
    # Brands and sources indented differently in one file: each part keeps its own.
    "mixed": (
        "brands:\n"
        "    -   name: Acme\n"
        "        terms: [Acme]   # the name\n"
        "        exclude_domains: [\n"
        "            coupons.example,   # spam\n"
        "        ]\n"
        "sources:\n"
        "- type: jsonl\n"
        "  path: mentions.jsonl\n",
        ["--brand", "Acme", "--domain", "deals.example", "--author", "spambot"],
        ["            coupons.example,   # spam"],
        ["            coupons.example, deals.example,   # spam", "        exclude_authors: [spambot]"],
    ),
}


@pytest.mark.parametrize("layout", LAYOUTS)
def test_ignore_changes_only_the_lines_of_the_rule(tmp_path: Path, cli: Callable[..., Run], layout: str) -> None:
    text, args, removed, added = LAYOUTS[layout]
    path = write(tmp_path, text)
    ignore(cli, path, *args)
    assert changes(text, path.read_text(encoding="utf-8")) == (removed, added)


def test_ignore_keeps_the_shipped_example_config_as_written(tmp_path: Path, cli: Callable[..., Run]) -> None:
    text = (REPO / "config.example.yaml").read_text(encoding="utf-8")
    path = write(tmp_path, text)
    ignore(cli, path, "--brand", "acme", "--author", "spambot", "--domain", "coupons.example", "--term", "wile e")
    assert changes(text, path.read_text(encoding="utf-8")) == (
        ['    exclude: [coyote, "road runner"]'],
        [
            '    exclude: [coyote, "road runner", wile e]',
            "    exclude_authors: [spambot]",
            "    exclude_domains: [coupons.example]",
        ],
    )
    acme = brand(path, "Acme")
    assert (acme.exclude, acme.exclude_authors, acme.exclude_domains) == (
        ["coyote", "road runner", "wile e"],
        ["spambot"],
        ["coupons.example"],
    )


def test_ignore_keeps_the_file_init_writes_as_written(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = tmp_path / "mentionwatch.yaml"
    assert cli("init", str(path)).code == 0
    text = path.read_text(encoding="utf-8")
    ignore(cli, path, "--brand", "Acme", "--author", "@spambot")
    assert changes(text, path.read_text(encoding="utf-8")) == (
        [],
        ['    exclude_authors: ["@spambot"]'],  # `@` cannot start a plain YAML value
    )


def test_ignore_keeps_the_offline_example_as_written(tmp_path: Path, cli: Callable[..., Run]) -> None:
    shutil.copytree(REPO / "examples", tmp_path / "examples")
    path = tmp_path / "examples" / "mentionwatch.yaml"
    text = path.read_text(encoding="utf-8")
    ignore(cli, path, "--brand", "Slack", "--term", "slack water")
    ignore(cli, path, "--brand", "Node.js", "--author", "spambot")
    assert changes(text, path.read_text(encoding="utf-8")) == (
        ['    exclude: ["slack wax", "slack adjuster", "automotive slack"]'],
        [
            '    exclude: ["slack wax", "slack adjuster", "automotive slack", slack water]',
            "    exclude_authors: [spambot]",
        ],
    )


def test_ignore_keeps_windows_line_ends_and_a_file_with_no_last_line_end(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    text = "brands:\r\n  - name: Acme\r\n    terms: [Acme]\r\nsources:\r\n  - type: jsonl\r\n    path: mentions.jsonl"
    path = write(tmp_path, text)
    ignore(cli, path, "--brand", "Acme", "--author", "spambot")
    assert path.read_bytes().decode() == text.replace("[Acme]\r\n", "[Acme]\r\n    exclude_authors: [spambot]\r\n")
    ending = write(tmp_path, "sources: [{type: jsonl, path: mentions.jsonl}]\nbrands:\n  - name: Acme\n    terms: [Acme]")
    ignore(cli, ending, "--brand", "Acme", "--term", "coyote")
    assert ending.read_text(encoding="utf-8").endswith("    terms: [Acme]\n    exclude: [coyote]")


def test_ignore_writes_values_as_the_config_reads_them(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = write(tmp_path, "brands:\n  - name: Acme\n    terms: [Acme]\n    exclude:\n      - coyote\n" + SOURCES_AT_2)
    for term in ("x # not a comment", "a: b", "yes", "${HOME}", "[1, 2]", "tab\there"):
        ignore(cli, path, "--brand", "Acme", "--term", term)
    ignore(cli, path, "--brand", "Acme", "--author", "${USER}")
    acme = brand(path, "Acme")
    assert acme.exclude == ["coyote", "x # not a comment", "a: b", "yes", "${HOME}", "[1, 2]", "tab\there"]
    assert acme.exclude_authors == ["${USER}"], "`${` is written `$${`: a literal, not the environment's"
    assert "\t" not in path.read_text(encoding="utf-8"), "a control character is escaped"


def test_ignore_leaves_the_file_alone_when_the_brand_has_the_rule(tmp_path: Path, cli: Callable[..., Run]) -> None:
    text = "brands:\n  - name: Acme\n    terms: [Acme]\n    exclude_authors: [Bob]\n    exclude_domains: [www.coupons.example]\n"
    path = write(tmp_path, text + SOURCES_AT_2)
    run = ignore(cli, path, "--brand", "Acme", "--author", "bob", "--domain", "https://coupons.example/deal")
    assert "already had author 'bob'" in run.stderr and "already had domain 'coupons.example'" in run.stderr
    assert path.read_text(encoding="utf-8") == text + SOURCES_AT_2


# -- a list other brands share: it changes for the brand named only

SHARED = (
    "brands:\n"
    "  - name: Acme\n"
    "    terms: &terms [Acme]\n"
    "    exclude_authors: &ex [bob]   # shared\n"
    "  - name: Globex\n"
    "    terms: [Globex]\n"
    "    exclude_authors: *ex\n"
    "  - name: Initech\n"
    "    terms: [Initech]\n"
    "    exclude_authors: *ex\n" + SOURCES_AT_2
)


def test_ignore_on_the_brand_holding_the_anchor_leaves_the_others_the_list_they_had(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    path = write(tmp_path, SHARED)
    ignore(cli, path, "--brand", "Acme", "--author", "t")
    assert [brand(path, b).exclude_authors for b in ("Acme", "Globex", "Initech")] == [["bob", "t"], ["bob"], ["bob"]]
    assert changes(SHARED, path.read_text(encoding="utf-8")) == (
        ["    exclude_authors: &ex [bob]   # shared", "    exclude_authors: *ex"],
        ["    exclude_authors: [bob, t]   # shared", "    exclude_authors: &ex [bob]"],
    ), "the anchor moves to the first alias; the unused &terms stays"


def test_ignore_on_a_brand_using_an_alias_gives_it_a_list_of_its_own(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = write(tmp_path, SHARED)
    ignore(cli, path, "--brand", "Globex", "--author", "t")
    assert [brand(path, b).exclude_authors for b in ("Acme", "Globex", "Initech")] == [["bob"], ["bob", "t"], ["bob"]]
    assert changes(SHARED, path.read_text(encoding="utf-8")) == (
        ["    exclude_authors: *ex"],
        ["    exclude_authors: [bob, t]"],
    )


def test_ignore_on_a_shared_block_list(tmp_path: Path, cli: Callable[..., Run]) -> None:
    text = (
        "brands:\n  - name: Acme\n    terms: [Acme]\n    exclude: &words\n      - coyote\n"
        "  - name: Globex\n    terms: [Globex]\n    exclude: *words\n" + SOURCES_AT_2
    )
    path = write(tmp_path, text)
    ignore(cli, path, "--brand", "Acme", "--term", "anvil")
    assert (brand(path, "Acme").exclude, brand(path, "Globex").exclude) == (["coyote", "anvil"], ["coyote"])
    assert changes(text, path.read_text(encoding="utf-8")) == (
        ["    exclude: &words", "    exclude: *words"],
        ["    exclude:", "      - anvil", "    exclude: &words [coyote]"],
    )


def test_ignore_on_a_brand_others_merge_keeps_theirs(tmp_path: Path, cli: Callable[..., Run]) -> None:
    text = (
        "brands:\n"
        "  - &acme\n    name: Acme\n    terms: [Acme]\n    exclude_authors: [bob]\n"
        "  - <<: *acme\n    name: Acme EU\n    terms: [Acme EU]\n" + SOURCES_AT_2
    )
    path = write(tmp_path, text)
    ignore(cli, path, "--brand", "Acme", "--author", "t")
    assert (brand(path, "Acme").exclude_authors, brand(path, "Acme EU").exclude_authors) == (["bob", "t"], ["bob"])
    assert changes(text, path.read_text(encoding="utf-8")) == (
        ["    exclude_authors: [bob]"],
        ["    exclude_authors: [bob, t]", "    exclude_authors: [bob]"],
    )
    ignore(cli, path, "--brand", "Acme EU", "--author", "eu-bot")
    assert (brand(path, "Acme").exclude_authors, brand(path, "Acme EU").exclude_authors) == (
        ["bob", "t"],
        ["bob", "eu-bot"],
    )


def test_ignore_on_a_brand_that_merges_its_list_copies_it(tmp_path: Path, cli: Callable[..., Run]) -> None:
    text = (
        "brands:\n"
        "  - name: Acme\n    terms: [Acme]\n    <<: &bots {exclude_authors: [bob]}\n"
        "  - name: Globex\n    terms: [Globex]\n    <<: *bots\n" + SOURCES_AT_2
    )
    path = write(tmp_path, text)
    ignore(cli, path, "--brand", "Globex", "--author", "t")
    assert (brand(path, "Acme").exclude_authors, brand(path, "Globex").exclude_authors) == (["bob"], ["bob", "t"])
    assert changes(text, path.read_text(encoding="utf-8")) == ([], ["    exclude_authors: [bob, t]"])


# -- a value the config would refuse never reaches the file


def test_ignore_refuses_a_domain_the_config_would_refuse_and_leaves_the_file(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    text = "brands:\n  - name: Acme\n    terms: [Acme]\n" + SOURCES_AT_2
    path = write(tmp_path, text)
    run = cli("ignore", "-c", str(path), "--brand", "Acme", "--author", "spambot", "--domain", "acme corp:8765")
    assert run.code == 2
    assert "'acme corp:8765' is not a domain (write it as example.com)" in run.stderr
    assert "added" not in run.stderr
    assert path.read_text(encoding="utf-8") == text, "not even the valid --author was written"
    assert cli("check", "-c", str(path)).code == 0
    blank = cli("ignore", "-c", str(path), "--brand", "Acme", "--term", "   ")
    assert blank.code == 2 and "empty" in blank.stderr and path.read_text(encoding="utf-8") == text


def test_ignore_writes_a_url_as_the_host_the_config_reads(tmp_path: Path, cli: Callable[..., Run]) -> None:
    path = write(tmp_path, "brands:\n  - name: Acme\n    terms: [Acme]\n" + SOURCES_AT_2)
    run = ignore(cli, path, "--brand", "Acme", "--domain", "https://www.Coupons.example/deals?id=1")
    assert "added domain 'coupons.example'" in run.stderr
    assert "    exclude_domains: [coupons.example]\n" in path.read_text(encoding="utf-8")
    # A URL's port is no part of its host (the config's domains take none).
    run = ignore(cli, path, "--brand", "Acme", "--domain", "http://example.com:8080/x")
    assert "added domain 'example.com'" in run.stderr
    assert "    exclude_domains: [coupons.example, example.com]\n" in path.read_text(encoding="utf-8")


def test_an_edit_that_would_leave_a_config_that_does_not_load_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "brands:\n  - name: Acme\n    terms: [Acme]\n" + SOURCES_AT_2)
    registry = Registry.from_entry_points()
    config = load_config(path, registry)
    # Someone edits the file between `ignore` reading it and writing it, and leaves a mistake in it.
    broken = path.read_text(encoding="utf-8").replace("terms: [Acme]", "terms: [Acme]\n    languages: [english]")
    path.write_text(broken, encoding="utf-8")
    with pytest.raises(ConfigError) as refused:
        add_exclusions(config, "Acme", {"author": "spambot"}, registry)
    assert refused.value.problems[0] == f"{path}: not changed: with the rule added it would not load:"
    assert refused.value.problems[1].startswith(f"{path}:5: brands[0].languages"), "the file's own name and line"
    assert path.read_text(encoding="utf-8") == broken
    assert sorted(p.name for p in tmp_path.iterdir()) == ["mentions.jsonl", "mentionwatch.yaml"], "no file left"


# -- the store: what the config now vetoes is marked ignored


def test_ignore_marks_every_stored_mention_any_one_rule_covers(tmp_path: Path, cli: Callable[..., Run]) -> None:
    shutil.copy(REPO / "examples" / "data" / "hackernews-nodejs.jsonl", tmp_path / "hn.jsonl")
    path = write(
        tmp_path,
        "since: 2017-01-01\nbrands:\n  - name: Node.js\n    terms: [Node, nodes, npm]\n"
        "sources:\n  - type: jsonl\n    path: hn.jsonl\n",
    )
    scanned = cli("scan", "-c", str(path), "--seed", "--since", "2017-01-01")
    assert scanned.code == 0, scanned.stderr
    stored = [json.loads(line) for line in cli("list", "-c", str(path), "-f", "jsonl").stdout.splitlines()]
    by_author = {m["id"] for m in stored if m["author"] == "nikolay"}
    holding = {m["id"] for m in stored if re.search(r"\bbalanced\b", m["title"] + " " + m["text"], re.IGNORECASE)}
    assert by_author and len(holding) > 1 and not by_author & holding
    run = ignore(cli, path, "--brand", "node.js", "--author", "nikolay", "--term", "balanced")
    assert f"marked {len(by_author | holding)} stored mentions ignored" in run.stderr
    listed = cli("list", "-c", str(path), "-f", "jsonl", "--status", "ignored").stdout.splitlines()
    assert {json.loads(line)["id"] for line in listed} == by_author | holding
    rescanned = cli("scan", "-c", str(path), "--since", "2017-01-01", "-f", "jsonl").stdout.splitlines()
    assert {json.loads(line)["id"] for line in rescanned} == {m["id"] for m in stored} - by_author - holding, (
        "the config vetoes what the store marked"
    )


def test_ignore_edits_a_file_with_a_tab_before_a_comment_and_one_with_an_empty_list(
    tmp_path: Path, cli: Callable[..., Run]
) -> None:
    # The config's loader (libyaml) takes a tab before a trailing comment, PyYAML's own parser does not; and a key
    # left empty ("nothing yet") is YAML's null, read as an empty list.
    text = 'brands:\n  - name: "Acme"\t# HQ\n    terms: [Acme]\n    exclude:   # nothing yet\n' + SOURCES_AT_2
    path = write(tmp_path, text)
    ignore(cli, path, "--brand", "Acme", "--term", "spam")
    assert changes(text, path.read_text(encoding="utf-8")) == (
        ["    exclude:   # nothing yet"],
        ["    exclude: [spam]   # nothing yet"],
    )

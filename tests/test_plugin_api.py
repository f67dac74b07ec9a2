"""The declared plugin API (`mentionwatch.plugin`): its exact names, the built-ins keeping to it, and the
README's plugin example running against it (httpx keeps the same kind of test of its exported names)."""

from __future__ import annotations

import ast
import asyncio
import re
import sys
import types
from datetime import UTC, datetime
from pathlib import Path

import pytest

import mentionwatch.plugin
from mentionwatch.config import load_config
from mentionwatch.errors import ConfigError
from mentionwatch.pipeline import ScanEnv, ScanRequest, run_scan
from mentionwatch.registry import Registry
from mentionwatch.store import memory_store

from conftest import LoopbackServer, Reply, fixture_path

ROOT = Path(__file__).parent.parent
SOURCES = ROOT / "src" / "mentionwatch" / "sources"

EXPECTED_API = [
    "BadPayload",
    "EdgeUnavailable",
    "FetchError",
    "GraphApi",
    "Mention",
    "OwnedSourceConfig",
    "PostedReply",
    "RateLimited",
    "Replier",
    "ReplyOptions",
    "ReplyRefused",
    "ReplyRequest",
    "ReplyTooLong",
    "Response",
    "Sentiment",
    "SentimentScorer",
    "Source",
    "SourceConfig",
    "SourceContext",
    "SourceHttp",
    "TimedOut",
    "Unauthorized",
    "canonical_url",
    "check_http_url",
    "check_length",
    "count_graphemes",
    "format_time",
    "from_epoch",
    "html_to_text",
    "json_dict",
    "json_int",
    "markdown_to_text",
    "normalize_space",
    "parse_time",
    "public_url",
    "read_items",
    "reject_html",
    "send_request",
    "since_split",
    "unwrap_redirect",
]


def test_the_plugin_api_is_exactly_the_declared_names_in_order() -> None:
    # A name added or removed here is an API change: it must be deliberate, and the README says so.
    assert mentionwatch.plugin.__all__ == EXPECTED_API
    assert sorted(EXPECTED_API, key=lambda n: (n[0].islower(), n)) == EXPECTED_API


def test_every_declared_name_is_there() -> None:
    for name in mentionwatch.plugin.__all__:
        assert getattr(mentionwatch.plugin, name) is not None, name


def mentionwatch_imports(source: str) -> set[str]:
    """The mentionwatch modules a piece of Python imports, at any depth (functions, TYPE_CHECKING blocks)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "mentionwatch":
            found.add(node.module)
        elif isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.split(".")[0] == "mentionwatch")
    return found


@pytest.mark.parametrize("path", sorted(p for p in SOURCES.glob("*.py") if p.name != "__init__.py"), ids=str)
def test_built_in_adapters_import_only_the_plugin_api(path: Path) -> None:
    assert mentionwatch_imports(path.read_text(encoding="utf-8")) == {"mentionwatch.plugin"}


def readme_plugin_example() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## Writing a source plugin") :]
    match = re.search(r"```python\n(# mentionwatch_lobsters\.py\n.*?)```", section, re.DOTALL)
    assert match, "the README's plugin example is a ```python block starting with # mentionwatch_lobsters.py"
    return match.group(1)


def load_readme_plugin() -> types.ModuleType:
    module = types.ModuleType("mentionwatch_lobsters")
    sys.modules[module.__name__] = module  # pydantic resolves the config's annotations through it
    exec(compile(readme_plugin_example(), "README.md:mentionwatch_lobsters.py", "exec"), module.__dict__)
    return module


def test_the_readme_plugin_example_uses_the_declared_api_only() -> None:
    assert mentionwatch_imports(readme_plugin_example()) == {"mentionwatch.plugin"}


def test_the_readme_plugin_example_scans_a_recorded_lobsters_page(tmp_path: Path) -> None:
    plugin = load_readme_plugin()
    source_cls = plugin.LobstersSource
    # Declared once, as the generic parameter: `Config` (what the YAML is validated against) follows from it.
    assert source_cls.Config is plugin.LobstersConfig
    stories = fixture_path("lobsters", "stories_2018-03-03.json").read_bytes()
    with LoopbackServer() as server:
        server.route("/newest/page/1.json", Reply(200, stories, {"Content-Type": "application/json"}))
        server.route("/newest/page/2.json", Reply(200, b"[]", {"Content-Type": "application/json"}))
        config_path = tmp_path / "mentionwatch.yaml"
        config_path.write_text(
            "brands:\n  - name: Fennel\n    terms: [Fennel]\n"
            f"sources:\n  - type: lobsters\n    base_url: {server.url}\n    max_pages: 2\n",
            encoding="utf-8",
        )
        config = load_config(config_path, Registry({"lobsters": source_cls}), environ={})
        request = ScanRequest(
            since=datetime(2018, 3, 3, tzinfo=UTC), brands=config.brands, sources=config.sources
        )
        env = ScanEnv(now=lambda: datetime(2018, 3, 4, tzinfo=UTC), store=memory_store())
        result = asyncio.run(run_scan(config, request, env))
        requested = [r.path for r in server.requests]
    assert [h.state for h in result.health] == ["ok"]
    assert requested == ["/newest/page/1.json", "/newest/page/2.json"]
    [mention] = result.mentions
    assert mention.url == "https://lobste.rs/s/8rmyvv"
    assert mention.link == "https://technomancy.us/186"
    assert mention.author == "technomancy"
    assert (mention.score, mention.comments) == (12, 0)
    assert mention.source == "lobsters" and mention.brand == "Fennel"


def test_the_readme_plugin_config_rejects_unknown_keys(tmp_path: Path) -> None:
    plugin = load_readme_plugin()
    config_path = tmp_path / "mentionwatch.yaml"
    config_path.write_text(
        "brands:\n  - name: Fennel\n    terms: [Fennel]\nsources:\n  - type: lobsters\n    max_page: 2\n",
        encoding="utf-8",
    )
    with pytest.raises(ConfigError, match=r"mentionwatch.yaml:6: sources\[0\]\.max_page"):
        load_config(config_path, Registry({"lobsters": plugin.LobstersSource}), environ={})


def test_a_typed_source_needs_no_isinstance_check() -> None:
    # `self.config` is the adapter's own config type: mypy checks the adapters (strict) with no asserts left.
    for path in SOURCES.glob("*.py"):
        assert "isinstance(self.config" not in path.read_text(encoding="utf-8"), path.name


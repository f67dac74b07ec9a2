"""A reply is never sent twice, even when the process dies between sending it and recording the answer: the real
`mentionwatch reply` is SIGKILLed by the emulated platform the moment its post arrives, and the next run settles
the pending reply by asking the platform, not by sending again."""

from __future__ import annotations

import signal
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from e2e_server import E2EServer
from mentionwatch.store import open_store

from conftest import Run
from platforms import GitHubApi, MastodonApi, github_mention, killed_on_post, mastodon_mention, seed, write_config

TOKEN = "mastodon-token-4f2e3cb65f86c986"


@pytest.fixture
def e2e() -> Iterator[E2EServer]:
    with E2EServer(lifetime=120) as srv:
        yield srv


@pytest.mark.e2e
def test_mastodon_reply_killed_after_sending_is_found_on_the_platform_next_run(
    tmp_path: Path, e2e: E2EServer, run_cli: Callable[..., Run]
) -> None:
    api = MastodonApi(e2e)
    config = write_config(tmp_path / "mw.yaml", f"  - type: mastodon\n    base_url: {e2e.url}\n    token: ${{MT}}\n")
    db = tmp_path / "m.sqlite3"
    seed(db, mastodon_mention())
    item = mastodon_mention().id
    args = [item, "--text", "Thanks, fixed!", "-c", str(config), "--db", str(db)]
    assert killed_on_post(tmp_path, args, {"MT": TOKEN}, api) == -signal.SIGKILL
    store = open_store(str(db))
    [pending] = store.pending_replies()
    store.close()
    assert pending.state == "pending" and pending.text == "Thanks, fixed!"
    assert TOKEN not in pending.request, "no secret is written to the store"
    again = run_cli("reply", *args, env={"MT": TOKEN})
    assert again.code == 0, again.stderr
    assert "posted after all" in again.stderr
    assert len(api.posts()) == 1, "settled by asking the platform, never by sending again"
    assert again.stdout == api.replies[0]["url"] + "\n"
    listed = run_cli("list", "--db", str(db), "-f", "jsonl")
    assert '"status": "replied"' in listed.stdout and api.replies[0]["url"] in listed.stdout


@pytest.mark.e2e
def test_github_reply_killed_before_the_platform_kept_it_is_sent_once_next_run(
    tmp_path: Path, e2e: E2EServer, run_cli: Callable[..., Run]
) -> None:
    api = GitHubApi(e2e)
    api.drop_posts = True  # the first post never lands: the comment list will not have it
    config = write_config(tmp_path / "mw.yaml", f"  - type: github\n    base_url: {e2e.url}\n    token: ${{GT}}\n")
    db = tmp_path / "m.sqlite3"
    seed(db, github_mention(api))
    args = ["1296269", "--text", "Thanks, fixed!", "-c", str(config), "--db", str(db)]
    assert killed_on_post(tmp_path, args, {"GT": "ghp_crashTest0001"}, api) == -signal.SIGKILL
    api.drop_posts = False
    again = run_cli("reply", *args, env={"GT": "ghp_crashTest0001"})
    assert again.code == 0, again.stderr
    assert e2e.received("GET", "/user"), "the platform was asked first"
    assert len(api.posts()) == 2 and len(api.comments) == 1, "the lost post was sent again, once"
    assert again.stdout == api.comments[0]["html_url"] + "\n"

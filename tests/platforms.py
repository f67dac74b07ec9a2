"""Loopback emulations of the APIs replies go to (Mastodon, GitHub), and a store and config to answer from.

Each emulation serves real payloads: Mastodon's from Mastodon.py's cassettes (a Mastodon 4.6.4 instance: the posted
status and `/api/v2/instance` of `test_hashtag_tl`, the search envelope of `test_search`), GitHub's from the
documented "Create an issue comment" example and the octokit recording's issue author. Ids, times, accounts and
texts are adjusted to each test, as the fixtures README allows. Each keeps what was posted, so a later look-up
(`find_reply`) finds it, and can be told to drop a post or to run a hook when one arrives (a killed client).
"""

from __future__ import annotations

import copy
import json
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import httpx
import yaml

from e2e_server import E2EServer, Received
from mentionwatch.models import Mention
from mentionwatch.store.sqlite import SqliteStore

from conftest import Reply, cli_command, cli_env, fixture_path, load_json

NOW = datetime.now(UTC).replace(microsecond=0)
JSON = {"Content-Type": "application/json; charset=utf-8"}


def _cassette_body(name: str, method: str, path: str) -> Any:
    data = yaml.safe_load(fixture_path("mastodon", name).read_text(encoding="utf-8"))
    for interaction in data["interactions"]:
        request = interaction["request"]
        if request["method"] == method and httpx.URL(request["uri"]).path.rstrip("/") == path:
            return json.loads(interaction["response"]["body"]["string"])
    raise LookupError(f"{method} {path} not in {name}")


# The recorded status (posted on the test instance), the instance's description, and the search envelope.
RECORDED_STATUS = _cassette_body("mastodonpy_cassette_test_hashtag_tl.yaml", "POST", "/api/v1/statuses")
ORIGINAL_URL = RECORDED_STATUS["url"]
INSTANCE = _cassette_body("mastodonpy_cassette_test_hashtag_tl.yaml", "GET", "/api/v2/instance")
SEARCH_ENVELOPE = {
    "accounts": [],
    "statuses": [],
    "hashtags": [],
    "collections": [],
}  # what test_search.yaml answers to `type=statuses` on an instance with no statuses indexed


def original_status(local_id: str = "117020600000000001", visibility: str = "public") -> dict[str, Any]:
    """The status being answered, as the user's instance knows it after resolving it: its own local id, and the
    author's `acct` with the domain of the instance it came from."""
    status = copy.deepcopy(RECORDED_STATUS)
    status["id"] = local_id
    status["visibility"] = visibility
    status["account"]["acct"] = "mastodonpy_test_2@social.example"
    return status


ME = {**copy.deepcopy(RECORDED_STATUS["account"]), "id": "117020566092299999", "username": "acme", "acct": "acme"}


class MastodonApi:
    """The user's own instance: resolve, instance limits, post a status, who am I, a status's context."""

    def __init__(self, server: E2EServer, *, original: dict[str, Any] | None = None, max_characters: int = 500):
        self.server = server
        self.original = original or original_status()
        self.instance = copy.deepcopy(INSTANCE)
        self.instance["configuration"]["statuses"]["max_characters"] = max_characters
        self.replies: list[dict[str, Any]] = []
        self.drop_posts = False
        self.on_post: Callable[[], None] | None = None
        self.post_status = 200
        self._lock = threading.Lock()
        server.route("GET", "/api/v2/instance", Reply(200, json.dumps(self.instance).encode(), JSON))
        server.route("GET", "/api/v2/search", self._search)
        server.route("POST", "/api/v1/statuses", self._post)
        server.route("GET", "/api/v1/accounts/verify_credentials", Reply(200, json.dumps(ME).encode(), JSON))
        server.route("GET", f"/api/v1/statuses/{self.original['id']}/context", self._context)

    def _search(self, request: Received) -> Reply:
        envelope = {**SEARCH_ENVELOPE, "statuses": [self.original]}
        return Reply(200, json.dumps(envelope).encode(), JSON)

    def _post(self, request: Received) -> Reply:
        form = {k: v[0] for k, v in parse_qs(request.body.decode()).items()}
        if self.post_status != 200:
            return Reply(self.post_status, b'{"error":"Validation failed: Text character limit of 500 exceeded"}', JSON)
        with self._lock:
            status = copy.deepcopy(RECORDED_STATUS)
            status["id"] = str(117020700000000000 + len(self.replies))
            status["url"] = f"{self.server.url}/@acme/{status['id']}"
            status["uri"] = f"{self.server.url}/users/acme/statuses/{status['id']}"
            status["created_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.000Z")
            status["in_reply_to_id"] = form.get("in_reply_to_id")
            status["in_reply_to_account_id"] = self.original["account"]["id"]
            status["visibility"] = form.get("visibility", "public")
            status["content"] = f"<p>{form.get('status', '')}</p>"
            status["account"] = ME
            if not self.drop_posts:
                self.replies.append(status)
        if self.on_post is not None:
            self.on_post()
        return Reply(200, json.dumps(status).encode(), JSON)

    def _context(self, request: Received) -> Reply:
        with self._lock:
            context = {"ancestors": [], "descendants": list(self.replies)}
        return Reply(200, json.dumps(context).encode(), JSON)

    def posts(self) -> list[Received]:
        return self.server.received("POST", "/api/v1/statuses")


COMMENT_EXAMPLE = load_json("github", "issue_comment_docs_example.json")
# The author of the issues in octokit's recording: who `GET /user` says the token belongs to.
ISSUE_AUTHOR = next(
    item["response"]["user"]
    for item in load_json("github", "octokit_search_issues_raw_fixture.json")
    if item["method"] == "post" and "/issues" in item["path"]
)


class GitHubApi:
    """An issue's comments: create one, list them, and who the token belongs to."""

    def __init__(self, server: E2EServer, owner: str = "acme", repo: str = "widgets", number: int = 7) -> None:
        self.server = server
        self.path = f"/repos/{owner}/{repo}/issues/{number}/comments"
        self.web = f"https://github.com/{owner}/{repo}/issues/{number}"
        self.comments: list[dict[str, Any]] = []
        self.on_post: Callable[[], None] | None = None
        self.drop_posts = False
        server.route("POST", self.path, self._post)
        server.route("GET", self.path, self._list)
        server.route("GET", "/user", Reply(200, json.dumps(ISSUE_AUTHOR).encode(), JSON))

    def _post(self, request: Received) -> Reply:
        comment = copy.deepcopy(COMMENT_EXAMPLE)
        comment["id"] = 1_000_000 + len(self.comments)
        comment["html_url"] = f"{self.web}#issuecomment-{comment['id']}"
        comment["body"] = json.loads(request.body)["body"]
        comment["user"] = ISSUE_AUTHOR
        comment["created_at"] = comment["updated_at"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        if not self.drop_posts:
            self.comments.append(comment)
        if self.on_post is not None:
            self.on_post()
        return Reply(201, json.dumps(comment).encode(), JSON)

    def _list(self, request: Received) -> Reply:
        return Reply(200, json.dumps(self.comments).encode(), JSON)

    def posts(self) -> list[Received]:
        return self.server.received("POST", self.path)


def mention(**fields: Any) -> Mention:
    """A stored mention of Acme that needs a reply (fields as a scan would have saved them)."""
    base: dict[str, Any] = {
        "source": "hn",
        "source_type": "hackernews",
        "id": "15353312",
        "url": "https://news.ycombinator.com/item?id=15353312",
        "title": "",
        "text": "Does Acme support webhooks?",
        "author": "pat",
        "published_at": NOW - timedelta(hours=5),
        "brand": "Acme",
        "matched_terms": ["Acme"],
        "sentiment": 0.0,
        "sentiment_label": "neutral",
        "impact": 10.0,
        "needs_reply": True,
    }
    base.update(fields)
    return Mention(**base)


def mastodon_mention(**fields: Any) -> Mention:
    return mention(
        source="mastodon",
        source_type="mastodon",
        id=RECORDED_STATUS["uri"],
        url=RECORDED_STATUS["url"],
        author="mastodonpy_test_2@social.example",
        text="#hoot (hashtag toot) does Acme do this?",
        **fields,
    )


def github_mention(api: GitHubApi, **fields: Any) -> Mention:
    return mention(
        source="github", source_type="github", id="1296269", url=api.web, author="octocat", title="Acme?", **fields
    )


def seed(db: Path, *mentions: Mention) -> None:
    store = SqliteStore.open(db)
    store.record(list(mentions), NOW)
    store.close()


def write_config(path: Path, sources: str, templates: str = "") -> Path:
    text = f"brands:\n  - name: Acme\n    terms: [Acme]\nsources:\n{sources}"
    if templates:
        text += f"templates:\n{templates}"
    path.write_text(text, encoding="utf-8")
    return path


def killed_on_post(tmp_path: Path, args: list[str], env: dict[str, str], api: Any) -> int:
    """Run `mentionwatch reply ...` and SIGKILL it when its post reaches the platform (`api`, an emulation with an
    `on_post` hook) before the platform's answer does; returns its exit status."""
    proc = subprocess.Popen(
        cli_command("reply", *args),
        env=cli_env(tmp_path, env),
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )

    def kill() -> None:
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)

    api.on_post = kill
    try:
        return proc.wait(timeout=60)
    finally:
        api.on_post = None
        if proc.poll() is None:
            proc.kill()

"""Notifications as the receiving end sees them: loopback servers take the webhook and Slack / Mattermost POSTs
(tests/e2e_server.py) and the email (tests/mail_server.py: aiosmtpd with STARTTLS or implicit TLS on a
throwaway certificate, and AUTH), all on 127.0.0.1, bounded and self-stopping.

The scans read a real recorded Hacker News export (tests/fixtures/jsonl/hackernews-nodejs.jsonl) through the
`jsonl` source; a test "publishes" more of it between runs by adding its lines to the file the source reads.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import re
import signal
import sqlite3
import subprocess
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import trustme

from e2e_server import E2EServer, Received
from mail_server import MailServer
from mentionwatch.config import load_config
from mentionwatch.errors import ExitCode
from mentionwatch.models import Mention, format_time
from mentionwatch.registry import Registry
from mentionwatch.store import open_store

from conftest import Reply, Run, cli_command, cli_env, fixture_path

# The recorded items that are mentions of the brand below (half of the HN search's hits do not say "Node").
RECORDED = [
    line
    for line in fixture_path("jsonl", "hackernews-nodejs.jsonl").read_text(encoding="utf-8").splitlines()
    if re.search(r"\bnode(js)?\b", json.loads(line)["title"] + " " + json.loads(line)["text"], re.IGNORECASE)
]
SECRETS = {
    "WEBHOOK_SECRET": "whsec-notify-31c7",
    "SLACK_WEBHOOK_PATH": "services/T0NOTIFY/B0NOTIFY/slackTokenZZ81",
    "SMTP_USER": "mw-user",
    "SMTP_PASSWORD": "smtp-Pa55-word-92",
}


@pytest.fixture
def receiver() -> Iterator[E2EServer]:
    with E2EServer(lifetime=60) as server:
        yield server


@pytest.fixture(scope="module")
def ca() -> trustme.CA:
    return trustme.CA()


class Feed:
    """The file the `jsonl` source reads: the recorded export, published a few lines at a time."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.published = 0
        path.write_text("", encoding="utf-8")

    def publish(self, n: int) -> list[str]:
        lines = RECORDED[self.published : self.published + n]
        self.published += n
        with self.path.open("a", encoding="utf-8") as out:
            out.write("".join(line + "\n" for line in lines))
        return [json.loads(line)["id"] for line in lines]


@pytest.fixture
def feed(tmp_path: Path) -> Feed:
    return Feed(tmp_path / "published.jsonl")


def write_config(tmp_path: Path, feed: Feed, notify: str, more_sources: str = "") -> str:
    # Every recorded item mentions Node in its title or text; `Node` and `nodejs` match them.
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(
        "brands:\n  - name: Node.js\n    terms: [Node, nodejs]\n"
        f"sources:\n  - type: jsonl\n    path: {feed.path}\n{more_sources}"
        f"notify:\n{notify}",
        encoding="utf-8",
    )
    return str(path)


def scan(cli: Callable[..., Run], cfg: str, *extra: str, env: dict[str, str] | None = None) -> Run:
    return cli("scan", "-c", cfg, "--since", "2017-01-01", *extra, env={**SECRETS, **(env or {})})


def rows(run: Run) -> list[dict[str, Any]]:
    return [json.loads(line) for line in run.stdout.splitlines()]


def accept(status: int = 200, body: bytes = b"ok") -> Callable[[Received], Reply]:
    def answer(_request: Received) -> Reply:
        return Reply(status, body, {"content-type": "text/plain"})

    return answer


def webhook(receiver: E2EServer, **options: str) -> str:
    extra = "".join(f"      {k}: {v}\n" for k, v in options.items())
    return f"    - type: webhook\n      url: {receiver.url}/hook\n      secret: ${{WEBHOOK_SECRET}}\n{extra}"


def seeded_with_a_webhook(tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]) -> str:
    """A config with one webhook target that accepts everything, and a store seeded with two published items."""
    receiver.route("POST", "/hook", accept())
    cfg = write_config(tmp_path, feed, "  targets:\n" + webhook(receiver))
    feed.publish(2)
    assert scan(cli, cfg, "--seed").code == 0
    return cfg


# -- the webhook


def test_a_scan_sends_one_signed_digest_of_what_new_printed(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    cfg = seeded_with_a_webhook(tmp_path, feed, receiver, cli)
    assert receiver.received("POST", "/hook") == [], "--seed without --notify sends nothing"
    new_ids = feed.publish(3)
    run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl")
    assert run.code == 0, run.stderr
    printed = rows(run)
    assert sorted(r["id"] for r in printed) == sorted(new_ids)

    [post] = receiver.received("POST", "/hook")
    assert post.headers["content-type"] == "application/json"
    expected = "sha256=" + hmac.new(SECRETS["WEBHOOK_SECRET"].encode(), post.body, hashlib.sha256).hexdigest()
    assert hmac.compare_digest(post.headers["x-mentionwatch-signature"], expected)
    assert post.headers["x-mentionwatch-event"] == "new"
    body = json.loads(post.body)
    assert (body["event"], body["count"], body["more"], body["full_list"]) == ("new", 3, 0, None)
    assert body["delivery"] == post.headers["x-mentionwatch-delivery"]
    by_id = {r["id"]: r for r in printed}
    assert sorted(m["id"] for m in body["mentions"]) == sorted(new_ids)
    for sent in body["mentions"]:
        assert sent == by_id[sent["id"]], "each mention in the scan's JSON form"
    assert "notified     webhook          1 message, 3 mentions — HTTP 200: ok" in run.stderr

    again = scan(cli, cfg, "--new", "--notify", "-f", "jsonl")
    assert again.code == 0 and again.stdout == ""
    assert len(receiver.received("POST", "/hook")) == 1, "nothing new: nothing sent"
    assert "notified     webhook          nothing new" in again.stderr


def test_the_first_notify_run_after_a_seed_is_owed_all_the_store_saw_since_not_only_what_it_printed(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    # The seed starts each target's mark: mentions saved after it by a run that notified no one (a scan without
    # --notify, or one that died before sending) are queued by the first --notify run, as by any later one.
    cfg = seeded_with_a_webhook(tmp_path, feed, receiver, cli)
    unnotified = feed.publish(2)
    assert sorted(r["id"] for r in rows(scan(cli, cfg, "--new", "-f", "jsonl"))) == sorted(unnotified)
    latest = feed.publish(1)
    run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl")
    assert run.code == 0, run.stderr
    assert [r["id"] for r in rows(run)] == latest
    [post] = receiver.received("POST", "/hook")
    assert sorted(m["id"] for m in json.loads(post.body)["mentions"]) == sorted(unnotified + latest)


def test_a_digest_is_capped_and_says_where_the_rest_is(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    receiver.route("POST", "/hook", accept())
    cfg = write_config(tmp_path, feed, "  max_mentions: 2\n  targets:\n" + webhook(receiver))
    feed.publish(5)
    out = tmp_path / "out" / "new.jsonl"
    run = scan(cli, cfg, "--new", "--notify", "-o", str(out))
    assert run.code == 0, run.stderr
    body = json.loads(receiver.received("POST", "/hook")[0].body)
    assert (body["count"], len(body["mentions"]), body["more"]) == (5, 2, 3)
    assert body["full_list"] == str(out.resolve())


def hook_config(tmp_path: Path, receiver: E2EServer, notify: str = "") -> Any:
    """A config with one webhook target on `receiver` (which accepts it), loaded as a scan loads it, for the tests
    that call `notify_scan` directly; `notify`: more of the `notify:` block."""
    receiver.route("POST", "/hook", accept())
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(
        "brands:\n  - name: Node.js\n    terms: [Node]\nsources:\n  - type: hackernews\n"
        f"notify:\n{notify}  targets:\n    - type: webhook\n      url: {receiver.url}/hook\n",
        encoding="utf-8",
    )
    return load_config(path, Registry.from_entry_points(), environ={})


def notified(config: Any, store: Any, started: datetime, printed: list[Mention]) -> Any:
    """`notify_scan` of `printed`, as a scan at `started` would run it."""
    from mentionwatch.cli.notify import wire_for
    from mentionwatch.notify import notify_scan

    async def run() -> Any:
        async with wire_for(config) as wire:
            return await notify_scan(config, store, wire, started=started, printed=printed)

    return asyncio.run(run())


def test_at_once_sends_the_mentions_needing_a_reply_in_a_message_of_their_own_first(
    tmp_path: Path, receiver: E2EServer
) -> None:
    from mentionwatch.store import memory_store

    config = hook_config(tmp_path, receiver, "  at_once: [needs_reply]\n")
    started = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    mentions = [Mention.from_dict(json.loads(line), default_source="hn") for line in RECORDED[:3]]
    for m, reply in zip(mentions, (False, True, False), strict=True):
        m.brand, m.needs_reply, m.impact = "Node.js", reply, 10.0
    store = memory_store()
    store.record(mentions, started)
    report = notified(config, store, started, mentions)
    assert (report.targets[0].state, report.targets[0].messages, report.targets[0].mentions) == ("sent", 2, 3)
    first, second = (json.loads(p.body) for p in receiver.received("POST", "/hook"))
    assert (first["event"], [m["id"] for m in first["mentions"]]) == ("needs_reply", [mentions[1].id])
    assert (second["event"], second["count"]) == ("new", 2)


# -- Slack and Mattermost


def test_slack_and_mattermost_get_the_same_text_message(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    receiver.route("POST", "/slack/" + SECRETS["SLACK_WEBHOOK_PATH"], accept(200, b"ok"))
    receiver.route("POST", "/mm/hooks/x1", accept(200, b"ok"))
    targets = (
        "  targets:\n"
        f"    - type: slack\n      url: {receiver.url}/slack/${{SLACK_WEBHOOK_PATH}}\n"
        f"    - type: mattermost\n      url: {receiver.url}/mm/hooks/x1\n"
    )
    cfg = write_config(tmp_path, feed, targets)
    ids = feed.publish(2)
    run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl")
    assert run.code == 0, run.stderr
    [to_slack] = receiver.received("POST", "/slack/" + SECRETS["SLACK_WEBHOOK_PATH"])
    [to_mattermost] = receiver.received("POST", "/mm/hooks/x1")
    assert to_slack.headers["content-type"] == to_mattermost.headers["content-type"] == "application/json"
    assert to_slack.body == to_mattermost.body
    printed = rows(run)
    lines = ["mentionwatch: 2 new mentions: Node.js 2"]
    # The digest's order: needing a reply first, then the highest impact, then the newest.
    for r in sorted(
        printed,
        key=lambda r: (not r["needs_reply"], -r["impact"], -datetime.fromisoformat(r["published_at"]).timestamp()),
    ):
        summary = f"{r['title']} — {r['text']}" if r["title"] and r["text"] else r["title"] or r["text"]
        summary = " ".join(summary.split())
        summary = summary if len(summary) <= 140 else summary[:139].rstrip() + "…"
        lines.append(f"• Node.js · HN · by {r['author']} · {r['sentiment_label']} · impact {round(r['impact'])}")
        lines.append(f"    <{r['url']}|{summary.replace('&', '&amp;').replace('<', '&lt;').replace('>', '&gt;')}>")
    assert json.loads(to_slack.body) == {"text": "\n".join(lines)}
    assert sorted(r["id"] for r in printed) == sorted(ids)


# -- email


def email_target(server: MailServer, ca_file: Path, **options: str) -> str:
    extra = "".join(f"      {k}: {v}\n" for k, v in options.items())
    return (
        "    - type: email\n      name: team-mail\n      to: [team@example.com, oncall@example.com]\n"
        f"      smtp: {server.address}\n      username: ${{SMTP_USER}}\n      password: ${{SMTP_PASSWORD}}\n"
        f"      sender: alerts@example.com\n      ca_file: {ca_file}\n{extra}"
    )


def test_email_goes_over_starttls_with_auth_as_plain_text_and_html(
    tmp_path: Path, feed: Feed, ca: trustme.CA, cli: Callable[..., Run]
) -> None:
    with MailServer(ca, user=SECRETS["SMTP_USER"], password=SECRETS["SMTP_PASSWORD"]) as mail:
        cfg = write_config(tmp_path, feed, "  targets:\n" + email_target(mail, mail.write_ca(tmp_path / "ca.pem")))
        ids = feed.publish(3)
        run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl")
        assert run.code == 0, run.stderr
        [sent] = mail.mails
    assert mail.logins == [(SECRETS["SMTP_USER"], True)]
    assert (sent.tls, sent.login, sent.mail_from) == (True, SECRETS["SMTP_USER"], "alerts@example.com")
    assert sent.rcpt_tos == ["team@example.com", "oncall@example.com"]
    message = sent.message
    assert message["Subject"] == "mentionwatch: 3 new mentions: Node.js 3"
    assert message["To"] == "team@example.com, oncall@example.com"
    assert message.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in message.iter_parts()] == ["text/plain", "text/html"]
    # Lines end in CRLF on the wire (RFC 5322).
    plain = message.get_body(("plain",)).get_content().replace("\r\n", "\n")  # type: ignore[union-attr]
    html = message.get_body(("html",)).get_content()  # type: ignore[union-attr]
    for item in ids:
        url = f"https://news.ycombinator.com/item?id={item}"
        assert f"  {url}\n" in plain and f'<a href="{url}">' in html
    assert "notified     team-mail        1 message, 3 mentions — 250 2.0.0 Ok: queued as TEST1" in run.stderr


def test_implicit_tls_is_used_on_its_port_and_notify_test_says_what_the_server_answered(
    tmp_path: Path, feed: Feed, ca: trustme.CA, cli: Callable[..., Run]
) -> None:
    with MailServer(ca, implicit=True, user=SECRETS["SMTP_USER"], password=SECRETS["SMTP_PASSWORD"]) as mail:
        target = email_target(mail, mail.write_ca(tmp_path / "ca.pem"), tls="implicit")
        cfg = write_config(tmp_path, feed, "  targets:\n" + target)
        run = cli("notify", "test", "-c", cfg, env=SECRETS)
    assert run.code == 0, run.stderr
    assert run.stdout == "ok      team-mail        email    250 2.0.0 Ok: queued as TEST1\n"
    assert [(m.tls, m.login) for m in mail.mails] == [(True, SECRETS["SMTP_USER"])]
    assert mail.mails[0].message["Subject"] == "mentionwatch: a test message from mentionwatch (notify test)"


def test_a_server_that_does_not_offer_starttls_gets_no_password_and_no_mail(
    tmp_path: Path, feed: Feed, ca: trustme.CA, cli: Callable[..., Run]
) -> None:
    with MailServer(ca, starttls=False, user=SECRETS["SMTP_USER"], password=SECRETS["SMTP_PASSWORD"]) as mail:
        cfg = write_config(tmp_path, feed, "  targets:\n" + email_target(mail, mail.write_ca(tmp_path / "ca.pem")))
        run = cli("notify", "test", "-c", cfg, env=SECRETS)
    assert run.code == ExitCode.NOTIFY_FAILED
    assert f"{mail.address} does not offer STARTTLS" in run.stdout
    assert (mail.logins, mail.mails) == ([], [])


def test_notify_test_says_what_each_target_answered_and_records_nothing(
    tmp_path: Path, feed: Feed, ca: trustme.CA, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    receiver.route("POST", "/hook", accept(200, b"received"))
    receiver.route("POST", "/slack/gone", accept(404, b"no_service"))
    with MailServer(ca, user=SECRETS["SMTP_USER"], password="another-password") as mail:
        targets = (
            "  targets:\n"
            + webhook(receiver)
            + f"    - type: slack\n      url: {receiver.url}/slack/gone\n"
            + email_target(mail, mail.write_ca(tmp_path / "ca.pem"))
        )
        cfg = write_config(tmp_path, feed, targets)
        run = cli("notify", "test", "-c", cfg, env=SECRETS)
    assert run.code == ExitCode.NOTIFY_FAILED
    host = "127.0.0.1"
    assert run.stdout.splitlines() == [
        "ok      webhook          webhook  HTTP 200: received",
        f"failed  slack            slack    {host}: HTTP 404: no_service",
        f"failed  team-mail        email    {mail.address}: login refused: 535 5.7.8 Authentication credentials invalid",
    ]
    assert "2 of 3 targets did not take the sample: slack, team-mail" in run.stderr
    sample = json.loads(receiver.received("POST", "/hook")[0].body)
    assert (sample["event"], sample["count"], sample["mentions"][0]["url"]) == (
        "test",
        1,
        "https://example.com/mentionwatch/notify-test",
    )
    assert not (tmp_path / "data" / "mentionwatch" / "mentions.sqlite3").exists(), "notify test stores nothing"


# -- failures: retried, reported, never lost, never twice


def test_a_target_that_fails_gets_the_digest_once_on_the_next_run(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    state = {"down": True}
    taken: list[Received] = []

    def hook(request: Received) -> Reply:
        if state["down"]:
            return Reply(503, b"upstream down", {"retry-after": "0"})
        taken.append(request)
        return Reply(200, b"ok")

    receiver.route("POST", "/hook", hook)
    cfg = write_config(tmp_path, feed, "  retries: 2\n  targets:\n" + webhook(receiver))
    first = feed.publish(3)
    health = tmp_path / "health.json"
    run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl", "--health", str(health))
    assert run.code == ExitCode.NOTIFY_FAILED
    assert sorted(r["id"] for r in rows(run)) == sorted(first), "the scan's results are printed all the same"
    assert len(receiver.received("POST", "/hook")) == 3, "one attempt and two retries"
    assert "mentionwatch: error: notify webhook: 127.0.0.1: HTTP 503: upstream down (after 3 attempts); " \
           "3 mentions kept for the next run" in run.stderr  # fmt: skip
    report = json.loads(health.read_text())
    assert list(report) == ["exit_code", "sources", "scanned_at", "notifications"]
    assert report["exit_code"] == ExitCode.NOTIFY_FAILED
    assert report["notifications"] == [
        {
            "target": "webhook", "type": "webhook", "state": "failed", "messages": 0, "mentions": 0, "pending": 3,
            "attempts": 3, "error": "127.0.0.1: HTTP 503: upstream down (after 3 attempts)", "uncertain": [],
        }
    ]  # fmt: skip

    state["down"] = False
    later = feed.publish(1)
    run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl", "--health", str(health))
    assert run.code == 0, run.stderr
    assert [r["id"] for r in rows(run)] == later
    [delivered] = taken
    body = json.loads(delivered.body)
    assert body["count"] == 4 and sorted(m["id"] for m in body["mentions"]) == sorted(first + later)
    assert json.loads(health.read_text())["notifications"][0]["state"] == "sent"

    assert scan(cli, cfg, "--new", "--notify").code == 0
    assert len(taken) == 1, "delivered once: never again"


def test_an_email_refused_for_now_is_sent_with_the_next_run(
    tmp_path: Path, feed: Feed, ca: trustme.CA, cli: Callable[..., Run]
) -> None:
    with MailServer(ca, user=SECRETS["SMTP_USER"], password=SECRETS["SMTP_PASSWORD"], failing=True) as mail:
        cfg = write_config(
            tmp_path, feed, "  retries: 0\n  targets:\n" + email_target(mail, mail.write_ca(tmp_path / "ca.pem"))
        )
        ids = feed.publish(2)
        run = scan(cli, cfg, "--new", "--notify", "-f", "jsonl")
        assert run.code == ExitCode.NOTIFY_FAILED
        assert f"notify team-mail: {mail.address}: 451 4.3.0 Try again later; 2 mentions kept" in run.stderr
        mail.failing = False
        assert scan(cli, cfg, "--new", "--notify").code == 0
        assert scan(cli, cfg, "--new", "--notify").code == 0
    [sent] = mail.mails
    plain = sent.message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert all(f"item?id={i}" in plain for i in ids)


def test_a_failed_source_keeps_its_own_exit_code_when_a_notification_fails_too(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    receiver.route("POST", "/hook", accept(500, b"broken"))
    gone = f"  - type: jsonl\n    name: gone\n    path: {tmp_path / 'missing.jsonl'}\n"  # a source that fails
    cfg = write_config(tmp_path, feed, "  retries: 0\n  targets:\n" + webhook(receiver), more_sources=gone)
    feed.publish(1)
    run = scan(cli, cfg, "--new", "--notify")
    assert run.code == ExitCode.SOME_FAILED
    assert "notify webhook: 127.0.0.1: HTTP 500: broken" in run.stderr


def test_secrets_never_appear_in_output_logs_health_or_the_store(
    tmp_path: Path, feed: Feed, ca: trustme.CA, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    receiver.route("POST", "/hook", accept(200, b"ok"))
    receiver.route("POST", "/slack/" + SECRETS["SLACK_WEBHOOK_PATH"], accept(500, b"no"))
    with MailServer(ca, user=SECRETS["SMTP_USER"], password=SECRETS["SMTP_PASSWORD"]) as mail:
        targets = (
            "  retries: 0\n  targets:\n"
            + webhook(receiver)
            + f"    - type: slack\n      url: {receiver.url}/slack/${{SLACK_WEBHOOK_PATH}}\n"
            + email_target(mail, mail.write_ca(tmp_path / "ca.pem"))
        )
        cfg = write_config(tmp_path, feed, targets)
        feed.publish(2)
        health = tmp_path / "health.json"
        runs = [
            scan(cli, cfg, "--new", "--notify", "-v", "--health", str(health), "-f", "json"),
            cli("notify", "test", "-c", cfg, "-v", env=SECRETS),
            cli("check", "-c", cfg, env=SECRETS),
        ]
    assert runs[0].code == ExitCode.NOTIFY_FAILED and len(mail.mails) == 2
    assert "mentionwatch: error: notify slack: 127.0.0.1: HTTP 500: no; 2 mentions kept" in runs[0].stderr
    store = tmp_path / "data" / "mentionwatch"
    kept = b"".join(p.read_bytes() for p in store.iterdir() if p.is_file()) + health.read_bytes()
    for value in SECRETS.values():
        for run in runs:
            assert value not in run.stdout + run.stderr
        assert value.encode() not in kept
    assert runs[2].stdout.count("'**********'") == 3, "check shows the secret, the Slack URL, the password masked"


# -- a crash between sending and recording


@pytest.mark.e2e
def test_a_run_killed_while_sending_is_not_sent_twice_and_says_so(tmp_path: Path, feed: Feed) -> None:
    arrived = threading.Event()
    release = threading.Event()
    taken: list[Received] = []

    def slow_hook(request: Received) -> Reply:
        taken.append(request)
        arrived.set()
        release.wait(30)  # the answer never comes before the sender is killed
        return Reply(200, b"ok")

    with E2EServer(lifetime=90) as receiver:
        receiver.route("POST", "/hook", slow_hook)
        cfg = write_config(tmp_path, feed, "  targets:\n" + webhook(receiver))
        env = cli_env(tmp_path, SECRETS)
        first = feed.publish(2)
        command = cli_command("scan", "-c", cfg, "--since", "2017-01-01", "--new", "--notify", "-f", "jsonl")
        proc = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        assert arrived.wait(30), "the digest reached the receiver"
        proc.send_signal(signal.SIGKILL)
        out, _ = proc.communicate(timeout=30)
        release.set()
        assert sorted(json.loads(line)["id"] for line in out.decode().splitlines()) == sorted(first)

        db = tmp_path / "data" / "mentionwatch" / "mentions.sqlite3"
        assert sqlite3.connect(db).execute("PRAGMA integrity_check").fetchone() == ("ok",)
        health = tmp_path / "health.json"
        later = feed.publish(1)
        after = subprocess.run(
            [*command, "--health", str(health)], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=60
        )
        assert after.returncode == 0, after.stderr
        token = json.loads(taken[0].body)["delivery"]
        assert (
            f"notify webhook: an earlier run stopped while sending delivery {token} (2 mentions, " in after.stderr
            and "it may not have arrived, and is not sent again" in after.stderr
        )
        uncertain = json.loads(health.read_text())["notifications"][0]["uncertain"]
        assert [(u["delivery"], u["mentions"]) for u in uncertain] == [(token, 2)]
        deadline = time.monotonic() + 10
        while len(taken) < 2 and time.monotonic() < deadline:
            time.sleep(0.05)
        assert len(taken) == 2
        second = json.loads(taken[1].body)
        assert [m["id"] for m in second["mentions"]] == later, "only the new one: the first digest is not resent"
    store = open_store(str(db))
    try:
        assert [(d.token, d.state, d.mentions) for d in store.deliveries()] == [
            (token, "unknown", 2),
            (second["delivery"], "sent", 1),
        ]
    finally:
        store.close()


# -- what --notify asks of the rest of the command line


def test_notify_needs_new_a_store_and_a_notify_section(
    tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    cfg = write_config(tmp_path, feed, "  targets:\n" + webhook(receiver))
    assert "--notify sends what --new finds: add --new" in scan(cli, cfg, "--notify").stderr
    assert "--no-store keeps nothing" in scan(cli, cfg, "--new", "--notify", "--no-store").stderr
    bare = tmp_path / "bare.yaml"
    bare.write_text(Path(cfg).read_text().split("notify:")[0])
    run = scan(cli, str(bare), "--new", "--notify")
    assert run.code == ExitCode.USAGE and "no `notify:` section with targets" in run.stderr
    assert receiver.requests == []


def test_a_redirect_is_not_followed(tmp_path: Path, feed: Feed, receiver: E2EServer, cli: Callable[..., Run]) -> None:
    receiver.route("POST", "/hook", Reply(301, b"", {"location": f"{receiver.url}/elsewhere"}))
    receiver.route("POST", "/elsewhere", accept())
    cfg = write_config(tmp_path, feed, "  on: [new, spike]\n  retries: 0\n  targets:\n" + webhook(receiver))
    feed.publish(1)
    run = scan(cli, cfg, "--new", "--notify")
    assert run.code == ExitCode.NOTIFY_FAILED
    assert "127.0.0.1: HTTP 301, a redirect (not followed): configure the URL it points to" in run.stderr
    assert receiver.received("POST", "/elsewhere") == []


def spiky_feed(path: Path, now: datetime) -> datetime:
    """A day of two mentions an hour, then 30 in the hour under way (short distinct posts: no two are one
    cluster); returns that hour's start."""
    hour = now.replace(minute=0, second=0, microsecond=0)
    when = [hour - timedelta(hours=h) + timedelta(minutes=10 * k) for h in range(1, 25) for k in range(2)]
    when += [hour + timedelta(seconds=k) for k in range(30)]
    with path.open("w", encoding="utf-8") as out:
        for n, at in enumerate(when):
            item = {"source": "hackernews", "source_type": "hackernews", "id": f"s{n}", "kind": "comment",
                    "url": f"https://news.ycombinator.com/item?id={900000 + n}", "text": f"Node post {n}",
                    "published_at": format_time(at)}  # fmt: skip
            out.write(json.dumps(item) + "\n")
    return hour


def test_a_spike_is_told_once_per_target_with_the_report_s_numbers(
    tmp_path: Path, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    receiver.route("POST", "/hook", accept())
    feed = Feed(tmp_path / "published.jsonl")
    hour = spiky_feed(feed.path, datetime.now(UTC))
    cfg = write_config(tmp_path, feed, "  on: [spike]\n  targets:\n" + webhook(receiver))
    first = cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", "-f", "jsonl", env=SECRETS)
    assert first.code == 0, first.stderr
    [message] = receiver.received("POST", "/hook")
    body = json.loads(message.body)
    assert body["event"] == "spike" and message.headers["x-mentionwatch-event"] == "spike"
    assert body["spike"] == {"brand": "Node.js", "period": format_time(hour), "mentions": 30, "baseline": 2.0}
    assert body["count"] == 30 and len(body["mentions"]) == 10  # the hour's mentions, capped as any digest
    again = cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", env=SECRETS)
    assert again.code == 0, again.stderr
    assert len(receiver.received("POST", "/hook")) == 1, "told once"


def spiky_target_down(tmp_path: Path, receiver: E2EServer, on: str) -> tuple[str, dict[str, bool]]:
    """A config for a feed with a spike in it and a webhook that answers 503 until its state says it is up."""
    state = {"down": True}

    def hook(_request: Received) -> Reply:
        return Reply(503, b"down") if state["down"] else Reply(200, b"ok")

    receiver.route("POST", "/hook", hook)
    feed = Feed(tmp_path / "published.jsonl")
    spiky_feed(feed.path, datetime.now(UTC))
    return write_config(tmp_path, feed, f"  on: {on}\n  retries: 0\n  targets:\n" + webhook(receiver)), state


def test_a_spike_not_delivered_is_told_on_the_next_run(
    tmp_path: Path, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    cfg, state = spiky_target_down(tmp_path, receiver, "[spike]")
    assert cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", env=SECRETS).code == ExitCode.NOTIFY_FAILED
    state["down"] = False
    assert cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", env=SECRETS).code == 0
    assert cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", env=SECRETS).code == 0
    tries = receiver.received("POST", "/hook")
    assert len(tries) == 2, "one failed try, then one delivery; nothing on the third run"
    assert [json.loads(t.body)["spike"]["mentions"] for t in tries] == [30, 30]


def test_a_failed_spike_message_keeps_the_new_mentions_for_the_next_run(
    tmp_path: Path, receiver: E2EServer, cli: Callable[..., Run]
) -> None:
    # No --seed, so the target has no mark: what it is owed on its first run is what that run printed. A spike
    # message failing first must not cost those mentions their digest.
    cfg, state = spiky_target_down(tmp_path, receiver, "[new, spike]")
    failed = cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", "-f", "jsonl", env=SECRETS)
    assert failed.code == ExitCode.NOTIFY_FAILED
    printed = sorted(r["id"] for r in rows(failed))
    assert printed and f"{len(printed)} mentions kept for the next run" in failed.stderr
    state["down"] = False
    assert cli("scan", "-c", cfg, "--since", "3d", "--new", "--notify", env=SECRETS).code == 0
    sent = [json.loads(t.body) for t in receiver.received("POST", "/hook")[1:]]
    assert [b["event"] for b in sent] == ["spike", "new"]
    assert sent[1]["count"] == len(printed)  # the digest lists the first max_mentions of them
    assert {m["id"] for m in sent[1]["mentions"]} <= set(printed)


# -- two configs, one store


def test_targets_of_one_label_in_two_configs_sharing_a_store_keep_their_own_marks_queues_and_brands(
    tmp_path: Path, store_location: str, cli: Callable[..., Run]
) -> None:
    # Two configs (brands Node.js and Quark) on one store, each with an unnamed `type: webhook` to its own URL.
    # Q's hook is down: what Q is owed waits for Q, never goes to P's URL; and Q's seed marks Q's target even
    # though P's seed came first.
    env = {"MENTIONWATCH_DB": store_location}
    state = {"q_down": True}

    def q_hook(_request: Received) -> Reply:
        return Reply(503, b"down", {"retry-after": "0"}) if state["q_down"] else Reply(200, b"ok")

    with E2EServer(lifetime=60) as p_receiver, E2EServer(lifetime=60) as q_receiver:
        p_receiver.route("POST", "/hook", accept())
        q_receiver.route("POST", "/hook", q_hook)
        configs = {}
        for name, brand, receiver in (("p", "Node.js", p_receiver), ("q", "Quark", q_receiver)):
            home = tmp_path / name
            home.mkdir()
            feed = Feed(home / "published.jsonl")
            path = home / "mentionwatch.yaml"
            path.write_text(
                f"brands:\n  - name: {brand}\n    terms: [Node, nodejs]\n"
                f"sources:\n  - type: jsonl\n    path: {feed.path}\n"
                "notify:\n  retries: 0\n  targets:\n" + webhook(receiver),
                encoding="utf-8",
            )
            configs[name] = (str(path), feed)
        (p_cfg, p_feed), (q_cfg, q_feed) = configs["p"], configs["q"]
        p_feed.publish(2)
        assert scan(cli, p_cfg, "--seed", env=env).code == 0
        q_feed.publish(2)
        assert scan(cli, q_cfg, "--seed", env=env).code == 0

        owed_q = q_feed.publish(3)
        failed = scan(cli, q_cfg, "--new", "--notify", "-f", "jsonl", env=env)
        assert failed.code == ExitCode.NOTIFY_FAILED
        assert sorted(r["id"] for r in rows(failed)) == sorted(owed_q)
        assert "; 3 mentions kept for the next run" in failed.stderr, "Q's seed covered its first two"

        p_new = p_feed.publish(1)
        run = scan(cli, p_cfg, "--new", "--notify", "-f", "jsonl", env=env)
        assert run.code == 0, run.stderr
        [to_p] = p_receiver.received("POST", "/hook")
        sent = json.loads(to_p.body)["mentions"]
        assert [(m["brand"], m["id"]) for m in sent] == [("Node.js", p_new[0])], "P's own brand, nothing of Q's"

        state["q_down"] = False
        run = scan(cli, q_cfg, "--new", "--notify", "-f", "jsonl", env=env)
        assert run.code == 0, run.stderr
        delivered = q_receiver.received("POST", "/hook")[-1]
        mentions = json.loads(delivered.body)["mentions"]
        assert sorted((m["brand"], m["id"]) for m in mentions) == sorted(("Quark", i) for i in owed_q)
        assert len(p_receiver.received("POST", "/hook")) == 1


def test_a_mark_kept_under_the_label_alone_is_taken_over_once_with_what_it_queued_of_this_config_s_brands(
    tmp_path: Path, receiver: E2EServer
) -> None:
    # A store written before marks were kept per destination: the target's mark and a failed digest's items are
    # under "webhook", shared by every config's webhook. The first run takes them over (its own brands only).
    from mentionwatch.store import key_of, memory_store

    config = hook_config(tmp_path, receiver)
    before = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)
    started = before + timedelta(minutes=15)
    node = [Mention.from_dict(json.loads(line), default_source="hn") for line in RECORDED[:3]]
    for m in node:
        m.brand = "Node.js"
    quark = [Mention.from_dict(json.loads(line), default_source="hn") for line in RECORDED[3:5]]
    for m in quark:
        m.brand = "Quark"
    store = memory_store()
    store.record([node[0], quark[0]], before)
    store.enqueue_notifications("webhook", [(key_of(node[0]), "new"), (key_of(quark[0]), "new")], before, before)
    store.record([node[1], quark[1]], before + timedelta(minutes=5))  # saved by a run that notified no one
    store.record([node[2]], started)
    report = notified(config, store, started, [node[2]])
    assert (report.targets[0].state, report.targets[0].mentions) == ("sent", 3)
    [post] = receiver.received("POST", "/hook")
    sent = json.loads(post.body)["mentions"]
    assert sorted((m["brand"], m["id"]) for m in sent) == sorted(("Node.js", m.id) for m in node)
    assert store.notify_mark("webhook") is None, "taken over once"
    assert notified(config, store, started, []).targets[0].state == "nothing new"
    assert len(receiver.received("POST", "/hook")) == 1

"""Notifications, the parts that need no server: the `notify:` config, the digest, each channel's message, the
signature, the retry loop and the filters.

Mentions come from a real recorded Hacker News export (tests/fixtures/jsonl/hackernews-nodejs.jsonl, origin in
tests/fixtures/README.md), read back with the export reader; the figures a test needs (impact, sentiment, a
reply flag) are set on them, as the pipeline would.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import random
from collections.abc import Callable
from datetime import UTC, datetime
from email import message_from_bytes, policy
from pathlib import Path
from typing import Any

import pytest

from mentionwatch.config import EmailTarget, NotifyConfig, SlackTarget, WebhookTarget, load_config
from mentionwatch.errors import ConfigError
from mentionwatch.models import Mention
from mentionwatch.notify.delivery import Answer, RetryPolicy, SendFailed, deliver
from mentionwatch.notify.digest import LIST_COMMAND, build_digest
from mentionwatch.notify.email import email_message
from mentionwatch.notify.outbox import select
from mentionwatch.notify.slack import MAX_TEXT, slack_message
from mentionwatch.notify.webhook import signature, webhook_body
from mentionwatch.registry import Registry

from conftest import Run, fixture_path

NOW = datetime(2026, 11, 25, 8, 0, tzinfo=UTC)


def recorded() -> list[Mention]:
    lines = fixture_path("jsonl", "hackernews-nodejs.jsonl").read_text(encoding="utf-8").splitlines()
    return [Mention.from_dict(json.loads(line), default_source="hackernews") for line in lines]


def scored(
    m: Mention, *, brand: str = "Node.js", impact: float = 10.0, label: str = "neutral", reply: bool = False
) -> Mention:
    return dataclasses.replace(m, brand=brand, impact=impact, sentiment_label=label, needs_reply=reply)


ISSUE_SHAPE = """\
brands:
  - name: Acme
    terms: [Acme]
  - name: Globex
    terms: [Globex]
sources:
  - type: hackernews
notify:
  on: [new, spike, needs_reply]
  targets:
    - type: webhook
      url: https://hooks.example.com/mentions
      secret: ${WEBHOOK_SECRET}        # optional: HMAC-SHA256 of the body in a header
    - type: slack                      # also Mattermost
      url: ${SLACK_WEBHOOK_URL}
    - type: email
      to: [team@example.com]
      smtp: smtp.example.com:587
      username: ${SMTP_USER}
      password: ${SMTP_PASSWORD}
"""
ENV = {
    "WEBHOOK_SECRET": "whsec-7f3a9c",
    "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T000/B000/XXXXsecretXXXX",
    "SMTP_USER": "alerts@example.com",
    "SMTP_PASSWORD": "smtp-pw-51x",
}


@pytest.fixture
def registry() -> Registry:
    return Registry.from_entry_points()


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mentionwatch.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems(tmp_path: Path, text: str, registry: Registry, env: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, text), registry, environ=env if env is not None else ENV)
    return info.value.problems


# -- the config


def test_the_issue_shape_loads_with_typed_targets_and_masked_secrets(tmp_path: Path, registry: Registry) -> None:
    config = load_config(write(tmp_path, ISSUE_SHAPE), registry, environ=ENV)
    notify = config.notify
    assert notify is not None and notify.on == ["new", "spike", "needs_reply"]
    webhook, slack, email = notify.targets
    assert isinstance(webhook, WebhookTarget) and webhook.url == "https://hooks.example.com/mentions"
    assert isinstance(slack, SlackTarget) and isinstance(email, EmailTarget)
    assert webhook.secret is not None and webhook.secret.get_secret_value() == "whsec-7f3a9c"
    assert (email.host, email.port, email.implicit_tls, email.from_address) == (
        "smtp.example.com",
        587,
        False,
        "alerts@example.com",
    )
    assert [t.label for t in notify.targets] == ["webhook", "slack", "email"]
    for value in ENV.values():
        assert value in config.secrets  # so that every output and log masks them
    for value in ("whsec-7f3a9c", ENV["SLACK_WEBHOOK_URL"], "smtp-pw-51x"):
        assert value not in repr(notify)  # SecretStr: masked even where the redactor does not reach
    assert not config.secrets_in_file


def test_port_465_is_implicit_tls_and_tls_can_say_otherwise(tmp_path: Path, registry: Registry) -> None:
    text = ISSUE_SHAPE.replace("smtp.example.com:587", "smtp.example.com:465")
    email = load_config(write(tmp_path, text), registry, environ=ENV).notify.targets[2]  # type: ignore[union-attr]
    assert isinstance(email, EmailTarget) and email.implicit_tls
    text = text.replace("smtp.example.com:465", "smtp.example.com:2465\n      tls: implicit")
    email = load_config(write(tmp_path, text), registry, environ=ENV).notify.targets[2]  # type: ignore[union-attr]
    assert isinstance(email, EmailTarget) and email.implicit_tls and email.port == 2465


def test_a_typo_in_a_target_names_file_line_and_key(tmp_path: Path, registry: Registry) -> None:
    text = ISSUE_SHAPE.replace("      secret: ${WEBHOOK_SECRET}", "      secert: ${WEBHOOK_SECRET}")
    found = problems(tmp_path, text, registry)
    assert found == [
        f"{tmp_path / 'mentionwatch.yaml'}:13: notify.targets[0].secert: unknown key (did you mean 'secret'?)"
    ]


def test_an_unknown_target_type_is_named_with_a_suggestion(tmp_path: Path, registry: Registry) -> None:
    found = problems(tmp_path, ISSUE_SHAPE.replace("type: slack ", "type: slak "), registry)
    assert len(found) == 1 and "notify.targets[1].type: unknown target type 'slak'" in found[0]
    assert "did you mean 'slack'?" in found[0] and ":14:" in found[0]


def test_type_mattermost_is_the_slack_format(tmp_path: Path, registry: Registry) -> None:
    text = ISSUE_SHAPE.replace("type: slack ", "type: mattermost ")
    target = load_config(write(tmp_path, text), registry, environ=ENV).notify.targets[1]  # type: ignore[union-attr]
    assert isinstance(target, SlackTarget) and (target.type, target.label) == ("slack", "mattermost")


def test_a_bad_webhook_url_is_refused_without_printing_it(tmp_path: Path, registry: Registry) -> None:
    env = {**ENV, "SLACK_WEBHOOK_URL": "hooks.slack.com/services/T000/B000/XXXXsecretXXXX"}
    found = problems(tmp_path, ISSUE_SHAPE, registry, env)
    assert len(found) == 1 and "notify.targets[1].url: not an http:// or https:// URL" in found[0]
    assert "XXXXsecretXXXX" not in found[0]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("smtp.example.com:587", "smtp.example.com"), "write the mail server as host:port"),
        (("to: [team@example.com]", "to: [team]"), "'team' is not an email address"),
        (("      password: ${SMTP_PASSWORD}\n", ""), "`username` and `password` go together"),
        (("${SMTP_USER}", "alerts"), "add `sender: you@example.com`"),
        (("  on: [new, spike, needs_reply]", "  on: [new, spikes]"), "notify.on[1]: Input should be 'new', 'spike'"),
    ],
)
def test_email_and_event_mistakes_are_explained(
    tmp_path: Path, registry: Registry, change: tuple[str, str], message: str
) -> None:
    found = problems(tmp_path, ISSUE_SHAPE.replace(*change), registry)
    assert len(found) == 1 and message in found[0], found


def test_filters_name_configured_brands_and_two_targets_of_a_type_need_names(
    tmp_path: Path, registry: Registry
) -> None:
    text = ISSUE_SHAPE.replace(
        "  targets:\n",
        "  brands:\n    Initech: {min_impact: 20}\n  targets:\n    - type: slack\n      url: https://chat.example.com/hooks/x\n"
        "      brands: [Acme, Hooli]\n",
    )
    found = problems(tmp_path, text, registry)
    assert any("notify.brands.Initech: no brand is named 'Initech'" in p for p in found), found
    assert any("notify.targets[0].brands: no brand is named 'Hooli'" in p for p in found), found
    assert any("target name 'slack' is already used by notify.targets[0]" in p for p in found), found


def test_notify_without_targets_is_an_error(tmp_path: Path, registry: Registry) -> None:
    found = problems(tmp_path, ISSUE_SHAPE.split("  targets:")[0], registry)
    assert found == [f"{tmp_path / 'mentionwatch.yaml'}:8: notify: list at least one target"]


def test_check_shows_the_notify_section_with_every_secret_masked(tmp_path: Path, cli: Callable[..., Run]) -> None:
    write(tmp_path, ISSUE_SHAPE)
    run = cli("check", "-c", str(tmp_path / "mentionwatch.yaml"), env=ENV)
    assert run.code == 0, run.stderr
    assert (
        "notify:" in run.stdout and "hooks.example.com/mentions" in run.stdout and "smtp.example.com:587" in run.stdout
    )
    for value in ENV.values():
        assert value not in run.stdout + run.stderr


# -- the digest


def test_a_digest_lists_replies_first_then_impact_and_counts_the_rest() -> None:
    base = recorded()
    mentions = [
        scored(base[0], impact=5),
        scored(base[1], impact=40),
        scored(base[2], impact=1, reply=True),
        scored(base[3], impact=30, brand="Deno"),
        scored(base[4], impact=12),
    ]
    digest = build_digest(mentions, event="new", cap=3, created=NOW)
    assert [m.id for m in digest.mentions] == [base[2].id, base[1].id, base[3].id]
    assert (digest.count, digest.more) == (5, 2)
    assert digest.title == "5 new mentions: Node.js 4, Deno 1"
    assert digest.rest == f"and 2 more: `{LIST_COMMAND}`"
    linked = build_digest(mentions, event="new", cap=3, created=NOW, full_list="https://intranet.example/mentions")
    assert linked.rest == "and 2 more: https://intranet.example/mentions"
    assert build_digest(mentions, event="new", cap=10, created=NOW).rest is None
    assert build_digest(mentions[2:3], event="needs_reply", cap=10, created=NOW).title == (
        "1 mention needs a reply: Node.js 1"
    )


# -- each channel's message


def test_the_webhook_body_holds_each_mention_in_the_scan_json_form() -> None:
    mentions = [scored(m, impact=i) for i, m in enumerate(recorded()[:4])]
    digest = build_digest(mentions, event="new", cap=3, created=NOW, full_list="/srv/out/new.csv")
    body = json.loads(webhook_body(digest, "d-1"))
    assert list(body) == ["event", "count", "more", "full_list", "delivery", "created_at", "mentions"]
    assert (body["event"], body["count"], body["more"], body["full_list"]) == ("new", 4, 1, "/srv/out/new.csv")
    assert body["created_at"] == "2026-11-25T08:00:00Z"
    assert body["mentions"] == [m.to_dict() for m in digest.mentions]
    assert webhook_body(digest, "d-1").isascii()


def test_the_signature_is_githubs_hmac_sha256_scheme() -> None:
    # The test vector GitHub's docs give for X-Hub-Signature-256 ("Validating webhook deliveries").
    assert signature("It's a Secret to Everybody", b"Hello, World!") == (
        "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    )


def test_the_slack_message_escapes_what_people_wrote() -> None:
    hostile = dataclasses.replace(
        recorded()[1],
        title="<!channel> Node & friends",
        text="ping @channel and @all, see [this](https://evil.example/x) <https://evil.example|Click>",
    )
    message = slack_message(build_digest([scored(hostile, impact=42.4)], event="new", cap=5, created=NOW))
    assert list(message) == ["text"]
    lines = message["text"].split("\n")
    assert lines[0] == "mentionwatch: 1 new mention: Node.js 1"
    assert lines[1] == "• Node.js · HN · by JamesTheHacker · neutral · impact 42"
    label = lines[2].strip()
    assert label.startswith("<https://news.ycombinator.com/item?id=15353234|&lt;!channel&gt; Node &amp; friends — ")
    assert "@\u2060channel and @\u2060all" in label and "[this]\u2060(https://evil.example/x)" in label
    assert "&lt;https://evil.example|Click&gt;" in label and label.endswith(">")
    assert "<!channel>" not in message["text"] and "@channel" not in message["text"]


def test_the_slack_message_stops_listing_before_the_size_slack_advises() -> None:
    many = [scored(m, impact=50) for m in recorded()] * 10
    text = slack_message(build_digest(many, event="new", cap=500, created=NOW))["text"]
    assert len(text) <= MAX_TEXT + 200
    listed = text.count("\n• ")
    assert 0 < listed < 200 and text.endswith(f"and {200 - listed} more: `{LIST_COMMAND}`")


def test_the_email_has_a_plain_text_and_an_html_part_with_text_escaped() -> None:
    hostile = dataclasses.replace(recorded()[1], title='Node <script>alert(1)</script> & "friends"')
    digest = build_digest([scored(hostile, impact=3, reply=True)], event="new", cap=5, created=NOW)
    message = email_message(digest, sender="alerts@example.com", to=["a@example.com", "b@example.com"], delivery="d1")
    parsed = message_from_bytes(message.as_bytes(), policy=policy.default)
    assert parsed.get_content_type() == "multipart/alternative"
    assert (parsed["From"], parsed["To"]) == ("alerts@example.com", "a@example.com, b@example.com")
    assert parsed["Subject"] == "mentionwatch: 1 new mention: Node.js 1"
    assert parsed["Message-ID"] == "<d1@example.com>" and parsed["Auto-Submitted"] == "auto-generated"
    plain = parsed.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    html = parsed.get_body(("html",)).get_content()  # type: ignore[union-attr]
    assert "* needs a reply · Node.js · HN · by JamesTheHacker · neutral · impact 3" in plain
    assert '<script>alert(1)</script> & "friends"' in plain and "https://news.ycombinator.com/item?id=15353234" in plain
    assert "<script>" not in html and "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;friends&quot;" in html
    assert '<a href="https://news.ycombinator.com/item?id=15353234">' in html


# -- the retry loop


class Clock:
    def __init__(self) -> None:
        self.waits: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.waits.append(seconds)


def flaky(errors: list[SendFailed]) -> Callable[[], Any]:
    async def send() -> Answer:
        if errors:
            raise errors.pop(0)
        return Answer("HTTP 200: ok")

    return send


def test_a_failure_that_may_heal_is_retried_with_growing_waits() -> None:
    clock = Clock()
    errors = [SendFailed("503", retryable=True) for _ in range(3)]
    outcome = asyncio.run(
        deliver(flaky(errors), RetryPolicy(retries=3, backoff=1.0), sleep=clock.sleep, rng=random.Random(7))
    )
    assert outcome.ok and outcome.attempts == 4
    assert [0.5 <= clock.waits[0] <= 1, 1 <= clock.waits[1] <= 2, 2 <= clock.waits[2] <= 4] == [True] * 3


def test_retry_after_is_honoured_and_a_permanent_failure_is_not_retried() -> None:
    clock = Clock()
    errors = [SendFailed("429", retryable=True, retry_after=7.0), SendFailed("404 no_service", retryable=False)]
    outcome = asyncio.run(deliver(flaky(errors), RetryPolicy(retries=5), sleep=clock.sleep, rng=random.Random(1)))
    assert not outcome.ok and outcome.attempts == 2 and clock.waits == [7.0]
    assert outcome.error == "404 no_service (after 2 attempts)"


def test_retries_stop_at_the_attempts_and_the_wait_budget() -> None:
    clock = Clock()
    outcome = asyncio.run(
        deliver(
            flaky([SendFailed("down", retryable=True)] * 10),
            RetryPolicy(retries=2),
            sleep=clock.sleep,
            rng=random.Random(2),
        )
    )
    assert (outcome.ok, outcome.attempts, len(clock.waits)) == (False, 3, 2)
    clock = Clock()
    outcome = asyncio.run(deliver(
        flaky([SendFailed("429", retryable=True, retry_after=120)]), RetryPolicy(retries=3, max_wait=60),
        sleep=clock.sleep, rng=random.Random(3),
    ))  # fmt: skip
    assert (outcome.ok, outcome.attempts, clock.waits) == (False, 1, [])


# -- what each target is sent


def test_filters_per_brand_and_per_target_and_the_events_asked_for() -> None:
    base = recorded()
    mentions = [
        scored(base[0], impact=50, label="negative"),
        scored(base[1], impact=5, label="negative"),
        scored(base[2], impact=50, label="positive"),
        scored(base[3], impact=80, label="negative", brand="Deno", reply=True),
    ]
    notify = NotifyConfig.model_validate({"on": ["new", "needs_reply"], "brands": {"Node.js": {"min_impact": 10}}})
    everything = SlackTarget(url="https://chat.example.com/hooks/a")  # type: ignore[arg-type]
    assert [e for _, e in select(mentions, notify, everything)] == ["new", "new", "needs_reply"]
    negative = SlackTarget(url="https://chat.example.com/hooks/a", sentiment=["negative"])  # type: ignore[arg-type]
    assert [k[2] for k, _ in select(mentions, notify, negative)] == [base[0].id, base[3].id]
    only_deno = SlackTarget(url="https://chat.example.com/hooks/a", brands=["Deno"])  # type: ignore[arg-type]
    assert [k[2] for k, _ in select(mentions, notify, only_deno)] == [base[3].id]
    replies_only = NotifyConfig.model_validate({"on": ["needs_reply"]})
    assert select(mentions, replies_only, everything) == [(("Deno", "hackernews", base[3].id), "needs_reply")]


def test_a_long_burst_is_told_once_and_again_after_the_cooldown_as_the_report_finds_it(tmp_path: Path) -> None:
    from datetime import timedelta

    from mentionwatch.notify.spikes import recent_spikes
    from mentionwatch.store import open_store
    from test_store import mention

    start = datetime(2026, 12, 1, 10, tzinfo=UTC)
    hour = timedelta(hours=1)
    quiet = [mention(f"q{n}", published_at=start - n * hour) for n in range(1, 21)]
    burst = [mention(f"b{h}-{n}", published_at=start + h * hour) for h in range(8) for n in range(10)]
    store = open_store(str(tmp_path / "s.sqlite3"))
    store.record([*quiet, *burst], start + 8 * hour)
    # Hourly runs at half past, each judging the last three hours: a burst of eight hours is two spikes, as the
    # report has it (its hours 10:00 and 14:00), never one a run.
    told = [[s.period for s in recent_spikes(store, ["Acme"], start + run * hour + hour / 2)] for run in range(8)]
    store.close()
    assert told == [[start]] * 3 + [[]] + [[start + 4 * hour]] * 3 + [[]]


def test_a_target_s_state_is_kept_under_its_label_and_a_hash_of_where_it_sends_never_a_secret() -> None:
    from mentionwatch.notify import mark_key, target_key

    hook = WebhookTarget(url="https://hooks.example.com/a", secret="whsec-1")  # type: ignore[arg-type]
    elsewhere = WebhookTarget(url="https://hooks.example.com/b", secret="whsec-1")  # type: ignore[arg-type]
    resigned = WebhookTarget(url="https://hooks.example.com/a", secret="whsec-2")  # type: ignore[arg-type]
    assert hook.label == elsewhere.label == "webhook"
    assert target_key(hook) != target_key(elsewhere), "one label, two destinations: two states"
    assert target_key(hook) == target_key(resigned), "a new signing secret keeps the target's history"
    assert target_key(hook).startswith("webhook webhook:")
    slack = SlackTarget(url="https://hooks.slack.com/services/T0/B0/tokenXYZ")  # type: ignore[arg-type]
    assert "tokenXYZ" not in target_key(slack) and "hooks.slack.com" not in target_key(slack)
    mail = {"smtp": "smtp.example.com:587", "sender": "mw@example.com"}
    one = EmailTarget(to=["a@example.com", "B@example.com"], **mail)  # type: ignore[arg-type]
    same = EmailTarget(to=["b@example.com", "a@example.com"], **mail)  # type: ignore[arg-type]
    other = EmailTarget(to=["a@example.com"], **mail)  # type: ignore[arg-type]
    assert target_key(one) == target_key(same) != target_key(other)
    assert mark_key(hook, ["Acme", "Globex"]) == mark_key(hook, ["Globex", "Acme"]) != mark_key(hook, ["Acme"])
    assert mark_key(hook, ["Acme"]).startswith(target_key(hook) + " ")

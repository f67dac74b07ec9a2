"""Slack and Mattermost incoming webhooks: one message format both accept.

The message is `{"text": "..."}`, POSTed as JSON. Slack renders `text` as mrkdwn (Slack, "Sending messages using
incoming webhooks"); Mattermost renders it as Markdown, after translating Slack's own syntax: `<url|label>`
links become Markdown links (Mattermost, "Slack compatibility"). So links are written Slack's way, and nothing
else of either dialect is used: Mattermost does not read `*bold*`, Slack does not read `**bold**`.

Mentions' text comes from the internet, so before it goes into a message:
- `&`, `<` and `>` are escaped as `&amp;`, `&lt;`, `&gt;`, as Slack requires of all message text (its
  "Formatting text" reference): a post cannot open a link of its own or ping `<!channel>`. Markdown reads the
  entities back as the characters, so Mattermost shows the same text.
- An `@` before a word gets an invisible WORD JOINER (U+2060) after it: Mattermost turns `@channel`, `@all`,
  `@here` and `@name` in a webhook's text into mentions that notify people.
- `](` gets the same joiner between its characters: Mattermost would render `[label](url)` as a link (and
  `![x](url)` as an image fetched from anywhere).
- Control characters, escape sequences and bidi overrides are removed, and line breaks flattened.

Slack truncates `text` past 40,000 characters and advises staying under 4,000; Mattermost's default post limit
is 16,383 (4,000 on old servers). A message stops listing mentions at `MAX_TEXT` characters and counts the rest.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

import httpx

from mentionwatch.config import SlackTarget
from mentionwatch.notify.delivery import Answer
from mentionwatch.notify.digest import Digest, Line
from mentionwatch.notify.webhook import post_json
from mentionwatch.output import sanitize_terminal

MAX_TEXT = 3500
_WORD_JOINER = "\u2060"
_HANDLE = re.compile(r"@(?=\w)")


def escape(text: str) -> str:
    """Untrusted text, safe in a Slack or Mattermost message (see the module's docstring)."""
    text = sanitize_terminal(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    text = _HANDLE.sub("@" + _WORD_JOINER, text)
    return text.replace("](", "]" + _WORD_JOINER + "(")


def link(url: str, label: str) -> str:
    """A `<url|label>` link; the characters that would end it early are percent-encoded in the URL."""
    safe = quote(sanitize_terminal(url), safe="/:?#[]@!$&'()*+,;=%~-._")
    return f"<{safe}|{escape(label)}>"


def slack_message(digest: Digest) -> dict[str, Any]:
    """The incoming-webhook payload for `digest`."""
    parts = ["mentionwatch: " + escape(digest.title)]
    shown = 0
    for line in digest.lines(140):
        entry = _entry(line)
        if len("\n".join(parts)) + len(entry) > MAX_TEXT:
            break
        parts.append(entry)
        shown += 1
    more = digest.count - shown
    if more > 0:
        parts.append(escape(f"and {more} more: {digest.full_list or '`mentionwatch list --status new`'}"))
    return {"text": "\n".join(parts)}


def _entry(line: Line) -> str:
    facts = [line.brand, line.where, f"by {line.author}" if line.author else "", line.sentiment]
    if line.impact is not None:
        facts.append(f"impact {line.impact}")
    head = " · ".join(escape(f) for f in facts if f)
    if line.needs_reply:
        head = "needs a reply · " + head
    return f"• {head}\n    {link(line.url, line.summary or line.url)}"


async def send_slack(target: SlackTarget, digest: Digest, delivery: str, client: httpx.AsyncClient) -> Answer:
    body = json.dumps(slack_message(digest), ensure_ascii=True).encode("ascii")
    return await post_json(client, target.url.get_secret_value(), body, {})

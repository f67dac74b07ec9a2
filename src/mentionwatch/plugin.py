"""The plugin API: everything a third-party source or sentiment scorer may import from mentionwatch.

Write `from mentionwatch.plugin import Source, SourceConfig, Mention, ...`. What is listed in `__all__` is
kept compatible across releases; every other module is internal and may change. The built-in adapters
import from here only (tests/test_plugin_api.py checks that, and the exact list below).

- A source: subclass `Source[YourConfig]` (your config subclasses `SourceConfig`), set `type`, implement the
  async generator `fetch(term, since)`, and register the class under the `mentionwatch.sources` entry point.
  `self.context.http` (a `SourceHttp`) is the shared client: `get`, `get_json`, `post` return a `Response` or
  raise a `FetchError` subclass, which becomes the source's health state. Turn each page's items into
  mentions with `read_items(items, to_mention, self.context.skipped)`: an item `to_mention` cannot read is
  skipped and counted in the health line, and the rest of the page is kept.
- A source that reads one brand's own page or account (everything said there is that brand's mention): its
  config subclasses `OwnedSourceConfig`, whose `brand` the pipeline gives its items without term matching.
  Meta's Graph API conventions (errors, usage headers, cursor paging) are `GraphApi`; an edge the token may
  not read raises `EdgeUnavailable`, and `self.context.warnings` says so in the health line.
- A source that can answer its mentions: subclass `Replier` beside `Source` and implement `reply_problem`,
  `prepare_reply` (the `ReplyRequest` that would post it; `check_length` / `count_graphemes` for the platform's
  limit), `send_reply` (through `send_request`, returning a `PostedReply`) and `find_reply` (the reply on the
  platform after a crash, so it is never posted twice); `mention_problem` when some kinds of item take no reply
  through the API (their URL is printed, to answer by hand). A Graph API product's writes: `GraphApi.write_url`
  and `GraphApi.result`.
- A scorer: a class with `name` and `score(text) -> Sentiment` (the `SentimentScorer` protocol), registered
  under the `mentionwatch.scorers` entry point.
"""

from __future__ import annotations

from mentionwatch.errors import BadPayload, FetchError, RateLimited, TimedOut, Unauthorized
from mentionwatch.graphapi import EdgeUnavailable, GraphApi
from mentionwatch.http import Response, SourceHttp, public_url, reject_html
from mentionwatch.models import Mention, format_time, from_epoch, parse_time
from mentionwatch.reply import (
    PostedReply,
    Replier,
    ReplyOptions,
    ReplyRefused,
    ReplyRequest,
    ReplyTooLong,
    check_length,
    count_graphemes,
    send_request,
)
from mentionwatch.sentiment import Sentiment, SentimentScorer
from mentionwatch.source import (
    OwnedSourceConfig,
    Source,
    SourceConfig,
    SourceContext,
    check_http_url,
    json_dict,
    json_int,
    read_items,
    since_split,
)
from mentionwatch.text import html_to_text, markdown_to_text, normalize_space
from mentionwatch.urls import canonical_url, unwrap_redirect

__all__ = [
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

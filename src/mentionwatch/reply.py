"""The reply contract: what a source that can post an answer implements (an optional capability, declared by
subclassing `Replier` beside `Source`), and what it hands back.

Answering goes in three steps, so that a reply is never posted twice:

1. `prepare_reply` turns the mention and the text into the one write request that posts the reply (resolving
   what the platform needs first: a status id on the user's own instance, a post's root and parent refs, an
   OAuth token) and checks the text's length against the platform's limit. `--dry-run` prints this request.
2. The outbox records the request as pending, then `send_reply` sends it (never retried: a retry after a timeout
   could post twice) and the outbox records the reply's id, URL and time.
3. After a crash between the two, `find_reply` looks for the reply on the platform, with what the request's
   `anchor` kept (the parent's id, the account, a record key chosen in advance), instead of sending it again.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING, Any, ClassVar

from mentionwatch.errors import FetchError, UsageError

if TYPE_CHECKING:
    from mentionwatch.http import Response, SourceHttp
    from mentionwatch.models import Mention


@cache
def _grapheme() -> Any:
    """One extended grapheme cluster (UAX #29): what a person counts as one character (an emoji with its skin tone,
    a flag, `e` with a combining accent). The `regex` module's `\\X` follows the Unicode version it ships. Compiled
    when first counted: every source imports this module through the plugin API, and a scan counts nothing (7 ms)."""
    import regex

    return regex.compile(r"\X")


class ReplyTooLong(UsageError):
    """The text is over the platform's limit: said before anything is sent, with by how much."""


class ReplyRefused(FetchError):
    """The platform answered, and said no (a rate limit, a locked thread, a deleted post): nothing was posted.
    For refusals a platform sends with HTTP 200 (Reddit's `json.errors`); a 4xx says so by itself."""


@dataclass(frozen=True)
class ReplyRequest:
    """The one write request that posts a reply: what `--dry-run` prints, and what the outbox records (its
    secrets masked) before it is sent. `anchor` holds what finding the reply on the platform later takes."""

    method: str
    url: str
    json_body: Any = None
    form: dict[str, str] | None = None
    headers: dict[str, str] = field(default_factory=dict)
    anchor: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class PostedReply:
    """A reply the platform has: its id there, its web page, and when it was posted."""

    id: str
    url: str
    at: datetime


@dataclass(frozen=True)
class ReplyOptions:
    """What the user may choose about a reply beyond its text (a source lists the ones it takes in
    `Replier.reply_options`; asking another source for one is an error)."""

    # Mastodon: public, unlisted, private or direct; None follows the original's.
    visibility: str | None = None


class Replier(ABC):
    """A source that can post a reply to one of its mentions with the user's own account.

    Subclass it beside `Source`: `class MastodonSource(Source[MastodonConfig], Replier)`. The methods run with the
    source's own `self.context.http` and `self.config`.
    """

    # The `ReplyOptions` fields this source takes (`--visibility` for Mastodon).
    reply_options: ClassVar[frozenset[str]] = frozenset()

    @abstractmethod
    def reply_problem(self) -> str | None:
        """None when this configured source can reply; else what is missing, as the user should read it
        ("replying needs `token`, a token with write:statuses")."""

    def mention_problem(self, mention: Mention) -> str | None:
        """None when this mention can be answered through the API; else why not, as the user should read it
        (a kind of item the platform's API takes no reply to: media the account is tagged in, a review). The
        outbox then prints the mention's URL, to answer it by hand. Most sources answer every kind they read."""
        return None

    @abstractmethod
    async def prepare_reply(self, mention: Mention, text: str, options: ReplyOptions) -> ReplyRequest:
        """The request that would post `text` as a reply to `mention`. Read-only look-ups are fine here; nothing
        may be written. Raise `ReplyTooLong` when the text is over the platform's limit."""

    @abstractmethod
    async def send_reply(self, request: ReplyRequest) -> PostedReply:
        """Send the request (`send_request`) and read the posted reply out of the platform's answer."""

    @abstractmethod
    async def find_reply(self, request: ReplyRequest, since: datetime) -> PostedReply | None:
        """The reply this request posted, if the platform has it (the request may have gone out just before a
        crash, or a timeout); None when it does not. `since`: when the request was about to be sent."""


async def send_request(http: SourceHttp, request: ReplyRequest) -> Response:
    """Send a reply's request as it was prepared (and as `--dry-run` printed it)."""
    return await http.request(
        request.method, request.url, headers=request.headers, data=request.form, json_body=request.json_body
    )


def count_graphemes(text: str) -> int:
    """How many characters a person sees in `text` (extended grapheme clusters, not code points): Bluesky's 300
    and Mastodon's 500 are counted this way."""
    return len(_grapheme().findall(text))


def check_length(length: int, limit: int, *, unit: str, platform: str) -> None:
    """Raise `ReplyTooLong` when `length` is over `limit`, saying by how much."""
    if length > limit:
        raise ReplyTooLong(
            f"the reply is {length} {unit} long, {length - limit} over {platform}'s limit of {limit}: shorten it"
        )

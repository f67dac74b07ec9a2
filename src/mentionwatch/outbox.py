"""The outbox: posts a reply to a stored mention through the source that brought it in, never twice.

A reply is recorded `pending` in the store before its request goes out and `sent` once the platform answered (with
the reply's id, URL and time); its mentions become `replied`. A run that dies in between leaves the record
pending, and the next `reply` to that mention asks the platform whether the reply is there (`Replier.find_reply`)
instead of sending it again. The write itself is never retried, for the same reason: a timeout says nothing about
whether the platform posted it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from mentionwatch.config import Config, ConfiguredSource
from mentionwatch.errors import FetchError, ReplyError, UsageError
from mentionwatch.http import SourceHttp, build_client, public_url
from mentionwatch.models import Mention, format_time
from mentionwatch.pipeline import http_settings
from mentionwatch.redaction import Redactor
from mentionwatch.reply import PostedReply, Replier, ReplyOptions, ReplyRefused, ReplyRequest
from mentionwatch.source import Source, SourceContext
from mentionwatch.store import Key, MentionStore, ReplyRecord

log = logging.getLogger(__name__)

# What reading an answer that is not in its documented shape raises in a Replier's parser (a missing key, a null
# where an object was, a number no float or datetime holds): after a write went out, an unclear outcome.
UNREADABLE: tuple[type[Exception], ...] = (KeyError, IndexError, TypeError, ValueError, OverflowError, AttributeError)
ASKING: tuple[type[Exception], ...] = (FetchError, *UNREADABLE)  # what asking the platform about a reply can raise


@dataclass(frozen=True)
class Target:
    """What a `reply ID` answers: one platform item, and every brand's stored mention of it."""

    keys: list[Key]
    mention: Mention

    @property
    def source_type(self) -> str:
        return self.keys[0][1]

    @property
    def item_id(self) -> str:
        return self.keys[0][2]


@dataclass(frozen=True)
class Outcome:
    """What a `reply` did: posted now, found posted by an earlier run that died, or (dry run) nothing."""

    reply: PostedReply | None
    recovered: bool = False
    request: str = ""
    # A dry run's word on a reply an earlier run left pending: a real run asks the platform about that one first,
    # and sends nothing when it is there.
    pending_since: datetime | None = None


class CannotReply(UsageError):
    """The mention's source takes no reply through its API (or is not configured to): answer it by hand at
    `url`, then record the reply with `reply ID --url`."""

    def __init__(self, message: str, url: str) -> None:
        super().__init__(message)
        self.url = url


class Outbox:
    """Replies to stored mentions with the configured sources' own accounts. Nothing global: the clock, the
    HTTP transport and the session cache folder are passed in."""

    def __init__(
        self,
        config: Config,
        store: MentionStore,
        redactor: Redactor,
        *,
        now: Callable[[], datetime],
        transport: httpx.AsyncBaseTransport | None = None,
        cache_dir: Path | None = None,
    ) -> None:
        self.config = config
        self.store = store
        self.redactor = redactor
        self.now = now
        self.transport = transport
        self.cache_dir = cache_dir

    # -- what is answered, with what

    def target(self, keys: Sequence[Key]) -> Target:
        items = {(k[1], k[2]) for k in keys}
        if len(items) != 1:
            raise UsageError("reply answers one mention at a time: name one id")
        mention = self.store.mention(keys[0])
        if mention is None:
            raise UsageError(f"no stored mention {keys[0][2]}")
        return Target(list(keys), mention)

    def fill(self, name: str, target: Target) -> str:
        """The config's template `name`, filled in for this mention."""
        template = self.config.templates.get(name)
        if template is None:
            known = ", ".join(sorted(self.config.templates)) or "none: add `templates:` to the config"
            raise UsageError(f"--template {name}: no such template in {self.config.path} (templates: {known})")
        brands = sorted({k[0] for k in target.keys})
        if "{brand}" in template and len(brands) > 1:
            raise UsageError(
                f"{target.item_id} is a mention of {' and '.join(brands)}: say which with --brand (the template"
                " names the brand)"
            )
        return template.format(author=target.mention.author, brand=brands[0], url=target.mention.url)

    def configured_source(self, target: Target) -> ConfiguredSource:
        """The configured source that brought the mention in (by name, else the one source of its type)."""
        mention = target.mention
        by_name = [s for s in self.config.sources if s.name == mention.source and s.cls.type == target.source_type]
        of_type = [s for s in self.config.sources if s.cls.type == target.source_type]
        found = by_name or (of_type if len(of_type) == 1 else [])
        if not found:
            why = "none is" if not of_type else f"{len(of_type)} are, and none is named {mention.source!r}"
            raise CannotReply(
                f"{target.item_id} came from a {target.source_type} source, and {why} configured in "
                f"{self.config.path}: answer it at {mention.url}",
                mention.url,
            )
        return found[0]

    # -- replying

    async def reply(self, target: Target, text: str, options: ReplyOptions, *, dry_run: bool = False) -> Outcome:
        """Post `text` as the reply to `target` (or, `dry_run`, only say what would be sent).

        An earlier reply to the same item that is still pending is settled first, by asking the platform: when it
        is there, that is the reply and nothing more is sent."""
        record = self.store.reply_record(target.source_type, target.item_id)
        if record is not None and record.state == "sent":
            raise UsageError(
                f"{target.item_id} was already answered {format_time(record.sent_at or record.started_at)}:"
                f" {record.reply_url}"
            )
        async with self._client() as client:
            source = self._source(client, target)
            if record is not None and not dry_run:
                found = await self._settle(source, target, record)
                if found is not None:
                    return Outcome(found, recovered=True)
            try:
                request = await source.prepare_reply(target.mention, text, options)
            except FetchError as exc:
                raise ReplyError(
                    f"{target.source_type}: could not prepare the reply ({_why(exc)}); nothing was sent"
                ) from None
            shown = self.describe(client, request)
            if dry_run:
                return Outcome(None, request=shown, pending_since=record.started_at if record is not None else None)
            return Outcome(await self._send(source, target, text, request, shown), request=shown)

    async def settle(self, target: Target) -> Outcome:
        """Settle a pending reply: the platform has it (it becomes sent) or not (the record goes, and the
        mention waits for a reply again)."""
        record = self.store.reply_record(target.source_type, target.item_id)
        if record is None:
            raise UsageError(f"reply {target.item_id}: give --text, --template or --url")
        if record.state == "sent":
            return Outcome(
                PostedReply(record.reply_id or "", record.reply_url or "", record.sent_at or record.started_at)
            )
        async with self._client() as client:
            found = await self._settle(self._source(client, target), target, record)
        return Outcome(found, recovered=found is not None)

    def elsewhere(self, target: Target, url: str, *, dry_run: bool = False) -> PostedReply:
        """Record a reply made by hand (on a platform mentionwatch cannot post to, or in its own app); `dry_run`:
        check that it could be, record nothing."""
        record = self.store.reply_record(target.source_type, target.item_id)
        if record is not None and record.state == "sent":
            raise UsageError(f"{target.item_id} was already answered: {record.reply_url}")
        at = self.now()
        if dry_run:
            return PostedReply("", url, at)
        self.store.begin_reply(
            ReplyRecord(target.source_type, target.item_id, "pending", "", "", json.dumps({"elsewhere": url}), at)
        )
        self.store.complete_reply(target.source_type, target.item_id, reply_id="", url=url, at=at, keys=target.keys)
        return PostedReply("", url, at)

    # -- the steps

    def _client(self) -> httpx.AsyncClient:
        return build_client(http_settings(self.config), self.transport)

    def _source(self, client: httpx.AsyncClient, target: Target) -> Replier:
        configured = self.configured_source(target)
        if not issubclass(configured.cls, Replier):
            raise CannotReply(
                f"{configured.name}: {configured.cls.type} takes no replies through its API; answer at"
                f" {target.mention.url}, then record it with `mentionwatch reply {target.item_id} --url"
                " URL-OF-YOUR-REPLY`",
                target.mention.url,
            )
        # No retries: a write retried after a timeout could post twice. Look-ups are cheap to run again.
        settings = dataclasses.replace(http_settings(self.config), retries=0)
        http = SourceHttp(
            client,
            settings,
            service=configured.cls.type,
            wall_clock=lambda: self.now().timestamp(),
            source=configured.name,
        )
        context = SourceContext(http=http, now=self.now, base_dir=self.config.base_dir, cache_dir=self.cache_dir)
        source: Source[Any] = configured.cls(configured.config, context)
        assert isinstance(source, Replier)  # the class was checked above
        cannot = source.mention_problem(target.mention)
        if cannot:
            raise CannotReply(
                f"{configured.name}: {cannot}; answer at {target.mention.url}, then record it with"
                f" `mentionwatch reply {target.item_id} --url URL-OF-YOUR-REPLY`",
                target.mention.url,
            )
        problem = source.reply_problem()
        if problem:
            raise UsageError(f"{configured.name}: {problem}")
        return source

    async def _send(self, source: Replier, target: Target, text: str, request: ReplyRequest, shown: str) -> PostedReply:
        started = self.now()
        record = ReplyRecord(
            target.source_type,
            target.item_id,
            "pending",
            getattr(source, "name", ""),
            text,
            self._stored(request),
            started,
        )
        if not self.store.begin_reply(record):
            raise ReplyError(
                f"another reply to {target.item_id} is under way or was left pending: run "
                f"`mentionwatch reply {target.item_id}` to check the platform for it"
            )
        try:
            posted = await source.send_reply(request)
        except UNREADABLE as exc:
            # The platform answered the write, but not in the shape its API documents: it may well have posted it.
            log.debug("unreadable answer to a reply", exc_info=True)
            raise ReplyError(
                f"{target.source_type} answered the reply in a form mentionwatch cannot read ({type(exc).__name__}:"
                f" {exc}): the reply may have been posted. Run `mentionwatch reply {target.item_id}` to check the"
                " platform before sending anything again"
            ) from None
        except FetchError as exc:
            if _refused(exc):
                self.store.drop_reply(target.source_type, target.item_id)
                raise ReplyError(f"{target.source_type} refused the reply ({_why(exc)}); nothing was posted") from None
            raise ReplyError(
                f"no clear answer from {target.source_type} ({_why(exc)}): the reply may have been posted. Run "
                f"`mentionwatch reply {target.item_id}` to check the platform before sending anything again"
            ) from None
        self.store.complete_reply(
            target.source_type, target.item_id, reply_id=posted.id, url=posted.url, at=posted.at, keys=target.keys
        )
        return posted

    async def _settle(self, source: Replier, target: Target, record: ReplyRecord) -> PostedReply | None:
        stored = json.loads(record.request)
        request = ReplyRequest(
            method=stored.get("method", "POST"),
            url=stored.get("url", ""),
            json_body=stored.get("json_body"),
            form=stored.get("form"),
            anchor=stored.get("anchor", {}),
        )
        try:
            found = await source.find_reply(request, record.started_at)
        except ASKING as exc:
            log.debug("could not ask for a pending reply", exc_info=True)
            raise ReplyError(
                f"a reply to {target.item_id} was left pending {format_time(record.started_at)}, and "
                f"{target.source_type} could not be asked whether it has it ({_why(exc)}): nothing was sent; "
                "try again later"
            ) from None
        if found is None:
            log.info("the pending reply to %s never reached %s: it is forgotten", target.item_id, target.source_type)
            self.store.drop_reply(target.source_type, target.item_id)
            return None
        self.store.complete_reply(
            target.source_type, target.item_id, reply_id=found.id, url=found.url, at=found.at, keys=target.keys
        )
        return found

    def _stored(self, request: ReplyRequest) -> str:
        """The request as the outbox keeps it: no headers (they carry tokens), other secrets masked."""
        data = {
            "method": request.method,
            "url": public_url(request.url),
            "json_body": request.json_body,
            "form": request.form,
            "anchor": request.anchor,
        }
        return self.redactor(json.dumps(data, ensure_ascii=False))

    def describe(self, client: httpx.AsyncClient, request: ReplyRequest) -> str:
        """The request exactly as it would go out (built by the client that sends it), secrets masked."""
        built = client.build_request(
            request.method, request.url, headers=request.headers, data=request.form, json=request.json_body
        )
        lines = [f"{built.method} {built.url}"]
        lines += [f"{name}: {value}" for name, value in built.headers.items()]
        body = built.read().decode("utf-8", errors="replace")
        return self.redactor("\n".join(lines) + "\n\n" + body)


def _refused(exc: FetchError) -> bool:
    """Whether the platform said no (a 4xx but 408: nothing was posted), rather than failing to say anything."""
    if isinstance(exc, ReplyRefused):
        return True
    status = exc.status
    return status is not None and 400 <= status < 500 and status != 408


def _why(exc: Exception) -> str:
    """The error, with the platform's own words when its answer carries them (`error`, `message`, ...)."""
    if not isinstance(exc, FetchError):  # an answer in a shape its API does not document
        return f"an unreadable answer: {type(exc).__name__}: {exc}"
    reason = str(exc)
    response = exc.response
    if response is None:
        return reason
    try:
        payload = json.loads(response.content.decode("utf-8"))
    except (ValueError, AttributeError):
        return reason
    if isinstance(payload, dict):
        for key in ("error_message", "error_description", "message", "error"):
            value = payload.get(key)
            if isinstance(value, str) and value:
                return f"{reason}: {value[:300]}"
    return reason


__all__ = ["CannotReply", "Outbox", "Outcome", "Target"]

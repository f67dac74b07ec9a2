"""The adapter contract every source implements (built-in or plugin)."""

from __future__ import annotations

import asyncio
import builtins
import hashlib
import ipaddress
import json
import math
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Protocol, TypeVar, get_args, get_origin
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationInfo, field_validator

from mentionwatch.errors import BadPayload
from mentionwatch.models import MAX_COUNT

if TYPE_CHECKING:
    from mentionwatch.http import SourceHttp
    from mentionwatch.models import Mention

T = TypeVar("T")
R = TypeVar("R")


def json_int(value: Any) -> int | None:
    """A count from a JSON payload, or None when the service did not give one (a missing or null field is
    "unknown", not 0; a boolean is not a count; nor is a number no count reaches: `1e400` and `Infinity`
    parse as an infinite float, and anything beyond 2**53 is no longer exact in a JSON double)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return int(value) if -MAX_COUNT <= value <= MAX_COUNT else None


def json_dict(value: Any) -> dict[str, Any]:
    """A JSON object field, or {} when it is missing, null or not an object: parsers then read on safely."""
    return value if isinstance(value, dict) else {}


# What reading one item of a document can raise when the item is not what the API documents: a missing key, a
# wrong type, a date or number out of range, an unknown encoding (LookupError), a nesting too deep to walk, or
# the adapter's own BadPayload for that item. Anything else is a bug, and fails the source as before.
UNREADABLE: tuple[type[BaseException], ...] = (
    LookupError,
    TypeError,
    ValueError,
    ArithmeticError,
    AttributeError,
    RecursionError,
    BadPayload,
)


def read_items(items: Iterable[T], convert: Callable[[T], R], skipped: list[str] | None = None) -> list[R]:
    """`convert` applied to each item of a page; an item it cannot read is skipped, and why is appended to
    `skipped`, so one bad item never costs the rest of the page (nor the scan). Use it in every page parser:
    `read_items(payload["hits"], to_mention, skipped)`, with `skipped` the parser's own optional argument,
    which the adapter fills from `self.context.skipped` (the count shows in the source's health line)."""
    out: list[R] = []
    for item in items:
        try:
            out.append(convert(item))
        except UNREADABLE as exc:
            if skipped is not None:
                skipped.append(_why(item, exc))
    return out


def _why(item: object, exc: BaseException) -> str:
    """Why an item was skipped, tagged with a digest of the item: the same item met again (another term's
    search finds it too) is then counted once."""
    try:
        tag = hashlib.blake2b(repr(item).encode("utf-8", "replace"), digest_size=4).hexdigest()
    except (ValueError, RecursionError):  # a structure too deep, or an int too long, to print
        tag = "?"
    reason = str(exc) if isinstance(exc, BadPayload) else f"{type(exc).__name__}: {exc}"
    return f"item {tag}: {reason[:200]}"


def since_split(mentions: Iterable[Mention], since: datetime) -> tuple[list[Mention], bool]:
    """A page's mentions from `since` on, and whether the page also held older ones: for services that
    answer newest first, the walk back through the pages is then over."""
    fresh: list[Mention] = []
    older = False
    for mention in mentions:
        if mention.published_at < since:
            older = True
        else:
            fresh.append(mention)
    return fresh, older


# Asked of every configured URL (a config of 200 feeds: 3 ms as a loop over the characters).
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


def check_http_url(value: str) -> str:
    """`value` when a request can be sent to it: an http(s) URL with a host and a valid port; else ValueError
    saying what is wrong. Configs validate their URLs with it, so a URL `check` passes is one `scan` can fetch
    (`ftp:`, `javascript:`, `data:`, an empty string, `http://[::1/feed`, port 99999 all failed only there).
    """
    if not value.strip():
        raise ValueError("empty URL: write an http:// or https:// URL")
    if _CONTROL.search(value):
        raise ValueError(f"{value!r} holds a control character (a tab, a line break?)")
    try:
        parts = urlsplit(value)
        port = parts.port  # raises for `:99999` and `:abc`
    except ValueError as exc:  # urllib says "Invalid IPv6 URL" or "Port out of range 0-65535"
        raise ValueError(f"{value!r} is not a valid URL: {_url_problem(str(exc))}") from None
    scheme = parts.scheme.lower()
    if not scheme:
        raise ValueError(f"{value!r} has no scheme: write https:// (or http://) in front of it")
    if scheme not in ("http", "https"):
        raise ValueError(f"{value!r}: only http:// and https:// URLs can be fetched, not {scheme}:")
    host = parts.hostname or ""
    if not host:
        raise ValueError(f"{value!r} has no host")
    if port == 0:
        raise ValueError(f"{value!r}: port 0 cannot be connected to (ports are 1-65535)")
    if not _valid_host(host, bracketed="[" in parts.netloc):
        raise ValueError(f"{value!r}: {host!r} is not a host name or IP address")
    return value


def _url_problem(message: str) -> str:
    if "port" in message.lower():
        return "the port must be a number from 1 to 65535"
    if "ipv6" in message.lower():
        return "unbalanced [ ] (an IPv6 address is written http://[::1]:8080/)"
    return message


def _valid_host(host: str, *, bracketed: bool) -> bool:
    """A DNS name (letters of any script, digits, `-`, `_`; no empty label), or an IP address."""
    if bracketed or host.replace(".", "").isdigit():  # `[::1]`; `256.1.1.1` is no address and no name
        try:
            ipaddress.ip_address(host.split("%")[0])  # `%eth0`: an IPv6 zone
        except ValueError:
            return False
        return True
    return re.fullmatch(r"[\w-]+(\.[\w-]+)*\.?", host) is not None


class SourceConfig(BaseModel):
    """Options every source has. Subclasses add their own and a default `base_url`.

    Unknown keys are rejected, so a typo in the YAML is an error, not a silent default.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    name: str | None = None
    # The API root, with the real API's paths below it: a self-hosted instance or a test server can stand in.
    base_url: str = ""

    def identity(self) -> str:
        """What this source is, whatever the user calls it: its type and a digest of its options, without its
        `name` (renaming a source keeps its watermarks), its secrets (a rotated token too) or the options that
        only concern replies (adding a login to answer with keeps them too)."""
        options = self.model_dump(mode="json", exclude={"name"})
        for name, info in type(self).model_fields.items():
            # Options that only say how to answer (`Field(json_schema_extra={"reply": True})`) change nothing read.
            if isinstance(getattr(self, name), SecretStr) or (info.json_schema_extra or {}).get("reply"):  # type: ignore[union-attr]
                options.pop(name, None)
        digest = hashlib.sha256(json.dumps(options, sort_keys=True, default=str).encode()).hexdigest()[:16]
        return f"{self.type}:{digest}"

    @field_validator("*")
    @classmethod
    def _api_roots_are_urls(cls, value: Any, info: ValidationInfo) -> Any:
        # Every option named `*base_url` (`base_url`, reddit's `oauth_base_url`, a plugin's) is an API root.
        # Empty is allowed only where it is the default: jsonl, whose empty base_url means "a local file".
        name = info.field_name or ""
        if not name.endswith("base_url") or not isinstance(value, str):
            return value
        if not value and cls.model_fields[name].default == "":
            return value
        checked = check_http_url(value)
        # Adapters join the API's paths below the root and send their own query: one written here would be lost (a
        # key in it quietly dropped, the source then answering "empty").
        parts = urlsplit(checked)
        if parts.query or parts.fragment:
            port = f":{parts.port}" if parts.port else ""
            shown = f"{parts.scheme}://{parts.hostname}{port}{parts.path}"  # not the query: it may hold a key
            raise ValueError(
                f"{shown}?...: an API root takes no query string or fragment (the API's paths go below it; a key"
                " has an option of its own)"
            )
        return checked

    def secret_values(self) -> list[str]:
        """Every secret this config holds, so that output and logs can redact them."""
        out: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out


class OwnedSourceConfig(SourceConfig):
    """The config of a source that reads one brand's own ground (its Facebook Page, its Instagram account):
    everything said there is that brand's mention, whether or not it names the brand. Its items go to `brand`
    without term matching, and still obey that brand's exclusions, author and domain filters and languages.

    `brand` may be left out when the config has one brand; `load_config` then fills it in."""

    brand: str | None = Field(
        None, description="the brand whose own page or account this is (default: the config's only brand)"
    )


class Documents(Protocol):
    """The pipeline's memory of what each version of a document gave (its items, matched and scored), so that a
    document unchanged since an earlier scan (an HTTP 304) costs no parsing, matching or scoring.

    A source that reads whole documents (a feed) tells it about each version it reads (`read`, before yielding
    its items) and asks it about each one that comes back unchanged (`reuse`)."""

    def reuse(self, url: str, validator: str) -> bool:
        """True when what the version of `url` named by `validator` (its ETag or Last-Modified) gave is still
        known, for the brands and scorer of this scan: the pipeline then takes it as it was, and the source yields
        nothing of that document. False: the source reads it as usual (and says so through `read`)."""
        ...

    def read(self, url: str, validator: str, items: Sequence[Mention], skipped: Sequence[str]) -> None:
        """What the source made of that version of `url`: every item it will yield, in order, and why each item
        it could not read was skipped. Called before the items are yielded."""
        ...


@dataclass
class SourceContext:
    """What a source instance is handed: nothing global, so tests control every part."""

    http: SourceHttp
    now: Callable[[], datetime]
    # Where relative paths in the config are resolved (the config file's folder).
    base_dir: Path = field(default_factory=Path.cwd)
    first_seen: Callable[[str, str, datetime], datetime] | None = None
    # Awaited to wait (a service's `backoff`, a rate limit): tests pass a fake that records instead.
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep
    # Where a source may keep small files between runs (e.g. a login session); None: keep nothing.
    cache_dir: Path | None = None
    # Why each item this source could not read was skipped (`read_items` appends): the health line counts them.
    skipped: list[str] = field(default_factory=list)
    # What the source could not do while the rest of it carried on (an edge its token lacks the permission for,
    # a budget about to run out): said once each in its health line, without failing the source.
    warnings: list[str] = field(default_factory=list)
    # Set when a part of what the source would give was not read this time (an edge refused, a hashtag not queried,
    # a document cut short): its watermark then stays, so that `--since last` reads that window again next run.
    incomplete: bool = False
    # What unchanged documents gave in earlier scans (see `Documents`); None: nothing is remembered.
    documents: Documents | None = None


ConfigT = TypeVar("ConfigT", bound=SourceConfig)


class Source(ABC, Generic[ConfigT]):
    """A service mentionwatch can search or read.

    Subclass `Source[YourConfig]`, set `type`, and implement `fetch`; `self.config` is then typed as your
    config, and `Config` (what the YAML is validated against) is taken from that parameter. Keep the
    JSON-to-Mention step a pure function so it can be tested on real recorded payloads.
    """

    type: ClassVar[str]
    # `builtins.type`: inside this class body, `type` is the adapter's name attribute. Set from the class's
    # `Source[...]` parameter by __init_subclass__, so it is declared once.
    Config: ClassVar[builtins.type[SourceConfig]] = SourceConfig
    # False for feeds and files: fetched once per scan and matched locally, not searched per term.
    searchable: ClassVar[bool] = True
    # True when what `fetch` requests does not depend on `since` (a feed, a file: read whole on every scan). A window
    # then saves no request, and `--since last` reads such a source over the configured `since`, not from its
    # watermark: an item that turns up later than its own date (a feed that publishes late) is still found, and the
    # store says whether it is new.
    reads_whole: ClassVar[bool] = False
    # "no", "optional" (works better with them) or "yes".
    credentials: ClassVar[str] = "no"
    # The service's documented request budget; requests are paced to stay under it. None: no known limit.
    requests_per_minute: ClassVar[float | None] = None

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        for base in getattr(cls, "__orig_bases__", ()):
            if get_origin(base) is Source:
                (config,) = get_args(base)
                if isinstance(config, builtins.type) and issubclass(config, SourceConfig):
                    cls.Config = config

    def __init__(self, config: ConfigT, context: SourceContext) -> None:
        self.config = config
        self.context = context

    @property
    def name(self) -> str:
        return self.config.name or self.type

    def rate_per_minute(self) -> float | None:
        """The budget to pace this instance to; override when it depends on the config (OAuth raises it)."""
        return self.requests_per_minute

    @abstractmethod
    def fetch(self, term: str | None, since: datetime) -> AsyncIterator[Mention]:
        """Yield mentions of `term` published at or after `since`, newest first where the API allows.

        `term` is None for sources that are not searchable. Stop paging once items are older than `since`.
        """

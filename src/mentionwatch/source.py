"""The adapter contract every source implements (built-in or plugin)."""

from __future__ import annotations

import asyncio
import builtins
import ipaddress
import re
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, SecretStr, ValidationInfo, field_validator

if TYPE_CHECKING:
    from mentionwatch.http import SourceHttp
    from mentionwatch.models import Mention


def json_int(value: Any) -> int | None:
    """A count from a JSON payload, or None when the service did not give one (a missing or null field is
    "unknown", not 0; a boolean is not a count)."""
    return int(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


def json_dict(value: Any) -> dict[str, Any]:
    """A JSON object field, or {} when it is missing, null or not an object: parsers then read on safely."""
    return value if isinstance(value, dict) else {}


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


def check_http_url(value: str) -> str:
    """`value` when a request can be sent to it: an http(s) URL with a host and a valid port; else ValueError
    saying what is wrong. Configs validate their URLs with it, so a URL `check` passes is one `scan` can fetch
    (`ftp:`, `javascript:`, `data:`, an empty string, `http://[::1/feed`, port 99999 all failed only there).
    """
    if not value.strip():
        raise ValueError("empty URL: write an http:// or https:// URL")
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value):
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
        return check_http_url(value)

    def secret_values(self) -> list[str]:
        """Every secret this config holds, so that output and logs can redact them."""
        out: list[str] = []
        for name in type(self).model_fields:
            value = getattr(self, name)
            if isinstance(value, SecretStr) and value.get_secret_value():
                out.append(value.get_secret_value())
        return out


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


class Source(ABC):
    """A service mentionwatch can search or read.

    Subclasses set `type`, a nested `Config`, and implement `fetch`. Keep the JSON-to-Mention step a pure
    function so it can be tested on real recorded payloads.
    """

    type: ClassVar[str]
    # `builtins.type`: inside this class body, `type` is the adapter's name attribute.
    Config: ClassVar[builtins.type[SourceConfig]] = SourceConfig
    # False for feeds and files: fetched once per scan and matched locally, not searched per term.
    searchable: ClassVar[bool] = True
    # "no", "optional" (works better with them) or "yes".
    credentials: ClassVar[str] = "no"
    # The service's documented request budget; requests are paced to stay under it. None: no known limit.
    requests_per_minute: ClassVar[float | None] = None

    def __init__(self, config: SourceConfig, context: SourceContext) -> None:
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

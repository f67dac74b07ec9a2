"""The YAML config: schema, `${ENV}` interpolation, and errors that name the file, line and key path."""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Generic, Literal, TypeVar, Union, cast, get_args, get_origin

import yaml
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mentionwatch.errors import ConfigError, UsageError
from mentionwatch.locate import CONFIG_ENV as CONFIG_ENV  # re-exported: where it has always been imported from
from mentionwatch.locate import config_location, user_config
from mentionwatch.redaction import MASK, Redactor
from mentionwatch.registry import Registry
from mentionwatch.source import OwnedSourceConfig, Source, SourceConfig, check_http_url
from mentionwatch.when import parse_duration, parse_since
from mentionwatch.yamlload import format_loc, load_yaml

DEFAULT_SINCE = "7d"
# `$${` is a literal `${`; `${...}` is a reference, whose name is checked (`${1ABC}`, `${}` are mistakes).
_ENV_REF = re.compile(r"\$\$\{|\$\{([^}]*)(\}?)")
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class BrandConfig(BaseModel):
    """A brand (or person, or product) to watch: `terms` and/or a boolean `query`, then filters.

    A mention matches when one of `terms` is in it or the `query` holds (the terms are shorthand for
    `term OR term ...`); `exclude`, `exclude_authors`, `exclude_domains` and `languages` veto either.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(min_length=1)
    terms: list[str] = Field(default_factory=list)
    exclude: list[str] = Field(default_factory=list)
    query: str | None = Field(None, description='boolean query: AND OR NOT ( ) "phrase" prefix* NEAR/n site: -site:')
    exclude_authors: list[str] = Field(default_factory=list, description="authors whose posts are never mentions")
    exclude_domains: list[str] = Field(default_factory=list, description="hosts (and their subdomains) to ignore")
    languages: list[str] = Field(
        default_factory=list, description="ISO 639-1 codes to keep (en, fr); a language not detected passes"
    )
    accent_insensitive: bool = Field(False, description="match Café and cafe alike")
    reply_reach: int = Field(
        1000, ge=0, description="a negative mention from an author with more reach than this needs a reply"
    )
    # For brands named with a common word: "Slack" the company, not "slack in his uniform".
    case_sensitive: bool = Field(False, description="every one of `terms` matches only as written (Slack, not slack)")
    case_sensitive_terms: list[str] = Field(
        default_factory=list, description="more terms, each matching only as written (Slack, not slack)"
    )
    competitor: bool = Field(False, description="a competitor, watched for share of voice in `report`")

    @field_validator("terms", "exclude", "exclude_authors", "exclude_domains", "case_sensitive_terms")
    @classmethod
    def _no_blank_terms(cls, value: list[str]) -> list[str]:
        if any(not t.strip() for t in value):
            raise ValueError("terms must not be empty strings")
        return value

    @field_validator("query")
    @classmethod
    def _query_parses(cls, value: str | None, info: ValidationInfo) -> str | None:
        from mentionwatch.query import QuerySyntaxError, parse_query

        if value is None:
            return None
        try:
            parse_query(value)
        except QuerySyntaxError as exc:
            name = info.data.get("name", "?")
            raise ValueError(f"brand {name!r}: query {value!r}: {exc}") from None
        return value

    @field_validator("exclude_domains")
    @classmethod
    def _bare_hosts(cls, value: list[str]) -> list[str]:
        out = []
        for entry in value:
            host = re.sub(r"^[a-z]+://", "", entry.strip().lower()).split("/")[0].removeprefix("www.")
            if not re.fullmatch(r"[\w-]+(\.[\w-]+)*", host):
                raise ValueError(f"{entry!r} is not a domain (write it as example.com)")
            out.append(host)
        return out

    @field_validator("languages")
    @classmethod
    def _language_codes(cls, value: list[str]) -> list[str]:
        for code in value:
            if not re.fullmatch(r"[a-z]{2,3}(-[a-z0-9]+)*", code.strip().lower()):
                raise ValueError(f"{code!r} is not a language code (use ISO 639-1: en, fr, de, ...)")
        return [code.strip().lower() for code in value]

    @model_validator(mode="after")
    def _has_something_to_match(self) -> BrandConfig:
        if not self.terms and not self.case_sensitive_terms and not self.query:
            raise ValueError(f"brand {self.name!r} needs at least one entry in `terms`, or a `query`")
        return self


class HttpConfig(BaseModel):
    # `.inf` is a YAML float: `timeout: .inf` would pass `gt=0` and wait forever.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)

    timeout: float = Field(20.0, gt=0, description="seconds to wait for a response")
    connect_timeout: float = Field(10.0, gt=0)
    concurrency: int = Field(16, ge=1, le=500, description="requests in flight at once, all sources together")
    max_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="largest response body read")
    deadline: float = Field(120.0, gt=0, description="seconds one source may take before it is abandoned")
    per_host: int = Field(6, ge=1, le=100, description="requests in flight at once to one host")
    retries: int = Field(3, ge=0, le=10, description="retries after a transport error, 429 or 5xx (a timeout: once)")
    max_retry_wait: float = Field(60.0, ge=0, description="seconds one request may spend waiting to retry")
    cache: bool = Field(True, description="send conditional requests (ETag / Last-Modified) from an HTTP cache")
    prefetch: bool = Field(
        True, description="`scan` asks whether cached feeds changed while it starts up (see `mentionwatch.prefetch`)"
    )


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # VADER is the default: it agrees better with people on social media text (benchmarks/README.md).
    sentiment: str = Field("vader", description="sentiment scorer: vader, textblob, or an installed plugin")
    # Sentiment is the pipeline's largest cost: large batches are shared with processes on the other cores.
    workers: int | None = Field(
        None,
        ge=0,
        description="processes that score sentiment beside the scan when it has 4,000 texts or more to score "
        "(built-in scorers only); 0: none; default: one per other core, at most 4",
    )

    @field_validator("sentiment")
    @classmethod
    def _installed_scorer(cls, value: str) -> str:
        from mentionwatch.sentiment import scorer_names

        names = scorer_names()
        if value not in names:
            raise ValueError(f"unknown sentiment scorer {value!r} (installed: {', '.join(names)})")
        return value


class StoreConfig(BaseModel):
    """Where mentions are kept between runs (`store: PATH` is short for `store: {path: PATH}`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    path: str | None = Field(None, description="the store's file; default: mentions.sqlite3 in the user data dir")
    overlap: str = Field("10m", description="`--since last` starts this much before each watermark")
    lock_timeout: float = Field(300.0, gt=0, description="seconds a scan waits for another scan of the same store")

    @model_validator(mode="before")
    @classmethod
    def _a_path_alone(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("path")
    @classmethod
    def _a_store_location(cls, value: str | None) -> str | None:
        from mentionwatch.store import store_path

        if value is not None:
            try:
                store_path(value)
            except UsageError as exc:
                raise ValueError(str(exc)) from None
        return value

    @field_validator("overlap")
    @classmethod
    def _overlap_is_a_duration(cls, value: str) -> str:
        parse_duration(value)
        return value


# What a reply template may say about the mention it answers (`templates:` in the config).
TEMPLATE_FIELDS = ("author", "brand", "url")


def _template_text(value: str) -> str:
    """A template whose every `{placeholder}` is one mentionwatch fills in; `{{` and `}}` write braces."""
    import string

    try:
        parts = list(string.Formatter().parse(value))
    except ValueError as exc:  # a lone `{` or `}`
        raise ValueError(f"{exc}: write {{{{ or }}}} for a literal brace") from None
    for _text, name, spec, conversion in parts:
        if name is None:
            continue
        if name not in TEMPLATE_FIELDS or spec or conversion:
            shown = "{" + name + (f"!{conversion}" if conversion else "") + (f":{spec}" if spec else "") + "}"
            raise ValueError(
                f"unknown placeholder {shown} (a template can use {', '.join('{' + f + '}' for f in TEMPLATE_FIELDS)})"
            )
    if not value.strip():
        raise ValueError("a template must not be empty")
    return value


TemplateText = Annotated[str, AfterValidator(_template_text)]

# -- notify: where news of the mentions goes (webhook, Slack / Mattermost, email)

NotifyEvent = Literal["new", "spike", "needs_reply"]
_DEFAULT_EVENTS: tuple[NotifyEvent, ...] = ("new", "needs_reply")
Sentiment = Literal["positive", "neutral", "negative"]


class NotifyFilter(BaseModel):
    """What keeps the noise down: a mention passes when its impact is at least `min_impact` and its sentiment is
    one of `sentiment` (empty: any). Used per brand (`notify.brands`) and per target."""

    # Built on first use, not when the module is imported: most configs have no `notify:` (pydantic's
    # `defer_build`; the five notify models took 6 ms of every command's start-up).
    model_config = ConfigDict(extra="forbid", frozen=True, defer_build=True)

    min_impact: float | None = Field(None, ge=0, le=100, description="only mentions with at least this impact")
    sentiment: list[Sentiment] = Field(default_factory=list, description="only these sentiment labels")


class _NotifyTarget(NotifyFilter):
    """What every target has: its kind, a name (with where it sends, its identity in the store: what it has been
    sent), filters."""

    type: str
    name: str | None = Field(None, description="default: the type; a second target of one type needs its own")
    brands: list[str] = Field(default_factory=list, description="only these brands' mentions (default: all)")
    max_mentions: int | None = Field(None, ge=1, le=500, description="mentions listed in one message")

    @property
    def label(self) -> str:
        return self.name or self.type


def _quiet_url(value: str) -> str:
    # A webhook URL is often the credential itself (Slack and Mattermost: "treat this endpoint as a secret"): an
    # error about it must not print it, and the redactor does not know it yet while the config is being read.
    try:
        return check_http_url(value)
    except ValueError:
        raise ValueError("not an http:// or https:// URL with a host (not shown: it may hold a token)") from None


def _secret_url(value: SecretStr) -> SecretStr:
    _quiet_url(value.get_secret_value())
    return value


class WebhookTarget(_NotifyTarget):
    """A generic webhook: a JSON POST of the digest, signed with HMAC-SHA256 when `secret` is set."""

    type: Literal["webhook"] = "webhook"
    url: str = Field(description="where the JSON is POSTed")
    secret: SecretStr | None = Field(None, description="signs the body: X-Mentionwatch-Signature: sha256=<hex>")

    _url_is_http = field_validator("url")(_quiet_url)


class SlackTarget(_NotifyTarget):
    """A Slack or Mattermost incoming webhook (one message format both accept: see notify/slack.py)."""

    type: Literal["slack"] = "slack"
    url: SecretStr = Field(description="the incoming webhook URL (a secret: take it from ${ENV})")

    _url_is_http = field_validator("url")(_secret_url)


_ADDRESS = re.compile(r"[^@\s<>,;]+@[^@\s<>,;]+")


class EmailTarget(_NotifyTarget):
    """Email over SMTP: a plain-text and an HTML part. TLS always: implicit on port 465, STARTTLS otherwise
    (`tls` says otherwise for a server on another port); a server that does not offer STARTTLS is refused."""

    type: Literal["email"] = "email"
    to: list[str] = Field(min_length=1, description="recipients' addresses")
    smtp: str = Field(description="host:port of the mail server (587: STARTTLS, 465: implicit TLS)")
    tls: Literal["starttls", "implicit"] | None = Field(None, description="default: implicit on 465, else starttls")
    username: str | None = Field(None, description="SMTP AUTH user")
    password: SecretStr | None = Field(None, description="SMTP AUTH password")
    sender: str | None = Field(None, description="the From address; default: username when it is an address")
    ca_file: str | None = Field(None, description="a CA bundle for a server with a private certificate authority")

    @field_validator("to")
    @classmethod
    def _addresses(cls, value: list[str]) -> list[str]:
        for address in value:
            if not _ADDRESS.fullmatch(address.strip()):
                raise ValueError(f"{address!r} is not an email address (write it as team@example.com)")
        return [a.strip() for a in value]

    @field_validator("sender")
    @classmethod
    def _sender_address(cls, value: str | None) -> str | None:
        if value is not None and not _ADDRESS.fullmatch(value.strip()):
            raise ValueError(f"{value!r} is not an email address (write it as mentionwatch@example.com)")
        return value.strip() if value else value

    @field_validator("smtp")
    @classmethod
    def _host_port(cls, value: str) -> str:
        host, _, port = value.strip().rpartition(":")
        if not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise ValueError(f"{value!r}: write the mail server as host:port (smtp.example.com:587)")
        return value.strip()

    @model_validator(mode="after")
    def _credentials_in_pairs(self) -> EmailTarget:
        if (self.username is None) != (self.password is None):
            raise ValueError("`username` and `password` go together (SMTP AUTH needs both)")
        if self.sender is None and not (self.username and _ADDRESS.fullmatch(self.username)):
            raise ValueError("add `sender: you@example.com` (the From address; `username` is not an address)")
        return self

    @property
    def host(self) -> str:
        return self.smtp.rpartition(":")[0].strip("[]")

    @property
    def port(self) -> int:
        return int(self.smtp.rpartition(":")[2])

    @property
    def implicit_tls(self) -> bool:
        """Implicit TLS (RFC 8314 "submissions", port 465) or STARTTLS (RFC 6409 "submission", port 587)."""
        return self.tls == "implicit" if self.tls else self.port == 465

    @property
    def from_address(self) -> str:
        return self.sender or self.username or ""


NotifyTarget = WebhookTarget | SlackTarget | EmailTarget
TARGET_TYPES: dict[str, type[WebhookTarget] | type[SlackTarget] | type[EmailTarget]] = {
    "webhook": WebhookTarget,
    "slack": SlackTarget,
    "mattermost": SlackTarget,
    "email": EmailTarget,
}


class NotifyConfig(BaseModel):
    """`notify:`: which events are sent (`on`), to which `targets`, and what keeps the noise down."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False, defer_build=True)

    on: list[NotifyEvent] = Field(default_factory=lambda: list(_DEFAULT_EVENTS), description="events to send")
    at_once: list[Literal["needs_reply", "spike"]] = Field(
        default_factory=list, description="events sent as a message of their own, ahead of the digest"
    )
    max_mentions: int = Field(10, ge=1, le=500, description="mentions listed in one message; the rest are counted")
    full_list: str | None = Field(None, description="a URL or path where the full list is (shown in each message)")
    retries: int = Field(3, ge=0, le=10, description="retries of a failed delivery within one run")
    max_retry_wait: float = Field(60.0, ge=0, description="seconds one delivery may spend waiting to retry")
    brands: dict[str, NotifyFilter] = Field(default_factory=dict, description="filters per brand")
    # Validated one by one (like sources), so an error names `notify.targets[1].url`, not a union member.
    targets: list[NotifyTarget] = Field(default_factory=list)

    def secret_values(self) -> list[str]:
        """Every secret the targets hold, so that output and logs can redact them."""
        out: list[str] = []
        for target in self.targets:
            for name in type(target).model_fields:
                value = getattr(target, name)
                if isinstance(value, SecretStr) and value.get_secret_value():
                    out.append(value.get_secret_value())
        return out


class _FileSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str | None = None
    brands: list[BrandConfig] = Field(min_length=1)
    sources: list[dict[str, Any]] = Field(min_length=1)
    http: HttpConfig = Field(default_factory=HttpConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)
    store: StoreConfig = Field(default_factory=StoreConfig)
    templates: dict[str, TemplateText] = Field(
        default_factory=dict, description="common answers for `reply --template NAME`, with {author} {brand} {url}"
    )

    # `notify: {on: [new]}` arrives keyed by "on", not by YAML 1.1's True: the loader reads keys as written.
    notify: dict[str, Any] | None = None

    @field_validator("since", mode="before")
    @classmethod
    def _yaml_dates_are_fine(cls, value: Any) -> Any:
        # YAML reads an unquoted `2026-11-01` as a date and `2026-11-01T08:00Z` as a datetime.
        if isinstance(value, datetime):
            return value.isoformat()
        if isinstance(value, date):
            return value.isoformat()
        return value

    @field_validator("since")
    @classmethod
    def _since_is_readable(cls, value: str | None) -> str | None:
        if value is not None:
            parse_since(value, datetime.now(UTC))
        return value


@dataclass(frozen=True)
class ConfiguredSource:
    """One source entry: its adapter class and its validated config."""

    cls: type[Source[Any]]
    config: SourceConfig

    @property
    def name(self) -> str:
        return self.config.name or self.cls.type


T = TypeVar("T")


class _NeedsEnv(Generic[T]):
    """A part of the Config that a load with `unset_env_ok` holds back when it names a `${VAR}` that is not set:
    a command that never reads it runs (`report` beside a Slack URL taken from the environment), and reading it
    raises the ConfigError a load without `unset_env_ok` would have ("environment variable ${VAR} is not set")."""

    def __init__(self, *default: T) -> None:
        self._default = default  # none: a part every Config is given

    def __set_name__(self, owner: type, name: str) -> None:
        self._name = name

    def __get__(self, obj: object | None, owner: type | None = None) -> T:
        if obj is None:
            if not self._default:
                raise AttributeError(self._name)  # for dataclasses: a field with no default
            return self._default[0]
        held = obj.__dict__.get("unset_env", {}).get(self._name)
        if held:
            raise ConfigError(held)
        return cast(T, obj.__dict__[self._name])

    def __set__(self, obj: object, value: T) -> None:
        obj.__dict__[self._name] = value


@dataclass(frozen=True, kw_only=True)
class Config:
    path: Path
    since: str | None
    brands: list[BrandConfig]
    sources: _NeedsEnv[list[ConfiguredSource]] = _NeedsEnv()
    http: HttpConfig
    scoring: ScoringConfig
    store: StoreConfig = field(default_factory=StoreConfig)
    templates: dict[str, str] = field(default_factory=dict)
    # Values that must never be printed: secret fields and everything taken from the environment.
    secrets: list[str] = field(default_factory=list)
    # True when a secret is written in the file itself rather than taken from ${ENV}.
    secrets_in_file: bool = False
    notify: _NeedsEnv[NotifyConfig | None] = _NeedsEnv(None)
    # The parts held back for an unset `${VAR}` (`sources`, `notify`), each with the problems reading it raises.
    unset_env: dict[str, list[str]] = field(default_factory=dict)

    def __repr__(self) -> str:
        # Not the dataclass's, which reads every part: a held-back part raises when read.
        return f"Config(path={self.path!r}, unset_env={self.unset_env!r})"

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def owned_brands(sources: Iterable[ConfiguredSource]) -> dict[str, str]:
    """Source name -> brand, for the sources that read one brand's own page or account (`OwnedSourceConfig`):
    their items are that brand's whatever they say."""
    return {s.name: s.config.brand for s in sources if isinstance(s.config, OwnedSourceConfig) and s.config.brand}


def find_config(explicit: Path | None) -> Path:
    """--config, else $MENTIONWATCH_CONFIG, else ./mentionwatch.yaml, else config.yaml in the user config dir."""
    found = config_location(explicit)
    if found is not None:
        return found
    raise UsageError(
        f"no config found: pass --config PATH, set ${CONFIG_ENV}, or create ./mentionwatch.yaml "
        f"or {user_config()} (`mentionwatch init` writes a starter)"
    )


def write_starter(path: Path, *, force: bool = False) -> Path:
    """Write the commented starter config to `path` (`mentionwatch init`), or to `mentionwatch.yaml` in it when it
    is a folder; never over a file unless `force`. Returns where it wrote.

    Raises UsageError (exit 2, one line) when the file exists or cannot be written: a read-only folder,
    a parent that is a file, a full disk.
    """
    from importlib.resources import files

    if path.is_dir():
        path = path / "mentionwatch.yaml"
    if path.exists() and not force:
        raise UsageError(f"{path} exists; pass --force to overwrite it")
    text = files("mentionwatch").joinpath("starter.yaml").read_text(encoding="utf-8")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"{path}: cannot write the starter config: {exc.strerror or exc}") from None
    return path


def load_config(
    path: Path,
    registry: Registry,
    environ: dict[str, str] | None = None,
    *,
    unset_env_ok: bool = False,
    redactor: Redactor | None = None,
) -> Config:
    """Read, interpolate and validate a config file. Raises ConfigError listing every problem found.

    `unset_env_ok` (for `--replay`, where no secret is needed, and for commands that only read the store) stands
    the mask in for unset variables: recordings hold the mask where the secret was. A part that the mask cannot
    stand in for is held back (see `_NeedsEnv`): `notify` when it names an unset variable at all (a message
    must not go to `****`), a source entry when the mask fails its validation. A store location keeps the
    `${VAR}` as written: the store expands it when it is opened, and says then that it is not set.

    Every `${ENV}` value is masked in the problems, and joins `redactor` as soon as it is read: a validator
    quotes the value it refuses (`'https://...:0/u/<key>/feed'`), before the caller knows the config's secrets.
    """
    env = dict(os.environ) if environ is None else environ
    text = _read_text(path)
    root, data = load_yaml(path, text)
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping with `brands` and `sources`"])

    locate = _Locator(path, root)
    problems: list[str] = []
    secrets: list[str] = []
    data = _interpolate(data, (), env, locate, problems, secrets, unset_env_ok)
    if problems:
        raise ConfigError(problems)
    redact = redactor if redactor is not None else Redactor()
    redact.add(secrets)
    try:
        return _validate(path, data, registry, locate, secrets)
    except ConfigError as exc:
        raise ConfigError([redact(problem) for problem in exc.problems]) from None


def _read_text(path: Path) -> str:
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except OSError as exc:
        raise ConfigError([f"{path}: cannot read config: {exc.strerror or exc}"]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = raw.rfind(b"\n", 0, exc.start) + 1
        line = raw.count(b"\n", 0, exc.start) + 1
        raise ConfigError(
            [
                f"{path}:{line}: byte 0x{raw[exc.start]:02x} (column {exc.start - line_start + 1}) is not UTF-8: "
                f"save the file as UTF-8"
            ]
        ) from None


def _validate(path: Path, data: dict[str, Any], registry: Registry, locate: _Locator, secrets: list[str]) -> Config:
    """The config from its interpolated data; `secrets` (the `${ENV}` values) gains the secret fields' values."""
    try:
        schema = _FileSchema.model_validate(_lift_scalars(data, _FileSchema, (), locate))
    except ValidationError as exc:
        raise ConfigError(_describe(exc, (), locate, _FileSchema)) from None

    problems = _duplicate_brands(schema.brands, locate)
    # Parts held back for an unset variable (`unset_env_ok`): `notify` whole and unchecked (`check` checks it), as
    # nothing may be sent to, or signed with, the mask.
    held_back: dict[str, list[str]] = {}
    names = [b.name for b in schema.brands]
    sources = _validate_sources(schema.sources, registry, locate, problems, names, held_back)
    notify = None
    if locate.unset_in(("notify",)):
        held_back["notify"] = locate.unset_in(("notify",))
    else:
        notify = _validate_notify(schema.notify, schema.brands, locate, problems)
    if problems:
        raise ConfigError(problems)
    from_env = set(secrets)
    in_file = False
    held = [value for src in sources for value in src.config.secret_values()]
    for value in held + (notify.secret_values() if notify else []):
        secrets.append(value)
        in_file = in_file or (value != MASK and not any(part in value for part in from_env))
    return Config(
        path=path,
        since=schema.since,
        brands=schema.brands,
        sources=sources,
        http=schema.http,
        scoring=schema.scoring,
        store=_relative_to(schema.store, path.parent),
        templates=dict(schema.templates),
        secrets=secrets,
        secrets_in_file=in_file,
        notify=notify,
        unset_env=held_back,
    )


def _relative_to(store: StoreConfig, base: Path) -> StoreConfig:
    """A relative store path is relative to the config file, like every other path in it (`sqlite:///rel` too);
    a server's URL is left as it is."""
    from mentionwatch.store import store_path

    file = store_path(store.path) if store.path else None
    if file is None:
        return store
    if not file.expanduser().is_absolute():
        file = base / file
    return store.model_copy(update={"path": str(file)})


def _validate_sources(
    raw: list[dict[str, Any]],
    registry: Registry,
    locate: _Locator,
    problems: list[str],
    brands: list[str],
    held: dict[str, list[str]],
) -> list[ConfiguredSource]:
    out: list[ConfiguredSource] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(raw):
        loc: tuple[str | int, ...] = ("sources", i)
        type_name = entry.get("type")
        if not isinstance(type_name, str) or not type_name:
            problems.append(locate.message(loc, "every source needs a `type`"))
            continue
        cls = registry.get(type_name)
        if cls is None and type_name in registry.broken:
            problems.append(
                locate.message(
                    (*loc, "type"), f"source type {type_name!r} failed to load: {registry.broken[type_name]}"
                )
            )
            continue
        if cls is None:
            problems.append(
                locate.message(
                    (*loc, "type"),
                    f"unknown source type {type_name!r} (installed: {', '.join(registry.names())})"
                    f"{_type_hint(type_name, registry.names())}",
                )
            )
            continue
        try:
            config = cls.Config.model_validate(_lift_scalars(entry, cls.Config, loc, locate))
        except ValidationError as exc:
            if all(locate.unset_at((*loc, *err["loc"])) for err in exc.errors()):
                # Only the mask of an unset variable fails (`base_url: ${API}`): said when the sources are read.
                held.setdefault("sources", []).extend(locate.unset_in(loc))
            else:
                problems.extend(_describe(exc, loc, locate, cls.Config, env_prefix=type_name))
            continue
        if isinstance(config, OwnedSourceConfig):
            owner = _owner(config, brands)
            if owner is None:
                problems.append(_owner_problem(config, brands, loc, locate))
                continue
            config = config.model_copy(update={"brand": owner})
        source = ConfiguredSource(cls, config)
        if source.name in seen:
            problems.append(
                locate.message(
                    (*loc, "name") if "name" in entry else loc,
                    f"source name {source.name!r} is already used by sources[{seen[source.name]}]: "
                    f"a second source of the same type needs its own `name`",
                )
            )
            continue
        seen[source.name] = i
        out.append(source)
    return out


def _owner(config: OwnedSourceConfig, brands: list[str]) -> str | None:
    """The brand whose own page or account a source reads: its `brand` (one of the config's, case aside), or
    the config's only brand; None when it cannot be told."""
    if config.brand is None:
        return brands[0] if len(brands) == 1 else None
    wanted = config.brand.strip().casefold()
    return next((b for b in brands if b.strip().casefold() == wanted), None)


def _owner_problem(config: OwnedSourceConfig, brands: list[str], loc: tuple[str | int, ...], locate: _Locator) -> str:
    names = ", ".join(brands)
    if config.brand is None:
        return locate.message(
            loc,
            f"type {config.type} reads one brand's own page or account: say whose with `brand:` (one of {names})",
        )
    close = difflib.get_close_matches(config.brand, brands, n=1)
    hint = f"; did you mean {close[0]!r}?" if close else ""
    return locate.message((*loc, "brand"), f"no brand is named {config.brand!r} (brands: {names}){hint}")


def _validate_notify(
    raw: dict[str, Any] | None, brands: list[BrandConfig], locate: _Locator, problems: list[str]
) -> NotifyConfig | None:
    """`notify:` checked key by key: its settings, then each target by its type (errors name file:line:key)."""
    if raw is None:
        return None
    loc: tuple[str | int, ...] = ("notify",)
    settings_raw = {k: v for k, v in raw.items() if k != "targets"}
    try:
        settings = NotifyConfig.model_validate(_lift_scalars(settings_raw, NotifyConfig, loc, locate))
    except ValidationError as exc:
        problems.extend(_describe(exc, loc, locate, NotifyConfig))
        settings = None
    names = {b.name for b in brands}
    for name in settings.brands if settings else {}:
        if name not in names:
            problems.append(locate.message((*loc, "brands", name), f"no brand is named {name!r}"))
    entries = raw.get("targets")
    if isinstance(entries, dict):
        entries = [entries]  # one target written as a mapping: a one-item list, as `terms: Acme` is
    if not isinstance(entries, list) or not entries:
        problems.append(locate.message((*loc, "targets") if "targets" in raw else loc, "list at least one target"))
        return None
    targets: list[NotifyTarget] = []
    seen: dict[str, int] = {}
    for i, entry in enumerate(entries):
        target = _validate_target(entry, (*loc, "targets", i), names, locate, problems)
        if target is None:
            continue
        if target.label in seen:
            problems.append(
                locate.message(
                    (*loc, "targets", i, "name") if target.name else (*loc, "targets", i),
                    f"target name {target.label!r} is already used by notify.targets[{seen[target.label]}]: a "
                    f"second target of the same type needs its own `name` (the store remembers what each was sent)",
                )
            )
            continue
        seen[target.label] = i
        targets.append(target)
    if settings is None:
        return None
    return settings.model_copy(update={"targets": targets})


def _validate_target(
    entry: Any, loc: tuple[str | int, ...], brands: set[str], locate: _Locator, problems: list[str]
) -> NotifyTarget | None:
    if not isinstance(entry, dict):
        problems.append(locate.message(loc, "a target is a mapping with a `type` (webhook, slack or email)"))
        return None
    type_name = entry.get("type")
    cls = TARGET_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        close = difflib.get_close_matches(str(type_name), list(TARGET_TYPES), n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        problems.append(
            locate.message((*loc, "type"), f"unknown target type {type_name!r} (webhook, slack or email){hint}")
        )
        return None
    # `type: mattermost` is the Slack format (Mattermost's incoming webhooks take Slack's messages), named
    # `mattermost` unless it has a name.
    data = {**entry, "type": cls.model_fields["type"].default}
    if "name" not in entry and type_name != data["type"]:
        data["name"] = type_name
    try:
        target = cls.model_validate(_lift_scalars(data, cls, loc, locate))
    except ValidationError as exc:
        problems.extend(_describe(exc, loc, locate, cls, env_prefix=str(type_name)))
        return None
    for brand in target.brands:
        if brand not in brands:
            problems.append(locate.message((*loc, "brands"), f"no brand is named {brand!r}"))
    return target


# What people call a service whose adapter has another name: `type: twitter` is `x`.
_TYPE_ALIASES = {
    "twitter": "x",
    "hn": "hackernews",
    "stackoverflow": "stackexchange",
    "bsky": "bluesky",
    "dev.to": "devto",
    "atom": "rss",
    "feed": "rss",
    "google_alerts": "rss",
    "google_news": "rss",
}


def _type_hint(type_name: str, installed: list[str]) -> str:
    """The "; did you mean 'x'?" for another name of an installed adapter, or for a close spelling."""
    alias = _TYPE_ALIASES.get(type_name.strip().lower().replace("-", "_"))
    if alias in installed:
        extra = " with `google_news: QUERY`" if "google_news" in type_name.lower() else ""
        return f"; did you mean {alias!r}{extra}?"
    close = difflib.get_close_matches(type_name, installed, n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


def _duplicate_brands(brands: list[BrandConfig], locate: _Locator) -> list[str]:
    """Two brands of one name (case aside) would be one name in the output and in `--brand`."""
    out: list[str] = []
    first: dict[str, int] = {}
    for i, brand in enumerate(brands):
        key = brand.name.strip().casefold()
        if key in first:
            out.append(
                locate.message(
                    ("brands", i, "name"),
                    f"brand name {brand.name!r} is already used by brands[{first[key]}]: each brand needs its "
                    f"own name (put all its terms in one brand)",
                )
            )
        else:
            first[key] = i
    return out


_SCALARS = (str, int, float, date)  # bool is an int, datetime a date


def _lift_scalars(
    data: Any, model: type[BaseModel], loc: tuple[str | int, ...] = (), locate: _Locator | None = None
) -> Any:
    """`terms: Acme` reads as `terms: [Acme]`: a scalar where the schema wants a list is a one-item list. And a
    plain integer where the schema wants text is that text as written (`page_id: 104325678901234`, a brand named
    `2048`): YAML reads it as a number, and quoting an id is easy to forget."""
    if not isinstance(data, dict):
        return data
    out = dict(data)
    for name, info in model.model_fields.items():
        value = out.get(name)
        at = (*loc, name)
        item = _item_type(info.annotation)
        if value is None and name in out and item is not None and type(None) not in get_args(info.annotation):
            # `exclude:` with nothing after it (a starter config's "nothing yet"): YAML's null, an empty list here.
            out[name] = []
        elif _is_text(info.annotation) and _is_int(value):
            out[name] = _as_written(value, at, locate)
        elif item is not None and isinstance(value, _SCALARS):
            out[name] = [_as_written(value, at, locate) if _is_text(item) and _is_int(value) else value]
        elif item is not None and isinstance(value, dict) and (_is_model(item) or get_origin(item) is dict):
            # `brands:` with one brand's keys under it: that brand alone (the locator reads [0] as the mapping).
            out[name] = [_lift_scalars(value, item, (*at, 0), locate) if _is_model(item) else value]
        elif item is not None and _is_model(item) and isinstance(value, list):
            out[name] = [_lift_scalars(v, item, (*at, i), locate) for i, v in enumerate(value)]
        elif item is not None and _is_text(item) and isinstance(value, list):
            out[name] = [_as_written(v, (*at, i), locate) if _is_int(v) else v for i, v in enumerate(value)]
        elif _is_model(info.annotation) and isinstance(value, dict):
            out[name] = _lift_scalars(value, info.annotation, at, locate)  # type: ignore[arg-type]
    return out


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text(annotation: Any) -> bool:
    """Whether the schema wants text there: str or SecretStr, optional or not."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    kinds = [get_args(o)[0] if get_origin(o) is Annotated else o for o in options if o is not type(None)]
    return bool(kinds) and all(k in (str, SecretStr) for k in kinds)


def _as_written(value: Any, loc: tuple[str | int, ...], locate: _Locator | None) -> str:
    """A number's text as the file has it (`0123` stays `0123`, which YAML 1.1 reads as octal 83)."""
    written = locate.written(loc) if locate is not None else None
    return written if written is not None else str(value)


def _item_type(annotation: Any) -> Any:
    """The item type when `annotation` is a list, tuple or set (or an optional one), else None."""
    options = get_args(annotation) if get_origin(annotation) in (Union, UnionType) else (annotation,)
    for option in options:
        if get_origin(option) in (list, tuple, set, frozenset):
            args = get_args(option)
            return args[0] if args else Any
    return None


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _interpolate(
    value: Any,
    loc: tuple[str | int, ...],
    env: dict[str, str],
    locate: _Locator,
    problems: list[str],
    secrets: list[str],
    unset_ok: bool = False,
) -> Any:
    """Replace ${VAR} in every string value from the environment; an unset variable is an error, or with
    `unset_ok` the mask (the store's location keeps it as written), noted in `locate.unset`.

    `$${` stands for a literal `${`. Any other `${` must open a valid name and close: `${1ABC}`, `${}` and
    an unclosed `${` are errors rather than text kept as written, which would reach a URL or a token.
    """
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), env, locate, problems, secrets, unset_ok) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), env, locate, problems, secrets, unset_ok) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$${":
            return "${"
        name, closed = match.group(1), match.group(2)
        if not closed:
            problems.append(
                locate.message(loc, f"`${{{name}` is not closed: write ${{NAME}}, or $${{ for a literal ${{")
            )
            return ""
        if not _ENV_NAME.fullmatch(name):
            problems.append(
                locate.message(
                    loc,
                    f"`${{{name}}}` is not an environment variable name (letters, digits and _, not starting "
                    f"with a digit); write $${{ for a literal ${{",
                )
            )
            return ""
        if name not in env and unset_ok:
            locate.unset.append((loc, name))
            # The store expands `${VAR}` in its location itself when it is opened (store/postgres.py): kept, the
            # variable is said to be unset by the command that opens that store, and by no other.
            return match.group(0) if loc[:1] == ("store",) else MASK
        if name not in env:
            problems.append(locate.message(loc, f"environment variable ${{{name}}} is not set"))
            return ""
        secrets.append(env[name])
        return env[name]

    return _ENV_REF.sub(replace, value)


def _describe(
    exc: ValidationError,
    prefix: tuple[str | int, ...],
    locate: _Locator,
    model: type[BaseModel],
    *,
    env_prefix: str = "",
) -> list[str]:
    out = []
    for err in exc.errors():
        loc = (*prefix, *err["loc"])
        kind = err["type"]
        if kind == "extra_forbidden":
            msg = "unknown key"
            allowed = _allowed_keys(model, err["loc"][:-1])
            if allowed:
                hint = difflib.get_close_matches(str(err["loc"][-1]), allowed, n=1)
                msg += f" (did you mean {hint[0]!r}?)" if hint else f" (allowed: {', '.join(allowed)})"
        elif unset := locate.unset_at(loc):
            msg = f"environment variable ${{{unset}}} is not set"
        elif kind == "missing":
            msg = "required key is missing" + _missing_hint(model, err["loc"], env_prefix)
        elif kind in ("model_type", "dict_type"):
            msg = _mapping_expected(model, err["loc"], locate.written(loc))
        elif kind == "string_type" and not isinstance(err.get("input"), (dict, list, type(None))):
            # `name: yes` is YAML's true, `version: 1.10` the number 1.1: text is what was meant.
            shown = locate.written(loc) or repr(err.get("input"))
            msg = f'{shown} reads as a {_yaml_kind(err.get("input"))}; text is expected here: quote it ("{shown}")'
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
        out.append(locate.message(loc, msg))
    return out


# What to write for an entry of a top-level list written as a bare word (`brands: [Acme]`, `sources: [hackernews]`):
# what it is, the form to write, and the word shown in it when the one written cannot be.
_ENTRY_FORMS = {
    "brands": ("a brand", "`- name: {}` (with its `terms:`)", "NAME"),
    "sources": ("a source", "`- type: {}`", "TYPE"),
}


def _mapping_expected(model: type[BaseModel], loc: tuple[Any, ...], written: str | None) -> str:
    """What to write where a mapping is expected and something else is written."""
    if len(loc) == 2 and loc[0] in _ENTRY_FORMS and isinstance(loc[1], int):
        what, form, placeholder = _ENTRY_FORMS[loc[0]]
        # The word as written, when it is one: a line break or a page of text would make a poor example.
        word = written if written and written.isprintable() and len(written) <= 60 else placeholder
        return f"{what} is a mapping: write {form.format(word)}"
    allowed = _allowed_keys(model, loc)
    return "a mapping is expected here" + (f" (keys: {', '.join(allowed)})" if allowed else "")


def _yaml_kind(value: Any) -> str:
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    return "date" if isinstance(value, date) else type(value).__name__


class _Locator:
    """Maps a key path like ('sources', 2, 'urls') to its line in the YAML file."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path = path
        self.root = root
        self.allowed: dict[tuple[str | int, ...], list[str]] = {}
        # Where an unset `${VAR}` stood, and its name (a load with `unset_env_ok`).
        self.unset: list[tuple[tuple[str | int, ...], str]] = []

    def unset_at(self, loc: tuple[str | int, ...]) -> str | None:
        """The unset variable in the value at `loc` or around it (`urls: ${FEEDS}` for urls[0]), if any."""
        return next((name for at, name in self.unset if loc[: len(at)] == at), None)

    def unset_in(self, loc: tuple[str | int, ...]) -> list[str]:
        """A problem for each unset variable at or under `loc`."""
        return [
            self.message(at, f"environment variable ${{{name}}} is not set")
            for at, name in self.unset
            if at[: len(loc)] == loc
        ]

    def _find(self, loc: tuple[str | int, ...]) -> tuple[int | None, yaml.Node | None]:
        """The line of the deepest part of `loc` found, and the node at `loc` (None when not all of it is)."""
        node = self.root
        found = node.start_mark.line + 1 if node is not None else None
        for part in loc:
            if part == 0 and node is not None and not isinstance(node, yaml.SequenceNode):
                continue  # a lone value where a list is expected is its one item (`_lift_scalars`)
            if isinstance(node, yaml.MappingNode):
                nxt = None
                for key, val in node.value:
                    if key.value == part:
                        found, nxt = key.start_mark.line + 1, val
                        break
                node = nxt
            elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
                node = node.value[part]
                found = node.start_mark.line + 1
            else:
                return found, None
            if node is None:
                break
        return found, node

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        return self._find(loc)[0]

    def written(self, loc: tuple[str | int, ...]) -> str | None:
        """The scalar at `loc` as the file writes it (None when it is not a plain scalar of the file)."""
        node = self._find(loc)[1]
        return node.value if isinstance(node, yaml.ScalarNode) and isinstance(node.value, str) else None

    def message(self, loc: tuple[str | int, ...], msg: str) -> str:
        line = self.line(loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        return f"{where}: {format_loc(loc)}: {msg}"


def _schema_at(model: type[BaseModel], loc: tuple[Any, ...]) -> Any:
    """The type the value at `loc` must have, found by walking the schema along the key path (None: unknown)."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            current = _item_type(current)
        elif _is_model(current) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return None
    return current


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at `loc` accepts."""
    current = _schema_at(model, loc)
    return sorted(current.model_fields) if _is_model(current) else []


def _missing_hint(model: type[BaseModel], loc: tuple[Any, ...], env_prefix: str) -> str:
    """What a missing key is for, as `mentionwatch sources` says it; for a secret, how to take it from ${ENV}."""
    parent = _schema_at(model, loc[:-1])
    name = loc[-1] if loc else None
    if not _is_model(parent) or name not in parent.model_fields:
        return ""
    info = parent.model_fields[name]
    out = f": {info.description}" if info.description else ""
    if SecretStr in (info.annotation, *get_args(info.annotation)):
        var = re.sub(r"\W+", "_", f"{env_prefix}_{name}" if env_prefix else str(name)).upper()
        out += f"; keep it out of the file: `{name}: ${{{var}}}` and export {var}"
    return out

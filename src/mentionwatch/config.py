"""The YAML config: schema, `${ENV}` interpolation, and errors that name the file, line and key path."""

from __future__ import annotations

import difflib
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any, get_args

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from mentionwatch.errors import ConfigError, UsageError
from mentionwatch.redaction import MASK
from mentionwatch.registry import Registry
from mentionwatch.source import Source, SourceConfig

CONFIG_ENV = "MENTIONWATCH_CONFIG"
DEFAULT_SINCE = "7d"
_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}")
_RELATIVE = re.compile(r"^\s*(\d+)\s*([mhdw])\s*$", re.IGNORECASE)
_UNITS = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def parse_since(value: str, now: datetime) -> datetime:
    """`24h`, `7d`, `2w`, `30m`, a date (`2026-11-01`, midnight UTC) or a time (`2026-11-01T08:00Z`)."""
    rel = _RELATIVE.match(value)
    if rel:
        return now - timedelta(**{_UNITS[rel.group(2).lower()]: int(rel.group(1))})
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(
            f"cannot read {value!r} as a time: use 24h, 7d, 2w, 30m, 2026-11-01 or 2026-11-01T08:00Z"
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=UTC)
    return parsed.astimezone(UTC)


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

    @field_validator("terms", "exclude", "exclude_authors", "exclude_domains")
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
        if not self.terms and not self.query:
            raise ValueError(f"brand {self.name!r} needs at least one entry in `terms`, or a `query`")
        return self


class HttpConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    timeout: float = Field(20.0, gt=0, description="seconds to wait for a response")
    connect_timeout: float = Field(10.0, gt=0)
    concurrency: int = Field(16, ge=1, le=500, description="requests in flight at once, all sources together")
    max_bytes: int = Field(20 * 1024 * 1024, ge=1024, description="largest response body read")
    deadline: float = Field(120.0, gt=0, description="seconds one source may take before it is abandoned")
    per_host: int = Field(6, ge=1, le=100, description="requests in flight at once to one host")
    retries: int = Field(3, ge=0, le=10, description="retries after a transport error, 429 or 5xx (a timeout: once)")
    max_retry_wait: float = Field(60.0, ge=0, description="seconds one request may spend waiting to retry")
    cache: bool = Field(True, description="send conditional requests (ETag / Last-Modified) from an HTTP cache")


class ScoringConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # VADER is the default: it agrees better with people on social media text (benchmarks/README.md).
    sentiment: str = Field("vader", description="sentiment scorer: vader, textblob, or an installed plugin")

    @field_validator("sentiment")
    @classmethod
    def _installed_scorer(cls, value: str) -> str:
        from mentionwatch.scoring import scorer_names

        names = scorer_names()
        if value not in names:
            raise ValueError(f"unknown sentiment scorer {value!r} (installed: {', '.join(names)})")
        return value


class _FileSchema(BaseModel):
    model_config = ConfigDict(extra="forbid")

    since: str | None = None
    brands: list[BrandConfig] = Field(min_length=1)
    sources: list[dict[str, Any]] = Field(min_length=1)
    http: HttpConfig = Field(default_factory=HttpConfig)
    scoring: ScoringConfig = Field(default_factory=ScoringConfig)

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

    cls: type[Source]
    config: SourceConfig

    @property
    def name(self) -> str:
        return self.config.name or self.cls.type


@dataclass(frozen=True)
class Config:
    path: Path
    since: str | None
    brands: list[BrandConfig]
    sources: list[ConfiguredSource]
    http: HttpConfig
    scoring: ScoringConfig
    # Values that must never be printed: secret fields and everything taken from the environment.
    secrets: list[str] = field(default_factory=list)
    # True when a secret is written in the file itself rather than taken from ${ENV}.
    secrets_in_file: bool = False

    @property
    def base_dir(self) -> Path:
        return self.path.parent


def find_config(explicit: Path | None) -> Path:
    """--config, else $MENTIONWATCH_CONFIG, else ./mentionwatch.yaml, else config.yaml in the user config dir."""
    if explicit is not None:
        return explicit
    if os.environ.get(CONFIG_ENV):
        return Path(os.environ[CONFIG_ENV])
    local = Path("mentionwatch.yaml")
    if local.exists():
        return local
    from platformdirs import user_config_path

    user = user_config_path("mentionwatch") / "config.yaml"
    if user.exists():
        return user
    raise UsageError(
        f"no config found: pass --config PATH, set ${CONFIG_ENV}, or create ./mentionwatch.yaml "
        f"or {user} (`mentionwatch init` writes a starter)"
    )


def load_config(
    path: Path, registry: Registry, environ: dict[str, str] | None = None, *, unset_env_ok: bool = False
) -> Config:
    """Read, interpolate and validate a config file. Raises ConfigError listing every problem found.

    `unset_env_ok` (for `--replay`, where no secret is needed) stands the mask in for unset variables:
    recordings hold the mask where the secret was.
    """
    env = dict(os.environ) if environ is None else environ
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise UsageError(f"{path}: config file not found") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{path}: cannot read config: {exc}"]) from None
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = f":{mark.line + 1}" if mark else ""
        problem = exc.problem or str(exc)
        if "python/" in str(exc):
            problem = f"{problem} (only plain YAML is allowed; tags that build Python objects are refused)"
        elif mark and "${" in (text.splitlines() or [""])[min(mark.line, len(text.splitlines()) - 1)]:
            problem = f'{problem} (quote values that contain ${{VAR}}: "...${{VAR}}...")'
        raise ConfigError([f"{path}{line}: {problem}"]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: {exc}"]) from None
    if not isinstance(data, dict):
        raise ConfigError([f"{path}:1: the config must be a mapping with `brands` and `sources`"])

    locate = _Locator(path, root)
    problems: list[str] = []
    secrets: list[str] = []
    data = _interpolate(data, (), env, locate, problems, secrets, unset_env_ok)
    if problems:
        raise ConfigError(problems)

    try:
        schema = _FileSchema.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(_describe(exc, (), locate, _FileSchema)) from None

    sources = _validate_sources(schema.sources, registry, locate, problems)
    if problems:
        raise ConfigError(problems)
    from_env = set(secrets)
    in_file = False
    for src in sources:
        for value in src.config.secret_values():
            secrets.append(value)
            in_file = in_file or (value != MASK and not any(part in value for part in from_env))
    return Config(
        path=path,
        since=schema.since,
        brands=schema.brands,
        sources=sources,
        http=schema.http,
        scoring=schema.scoring,
        secrets=secrets,
        secrets_in_file=in_file,
    )


def _validate_sources(
    raw: list[dict[str, Any]], registry: Registry, locate: _Locator, problems: list[str]
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
            hint = difflib.get_close_matches(type_name, registry.names(), n=1)
            extra = f"; did you mean {hint[0]!r}?" if hint else ""
            problems.append(
                locate.message(
                    (*loc, "type"),
                    f"unknown source type {type_name!r} (installed: {', '.join(registry.names())}){extra}",
                )
            )
            continue
        try:
            config = cls.Config.model_validate(entry)
        except ValidationError as exc:
            problems.extend(_describe(exc, loc, locate, cls.Config))
            continue
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


def _interpolate(
    value: Any,
    loc: tuple[str | int, ...],
    env: dict[str, str],
    locate: _Locator,
    problems: list[str],
    secrets: list[str],
    unset_ok: bool = False,
) -> Any:
    """Replace ${VAR} in every string value from the environment; an unset variable is an error."""
    if isinstance(value, dict):
        return {k: _interpolate(v, (*loc, k), env, locate, problems, secrets, unset_ok) for k, v in value.items()}
    if isinstance(value, list):
        return [_interpolate(v, (*loc, i), env, locate, problems, secrets, unset_ok) for i, v in enumerate(value)]
    if not isinstance(value, str) or "${" not in value:
        return value

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        if name not in env and unset_ok:
            return MASK
        if name not in env:
            problems.append(locate.message(loc, f"environment variable ${{{name}}} is not set"))
            return ""
        secrets.append(env[name])
        return env[name]

    return _ENV_REF.sub(replace, value)


def _describe(
    exc: ValidationError, prefix: tuple[str | int, ...], locate: _Locator, model: type[BaseModel]
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
        elif kind == "missing":
            msg = "required key is missing"
        else:
            msg = err["msg"]
            if msg.startswith("Value error, "):
                msg = msg[len("Value error, ") :]
        out.append(locate.message(loc, msg))
    return out


class _Locator:
    """Maps a key path like ('sources', 2, 'urls') to its line in the YAML file."""

    def __init__(self, path: Path, root: yaml.Node | None) -> None:
        self.path = path
        self.root = root
        self.allowed: dict[tuple[str | int, ...], list[str]] = {}

    def line(self, loc: tuple[str | int, ...]) -> int | None:
        node = self.root
        found = node.start_mark.line + 1 if node is not None else None
        for part in loc:
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
                break
            if node is None:
                break
        return found

    def message(self, loc: tuple[str | int, ...], msg: str) -> str:
        line = self.line(loc)
        where = f"{self.path}:{line}" if line else str(self.path)
        return f"{where}: {format_loc(loc)}: {msg}"


def _allowed_keys(model: type[BaseModel], loc: tuple[Any, ...]) -> list[str]:
    """The keys the mapping at `loc` accepts, found by walking the schema along the key path."""
    current: Any = model
    for part in loc:
        if isinstance(part, int):
            args = get_args(current)
            current = args[0] if args else None
        elif isinstance(current, type) and issubclass(current, BaseModel) and part in current.model_fields:
            current = current.model_fields[part].annotation
        else:
            return []
    if isinstance(current, type) and issubclass(current, BaseModel):
        return sorted(current.model_fields)
    return []


def format_loc(loc: tuple[str | int, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "(top level)"

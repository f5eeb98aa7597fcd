"""Configuration: ``config.toml`` (tomllib) into frozen dataclasses, plus environment overrides.

Every key is documented in ``config.example.toml``. Validation errors name the key, e.g.
``config.toml: [digest] grace_hours: expected a number, got 'six'``. Unknown keys are errors
too, so that a typo never silently falls back to a default.

Environment overrides (highest precedence): ``DISCORD_TOKEN``, ``NEWSBOT_DB``,
``NEWSBOT_DISCORD_API_BASE``, ``NEWSBOT_DISCORD_GATEWAY``, ``NEWSBOT_HTTP_LISTEN`` (with
``NEWSBOT_HTTP_PUBLIC=true`` for a non-loopback address). ``NEWSBOT_CONFIG`` names the config file.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from bot.config_values import (
    BOUNDS,
    CHOICES,
    LOG_LEVELS,
    ConfigError,
    check_listen,
    coerce,
    split_listen,
)
from bot.domain.coordination import parse_shards

DEFAULT_CONFIG_FILE = "config.toml"


@dataclass(frozen=True, slots=True)
class DatabaseConfig:
    """``path`` is the database the code opens: the ``[database] url`` key when given (any
    target: a SQLite path, ``sqlite:///path``, ``postgresql://...``), else the older
    ``[database] path`` key; ``--db`` and ``NEWSBOT_DB`` override both."""

    path: str = "newsbot.db"
    url: str = ""

    @property
    def target(self) -> str:
        return self.path


def _database(section: DatabaseConfig, where: str, raw: Mapping[str, Any]) -> DatabaseConfig:
    from bot.storage.dialect import TargetError, parse_target

    if "url" in raw and "path" in raw:
        raise ConfigError(f"{where} url and path: give one of them (url takes any database)")
    key = "url" if "url" in raw else "path"
    value = section.url if key == "url" else section.path
    try:
        parse_target(value)
    except TargetError as exc:
        raise ConfigError(f"{where} {key}: {exc}") from None
    return replace(section, path=value, url=value if key == "url" else "")


@dataclass(frozen=True, slots=True)
class IngestConfig:
    sources: tuple[str, ...] = ("seeds",)
    rescan_minutes: float = 10.0
    max_file_bytes: int = 5_000_000
    workers: int = 0  # 0 = one per CPU core


@dataclass(frozen=True, slots=True)
class DiscordConfig:
    token: str = field(default="", repr=False)
    dev_guild_id: int = 0
    api_base: str = ""
    gateway_url: str = ""
    shard_ids: str = ""  # "" = all shards; "0,2" or "0-3"; "none" = no gateway (a worker)
    shard_count: int = 0  # 0 = as Discord recommends

    def __repr__(self) -> str:  # never show the token, even by accident in a log line
        return (
            f"DiscordConfig(token={'<set>' if self.token else '<unset>'}, "
            f"dev_guild_id={self.dev_guild_id}, api_base={self.api_base!r}, "
            f"gateway_url={self.gateway_url!r}, shard_ids={self.shard_ids!r}, "
            f"shard_count={self.shard_count})"
        )


@dataclass(frozen=True, slots=True)
class DigestConfig:
    grace_hours: float = 6.0
    max_subscriptions_per_guild: int = 25
    post_when_empty: bool = False
    default_max_stories: int = 10


@dataclass(frozen=True, slots=True)
class FeedSourceConfig:
    """One ``[[feeds.sources]]`` table."""

    url: str
    name: str | None = None
    topics: tuple[str, ...] = ()
    every_minutes: float | None = None


@dataclass(frozen=True, slots=True)
class FeedsConfig:
    every_minutes: float = 15.0
    discord_admins: bool = False
    allow_private_addresses: bool = False
    max_bytes: int = 10_000_000
    timeout_seconds: float = 30.0
    concurrency: int = 20
    per_host: int = 2
    max_entries: int = 500
    contact_url: str = ""
    check_seconds: float = 60.0
    sources: tuple[FeedSourceConfig, ...] = ()


@dataclass(frozen=True, slots=True)
class HttpConfig:
    listen: str = ""  # "HOST:PORT" of the health/metrics server; empty = off
    public: bool = False  # allow a non-loopback listen address

    @property
    def address(self) -> tuple[str, int] | None:
        """(host, port) of ``listen`` (validated at load), or None when off."""
        if not self.listen:
            return None
        return split_listen(self.listen)


@dataclass(frozen=True, slots=True)
class CoordinationConfig:
    """Several processes on one PostgreSQL database (docs/scaling.md)."""

    leader_ttl_seconds: float = 15.0
    heartbeat_seconds: float = 5.0
    claim_ttl_seconds: float = 30.0
    send_rate: float = 48.0  # digest posts per second, all processes together


@dataclass(frozen=True, slots=True)
class LoggingConfig:
    format: str = "text"  # "text" or "json"


@dataclass(frozen=True, slots=True)
class Config:
    database: DatabaseConfig = field(default_factory=DatabaseConfig)
    ingest: IngestConfig = field(default_factory=IngestConfig)
    discord: DiscordConfig = field(default_factory=DiscordConfig)
    digest: DigestConfig = field(default_factory=DigestConfig)
    feeds: FeedsConfig = field(default_factory=FeedsConfig)
    http: HttpConfig = field(default_factory=HttpConfig)
    coordination: CoordinationConfig = field(default_factory=CoordinationConfig)
    logging: LoggingConfig = field(default_factory=LoggingConfig)
    log_level: str = "INFO"
    source: str = "<defaults>"


_SECTIONS: dict[str, type] = {
    "database": DatabaseConfig,
    "ingest": IngestConfig,
    "discord": DiscordConfig,
    "digest": DigestConfig,
    "feeds": FeedsConfig,
    "http": HttpConfig,
    "coordination": CoordinationConfig,
    "logging": LoggingConfig,
}


def _section(name: str, cls: type, raw: Any, file: str) -> Any:
    where = f"{file}: [{name}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a table")
    defaults = cls()
    known = {f.name for f in fields(cls)}
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in known:
            raise ConfigError(f"{where} {key}: unknown key (known: {', '.join(sorted(known))})")
        if cls is FeedsConfig and key == "sources":
            values[key] = _feed_sources(file, value)
            continue
        values[key] = coerce(where, key, value, getattr(defaults, key), BOUNDS.get((name, key)))
        choices = CHOICES.get((name, key))
        if choices and values[key] not in choices:
            raise ConfigError(f"{where} {key}: expected one of {', '.join(choices)}, got {value!r}")
    section = replace(defaults, **values)
    if isinstance(section, HttpConfig):
        check_listen(section.listen, section.public, where)
    if isinstance(section, CoordinationConfig) and (
        section.heartbeat_seconds * 2 > section.leader_ttl_seconds
    ):
        raise ConfigError(
            f"{where} heartbeat_seconds: must be at most half of leader_ttl_seconds "
            f"({section.heartbeat_seconds:g} > {section.leader_ttl_seconds:g} / 2)"
        )
    if isinstance(section, DiscordConfig) and section.shard_ids:
        try:
            parse_shards(section.shard_ids, section.shard_count or None)
        except ValueError as exc:
            raise ConfigError(f"{where} shard_ids: {exc}") from None
    return section


def _feed_sources(file: str, raw: Any) -> tuple[FeedSourceConfig, ...]:
    """``[[feeds.sources]]``: a list of tables, each error naming the table's 1-based index."""
    if not isinstance(raw, list):
        raise ConfigError(f"{file}: [feeds] sources: expected [[feeds.sources]] tables")
    out = []
    known = {f.name for f in fields(FeedSourceConfig)}
    for index, table in enumerate(raw, 1):
        where = f"{file}: [[feeds.sources]] #{index}"
        if not isinstance(table, Mapping):
            raise ConfigError(f"{where}: expected a table")
        for key in table:
            if key not in known:
                raise ConfigError(f"{where} {key}: unknown key (known: {', '.join(sorted(known))})")
        url = table.get("url")
        if not isinstance(url, str) or not url.strip():
            raise ConfigError(f"{where} url: expected an http(s) url, got {url!r}")
        if not url.strip().lower().startswith(("http://", "https://")):
            raise ConfigError(f"{where} url: only http and https urls, got {url!r}")
        name = table.get("name")
        if name is not None and (not isinstance(name, str) or not name.strip()):
            raise ConfigError(f"{where} name: expected a non-empty string, got {name!r}")
        topics = coerce(where, "topics", table.get("topics", []), (), None)
        every = table.get("every_minutes")
        if every is not None:
            every = coerce(where, "every_minutes", every, 0.0, BOUNDS[("feeds", "every_minutes")])
        out.append(FeedSourceConfig(url.strip(), name, topics, every))
    return tuple(out)


def parse_config(data: Mapping[str, Any], *, source: str = "<config>") -> Config:
    """Validate a parsed TOML document into a :class:`Config` (no environment applied)."""
    sections: dict[str, Any] = {}
    log_level = "INFO"
    for key, value in data.items():
        if key in _SECTIONS:
            sections[key] = _section(key, _SECTIONS[key], value, source)
            if key == "database":
                sections[key] = _database(sections[key], f"{source}: [database]", value)
        elif key == "log_level":
            if not isinstance(value, str) or value.upper() not in LOG_LEVELS:
                raise ConfigError(
                    f"{source}: log_level: expected one of {', '.join(LOG_LEVELS)}, got {value!r}"
                )
            log_level = value.upper()
        else:
            known = ", ".join([*sorted(_SECTIONS), "log_level"])
            raise ConfigError(f"{source}: {key}: unknown key (known: {known})")
    return Config(**sections, log_level=log_level, source=source)


def apply_env(config: Config, env: Mapping[str, str]) -> Config:
    """Environment overrides: the token, the database path and the Discord endpoints."""
    discord_cfg = config.discord
    if env.get("DISCORD_TOKEN"):
        discord_cfg = replace(discord_cfg, token=env["DISCORD_TOKEN"].strip())
    if env.get("NEWSBOT_DISCORD_API_BASE"):
        discord_cfg = replace(discord_cfg, api_base=env["NEWSBOT_DISCORD_API_BASE"])
    if env.get("NEWSBOT_DISCORD_GATEWAY"):
        discord_cfg = replace(discord_cfg, gateway_url=env["NEWSBOT_DISCORD_GATEWAY"])
    database = config.database
    if env.get("NEWSBOT_DB"):
        from bot.storage.dialect import TargetError, parse_target

        try:
            parse_target(env["NEWSBOT_DB"])
        except TargetError as exc:
            raise ConfigError(f"environment: NEWSBOT_DB: {exc}") from None
        database = replace(database, path=env["NEWSBOT_DB"])
    http = config.http
    if env.get("NEWSBOT_HTTP_LISTEN"):  # containers: set where the health checks reach it
        public = env.get("NEWSBOT_HTTP_PUBLIC", "").strip().lower() in ("1", "true", "yes")
        http = replace(http, listen=env["NEWSBOT_HTTP_LISTEN"].strip(), public=public)
        check_listen(
            http.listen, http.public, "environment: NEWSBOT_HTTP_LISTEN (with NEWSBOT_HTTP_PUBLIC):"
        )
    return replace(config, discord=discord_cfg, database=database, http=http)


def load_config(path: str | None = None, env: Mapping[str, str] | None = None) -> Config:
    """Load the config file (explicit path, ``NEWSBOT_CONFIG``, or ``./config.toml`` if present).

    A missing default file means defaults; a missing explicit file is an error.
    """
    env = os.environ if env is None else env
    explicit = path or env.get("NEWSBOT_CONFIG")
    file = Path(explicit or DEFAULT_CONFIG_FILE)
    if not file.is_file():
        if explicit:
            raise ConfigError(f"{file}: config file not found")
        return apply_env(Config(), env)
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{file}: not valid TOML: {exc}") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{file}: cannot read: {exc}") from exc
    config = resolve_paths(parse_config(data, source=str(file)), data, file.parent)
    return apply_env(config, env)


def resolve_paths(config: Config, data: Mapping[str, Any], base: Path) -> Config:
    """Relative paths written in a config file are relative to that file's folder, not to the
    working directory (so a service started from anywhere finds them): ``[database] path`` and
    ``[ingest] sources``. Defaults and environment overrides keep meaning the working directory.
    """

    def resolve(path: str) -> str:
        if path == ":memory:":
            return path
        expanded = os.path.expanduser(path)
        return expanded if os.path.isabs(expanded) else os.path.normpath(base / expanded)

    def resolve_target(target: str) -> str:
        from bot.storage.dialect import parse_target

        parsed = parse_target(target)  # validated by parse_config
        return resolve(parsed.location) if parsed.dialect == "sqlite" else target

    database, ingest = config.database, config.ingest
    if {"path", "url"} & set(data.get("database") or {}):
        database = replace(database, path=resolve_target(database.path))
    if "sources" in (data.get("ingest") or {}):
        ingest = replace(ingest, sources=tuple(resolve(s) for s in ingest.sources))
    return replace(config, database=database, ingest=ingest)

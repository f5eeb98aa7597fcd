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

DEFAULT_CONFIG_FILE = "config.toml"


class ConfigError(Exception):
    """A bad configuration; the message names the file and key and is safe to print."""


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

    def __repr__(self) -> str:  # never show the token, even by accident in a log line
        return (
            f"DiscordConfig(token={'<set>' if self.token else '<unset>'}, "
            f"dev_guild_id={self.dev_guild_id}, api_base={self.api_base!r}, "
            f"gateway_url={self.gateway_url!r})"
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
    "logging": LoggingConfig,
}
# (section, key) -> the allowed values of a string
_CHOICES: dict[tuple[str, str], tuple[str, ...]] = {("logging", "format"): ("text", "json")}

_LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# (section, key) -> (minimum, maximum) for numbers
_BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("ingest", "rescan_minutes"): (0, 7 * 24 * 60),
    ("ingest", "max_file_bytes"): (1, 1 << 31),
    ("ingest", "workers"): (0, 64),
    ("discord", "dev_guild_id"): (0, 1 << 64),
    ("digest", "grace_hours"): (0, 24 * 7),
    ("digest", "max_subscriptions_per_guild"): (1, 1000),
    ("digest", "default_max_stories"): (1, 25),
    ("feeds", "every_minutes"): (1, 7 * 24 * 60),
    ("feeds", "max_bytes"): (1024, 1 << 30),
    ("feeds", "timeout_seconds"): (1, 600),
    ("feeds", "concurrency"): (1, 1000),
    ("feeds", "per_host"): (1, 100),
    ("feeds", "max_entries"): (1, 10_000),
    ("feeds", "check_seconds"): (0.05, 3600),
}


def _coerce(where: str, key: str, value: Any, default: Any, bounds: tuple[float, float] | None):
    def bad(expected: str) -> ConfigError:
        return ConfigError(f"{where} {key}: expected {expected}, got {value!r}")

    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise bad("true or false")
        return value
    if isinstance(default, int | float):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise bad("a number")
        if isinstance(default, int) and not isinstance(value, int):
            raise bad("a whole number")
        if bounds and not bounds[0] <= value <= bounds[1]:
            raise bad(f"a number from {bounds[0]:g} to {bounds[1]:g}")
        return type(default)(value)
    if isinstance(default, tuple):
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise bad("a list of non-empty strings")
        return tuple(value)
    if not isinstance(value, str):
        raise bad("a string")
    return value


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
        values[key] = _coerce(where, key, value, getattr(defaults, key), _BOUNDS.get((name, key)))
        choices = _CHOICES.get((name, key))
        if choices and values[key] not in choices:
            raise ConfigError(f"{where} {key}: expected one of {', '.join(choices)}, got {value!r}")
    section = replace(defaults, **values)
    if isinstance(section, HttpConfig):
        _check_http(section, where)
    return section


def split_listen(listen: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:8787"`` for IPv6) -> (host, port); ValueError when malformed."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError('expected HOST:PORT, e.g. "127.0.0.1:8787"')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def _check_http(cfg: HttpConfig, where: str) -> None:
    import ipaddress

    if not cfg.listen:
        return
    try:
        host, _ = split_listen(cfg.listen)
    except ValueError as exc:
        raise ConfigError(f"{where} listen: {exc}, got {cfg.listen!r}") from None
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"{where} listen: expected an IP address (or localhost), got {host!r}"
        ) from None
    if not address.is_loopback and not cfg.public:
        raise ConfigError(
            f"{where} listen: {host} is not a loopback address; health and metrics would be "
            "reachable from other machines. Set [http] public = true to allow it"
        )


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
        topics = _coerce(where, "topics", table.get("topics", []), (), None)
        every = table.get("every_minutes")
        if every is not None:
            every = _coerce(where, "every_minutes", every, 0.0, _BOUNDS[("feeds", "every_minutes")])
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
            if not isinstance(value, str) or value.upper() not in _LOG_LEVELS:
                raise ConfigError(
                    f"{source}: log_level: expected one of {', '.join(_LOG_LEVELS)}, got {value!r}"
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
        _check_http(http, "environment: NEWSBOT_HTTP_LISTEN (with NEWSBOT_HTTP_PUBLIC):")
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

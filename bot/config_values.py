"""The value checks of the configuration (``bot.config``): types, bounds, choices, addresses.

Split from ``bot/config.py`` so that module holds the sections and the loading; every error
here names the file, the section and the key, like all ``ConfigError`` messages.
"""

from __future__ import annotations

import ipaddress
from typing import Any


class ConfigError(Exception):
    """A bad configuration; the message names the file and key and is safe to print."""


# (section, key) -> the allowed values of a string
CHOICES: dict[tuple[str, str], tuple[str, ...]] = {("logging", "format"): ("text", "json")}

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")

# (section, key) -> (minimum, maximum) for numbers
BOUNDS: dict[tuple[str, str], tuple[float, float]] = {
    ("ingest", "rescan_minutes"): (0, 7 * 24 * 60),
    ("ingest", "max_file_bytes"): (1, 1 << 31),
    ("ingest", "workers"): (0, 64),
    ("discord", "dev_guild_id"): (0, 1 << 64),
    ("discord", "shard_count"): (0, 1 << 16),
    ("coordination", "leader_ttl_seconds"): (1, 600),
    ("coordination", "heartbeat_seconds"): (0.1, 120),
    ("coordination", "claim_ttl_seconds"): (1, 3600),
    ("coordination", "send_rate"): (0.1, 50),
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


def coerce(where: str, key: str, value: Any, default: Any, bounds: tuple[float, float] | None):
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


def split_listen(listen: str) -> tuple[str, int]:
    """``"HOST:PORT"`` (``"[::1]:8787"`` for IPv6) -> (host, port); ValueError when malformed."""
    host, sep, port_text = listen.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ValueError('expected HOST:PORT, e.g. "127.0.0.1:8787"')
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host, int(port_text)


def check_listen(listen: str, public: bool, where: str) -> None:
    """[http] listen: HOST:PORT on a loopback address unless ``public`` allows others."""
    if not listen:
        return
    try:
        host, _ = split_listen(listen)
    except ValueError as exc:
        raise ConfigError(f"{where} listen: {exc}, got {listen!r}") from None
    if host == "localhost":
        return
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        raise ConfigError(
            f"{where} listen: expected an IP address (or localhost), got {host!r}"
        ) from None
    if not address.is_loopback and not public:
        raise ConfigError(
            f"{where} listen: {host} is not a loopback address; health and metrics would be "
            "reachable from other machines. Set [http] public = true to allow it"
        )

"""A local Discord API double for driving the real discord.py client in tests and benchmarks.

    async with DiscordDouble() as double, running_client(double, MyBot()) as bot:
        handle = await double.slash("ping")
        assert (await handle.response())["type"] == 4

See DISCORD_TESTING.md in the shared docs for the approach.
"""

from . import payloads
from .client import DEFAULT_TOKEN, point_discord_at, running_client
from .interactions import InteractionHandle
from .records import RecordedRequest
from .server import DiscordDouble, DoubleStats, Fault
from .world import (
    ALL_PERMISSIONS,
    Channel,
    Guild,
    Member,
    Overwrite,
    Perm,
    Role,
    User,
    World,
    default_world,
)

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_TOKEN",
    "Channel",
    "DiscordDouble",
    "DoubleStats",
    "Fault",
    "Guild",
    "InteractionHandle",
    "Member",
    "Overwrite",
    "Perm",
    "RecordedRequest",
    "Role",
    "User",
    "World",
    "default_world",
    "payloads",
    "point_discord_at",
    "running_client",
]

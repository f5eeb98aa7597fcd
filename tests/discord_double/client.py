"""Pointing discord.py at the double, and running a real client against it in a test."""

# Every wait in this test API is bounded by an explicit ``timeout`` argument, by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, TypeVar

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .gateway import shard_id

if TYPE_CHECKING:
    from .server import DiscordDouble

DEFAULT_TOKEN = "discord-double.test-token"  # not a real token: the double accepts any unless told

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.contextmanager
def point_discord_at(double: DiscordDouble) -> Iterator[None]:
    """Send discord.py's REST calls and gateway connection to the double, then restore.

    These are the only two places discord.py 2.7 takes its addresses from: ``Route.BASE`` for every
    REST and webhook call (read when a Route is built), and ``DiscordWebSocket.DEFAULT_GATEWAY``
    for an unsharded client's first connection. Reconnects use READY's ``resume_gateway_url``,
    which the double sets to itself.
    """
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = double.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(double.gateway_url)
    try:
        yield
    finally:
        Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = old_base, old_gateway


@contextlib.asynccontextmanager
async def running_client(
    double: DiscordDouble,
    client: ClientT,
    token: str = DEFAULT_TOKEN,
    *,
    timeout: float = 10.0,
    wait_until_ready: bool = False,
) -> AsyncIterator[ClientT]:
    """Run ``client.start(token)`` against the double for the body of the ``async with``.

    Waits until every guild of the world that the client's shards serve is in the client's cache
    (GUILD_CREATE processed), or
    with ``wait_until_ready=True`` until ``on_ready`` (which discord.py delays by the client's
    ``guild_ready_timeout``, 2 s by default). On exit closes the client, awaits its task and
    re-raises an error the client task died with.
    """
    with point_discord_at(double):
        task = asyncio.create_task(client.start(token), name="discord-double-client")
        try:
            await _wait_connected(double, client, task, timeout, wait_until_ready)
            yield client
        finally:
            await client.close()
            done, _ = await asyncio.wait([task], timeout=timeout)
            if not done:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
                raise TimeoutError("discord client did not stop after close()")
        if task.exception() is not None:
            raise task.exception()  # type: ignore[misc]


async def _wait_connected(
    double: DiscordDouble,
    client: discord.Client,
    task: asyncio.Task[None],
    timeout: float,
    wait_until_ready: bool,
) -> None:
    async def connected() -> None:
        if wait_until_ready:
            await client.wait_until_ready()
            return
        await double.wait_ready(timeout)
        guild_ids = [g.id for g in double.world.guilds if _serves(client, g.id)]
        # The frames are sent; the client parses them within a few loop iterations.
        while not all(_guild_loaded(client, g) for g in guild_ids):  # noqa: ASYNC110
            await asyncio.sleep(0.001)

    waiter = asyncio.create_task(connected())
    try:
        done, _ = await asyncio.wait([waiter, task], timeout=timeout, return_when="FIRST_COMPLETED")
    finally:
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
    if task in done:
        task.result()  # raises the client's error (e.g. LoginFailure)
        raise RuntimeError("discord client stopped before connecting")
    if waiter not in done or waiter.cancelled():
        raise TimeoutError(f"discord client not connected to the double within {timeout}s")
    waiter.result()


def _serves(client: discord.Client, guild_id: int) -> bool:
    """Whether one of the client's shards serves ``guild_id`` (an unsharded client: all)."""
    count = client.shard_count
    if not count:
        return True
    ids = getattr(client, "shard_ids", None)  # AutoShardedClient
    if ids is None:
        ids = [client.shard_id] if client.shard_id is not None else range(count)
    return shard_id(guild_id, count) in ids


def _guild_loaded(client: discord.Client, guild_id: int) -> bool:
    guild = client.get_guild(guild_id)
    return guild is not None and not guild.unavailable

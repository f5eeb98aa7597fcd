"""Answering an interaction: defer only when the work is slow, and send a rendered message.

Every send here passes ``allowed_mentions=AllowedMentions.none()`` explicitly, on top of the
client-wide default.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import TypeVar

import discord

from bot.ui.embeds import Rendered
from bot.ui.tree import NO_MENTIONS

T = TypeVar("T")

DEFER_AFTER = 1.5  # seconds; Discord wants an answer within 3


async def deferring(
    interaction: discord.Interaction,
    work: Awaitable[T],
    *,
    after: float = DEFER_AFTER,
    ephemeral: bool = False,
) -> T:
    """Await ``work``; if it is not done within ``after`` seconds, defer the interaction first.

    Fast answers (nearly all of them) cost no extra round trip; slow ones never miss Discord's
    three-second deadline.
    """
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait({task}, timeout=after)
        if not done and not interaction.response.is_done():
            await interaction.response.defer(thinking=True, ephemeral=ephemeral)
        return await task
    finally:
        if not task.done():  # we were cancelled: do not leave the query running unowned
            task.cancel()


async def send(
    interaction: discord.Interaction,
    shown: Rendered,
    *,
    view: discord.ui.View | None = None,
    ephemeral: bool = False,
) -> None:
    """Send ``shown`` as the interaction's answer (or fill in the deferred "thinking…" message)."""
    kwargs: dict = {
        "content": shown.content,
        "embeds": shown.embeds,
        "allowed_mentions": NO_MENTIONS,
    }
    if view is not None:
        kwargs["view"] = view
    if interaction.response.is_done():
        await interaction.edit_original_response(**kwargs)
    else:
        await interaction.response.send_message(**kwargs, ephemeral=ephemeral)

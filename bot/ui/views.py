"""The Paginator view: Previous / Next buttons over pages fetched on demand.

Only the user who ran the command may press them (anyone else gets an ephemeral refusal). When the
view times out, the message is edited with the buttons disabled.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

import discord

from bot.ui.embeds import Rendered
from bot.ui.respond import send
from bot.ui.tree import NO_MENTIONS, handle_error, reply_ephemeral

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT = 180.0
REFUSAL = (
    "Only the person who ran this command can turn its pages. "
    "Run the command yourself to get your own copy."
)

# page index (0-based) -> (the rendered page, whether a next page exists)
PageFetcher = Callable[[int], Awaitable[tuple[Rendered, bool]]]


class Paginator(discord.ui.View):
    """Previous / Next over ``fetch(page)``; ``page`` 0 has already been fetched and shown."""

    def __init__(
        self,
        *,
        owner_id: int,
        fetch: PageFetcher,
        has_more: bool,
        timeout: float = DEFAULT_TIMEOUT,
    ) -> None:
        super().__init__(timeout=timeout)
        self.owner_id = owner_id
        self.fetch = fetch
        self.page = 0
        self.has_more = has_more
        self.interaction: discord.Interaction | None = None  # the command's, edited on timeout
        self._lock = asyncio.Lock()
        self._update_buttons()

    def _update_buttons(self) -> None:
        self.previous_page.disabled = self.page == 0
        self.next_page.disabled = not self.has_more

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        if interaction.user.id == self.owner_id:
            return True
        await reply_ephemeral(interaction, REFUSAL)
        return False

    @discord.ui.button(label="Previous", style=discord.ButtonStyle.secondary)
    async def previous_page(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._turn(interaction, -1)

    @discord.ui.button(label="Next", style=discord.ButtonStyle.primary)
    async def next_page(self, interaction: discord.Interaction, _: discord.ui.Button) -> None:
        await self._turn(interaction, +1)

    async def _turn(self, interaction: discord.Interaction, step: int) -> None:
        async with self._lock:
            target = max(self.page + step, 0)
            shown, has_more = await self.fetch(target)
            self.page, self.has_more = target, has_more
            self._update_buttons()
            await interaction.response.edit_message(
                content=shown.content,
                embeds=shown.embeds,
                view=self,
                allowed_mentions=NO_MENTIONS,
            )

    async def on_error(
        self, interaction: discord.Interaction, error: Exception, item: discord.ui.Item
    ) -> None:
        await handle_error(interaction, error)

    async def on_timeout(self) -> None:
        for item in self.children:
            if isinstance(item, discord.ui.Button):
                item.disabled = True
        if self.interaction is None:
            return
        try:
            await self.interaction.edit_original_response(view=self, allowed_mentions=NO_MENTIONS)
        except discord.HTTPException as exc:  # message deleted, token expired: nothing to disable
            log.debug("could not disable expired buttons: %s", exc)


async def send_paged(
    interaction: discord.Interaction,
    fetch: PageFetcher,
    *,
    expires: float = DEFAULT_TIMEOUT,
    first: tuple[Rendered, bool] | None = None,
) -> None:
    """Fetch (unless given) and send page 0, with Previous / Next when a next page exists."""
    shown, has_more = first if first is not None else await fetch(0)
    if not has_more:
        await send(interaction, shown)
        return
    view = Paginator(owner_id=interaction.user.id, fetch=fetch, has_more=True, timeout=expires)
    await send(interaction, shown, view=view)
    view.interaction = interaction

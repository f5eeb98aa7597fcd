"""The command tree: one ``on_error`` for every app command, and the ephemeral reply helper.

User errors from the services (:class:`bot.services.errors.UserError`), failed checks and bad option
values become a friendly ephemeral reply; anything else is logged with the command, guild and user
ids and the user gets a short ephemeral apology. A reply works whether or not the interaction was
already answered or deferred, and a failure to reply is logged, never raised: the bot never crashes
on a command.
"""

from __future__ import annotations

import logging

import discord
from discord import app_commands

from bot.services.errors import HINT_DIGESTS, HINT_STORIES, HINT_TOPICS, UserError
from bot.services.events import NO_EVENTS, Events
from bot.ui.instrument import note_outcome, track_interaction

log = logging.getLogger(__name__)

NO_MENTIONS = discord.AllowedMentions.none()
APOLOGY = "Sorry, something went wrong on my side while doing that. It has been logged."

# What Discord replies add to a service's message when it carries a hint (bot.services.errors).
HINTS = {
    HINT_TOPICS: "Try /topics for the list.",
    HINT_DIGESTS: "See /digest list.",
    HINT_STORIES: "/news shows the top stories.",
}


def user_message(error: UserError) -> str:
    text = str(error)
    hint = HINTS.get(error.hint or "")
    return f"{text} {hint}" if hint else text


def _permission_names(names: list[str]) -> str:
    return ", ".join(n.replace("_", " ").replace("guild", "server").title() for n in names)


def friendly_message(error: BaseException) -> str | None:
    """The message to show for an expected error, or None when the error is unexpected."""
    if isinstance(error, app_commands.CommandInvokeError):
        error = error.original
    if isinstance(error, UserError):
        return user_message(error)
    if isinstance(error, app_commands.TransformerError):
        if isinstance(error.__cause__, UserError):
            return user_message(error.__cause__)
        return f"“{str(error.value)[:80]}” is not a valid value for that option."
    if isinstance(error, app_commands.MissingPermissions):
        return f"You need the {_permission_names(error.missing_permissions)} permission to do that."
    if isinstance(error, app_commands.BotMissingPermissions):
        return (
            f"I need the {_permission_names(error.missing_permissions)} permission here to do that."
        )
    if isinstance(error, app_commands.NoPrivateMessage):
        return "That command only works in a server."
    if isinstance(error, app_commands.CommandOnCooldown):
        return f"Slow down: try again in {error.retry_after:.0f} s."
    if isinstance(error, app_commands.CheckFailure):
        return "You cannot use that command here."
    if isinstance(error, app_commands.CommandNotFound | app_commands.CommandSignatureMismatch):
        return "That command is out of date. Try again in a minute."
    return None


async def reply_ephemeral(interaction: discord.Interaction, text: str) -> None:
    """Send ``text`` to the user only, whatever state the interaction is in. Never raises."""
    if interaction.type is discord.InteractionType.autocomplete:
        return  # an autocomplete can only be answered with choices
    try:
        if not interaction.response.is_done():
            await interaction.response.send_message(
                text, ephemeral=True, allowed_mentions=NO_MENTIONS
            )
            return
        if interaction.response.type is discord.InteractionResponseType.deferred_channel_message:
            # A public "thinking…" message: remove it so the error is seen by the user only.
            try:
                await interaction.delete_original_response()
            except discord.HTTPException:
                log.debug("could not delete the deferred response", exc_info=True)
        await interaction.followup.send(text, ephemeral=True, allowed_mentions=NO_MENTIONS)
    except discord.HTTPException:
        log.warning(
            "could not send an error reply (interaction %s, user %s)",
            interaction.id,
            interaction.user.id,
            exc_info=True,
        )


def describe(interaction: discord.Interaction) -> str:
    command = interaction.command.qualified_name if interaction.command else "?"
    if interaction.type is discord.InteractionType.component:
        command = f"component {interaction.data.get('custom_id', '?') if interaction.data else '?'}"
    return f"{command} (guild {interaction.guild_id}, user {interaction.user.id})"


async def handle_error(interaction: discord.Interaction, error: BaseException) -> None:
    """Map ``error`` to an ephemeral reply; log it when it is not the user's to fix."""
    message = friendly_message(error)
    note_outcome(interaction, "error" if message is None else "user_error")
    if message is None:
        original = getattr(error, "original", error)
        log.error(
            "command %s failed",
            describe(interaction),
            exc_info=(type(original), original, original.__traceback__),
        )
        message = APOLOGY
    else:
        log.debug("command %s: %s", describe(interaction), message)
    await reply_ephemeral(interaction, message)


def require_manager(interaction: discord.Interaction) -> bool:
    """The run-time check of every configuration group (``/digest``, ``/feed``): in a server, by a
    member with Manage Server. ``default_permissions`` hides the group from others; this refuses
    them even where a server's overrides show it (the tree's error handler replies)."""
    if interaction.guild_id is None:
        raise app_commands.NoPrivateMessage()
    if not interaction.permissions.manage_guild:
        raise app_commands.MissingPermissions(["manage_guild"])
    return True


class NewsTree(app_commands.CommandTree):
    """The bot's command tree; owns the error handling of every application command."""

    events: Events = NO_EVENTS  # the composition root sets the metrics sink

    async def interaction_check(self, interaction: discord.Interaction, /) -> bool:
        track_interaction(interaction, self.events)
        return True

    async def on_error(
        self, interaction: discord.Interaction, error: app_commands.AppCommandError
    ) -> None:
        await handle_error(interaction, error)

"""Timing and log context for every slash command and autocomplete, through public hooks only.

``NewsTree.interaction_check`` (called by discord.py before it runs a command or an
autocomplete, inside the task that handles the interaction) calls :func:`track_interaction`:
it sets the log context (command, guild, channel) for that task and adds a done-callback to the
task that reports the duration and outcome to the events sink. ``handle_error`` marks the
outcome with :func:`note_outcome` (``user_error`` for a friendly reply, ``error`` otherwise).
Button presses are not app commands; they are not timed here.
"""

from __future__ import annotations

import asyncio
import logging
import time

import discord

from bot.services.events import Events, set_log_context

log = logging.getLogger(__name__)

OUTCOME_KEY = "newsbot_outcome"


def command_name(interaction: discord.Interaction) -> str:
    """The qualified command name (``digest subscribe``): a fixed set, safe as a label."""
    command = interaction.command
    if command is not None:
        return command.qualified_name
    data: dict[str, object] = dict(interaction.data or {})
    return str(data.get("name", "?"))


def note_outcome(interaction: discord.Interaction, outcome: str) -> None:
    interaction.extras[OUTCOME_KEY] = outcome


def track_interaction(interaction: discord.Interaction, events: Events) -> None:
    started = time.perf_counter()
    name = command_name(interaction)
    kind = "autocomplete" if interaction.type is discord.InteractionType.autocomplete else "command"
    set_log_context(command=name, guild=interaction.guild_id, channel=interaction.channel_id)
    task = asyncio.current_task()
    if task is None:
        return

    def done(_: asyncio.Task[object]) -> None:
        outcome = interaction.extras.get(OUTCOME_KEY)
        if outcome is None:
            outcome = "error" if interaction.command_failed else "ok"
        try:
            events.command_finished(name, kind, outcome, time.perf_counter() - started)
        except Exception:  # a metrics problem must never touch a command
            log.warning("could not record the command's metrics", exc_info=True)

    task.add_done_callback(done)

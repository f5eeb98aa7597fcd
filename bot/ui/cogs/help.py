"""/help: generated from the command tree, so it always lists what the bot really registers."""

from __future__ import annotations

from typing import TYPE_CHECKING

import discord
from discord import app_commands
from discord.ext import commands

from bot.ui.embeds import CommandHelp, OptionHelp, help_page
from bot.ui.respond import send

if TYPE_CHECKING:
    from bot.ui.bot import NewsBot


def _detail(param: app_commands.Parameter) -> str:
    """What the option's description does not already say: its range, choices, suggestions."""
    parts: list[str] = []
    described = (param.description or "").replace("–", "-")
    if param.min_value is not None and param.max_value is not None:
        span = f"{param.min_value:g}-{param.max_value:g}"
        if param.type is discord.AppCommandOptionType.string:
            pass  # a length limit: not worth telling
        elif span not in described:
            parts.append(span.replace("-", "–"))
    if param.choices:
        parts.append("one of " + ", ".join(c.name for c in param.choices[:10]))
    if param.autocomplete:
        parts.append("suggestions as you type")
    return "; ".join(parts)


def _admin(cmd: app_commands.Command) -> bool:
    """A command for server managers: it (or its group) has default permissions set."""
    node: app_commands.Command | app_commands.Group | None = cmd
    while node is not None:
        if node.default_permissions is not None and node.default_permissions.value:
            return True
        node = node.parent
    return False


def describe_commands(tree: app_commands.CommandTree) -> list[CommandHelp]:
    """Every slash command of ``tree`` (group subcommands included) as help entries."""
    found: list[CommandHelp] = []
    for top in tree.get_commands(type=discord.AppCommandType.chat_input):
        cmds = top.walk_commands() if isinstance(top, app_commands.Group) else [top]
        for cmd in cmds:
            if isinstance(cmd, app_commands.Group):
                continue
            options = tuple(
                OptionHelp(p.display_name, p.description or "", p.required, _detail(p))
                for p in cmd.parameters
            )
            found.append(
                CommandHelp(cmd.qualified_name, cmd.description or "", options, _admin(cmd))
            )
    return found


class HelpCog(commands.Cog):
    def __init__(self, bot: NewsBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="What this bot does and what each command takes")
    async def help(self, interaction: discord.Interaction) -> None:
        await send(interaction, help_page(describe_commands(self.bot.tree)), ephemeral=True)

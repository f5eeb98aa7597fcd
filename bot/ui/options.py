"""Option types for slash commands: integer ranges that are also checked on our side.

``app_commands.Range`` only tells Discord the bounds; a client (or a test) that sends a value out
of range still reaches the callback. :class:`IntRange` declares the same ``min_value`` and
``max_value`` and rejects anything else with a friendly message (a ``TransformerError`` caused
by a ``BadInput``, which ``NewsTree.on_error`` shows as an ephemeral reply).
"""

from __future__ import annotations

import discord
from discord import app_commands

from bot.services.errors import BadInput


class IntRange(app_commands.Transformer):
    def __init__(self, name: str, low: int, high: int) -> None:
        self.name = name
        self.low = low
        self.high = high

    @property
    def type(self) -> discord.AppCommandOptionType:
        return discord.AppCommandOptionType.integer

    @property
    def min_value(self) -> int:
        return self.low

    @property
    def max_value(self) -> int:
        return self.high

    async def transform(self, interaction: discord.Interaction, value: object, /) -> int:
        if (
            isinstance(value, bool)
            or not isinstance(value, int)
            or not self.low <= value <= self.high
        ):
            raise BadInput(f"`{self.name}` must be a whole number from {self.low} to {self.high}.")
        return value


Quality = app_commands.Transform[int, IntRange("min_quality", 0, 190)]
Days = app_commands.Transform[int, IntRange("days", 1, 365)]

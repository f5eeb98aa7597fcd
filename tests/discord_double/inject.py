"""Building and injecting INTERACTION_CREATE payloads: slash commands, autocomplete, components.

Option types come from the synced command when there is one (``PUT .../commands``), else from the
Python value; Member/User/Channel/Role values are sent with the ``resolved`` data discord.py needs
to build real objects for them.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .payloads import (
    channel_payload,
    interaction_payload,
    member_payload,
    role_payload,
    user_payload,
)
from .world import Channel, Guild, Member, Role, User

if TYPE_CHECKING:
    from .interactions import InteractionHandle
    from .server import DiscordDouble

APPLICATION_COMMAND, COMPONENT, AUTOCOMPLETE = 2, 3, 4
_SELECT_TYPES = (3, 5, 6, 7, 8)


class InteractionInjector:
    def __init__(self, double: DiscordDouble) -> None:
        self._d = double
        self.world = double.world

    async def command(
        self,
        name: str,
        options: Mapping[str, Any] | list[dict[str, Any]] | None = None,
        *,
        focused: str | None = None,
        user: Member | int | str | None = None,
        guild_id: int | None = None,
        channel_id: int | str | None = None,
        permissions: int | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        """A slash command (type 2), or with ``focused`` an autocomplete request (type 4)."""
        guild, channel, member = self._context(user, guild_id, channel_id)
        command = self._registered(name, guild)
        path = subcommand.split() if subcommand else []
        schema = command.get("options", []) if command else []
        for part in path:
            spec = _named(schema, part)
            schema = spec.get("options", []) if spec else []
        resolved: dict[str, dict[str, Any]] = {}
        nested = self._options(options, schema, (guild, channel, member), resolved, focused)
        kinds = [2, 1] if len(path) == 2 else [1] * len(path)
        for part, kind in reversed(list(zip(path, kinds, strict=True))):
            nested = [{"type": kind, "name": part, "options": nested}]
        data: dict[str, Any] = {
            "id": command["id"] if command else str(_stable_id(name)),
            "name": name,
            "type": 1,
            "options": nested,
        }
        if command and command.get("guild_id"):
            data["guild_id"] = command["guild_id"]
        if resolved:
            data["resolved"] = resolved
        kind = APPLICATION_COMMAND if focused is None else AUTOCOMPLETE
        return await self._inject(kind, data, guild, channel, member, permissions, locale)

    async def component(
        self,
        custom_id: str,
        *,
        message_id: int | None = None,
        user: Member | int | str | None = None,
        values: list[str] | None = None,
        permissions: int | None = None,
        locale: str = "en-US",
    ) -> InteractionHandle:
        message = self._d.messages.get(message_id) if message_id else self._latest_with(custom_id)
        component = _find_component(message["components"], custom_id) if message else None
        if message is None or component is None:
            raise LookupError(f"no message (id={message_id}) with a component {custom_id!r}")
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": component["type"]}
        if "id" in component:
            data["id"] = component["id"]
        if component["type"] in _SELECT_TYPES:
            data["values"] = [str(v) for v in values or []]
        guild, channel = self.world.find_channel(int(message["channel_id"]))
        if channel is None:
            raise LookupError(f"message {message['id']} is not in a channel of the world")
        guild, channel, member = self._context(user, guild.id, channel.id)
        # Let the client finish handling the reply that carried this message (it registers the
        # view under the message id) before the press arrives on the other socket.
        for _ in range(3):
            await asyncio.sleep(0)
        return await self._inject(
            COMPONENT, data, guild, channel, member, permissions, locale, message=dict(message)
        )

    def _context(
        self, user: Member | int | str | None, guild_id: int | None, channel_id: int | str | None
    ) -> tuple[Guild, Channel, Member]:
        guild = self.world.find_guild(guild_id) if guild_id else self.world.guild
        if guild is None:
            raise LookupError(f"no guild {guild_id} in the world")
        channel = guild.channel(channel_id) if channel_id is not None else guild.channels[0]
        if isinstance(user, Member):
            member = user
        elif user is None:
            member = guild.default_member()
        else:
            member = guild.member(user)
        return guild, channel, member

    def _registered(self, name: str, guild: Guild) -> dict[str, Any] | None:
        for scope in (guild.id, None):
            for command in self._d.rest.commands.get(scope, []):
                if command["name"] == name and command.get("type", 1) == 1:
                    return command
        return None

    def _options(
        self,
        values: Mapping[str, Any] | list[dict[str, Any]] | None,
        schema: list[dict[str, Any]],
        where: tuple[Guild, Channel, Member],
        resolved: dict[str, dict[str, Any]],
        focused: str | None,
    ) -> list[dict[str, Any]]:
        if values is None:
            return []
        if isinstance(values, list):
            return values
        options = []
        for name, value in values.items():
            spec = _named(schema, name)
            option_type = spec["type"] if spec else _infer_type(value)
            is_focused = name == focused
            option: dict[str, Any] = {"name": name, "type": option_type}
            option["value"] = (
                value if is_focused else _option_value(value, option_type, where, resolved)
            )
            if is_focused:
                option["focused"] = True
            options.append(option)
        return options

    async def _inject(
        self,
        interaction_type: int,
        data: dict[str, Any],
        guild: Guild,
        channel: Channel,
        member: Member,
        permissions: int | None,
        locale: str,
        message: dict[str, Any] | None = None,
    ) -> InteractionHandle:
        bot_member = self.world.bot_member(guild)
        payload = interaction_payload(
            interaction_id=self._d.snowflake(),
            token="aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48),
            interaction_type=interaction_type,
            data=data,
            world=self.world,
            guild=guild,
            channel=channel,
            member=member,
            member_permissions=(
                guild.permissions_for(member, channel) if permissions is None else int(permissions)
            ),
            app_permissions=guild.permissions_for(bot_member, channel) if bot_member else 0,
            locale=locale,
            message=message,
        )
        handle = self._d.interactions.register(payload, int(message["id"]) if message else None)
        await self._d.dispatch("INTERACTION_CREATE", payload, guild_id=guild.id)
        return handle

    def _latest_with(self, custom_id: str) -> dict[str, Any] | None:
        for message in reversed(self._d.messages.values()):
            if _find_component(message.get("components") or [], custom_id) is not None:
                return message
        return None


def _option_value(
    value: Any, option_type: int, where: tuple[Guild, Channel, Member], resolved: dict
) -> Any:
    """The option's wire value; user/channel/role options also fill ``resolved``."""
    guild, channel, invoker = where
    if option_type == 4:
        return int(value)
    if option_type == 10:
        return float(value)
    if option_type == 5:
        return bool(value)
    if option_type == 6:
        member = value if isinstance(value, Member) else None
        if member is None and not isinstance(value, User):
            member = guild.member(value)
        user = member.user if member else value
        resolved.setdefault("users", {})[str(user.id)] = user_payload(user)
        if member is not None:
            data = member_payload(member, permissions=guild.permissions_for(member, channel))
            del data["user"]
            resolved.setdefault("members", {})[str(user.id)] = data
        return str(user.id)
    if option_type == 7:
        target = value if isinstance(value, Channel) else guild.channel(value)
        data = channel_payload(target, guild.id)
        data["permissions"] = str(guild.permissions_for(invoker, target))
        resolved.setdefault("channels", {})[str(target.id)] = data
        return str(target.id)
    if option_type == 8:
        role = value if isinstance(value, Role) else guild.role(value)
        resolved.setdefault("roles", {})[str(role.id)] = role_payload(role)
        return str(role.id)
    return str(value)


def _named(options: list[dict[str, Any]], name: str) -> dict[str, Any] | None:
    return next((o for o in options if o.get("name") == name), None)


def _infer_type(value: Any) -> int:
    if isinstance(value, bool):
        return 5
    if isinstance(value, int):
        return 4
    if isinstance(value, float):
        return 10
    if isinstance(value, Member | User):
        return 6
    if isinstance(value, Channel):
        return 7
    if isinstance(value, Role):
        return 8
    return 3


def _stable_id(name: str) -> int:
    """An id for a command that was never synced (stable per name within a run)."""
    return 1_300_000_000_000_000_000 + sum(map(ord, name)) * 7919


def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
    for component in components:
        if component.get("custom_id") == custom_id:
            return component
        children = list(component.get("components") or [])
        for key in ("accessory", "component"):
            if isinstance(component.get(key), dict):
                children.append(component[key])
        found = _find_component(children, custom_id)
        if found is not None:
            return found
    return None

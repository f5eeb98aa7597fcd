"""The configurable Discord "world" the double serves: application, bot user, guilds.

Plain dataclasses plus Discord's permission algorithm (base permissions from roles, then channel
overwrites for @everyone, roles and the member, then implicit denials), checked against
discord.py's own computation in the tests. Ids are deterministic: the n-th role, channel or member
created in a guild gets ``guild.id + n``, and guilds are a million ids apart.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from enum import IntFlag

__all__ = [
    "ALL_PERMISSIONS",
    "DEFAULT_EVERYONE_PERMISSIONS",
    "Channel",
    "Guild",
    "Member",
    "Overwrite",
    "Perm",
    "Role",
    "User",
    "World",
    "default_world",
]


class Perm(IntFlag):
    """The permission bits the double cares about (values as in Discord's API)."""

    CREATE_INSTANT_INVITE = 1 << 0
    KICK_MEMBERS = 1 << 1
    BAN_MEMBERS = 1 << 2
    ADMINISTRATOR = 1 << 3
    MANAGE_CHANNELS = 1 << 4
    MANAGE_GUILD = 1 << 5
    ADD_REACTIONS = 1 << 6
    VIEW_CHANNEL = 1 << 10
    SEND_MESSAGES = 1 << 11
    MANAGE_MESSAGES = 1 << 13
    EMBED_LINKS = 1 << 14
    ATTACH_FILES = 1 << 15
    READ_MESSAGE_HISTORY = 1 << 16
    MENTION_EVERYONE = 1 << 17
    USE_EXTERNAL_EMOJIS = 1 << 18
    MANAGE_ROLES = 1 << 28
    USE_APPLICATION_COMMANDS = 1 << 31
    SEND_MESSAGES_IN_THREADS = 1 << 38


ALL_PERMISSIONS = (1 << 53) - 1  # what an owner/administrator gets (a superset of known bits)
DEFAULT_EVERYONE_PERMISSIONS = int(
    Perm.VIEW_CHANNEL
    | Perm.SEND_MESSAGES
    | Perm.EMBED_LINKS
    | Perm.ATTACH_FILES
    | Perm.READ_MESSAGE_HISTORY
    | Perm.ADD_REACTIONS
    | Perm.USE_EXTERNAL_EMOJIS
    | Perm.CREATE_INSTANT_INVITE
    | Perm.USE_APPLICATION_COMMANDS
    | Perm.SEND_MESSAGES_IN_THREADS
)
BOT_ROLE_PERMISSIONS = int(Perm.VIEW_CHANNEL | Perm.SEND_MESSAGES | Perm.EMBED_LINKS)
FIRST_GUILD_ID = 1_200_000_000_000_000_000
GUILD_ID_STRIDE = 1_000_000
# Implicit denials: without SEND_MESSAGES these go too (SEND_TTS_MESSAGES is bit 12); without
# VIEW_CHANNEL every channel permission goes and only guild-wide ones remain (kick, ban,
# administrator, manage guild, audit log, insights, nicknames, expressions, events, moderate...).
_NEEDS_SEND = int(Perm.EMBED_LINKS | Perm.ATTACH_FILES | Perm.MENTION_EVERYONE) | 1 << 12
_GUILD_ONLY = sum(1 << bit for bit in (1, 2, 3, 5, 7, 19, 26, 27, 30, 33, 40, 41, 43, 44, 48))

_JOINED_AT = "2024-01-01T00:00:00+00:00"


@dataclass
class User:
    id: int
    username: str
    bot: bool = False
    global_name: str | None = None


@dataclass
class Role:
    id: int
    name: str
    permissions: int = 0
    position: int = 0
    managed: bool = False
    bot_id: int | None = None  # tags.bot_id for a bot's managed role


@dataclass
class Overwrite:
    """A channel permission overwrite; ``type`` 0 targets a role, 1 a member."""

    id: int
    type: int
    allow: int = 0
    deny: int = 0

    @classmethod
    def for_role(cls, role: Role, *, allow: int = 0, deny: int = 0) -> Overwrite:
        return cls(role.id, 0, int(allow), int(deny))

    @classmethod
    def for_member(cls, member: Member, *, allow: int = 0, deny: int = 0) -> Overwrite:
        return cls(member.id, 1, int(allow), int(deny))


@dataclass
class Channel:
    id: int
    name: str
    type: int = 0  # 0 = GUILD_TEXT
    position: int = 0
    overwrites: list[Overwrite] = field(default_factory=list)
    topic: str | None = None
    parent_id: int | None = None


@dataclass
class Member:
    user: User
    roles: list[int] = field(default_factory=list)  # role ids, without @everyone
    nick: str | None = None
    flags: int = 0
    joined_at: str = _JOINED_AT

    @property
    def id(self) -> int:
        return self.user.id


@dataclass
class Guild:
    id: int
    name: str
    owner_id: int
    roles: list[Role] = field(default_factory=list)
    channels: list[Channel] = field(default_factory=list)
    members: list[Member] = field(default_factory=list)
    preferred_locale: str = "en-US"
    _ids: itertools.count = field(default_factory=lambda: itertools.count(1), repr=False)

    @property
    def everyone(self) -> Role:
        return self.role(self.id)

    def _new_id(self) -> int:
        return self.id + next(self._ids)

    def default_member(self) -> Member:
        """Who uses a command unless a test says otherwise: the first member that is neither a
        bot nor the owner (the owner has every permission)."""
        for member in self.members:
            if not member.user.bot and member.id != self.owner_id:
                return member
        return next(m for m in self.members if not m.user.bot)

    def role(self, key: int | str) -> Role:
        return _find(self.roles, key, "name", f"role in guild {self.name!r}")

    def channel(self, key: int | str) -> Channel:
        return _find(self.channels, key, "name", f"channel in guild {self.name!r}")

    def member(self, key: int | str) -> Member:
        for member in self.members:
            if key in (member.id, member.user.username):
                return member
        raise KeyError(f"no member {key!r} in guild {self.name!r}")

    def add_role(self, name: str, permissions: int = 0, **kwargs: object) -> Role:
        role = Role(self._new_id(), name, int(permissions), position=len(self.roles), **kwargs)
        self.roles.append(role)
        return role

    def add_channel(
        self, name: str, *, overwrites: list[Overwrite] | None = None, **kwargs: object
    ) -> Channel:
        channel = Channel(
            self._new_id(), name, position=len(self.channels), overwrites=overwrites or [], **kwargs
        )
        self.channels.append(channel)
        return channel

    def add_member(
        self, username: str, *, roles: list[Role] | None = None, bot: bool = False, **kwargs: object
    ) -> Member:
        user = User(self._new_id(), username, bot=bot)
        member = Member(user, [r.id for r in roles or []], **kwargs)
        self.members.append(member)
        return member

    def base_permissions(self, member: Member) -> int:
        if member.id == self.owner_id:
            return ALL_PERMISSIONS
        perms = self.everyone.permissions
        for role in self.roles:
            if role.id in member.roles:
                perms |= role.permissions
        if perms & Perm.ADMINISTRATOR:
            return ALL_PERMISSIONS
        return perms

    def permissions_for(self, member: Member, channel: Channel | None = None) -> int:
        """Discord's permission computation, including channel overwrites."""
        perms = self.base_permissions(member)
        if channel is None or perms == ALL_PERMISSIONS:
            return perms
        role_allow = role_deny = 0
        for ow in channel.overwrites:
            if ow.type == 0 and ow.id == self.id:
                perms = (perms & ~ow.deny) | ow.allow
            elif ow.type == 0 and ow.id in member.roles:
                role_allow |= ow.allow
                role_deny |= ow.deny
        perms = (perms & ~role_deny) | role_allow
        for ow in channel.overwrites:
            if ow.type == 1 and ow.id == member.id:
                perms = (perms & ~ow.deny) | ow.allow
        if not perms & Perm.VIEW_CHANNEL:
            return perms & _GUILD_ONLY
        if not perms & Perm.SEND_MESSAGES:
            perms &= ~_NEEDS_SEND
        return perms


@dataclass
class World:
    application_id: int
    bot: User
    owner: User  # the application's owner (GET /oauth2/applications/@me)
    guilds: list[Guild] = field(default_factory=list)
    application_flags: int = 0
    application_name: str = "newsbot"

    @property
    def guild(self) -> Guild:
        """The first guild (most tests only need one)."""
        return self.guilds[0]

    def find_guild(self, guild_id: int) -> Guild | None:
        return next((g for g in self.guilds if g.id == guild_id), None)

    def find_channel(self, channel_id: int) -> tuple[Guild, Channel] | tuple[None, None]:
        for guild in self.guilds:
            for channel in guild.channels:
                if channel.id == channel_id:
                    return guild, channel
        return None, None

    def bot_member(self, guild: Guild) -> Member | None:
        return next((m for m in guild.members if m.id == self.bot.id), None)

    def add_guild(self, name: str, *, guild_id: int | None = None) -> Guild:
        """A guild with @everyone (Discord's default permissions), the bot (a managed role with
        View Channel, Send Messages, Embed Links) and the owner as members, no channels."""
        if guild_id is None:
            guild_id = self.guilds[-1].id + GUILD_ID_STRIDE if self.guilds else FIRST_GUILD_ID
        guild = Guild(guild_id, name, owner_id=self.owner.id)
        guild.roles.append(Role(guild_id, "@everyone", DEFAULT_EVERYONE_PERMISSIONS))
        bot_role = guild.add_role(
            self.bot.username, BOT_ROLE_PERMISSIONS, managed=True, bot_id=self.bot.id
        )
        guild.members.append(Member(self.bot, [bot_role.id]))
        guild.members.append(Member(self.owner))
        self.guilds.append(guild)
        return guild


def default_world(
    *,
    application_id: int = 1_100_000_000_000_000_001,
    guild_id: int = FIRST_GUILD_ID,
    guild_name: str = "Newsroom",
) -> World:
    """A world with one guild that covers the usual test cases.

    Members: ``newsbot`` (the bot, managed role ``newsbot``), ``owner`` (guild owner), ``alice``
    (plain member, no Manage Server; the default user of injected interactions), ``mod``
    (``Moderator`` role with Manage Server).
    Text channels: ``general`` and ``news`` (bot may post), ``read-only`` (bot denied Send
    Messages and Embed Links), ``no-embeds`` (bot denied Embed Links), ``secret`` (@everyone
    denied View Channel, so the bot cannot see it).
    """
    bot = User(application_id, "newsbot", bot=True)
    world = World(application_id, bot, owner=User(application_id + 1, "owner"))
    guild = world.add_guild(guild_name, guild_id=guild_id)
    bot_member, bot_role = guild.member(bot.id), guild.role("newsbot")
    moderator = guild.add_role("Moderator", Perm.MANAGE_GUILD | Perm.MANAGE_MESSAGES)
    guild.add_member("alice")
    guild.add_member("mod", roles=[moderator])
    guild.add_channel("general", topic="General chat")
    guild.add_channel("news", topic="Daily digest")
    deny_post = Perm.SEND_MESSAGES | Perm.EMBED_LINKS
    guild.add_channel("read-only", overwrites=[Overwrite.for_member(bot_member, deny=deny_post)])
    guild.add_channel("no-embeds", overwrites=[Overwrite.for_role(bot_role, deny=Perm.EMBED_LINKS)])
    guild.add_channel(
        "secret", overwrites=[Overwrite.for_role(guild.everyone, deny=Perm.VIEW_CHANNEL)]
    )
    return world


def _find(items: list, key: int | str, attr: str, what: str):
    for item in items:
        if key in (item.id, getattr(item, attr)):
            return item
    raise KeyError(f"no {what}: {key!r}")

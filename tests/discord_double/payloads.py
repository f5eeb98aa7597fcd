"""Factories for Discord API payloads (JSON-ready dicts), shaped as Discord v10 sends them.

Everything discord.py 2.7 reads without a default is present (e.g. member ``flags``, message
``timestamp``/``edited_timestamp``/``attachments``, interaction ``attachment_size_limit``).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from typing import Any

from .world import Channel, Guild, Member, Role, User, World

__all__ = [
    "ALREADY_ACKNOWLEDGED",
    "MISSING_ACCESS",
    "MISSING_PERMISSIONS",
    "UNKNOWN_CHANNEL",
    "UNKNOWN_GUILD",
    "UNKNOWN_INTERACTION",
    "UNKNOWN_MESSAGE",
    "UNKNOWN_WEBHOOK",
    "SnowflakeFactory",
    "apply_message_edit",
    "channel_payload",
    "error_body",
    "guild_create_payload",
    "interaction_payload",
    "member_payload",
    "message_payload",
    "rate_limit_body",
    "ready_payload",
    "role_payload",
    "user_payload",
]

DISCORD_EPOCH_MS = 1_420_070_400_000
ATTACHMENT_SIZE_LIMIT = 10 * 1024 * 1024
FLAG_EPHEMERAL = 1 << 6
FLAG_LOADING = 1 << 7

# JSON error codes (https://discord.com/developers/docs/topics/opcodes-and-status-codes)
MISSING_ACCESS = {"message": "Missing Access", "code": 50001}
MISSING_PERMISSIONS = {"message": "Missing Permissions", "code": 50013}
UNKNOWN_CHANNEL = {"message": "Unknown Channel", "code": 10003}
UNKNOWN_GUILD = {"message": "Unknown Guild", "code": 10004}
UNKNOWN_MESSAGE = {"message": "Unknown Message", "code": 10008}
UNKNOWN_WEBHOOK = {"message": "Unknown Webhook", "code": 10015}
UNKNOWN_INTERACTION = {"message": "Unknown interaction", "code": 10062}
ALREADY_ACKNOWLEDGED = {"message": "Interaction has already been acknowledged.", "code": 40060}


def error_body(status: int) -> dict[str, Any]:
    """The default JSON body for an error status (used by ``DiscordDouble.fail``)."""
    if status == 403:
        return dict(MISSING_PERMISSIONS)
    if status == 404:
        return dict(UNKNOWN_CHANNEL)
    if status == 429:
        return rate_limit_body(0.05)
    if status == 401:
        return {"message": "401: Unauthorized", "code": 0}
    return {"message": f"{status}: Discord double error", "code": 0}


def rate_limit_body(retry_after: float, *, is_global: bool = False) -> dict[str, Any]:
    return {
        "message": "You are being rate limited.",
        "retry_after": round(retry_after, 3),
        "global": is_global,
    }


class SnowflakeFactory:
    """Monotonic snowflakes carrying the current time (discord.py derives created_at from them)."""

    def __init__(self) -> None:
        self._last = 0

    def __call__(self) -> int:
        value = (int(time.time() * 1000) - DISCORD_EPOCH_MS) << 22
        if value <= self._last:
            value = self._last + 1
        self._last = value
        return value


def now_iso() -> str:
    return datetime.now(UTC).isoformat()


def user_payload(user: User) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(user.id),
        "username": user.username,
        "discriminator": "0",
        "global_name": user.global_name,
        "avatar": None,
        "public_flags": 0,
        "flags": 0,
    }
    if user.bot:
        payload["bot"] = True
    return payload


def client_user_payload(user: User) -> dict[str, Any]:
    """GET /users/@me and READY.user."""
    return {**user_payload(user), "verified": True, "mfa_enabled": False, "locale": "en-US"}


def role_payload(role: Role) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(role.id),
        "name": role.name,
        "permissions": str(role.permissions),
        "position": role.position,
        "color": 0,
        "colors": {"primary_color": 0, "secondary_color": None, "tertiary_color": None},
        "hoist": False,
        "managed": role.managed,
        "mentionable": False,
        "icon": None,
        "unicode_emoji": None,
        "flags": 0,
    }
    if role.bot_id is not None:
        payload["tags"] = {"bot_id": str(role.bot_id)}
    return payload


def channel_payload(channel: Channel, guild_id: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "id": str(channel.id),
        "type": channel.type,
        "name": channel.name,
        "position": channel.position,
        "permission_overwrites": [
            {"id": str(o.id), "type": o.type, "allow": str(o.allow), "deny": str(o.deny)}
            for o in channel.overwrites
        ],
        "parent_id": str(channel.parent_id) if channel.parent_id else None,
        "topic": channel.topic,
        "nsfw": False,
        "last_message_id": None,
        "rate_limit_per_user": 0,
        "flags": 0,
    }
    if guild_id is not None:
        payload["guild_id"] = str(guild_id)
    return payload


def member_payload(member: Member, *, permissions: int | None = None) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "user": user_payload(member.user),
        "roles": [str(r) for r in member.roles],
        "nick": member.nick,
        "avatar": None,
        "banner": None,
        "joined_at": member.joined_at,
        "premium_since": None,
        "deaf": False,
        "mute": False,
        "pending": False,
        "flags": member.flags,
        "communication_disabled_until": None,
    }
    if permissions is not None:
        payload["permissions"] = str(permissions)
    return payload


def guild_create_payload(guild: Guild) -> dict[str, Any]:
    return {
        "id": str(guild.id),
        "name": guild.name,
        "icon": None,
        "splash": None,
        "discovery_splash": None,
        "banner": None,
        "description": None,
        "owner_id": str(guild.owner_id),
        "afk_channel_id": None,
        "afk_timeout": 300,
        "verification_level": 0,
        "default_message_notifications": 0,
        "explicit_content_filter": 0,
        "mfa_level": 0,
        "nsfw_level": 0,
        "premium_tier": 0,
        "premium_subscription_count": 0,
        "premium_progress_bar_enabled": False,
        "system_channel_id": None,
        "system_channel_flags": 0,
        "rules_channel_id": None,
        "public_updates_channel_id": None,
        "safety_alerts_channel_id": None,
        "vanity_url_code": None,
        "preferred_locale": guild.preferred_locale,
        "features": [],
        "max_members": 500_000,
        "max_video_channel_users": 25,
        "roles": [role_payload(r) for r in guild.roles],
        "emojis": [],
        "stickers": [],
        "joined_at": "2024-01-01T00:00:00+00:00",
        "large": False,
        "unavailable": False,
        "member_count": len(guild.members),  # == len(members): discord.py sees the guild as chunked
        "members": [member_payload(m) for m in guild.members],
        "channels": [channel_payload(c) for c in guild.channels],
        "threads": [],
        "presences": [],
        "voice_states": [],
        "stage_instances": [],
        "guild_scheduled_events": [],
        "soundboard_sounds": [],
    }


def ready_payload(
    world: World,
    *,
    session_id: str,
    resume_gateway_url: str,
    shard: list[int] | None = None,
    guilds: list[Guild] | None = None,
) -> dict[str, Any]:
    """READY for one session; ``guilds``: those of its shard (default: every guild)."""
    served = world.guilds if guilds is None else guilds
    payload: dict[str, Any] = {
        "v": 10,
        "user": client_user_payload(world.bot),
        "guilds": [{"id": str(g.id), "unavailable": True} for g in served],
        "session_id": session_id,
        "session_type": "normal",
        "resume_gateway_url": resume_gateway_url,
        "application": {"id": str(world.application_id), "flags": world.application_flags},
        "private_channels": [],
        "relationships": [],
        "presences": [],
        "guild_join_requests": [],
        "geo_ordered_rtc_regions": [],
        "user_settings": {},
        "_trace": ["discord-double"],
    }
    if shard is not None:
        payload["shard"] = shard
    return payload


def application_payload(world: World) -> dict[str, Any]:
    """GET /oauth2/applications/@me."""
    return {
        "id": str(world.application_id),
        "name": world.application_name,
        "icon": None,
        "description": "",
        "summary": "",
        "type": None,
        "bot_public": False,
        "bot_require_code_grant": False,
        "verify_key": "00" * 32,
        "flags": world.application_flags,
        "owner": user_payload(world.owner),
        "team": None,
        "bot": user_payload(world.bot),
        "redirect_uris": [],
        "interactions_endpoint_url": None,
        "approximate_guild_count": len(world.guilds),
    }


def message_payload(
    *,
    message_id: int,
    channel_id: int,
    author: User,
    body: dict[str, Any],
    message_type: int = 0,
    flags: int | None = None,
    webhook_id: int | None = None,
    application_id: int | None = None,
    interaction_metadata: dict[str, Any] | None = None,
    files: dict[str, int] | None = None,
) -> dict[str, Any]:
    """A message as Discord returns it, built from a create-message request body."""
    payload: dict[str, Any] = {
        "id": str(message_id),
        "channel_id": str(channel_id),
        "type": message_type,
        "author": user_payload(author),
        "content": "",
        "embeds": [],
        "components": [],
        "attachments": [],
        "mentions": [],
        "mention_roles": [],
        "mention_everyone": False,
        "pinned": False,
        "tts": bool(body.get("tts", False)),
        "timestamp": now_iso(),
        "edited_timestamp": None,
        "flags": int(body.get("flags") or 0) if flags is None else flags,
    }
    if body.get("nonce") is not None:
        payload["nonce"] = body["nonce"]
    if webhook_id is not None:
        payload["webhook_id"] = str(webhook_id)
    if application_id is not None:
        payload["application_id"] = str(application_id)
    if interaction_metadata is not None:
        payload["interaction_metadata"] = interaction_metadata
    _merge_content(payload, body, files or {})
    return payload


def apply_message_edit(
    message: dict[str, Any], body: dict[str, Any], files: dict[str, int] | None = None
) -> dict[str, Any]:
    """Apply an edit body (PATCH / type 7 update / followup replacing a loading message)."""
    _merge_content(message, body, files or {})
    if "flags" in body and body["flags"] is not None:
        # The ephemeral bit cannot change after creation.
        message["flags"] = (message["flags"] & FLAG_EPHEMERAL) | (
            int(body["flags"]) & ~FLAG_EPHEMERAL
        )
    message["flags"] &= ~FLAG_LOADING
    message["edited_timestamp"] = now_iso()
    return message


def _merge_content(message: dict[str, Any], body: dict[str, Any], files: dict[str, int]) -> None:
    if "content" in body:
        message["content"] = body["content"] or ""
    if "embeds" in body:
        message["embeds"] = [{"type": "rich", **e} for e in body["embeds"] or []]
    if "components" in body:
        message["components"] = body["components"] or []
    if "attachments" in body:
        message["attachments"] = [
            _attachment(a, message["channel_id"], files) for a in body["attachments"] or []
        ]
    if "poll" in body and body["poll"] is not None:
        message["poll"] = body["poll"]


def _attachment(data: dict[str, Any], channel_id: str, files: dict[str, int]) -> dict[str, Any]:
    name = data.get("filename", "file")
    attachment_id = str(data.get("id", 0))
    url = f"https://cdn.discordapp.invalid/attachments/{channel_id}/{attachment_id}/{name}"
    return {
        "id": attachment_id,
        "filename": name,
        "size": files.get(name, data.get("size", 0)),
        "url": url,
        "proxy_url": url,
        "content_type": data.get("content_type"),
        "description": data.get("description"),
    }


def interaction_payload(
    *,
    interaction_id: int,
    token: str,
    interaction_type: int,
    data: dict[str, Any],
    world: World,
    guild: Guild,
    channel: Channel,
    member: Member,
    member_permissions: int,
    app_permissions: int,
    locale: str = "en-US",
    message: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """INTERACTION_CREATE ``d`` for a guild interaction."""
    channel_data = channel_payload(channel, guild.id)
    channel_data["permissions"] = str(member_permissions)
    payload: dict[str, Any] = {
        "id": str(interaction_id),
        "application_id": str(world.application_id),
        "type": interaction_type,
        "data": data,
        "guild": {"id": str(guild.id), "locale": guild.preferred_locale, "features": []},
        "guild_id": str(guild.id),
        "channel": channel_data,
        "channel_id": str(channel.id),
        "member": member_payload(member, permissions=member_permissions),
        "token": token,
        "version": 1,
        "app_permissions": str(app_permissions),
        "locale": locale,
        "guild_locale": guild.preferred_locale,
        "entitlements": [],
        "entitlement_sku_ids": [],
        "authorizing_integration_owners": {"0": str(guild.id)},
        "context": 0,
        "attachment_size_limit": ATTACHMENT_SIZE_LIMIT,
    }
    if message is not None:
        payload["message"] = message
    return payload

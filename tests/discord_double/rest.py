"""REST routes other than interactions: login, application, commands, guilds, channels, messages."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from typing import TYPE_CHECKING, Any

from .limits import BucketLimiter
from .payloads import (
    MISSING_ACCESS,
    MISSING_PERMISSIONS,
    UNKNOWN_CHANNEL,
    UNKNOWN_GUILD,
    UNKNOWN_MESSAGE,
    application_payload,
    apply_message_edit,
    channel_payload,
    client_user_payload,
    member_payload,
    message_payload,
    role_payload,
    user_payload,
)
from .records import ApiRequest, Reply, snowflake_param
from .validation import EMPTY_MESSAGE, is_empty, message_errors
from .world import Perm

if TYPE_CHECKING:
    from .server import DiscordDouble

UNKNOWN_APPLICATION = {"message": "Unknown Application", "code": 10002}
UNKNOWN_USER = {"message": "Unknown User", "code": 10013}
UNKNOWN_MEMBER = {"message": "Unknown Member", "code": 10007}
CHANNEL_MESSAGES_BUCKET = "double-channel-messages"
# Discord drops a repeated ``nonce`` (with ``enforce_nonce``) sent to a channel within a few
# minutes and returns the message created the first time.
NONCE_WINDOW_S = 300.0


class RestApi:
    def __init__(
        self, double: DiscordDouble, channel_message_limit: tuple[int, float] | None
    ) -> None:
        self._d = double
        self.world = double.world
        self.commands: dict[int | None, list[dict[str, Any]]] = {}
        self.channel_message_ids: defaultdict[int, list[int]] = defaultdict(list)
        # (channel id, nonce) -> (message id, loop time created), for enforce_nonce
        self.nonces: dict[tuple[int, str], tuple[int, float]] = {}
        self.nonce_duplicates = 0  # repeats answered with the existing message
        self._limiter = (
            BucketLimiter(*channel_message_limit, bucket=CHANNEL_MESSAGES_BUCKET)
            if channel_message_limit
            else None
        )

    def routes(self) -> list[tuple[str, str, Any]]:
        messages = "/channels/{channel_id}/messages"
        return [
            ("GET", "/users/@me", self._me),
            ("GET", "/users/{user_id}", self._user),
            ("GET", "/oauth2/applications/@me", self._application),
            ("GET", "/applications/@me", self._application),
            ("GET", "/gateway", self._gateway),
            ("GET", "/gateway/bot", self._gateway_bot),
            ("GET", "/applications/{app_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/commands", self._put_commands),
            ("GET", "/applications/{app_id}/guilds/{guild_id}/commands", self._get_commands),
            ("PUT", "/applications/{app_id}/guilds/{guild_id}/commands", self._put_commands),
            ("GET", "/guilds/{guild_id}", self._guild),
            ("GET", "/guilds/{guild_id}/channels", self._guild_channels),
            ("GET", "/guilds/{guild_id}/roles", self._guild_roles),
            ("GET", "/guilds/{guild_id}/members/{user_id}", self._guild_member),
            ("GET", "/channels/{channel_id}", self._channel),
            ("POST", "/channels/{channel_id}/typing", lambda req: Reply(204)),
            ("POST", messages, self._create_message),
            ("GET", messages, self._history),
            ("GET", messages + "/{message_id}", self._get_message),
            ("PATCH", messages + "/{message_id}", self._edit_message),
            ("DELETE", messages + "/{message_id}", self._delete_message),
        ]

    # -- login, application, gateway -------------------------------------------------------------

    def _me(self, req: ApiRequest) -> Reply:
        return Reply(200, client_user_payload(self.world.bot))

    def _user(self, req: ApiRequest) -> Reply:
        for guild in self.world.guilds:
            for member in guild.members:
                if str(member.id) == req.params["user_id"]:
                    return Reply(200, user_payload(member.user))
        return Reply(404, UNKNOWN_USER)

    def _application(self, req: ApiRequest) -> Reply:
        return Reply(200, application_payload(self.world))

    def _gateway(self, req: ApiRequest) -> Reply:
        return Reply(200, {"url": self._d.gateway_url})

    def _gateway_bot(self, req: ApiRequest) -> Reply:
        limit = {"total": 1000, "remaining": 1000, "reset_after": 0, "max_concurrency": 1}
        body = {"url": self._d.gateway_url, "shards": 1, "session_start_limit": limit}
        return Reply(200, body)

    # -- application commands --------------------------------------------------------------------

    def _command_scope(self, req: ApiRequest) -> tuple[int | None, Reply | None]:
        if req.params["app_id"] != str(self.world.application_id):
            return None, Reply(404, UNKNOWN_APPLICATION)
        guild_id = req.params.get("guild_id")
        if guild_id is None:
            return None, None
        if self.world.find_guild(snowflake_param(guild_id)) is None:
            return None, Reply(404, UNKNOWN_GUILD)
        return int(guild_id), None

    def _get_commands(self, req: ApiRequest) -> Reply:
        guild_id, error = self._command_scope(req)
        return error or Reply(200, self.commands.get(guild_id, []))

    def _put_commands(self, req: ApiRequest) -> Reply:
        guild_id, error = self._command_scope(req)
        if error:
            return error
        existing = {(c["name"], c["type"]): c for c in self.commands.get(guild_id, [])}
        stored = []
        for command in req.json or []:
            key = (command["name"], command.get("type", 1))
            previous = existing.get(key)
            entry = {
                "type": 1,
                "description": "",
                "default_member_permissions": None,
                "dm_permission": True,
                "nsfw": False,
                "contexts": None,
                "integration_types": [0],
                "name_localizations": None,
                "description_localizations": None,
                **command,
                "id": previous["id"] if previous else str(self._d.snowflake()),
                "application_id": str(self.world.application_id),
                "version": str(self._d.snowflake()),
            }
            if guild_id is not None:
                entry["guild_id"] = str(guild_id)
            stored.append(entry)
        self.commands[guild_id] = stored
        return Reply(200, stored)

    # -- guilds and channels ---------------------------------------------------------------------

    def _guild(self, req: ApiRequest) -> Reply:
        guild = self.world.find_guild(snowflake_param(req.params["guild_id"]))
        if guild is None:
            return Reply(404, UNKNOWN_GUILD)
        body = {
            "id": str(guild.id),
            "name": guild.name,
            "owner_id": str(guild.owner_id),
            "roles": [role_payload(r) for r in guild.roles],
            "emojis": [],
            "stickers": [],
            "features": [],
            "preferred_locale": guild.preferred_locale,
            "icon": None,
            "approximate_member_count": len(guild.members),
        }
        return Reply(200, body)

    def _guild_channels(self, req: ApiRequest) -> Reply:
        guild = self.world.find_guild(snowflake_param(req.params["guild_id"]))
        if guild is None:
            return Reply(404, UNKNOWN_GUILD)
        return Reply(200, [channel_payload(c, guild.id) for c in guild.channels])

    def _guild_roles(self, req: ApiRequest) -> Reply:
        guild = self.world.find_guild(snowflake_param(req.params["guild_id"]))
        if guild is None:
            return Reply(404, UNKNOWN_GUILD)
        return Reply(200, [role_payload(r) for r in guild.roles])

    def _guild_member(self, req: ApiRequest) -> Reply:
        guild = self.world.find_guild(snowflake_param(req.params["guild_id"]))
        if guild is None:
            return Reply(404, UNKNOWN_GUILD)
        try:
            member = guild.member(snowflake_param(req.params["user_id"]))
        except KeyError:
            return Reply(404, UNKNOWN_MEMBER)
        return Reply(200, member_payload(member))

    def _channel(self, req: ApiRequest) -> Reply:
        guild, channel = self.world.find_channel(snowflake_param(req.params["channel_id"]))
        if channel is None:
            return Reply(404, UNKNOWN_CHANNEL)
        return Reply(200, channel_payload(channel, guild.id))

    # -- channel messages ------------------------------------------------------------------------

    def _create_message(self, req: ApiRequest) -> Reply:
        channel_id = snowflake_param(req.params["channel_id"])
        headers: dict[str, str] = {}
        if self._limiter is not None:
            now = asyncio.get_running_loop().time()
            retry_after, headers = self._limiter.hit(channel_id, now)
            if retry_after is not None:
                return self._d.rate_limited_reply(retry_after, headers)
        guild, channel = self.world.find_channel(channel_id)
        if channel is None:
            return Reply(404, UNKNOWN_CHANNEL, headers)
        body = dict(req.json or {})
        if self._d.enforce_permissions:
            bot_member = self.world.bot_member(guild)
            perms = guild.permissions_for(bot_member, channel) if bot_member else 0
            if not perms & Perm.VIEW_CHANNEL:
                return Reply(403, MISSING_ACCESS, headers)
            if not perms & Perm.SEND_MESSAGES:
                return Reply(403, MISSING_PERMISSIONS, headers)
            if body.get("embeds") and not perms & Perm.EMBED_LINKS:
                # Embed-only messages are refused; with other content the embeds are dropped
                # (discord/discord-api-docs#2601).
                if not (body.get("content") or body.get("components") or req.files):
                    return Reply(403, MISSING_PERMISSIONS, headers)
                body["embeds"] = []
        if is_empty(body, req.files):
            return Reply(400, EMPTY_MESSAGE, headers)
        errors = message_errors(body)
        if errors:
            return Reply(400, errors, headers)
        repeat = self._repeated_nonce(channel_id, body)
        if repeat is not None:
            return Reply(200, repeat, headers)
        message = message_payload(
            message_id=self._d.snowflake(),
            channel_id=channel_id,
            author=self.world.bot,
            body=body,
            files=req.files,
        )
        if body.get("message_reference"):
            message["message_reference"] = {**body["message_reference"], "type": 0}
            message["type"] = 19
        message_id = int(message["id"])
        self._d.messages[message_id] = message
        self.channel_message_ids[channel_id].append(message_id)
        if body.get("enforce_nonce") and body.get("nonce") is not None:
            now = asyncio.get_running_loop().time()
            self.nonces[(channel_id, str(body["nonce"]))] = (message_id, now)
        return Reply(200, message, headers)

    def _repeated_nonce(self, channel_id: int, body: dict[str, Any]) -> dict[str, Any] | None:
        """The message already created in this channel with this nonce (``enforce_nonce`` set,
        within :data:`NONCE_WINDOW_S`), as Discord returns it instead of posting again."""
        if not body.get("enforce_nonce") or body.get("nonce") is None:
            return None
        found = self.nonces.get((channel_id, str(body["nonce"])))
        if found is None:
            return None
        message_id, created = found
        message = self._d.messages.get(message_id)
        if message is None or asyncio.get_running_loop().time() - created > NONCE_WINDOW_S:
            return None
        self.nonce_duplicates += 1
        return message

    def _history(self, req: ApiRequest) -> Reply:
        channel_id = snowflake_param(req.params["channel_id"])
        if self.world.find_channel(channel_id)[1] is None:
            return Reply(404, UNKNOWN_CHANNEL)
        limit = int(req.query.get("limit", 50))
        ids = self.channel_message_ids.get(channel_id, [])
        newest_first = [self._d.messages[m] for m in reversed(ids)]
        return Reply(200, newest_first[:limit])

    def _find(self, req: ApiRequest) -> dict[str, Any] | None:
        message = self._d.messages.get(snowflake_param(req.params["message_id"]))
        if message is None or message["channel_id"] != req.params["channel_id"]:
            return None
        return message

    def _get_message(self, req: ApiRequest) -> Reply:
        message = self._find(req)
        return Reply(200, message) if message else Reply(404, UNKNOWN_MESSAGE)

    def _edit_message(self, req: ApiRequest) -> Reply:
        message = self._find(req)
        if message is None:
            return Reply(404, UNKNOWN_MESSAGE)
        errors = message_errors(req.json or {})
        if errors:
            return Reply(400, errors)
        return Reply(200, apply_message_edit(message, req.json or {}, req.files))

    def _delete_message(self, req: ApiRequest) -> Reply:
        message = self._find(req)
        if message is None:
            return Reply(404, UNKNOWN_MESSAGE)
        message_id = int(message["id"])
        del self._d.messages[message_id]
        ids = self.channel_message_ids.get(int(message["channel_id"]), [])
        if message_id in ids:
            ids.remove(message_id)
        return Reply(204)

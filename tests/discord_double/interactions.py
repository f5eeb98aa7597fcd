"""Interactions: injecting INTERACTION_CREATE and serving the bot's callbacks and webhooks.

Discord behaviour modelled here:
- ``POST /interactions/{id}/{token}/callback?with_response=1`` answers 200 with
  ``{"interaction": {...}, "resource": {"type", "message"?}}`` (discord.py 2.7 parses this body);
  a second callback gets 400 40060, an unknown interaction 404 10062.
- After a deferred reply (type 5, a "loading" message with flag 128) the first followup
  replaces the loading message; later followups are new messages.
- For component interactions ``@original`` is the message holding the component.
"""

# Every wait in this test API is bounded by an explicit ``timeout`` argument, by design.
# ruff: noqa: ASYNC109

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .payloads import (
    ALREADY_ACKNOWLEDGED,
    FLAG_EPHEMERAL,
    FLAG_LOADING,
    UNKNOWN_INTERACTION,
    UNKNOWN_MESSAGE,
    UNKNOWN_WEBHOOK,
    apply_message_edit,
    message_payload,
)
from .records import ApiRequest, Reply, snowflake_param
from .validation import EMPTY_MESSAGE, choices_errors, is_empty, message_errors

if TYPE_CHECKING:
    from .server import DiscordDouble

APPLICATION_COMMAND = 2


class InteractionHandle:
    """One injected interaction and everything the bot answered to it."""

    def __init__(self, double: DiscordDouble, payload: dict[str, Any], original_id: int | None):
        self._double = double
        self.payload = payload  # the INTERACTION_CREATE ``d``
        self.id = int(payload["id"])
        self.token: str = payload["token"]
        self.type: int = payload["type"]
        self.channel_id = int(payload["channel_id"])
        self.created_at = asyncio.get_running_loop().time()
        self.callbacks: list[dict[str, Any]] = []  # bodies POSTed to the callback route
        self.original_id = original_id
        self.followup_ids: list[int] = []
        self._shown_ids: list[int] = []  # messages created/edited for the user, in order

    def __repr__(self) -> str:
        name = (self.payload.get("data") or {}).get("name") or self.payload["data"].get("custom_id")
        return f"<InteractionHandle type={self.type} {name!r} callbacks={len(self.callbacks)}>"

    @property
    def original(self) -> dict[str, Any] | None:
        """The current ``@original`` message, if any."""
        return self._double.messages.get(self.original_id) if self.original_id else None

    async def response(self, timeout: float = 5.0) -> dict[str, Any]:
        """The first callback body: ``{"type": 4|5|6|7|8|9, "data": {...}}``."""
        return await self._wait(lambda: self.callbacks[0] if self.callbacks else None, timeout)

    async def followups(self, count: int = 1, timeout: float = 5.0) -> list[dict[str, Any]]:
        """The messages returned for followup POSTs (latest versions), once ``count`` exist."""

        def check() -> list[dict[str, Any]] | None:
            if len(self.followup_ids) < count:
                return None
            return [
                self._double.messages[m] for m in self.followup_ids if m in self._double.messages
            ]

        return await self._wait(check, timeout)

    async def message(self, timeout: float = 5.0) -> dict[str, Any]:
        """The message the user now sees for this interaction (not a loading placeholder).

        That is the latest message created or edited through the callback (type 4/7), an edit of
        ``@original`` or a followup; after ``defer()`` + ``followup.send()`` it is the followup.
        """

        def check() -> dict[str, Any] | None:
            for message_id in reversed(self._shown_ids):
                message = self._double.messages.get(message_id)
                if message is not None and not message["flags"] & FLAG_LOADING:
                    return message
            return None

        return await self._wait(check, timeout)

    async def _wait(self, check: Any, timeout: float) -> Any:
        def describe() -> str:
            types = [c.get("type") for c in self.callbacks]
            return (
                f"timed out on {self!r}: callback types {types}, followups {len(self.followup_ids)}"
            )

        return await self._double._waiters.wait(check, timeout, describe)

    def _shown(self, message_id: int) -> None:
        self._shown_ids.append(message_id)


class InteractionApi:
    def __init__(self, double: DiscordDouble) -> None:
        self._d = double
        self.world = double.world
        self.by_id: dict[int, InteractionHandle] = {}
        self.by_token: dict[str, InteractionHandle] = {}

    def register(self, payload: dict[str, Any], original_id: int | None) -> InteractionHandle:
        """Track an interaction about to be dispatched, so its callbacks can be matched."""
        handle = InteractionHandle(self._d, payload, original_id)
        self.by_id[handle.id] = handle
        self.by_token[handle.token] = handle
        return handle

    def routes(self) -> list[tuple[str, str, Any]]:
        message = "/webhooks/{app_id}/{token}/messages/{message_id}"
        return [
            ("POST", "/interactions/{interaction_id}/{token}/callback", self._callback),
            ("POST", "/webhooks/{app_id}/{token}", self._followup),
            ("GET", message, self._get_message),
            ("PATCH", message, self._edit_message),
            ("DELETE", message, self._delete_message),
        ]

    # -- the bot's side --------------------------------------------------------------------------

    def _callback(self, req: ApiRequest) -> Reply:
        handle = self.by_id.get(snowflake_param(req.params["interaction_id"]))
        if handle is None or handle.token != req.params["token"]:
            return Reply(404, UNKNOWN_INTERACTION)
        deadline = self._d.interaction_deadline_s
        now = asyncio.get_running_loop().time()
        if deadline is not None and now - handle.created_at > deadline:
            return Reply(404, UNKNOWN_INTERACTION)
        if handle.callbacks:
            return Reply(400, ALREADY_ACKNOWLEDGED)
        body = req.json or {}
        response_type, data = body.get("type"), body.get("data") or {}
        if response_type in (4, 7):
            errors = message_errors(data)
            if errors:
                return Reply(400, errors)
        if response_type == 4 and is_empty(data, req.files):
            return Reply(400, EMPTY_MESSAGE)
        if response_type == 8 and (errors := choices_errors(body)):
            return Reply(400, errors)
        handle.callbacks.append(body)
        info: dict[str, Any] = {"id": str(handle.id), "type": handle.type}
        resource: dict[str, Any] = {"type": response_type}
        if response_type in (4, 5):
            flags = int(data.get("flags") or 0)
            if response_type == 5:
                flags = (flags & FLAG_EPHEMERAL) | FLAG_LOADING
            message = self._create(handle, data if response_type == 4 else {}, flags, req.files)
            handle.original_id = int(message["id"])
            resource["message"] = message
            info["response_message_loading"] = response_type == 5
        elif response_type == 7 and handle.original is not None:
            resource["message"] = apply_message_edit(handle.original, data, req.files)
        if response_type in (4, 7):
            handle._shown(handle.original_id)
        if response_type in (4, 5, 6, 7) and handle.original is not None:
            info["response_message_id"] = str(handle.original_id)
            info["response_message_ephemeral"] = bool(handle.original["flags"] & FLAG_EPHEMERAL)
        return Reply(200, {"interaction": info, "resource": resource})

    def _create(
        self, handle: InteractionHandle, body: dict[str, Any], flags: int, files: dict[str, int]
    ) -> dict[str, Any]:
        payload = handle.payload
        metadata: dict[str, Any] = {
            "id": str(handle.id),
            "type": handle.type,
            "user": payload["member"]["user"],
            "authorizing_integration_owners": payload["authorizing_integration_owners"],
        }
        if handle.type == APPLICATION_COMMAND:
            metadata["name"] = payload["data"]["name"]
            metadata["command_type"] = payload["data"].get("type", 1)
        message = message_payload(
            message_id=self._d.snowflake(),
            channel_id=handle.channel_id,
            author=self.world.bot,
            body=body,
            message_type=20 if handle.type == APPLICATION_COMMAND else 0,
            flags=flags,
            webhook_id=self.world.application_id,
            application_id=self.world.application_id,
            interaction_metadata=metadata,
            files=files,
        )
        self._d.messages[int(message["id"])] = message
        return message

    def _webhook_handle(self, req: ApiRequest) -> InteractionHandle | None:
        handle = self.by_token.get(req.params["token"])
        if handle is None or req.params["app_id"] != str(self.world.application_id):
            return None
        return handle if handle.callbacks else None  # followups need an acknowledged interaction

    def _followup(self, req: ApiRequest) -> Reply:
        handle = self._webhook_handle(req)
        if handle is None:
            return Reply(404, UNKNOWN_WEBHOOK)
        body = req.json or {}
        errors = message_errors(body)
        if errors:
            return Reply(400, errors)
        if is_empty(body, req.files):
            return Reply(400, EMPTY_MESSAGE)
        original = handle.original
        if original is not None and original["flags"] & FLAG_LOADING:
            message = apply_message_edit(original, body, req.files)
        else:
            message = self._create(handle, body, int(body.get("flags") or 0), req.files)
        message_id = int(message["id"])
        handle.followup_ids.append(message_id)
        handle._shown(message_id)
        wait = req.query.get("wait", "").lower() in ("1", "true")
        return Reply(200, message) if wait else Reply(204)

    def _owned_message(self, req: ApiRequest) -> tuple[InteractionHandle | None, int | None]:
        handle = self._webhook_handle(req)
        if handle is None:
            return None, None
        raw = req.params["message_id"]
        message_id = handle.original_id if raw == "@original" else snowflake_param(raw)
        if message_id not in self._d.messages:
            return handle, None
        if message_id != handle.original_id and message_id not in handle.followup_ids:
            return handle, None
        return handle, message_id

    def _get_message(self, req: ApiRequest) -> Reply:
        handle, message_id = self._owned_message(req)
        if handle is None:
            return Reply(404, UNKNOWN_WEBHOOK)
        if message_id is None:
            return Reply(404, UNKNOWN_MESSAGE)
        return Reply(200, self._d.messages[message_id])

    def _edit_message(self, req: ApiRequest) -> Reply:
        handle, message_id = self._owned_message(req)
        if handle is None:
            return Reply(404, UNKNOWN_WEBHOOK)
        if message_id is None:
            return Reply(404, UNKNOWN_MESSAGE)
        errors = message_errors(req.json or {})
        if errors:
            return Reply(400, errors)
        message = apply_message_edit(self._d.messages[message_id], req.json or {}, req.files)
        handle._shown(message_id)
        return Reply(200, message)

    def _delete_message(self, req: ApiRequest) -> Reply:
        handle, message_id = self._owned_message(req)
        if handle is None:
            return Reply(404, UNKNOWN_WEBHOOK)
        if message_id is None:
            return Reply(404, UNKNOWN_MESSAGE)
        message = self._d.messages.pop(message_id)
        ids = self._d.rest.channel_message_ids.get(int(message["channel_id"]), [])
        if message_id in ids:
            ids.remove(message_id)
        return Reply(204)

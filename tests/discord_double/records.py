"""Small value types shared by the double's modules."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple


class RecordedRequest(NamedTuple):
    method: str
    path: str  # relative to the API base, without the query: "/channels/123/messages"
    json: Any  # parsed JSON body (payload_json for multipart), or None
    headers: dict[str, str]  # Authorization, Content-Type, User-Agent, X-Audit-Log-Reason
    status: int
    query: dict[str, str]
    response: Any  # the JSON body the double replied with


class ApiRequest(NamedTuple):
    method: str
    path: str
    params: dict[str, str]  # named groups of the route pattern
    query: Mapping[str, str]
    json: Any
    files: dict[str, int]  # multipart file name -> size


class Reply(NamedTuple):
    status: int
    body: Any = None
    headers: Mapping[str, str] | None = None


@dataclass
class Fault:
    """An injected error reply; see :meth:`DiscordDouble.fail`."""

    method: str
    pattern: re.Pattern[str]
    status: int
    body: Any
    times: int | None
    headers: dict[str, str]
    hits: int = 0

    def take(self, method: str, path: str) -> bool:
        if self.times is not None and self.hits >= self.times:
            return False
        if self.method not in ("*", method) or not self.pattern.search(path):
            return False
        self.hits += 1
        return True


@dataclass
class DoubleStats:
    requests: int = 0
    rate_limited: int = 0  # every 429 served (global, bucket or injected)
    global_rate_limited: int = 0
    faults_served: int = 0
    unhandled: int = 0


def snowflake_param(value: str) -> int:
    """A path parameter as an id; -1 (found nowhere) when it is not a number."""
    try:
        return int(value)
    except ValueError:
        return -1

"""Futures that resolve when a condition over the double's state becomes true."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

# Every wait is bounded by an explicit ``timeout`` argument, by design.
# ruff: noqa: ASYNC109


class Waiters:
    """Futures resolved when a check returns something other than None after an event."""

    def __init__(self) -> None:
        self._pending: list[tuple[Callable[[], Any], asyncio.Future[Any]]] = []

    def notify(self) -> None:
        for check, future in list(self._pending):
            if future.done():
                continue
            try:
                result = check()
            except Exception as exc:  # surfaced to the waiting test
                future.set_exception(exc)
                continue
            if result is not None:
                future.set_result(result)

    async def wait(
        self, check: Callable[[], Any], timeout: float, describe: Callable[[], str]
    ) -> Any:
        result = check()
        if result is not None:
            return result
        entry = (check, asyncio.get_running_loop().create_future())
        self._pending.append(entry)
        try:
            async with asyncio.timeout(timeout):
                return await entry[1]
        except TimeoutError:
            raise TimeoutError(describe()) from None
        finally:
            self._pending.remove(entry)

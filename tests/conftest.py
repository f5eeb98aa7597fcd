"""Shared fixtures (kept small): every test leaves discord.py's REST and gateway urls as it found
them, even one that runs the composition root (which points them at a double)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from discord.gateway import DiscordWebSocket
from discord.http import Route

from tests.support.backends import BACKENDS, PgServer, require_pg


@pytest.fixture(scope="session")
def pg_server() -> Iterator[PgServer]:
    """The PostgreSQL server of NEWSBOT_TEST_PG (skips when unset; fails under CI)."""
    server = PgServer(require_pg())
    try:
        yield server
    finally:
        server.close()


@pytest.fixture(params=BACKENDS, ids=BACKENDS)
def db_target(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database of each backend, as a target string for ``open_database``: a SQLite
    path under tmp_path (not created yet), or the url of a new, migrated PostgreSQL database
    (dropped after the test)."""
    if request.param == "sqlite":
        yield str(tmp_path / "newsbot.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.fresh()
    try:
        yield url
    finally:
        server.drop(url)


@pytest.fixture
def another_db_target(
    request: pytest.FixtureRequest, tmp_path: Path, db_target: str
) -> Iterator[str]:
    """A second fresh database of the same backend as ``db_target``."""
    if not db_target.startswith("postgresql://"):
        yield str(tmp_path / "another.db")
        return
    server: PgServer = request.getfixturevalue("pg_server")
    url = server.fresh()
    try:
        yield url
    finally:
        server.drop(url)


@pytest.fixture(autouse=True)
def _restore_discord_endpoints() -> Iterator[None]:
    base, gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    yield
    Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY = base, gateway


_DISCORD_BACKOFF = {1, 3, 5, 7, 9}  # discord.py's retry sleeps after a 5xx or a reset: 1 + 2*tries


@pytest.fixture(autouse=True)
def _no_discord_retry_sleeps(monkeypatch: pytest.MonkeyPatch) -> None:
    """discord.py sleeps 1, 3, 5... seconds before retrying a 5xx; tests skip those sleeps (the
    retry itself still happens). Rate-limit waits (bucket resets, ``retry_after``) stay real:
    they are what the double's rate limiting tests check, and they are short there."""
    import asyncio
    import types

    import discord.http

    real_sleep = asyncio.sleep

    async def sleep(delay: float, result: object = None) -> object:
        return await real_sleep(0 if delay in _DISCORD_BACKOFF else delay, result)

    shim = types.ModuleType("asyncio")
    shim.__dict__.update(vars(asyncio))
    shim.sleep = sleep  # type: ignore[attr-defined]
    monkeypatch.setattr(discord.http, "asyncio", shim)


@pytest.fixture
def on_each_backend(db_target: str) -> Iterator[str]:
    """Point the shared helpers (``tests.support.targets``) at ``db_target`` for this test."""
    from tests.support import targets

    targets.choose(db_target)
    try:
        yield db_target
    finally:
        targets.choose(None)

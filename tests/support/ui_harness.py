"""Helpers for the UI tests (no tests here): a test corpus, a bot running against the Discord API
double, and checks on what the bot sent.

    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("topics")
        message = await handle.message()
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import discord

from bot.config import Config, DatabaseConfig, DiscordConfig, IngestConfig
from bot.services.ingest import IngestService
from bot.services.query import QueryService
from bot.storage.db import Database, open_database
from bot.ui import limits
from bot.ui.bot import Extension, NewsBot, Services
from tests.discord_double import DEFAULT_TOKEN, DiscordDouble, running_client
from tests.factories import related, write_article
from tests.support import targets

EPHEMERAL = 1 << 6
NO_PARSE = {"parse": []}
HOSTILE_TITLE = "Breaking **news** @everyone <@&123> from the lab"
GUARDIAN = "https://www.theguardian.com/technology/2022/mar/24/ukraine-facial-recognition"
LONG_TITLE = "An extremely long headline " * 12  # > 100 characters: choice names must be cut
N_FILLER = 30  # more than 25 autocomplete matches, more than one page of topics and stories


def iso(days_ago: float) -> str:
    when = datetime.now(UTC) - timedelta(days=days_ago)
    return when.replace(microsecond=0).isoformat().replace("+00:00", "Z")


def write_corpus(src: Path) -> None:
    """A small corpus: one story with three other outlets, a hostile title, a long title, and
    ``N_FILLER`` unrelated articles each with its own topic. Dates are relative to now."""
    write_article(
        src,
        "guardian.md",
        "Ukraine uses facial recognition software to identify soldiers",
        GUARDIAN,
        published=iso(1),
        quality=90,
        provider="The Guardian",
        topics=["AI", "Computer Vision"],
        image="https://i.guim.co.uk/img/face.jpg",
        excerpt="The defense ministry began using technology from Clearview AI.",
        related_items=[
            related(
                "Ukraine is using facial recognition tech",
                "https://www.businessinsider.com/x",
                iso(1.2),
                quality=89,
                provider="Business Insider",
            ),
            related(
                "Ukraine uses facial recognition, minister says",
                "https://www.reuters.com/x",
                iso(1.5),
                quality=79,
                provider="Reuters",
            ),
            related(
                "Ukraine army starts using facial recognition",
                "https://www.gizchina.com/x",
                iso(0.9),
                quality=70,
                provider="GizChina",
            ),
        ],
    )
    write_article(
        src,
        "hostile.md",
        HOSTILE_TITLE,
        "https://lab.example/hostile",
        published=iso(2),
        quality=60,
        topics=["Security"],
        provider="Lab @here News",
    )
    write_article(
        src,
        "long.md",
        LONG_TITLE,
        "https://long.example/a",
        published=iso(3),
        quality=50,
        topics=["AI"],
    )
    for i in range(N_FILLER):
        write_article(
            src,
            f"filler{i:02d}.md",
            f"Distinct headline {i} about subject{i}",
            f"https://filler.example/{i}",
            published=iso(4 + i),
            quality=40 + i,
            topics=[f"Topic {i:02d}"],
            excerpt=f"unique{i} words",
        )


@dataclass
class Env:
    double: DiscordDouble
    bot: NewsBot
    services: Services
    db: Database
    src: Path
    config: Config

    @property
    def query(self) -> QueryService:
        return self.services.query

    async def article_id(self, url: str) -> int:
        return (await self.query.article(url)).id


def make_config(
    tmp_path: Path,
    src: Path,
    *,
    rescan_minutes: float = 0,
    dev_guild_id: int = 0,
    api_base: str = "",
    gateway_url: str = "",
    token: str = DEFAULT_TOKEN,
) -> Config:
    return Config(
        database=DatabaseConfig(targets.target(tmp_path, "newsbot.db")),
        ingest=IngestConfig(sources=(str(src),), rescan_minutes=rescan_minutes, workers=1),
        discord=DiscordConfig(
            token=token,
            dev_guild_id=dev_guild_id,
            api_base=api_base,
            gateway_url=gateway_url,
        ),
    )


@asynccontextmanager
async def running_bot(
    tmp_path: Path,
    *,
    rescan_minutes: float = 0,
    page_timeout: float = 30.0,
    extensions: Sequence[Extension] = (),
    dev_guild_id: int = 0,
    sync: bool = True,
) -> AsyncIterator[Env]:
    """The test corpus ingested, the double started, the bot connected (and its commands synced).

    On exit the bot is closed, and every message the bot sent is checked for
    ``allowed_mentions: {"parse": []}`` and Discord's limits."""
    src = tmp_path / "src"
    write_corpus(src)
    config = make_config(tmp_path, src, rescan_minutes=rescan_minutes, dev_guild_id=dev_guild_id)
    async with open_database(config.database.path) as db:
        services = Services(query=QueryService(db), ingest=IngestService(db, workers=1))
        report = await services.ingest.ingest([str(src)])
        assert not report.rejected, report.rejected
        async with DiscordDouble() as double:
            bot = NewsBot(
                services=services, config=config, extensions=extensions, page_timeout=page_timeout
            )
            async with running_client(double, bot, DEFAULT_TOKEN, timeout=10):
                if sync:
                    await bot.tree.sync()
                yield Env(double, bot, services, db, src, config)
            check_sent_messages(double.requests)


# -- checks on recorded requests --
def sent_messages(requests: Iterable[Any]) -> list[dict[str, Any]]:
    """The message bodies the bot sent: callbacks of type 4/7, followups, edits, channel posts."""
    out = []
    for req in requests:
        body = req.json if isinstance(req.json, dict) else None
        if body is None:
            continue
        if req.method == "POST" and req.path.endswith("/callback"):
            if body.get("type") in (4, 7):
                out.append(body.get("data") or {})
        elif req.method in ("POST", "PATCH") and (
            req.path.startswith("/webhooks/") or "/messages" in req.path
        ):
            out.append(body)
    return out


def check_sent_messages(requests: Iterable[Any]) -> None:
    for body in sent_messages(requests):
        assert body.get("allowed_mentions") == NO_PARSE, body
        assert_message_within_limits(body.get("embeds") or [], body.get("content"))


def assert_message_within_limits(
    embeds: Sequence[discord.Embed | dict[str, Any]], content: str | None = None
) -> None:
    assert not limits.violations(embeds, content)
    for raw in embeds:
        e = raw.to_dict() if isinstance(raw, discord.Embed) else raw
        for url in (e.get("url"), (e.get("thumbnail") or {}).get("url")):
            assert url is None or url.startswith(("http://", "https://")), url


def buttons(message: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """label -> button component of a message payload."""
    found = {}
    for row in message.get("components") or []:
        for component in row.get("components") or []:
            if component.get("type") == 2:
                found[component.get("label")] = component
    return found


def is_ephemeral(data: dict[str, Any]) -> bool:
    return bool(int(data.get("flags") or 0) & EPHEMERAL)

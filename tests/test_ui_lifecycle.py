"""The bot's life: background ingest and rescans, clean shutdown, `newsbot run` as a real process
(SIGTERM / SIGINT -> exit 0), `newsbot sync-commands`, and the missing or bad token. The tests
that use the database run on both backends (``on_each_backend``); in the token and login tests
the database is incidental (they fail before any query), so they stay on the default SQLite."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import signal
import socket
import sqlite3
import sys
from pathlib import Path

import pytest

from bot.cli import main
from bot.cli.run import BAD_TOKEN, cmd_run, cmd_sync_commands, open_bot
from bot.services.ingest import IngestReport
from bot.ui.rescan import Rescanner
from tests.discord_double import DiscordDouble, point_discord_at, running_client
from tests.factories import write_article
from tests.support.ui_harness import iso, make_config, running_bot, write_corpus

pytestmark = pytest.mark.timeout(60)

ROOT = Path(__file__).resolve().parents[1]
TOKEN = "test-token.SECRET-1234567890"


@pytest.mark.usefixtures("on_each_backend")
async def test_rescan_picks_up_a_new_file_while_connected(tmp_path):
    async with running_bot(tmp_path, rescan_minutes=0.005) as env:  # every 0.3 s
        handle = await env.double.slash("search", {"query": "quokka"})
        assert (await handle.response())["data"]["embeds"][0]["description"] == "Nothing matches."

        write_article(
            env.src,
            "new.md",
            "Quokka spotted reading the news",
            "https://quokka.example/a",
            published=iso(0.5),
            topics=["Animals"],
        )
        runs = env.bot.rescanner.runs
        async with asyncio.timeout(10):  # a whole run that started after the write
            await env.bot.rescanner.wait_runs(runs + 2)
        handle = await env.double.slash("search", {"query": "quokka"})
        data = (await handle.response())["data"]
        assert "https://quokka.example/a" in data["embeds"][0]["description"]


class FlakyIngest:
    """Fails on its first run, then reports one new file per run."""

    def __init__(self) -> None:
        self.calls = 0

    async def ingest(self, specs):
        self.calls += 1
        if self.calls == 1:
            raise RuntimeError("disk on fire")
        return IngestReport(files=1, new=1)


async def test_rescan_never_dies_on_an_error(caplog):
    caplog.set_level(logging.DEBUG, logger="bot.ui.rescan")
    fake = FlakyIngest()
    rescanner = Rescanner(fake, ["somewhere/*.md"], interval=0.01)
    rescanner.start()
    async with asyncio.timeout(5):
        await rescanner.wait_runs(3)
    await rescanner.stop()
    assert not rescanner.running
    messages = [r.getMessage() for r in caplog.records]
    assert "rescan of somewhere/*.md failed; trying again at the next run" in messages
    infos = [m for m in messages if m.startswith("rescan of somewhere/*.md: 1 files, 1 new")]
    assert len(infos) >= 2


@pytest.mark.usefixtures("on_each_backend")
async def test_close_stops_the_rescan_and_the_composition_root_closes_the_database(tmp_path):
    src = tmp_path / "src"
    write_corpus(src)
    for i in range(300):  # enough work that the close arrives in the middle of the first ingest
        write_article(
            src / "bulk",
            f"{i:03d}.md",
            f"Bulk headline {i} zebra{i}",
            f"https://bulk.example/{i}",
            published=iso(1),
        )
    config = make_config(tmp_path, src, rescan_minutes=10)
    async with DiscordDouble() as double:
        async with open_bot(config) as bot:
            db = bot.services.query.db
            async with running_client(double, bot, timeout=10):
                assert bot.rescanner.running  # the first ingest runs in the background...
                # ...and did not delay the connection
            assert bot.is_closed()
            assert not bot.rescanner.running
        with pytest.raises(ValueError):
            await db.fetchone("SELECT 1")  # the database is closed
    # nothing half-written: the database is consistent and a new ingest completes it
    if not config.database.path.startswith("postgresql://"):
        conn = sqlite3.connect(config.database.path)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    async with open_bot(config, serving=False) as bot:
        report = await bot.services.ingest.ingest(config.ingest.sources)
        assert not report.rejected
        found = await bot.services.query.search("zebra299")
        assert found.items


def write_config(tmp_path: Path, src: Path, db: str | None = None) -> Path:
    """``db``: a SQLite path (``[database] path``) or a PostgreSQL url (``[database] url``)."""
    path = tmp_path / "config.toml"
    key = "url" if db and db.startswith("postgresql://") else "path"
    path.write_text(
        f'[database]\n{key} = "{db or tmp_path / "run.db"}"\n'
        f'[ingest]\nsources = ["{src}"]\nrescan_minutes = 0\nworkers = 1\n',
        encoding="utf-8",
    )
    return path


def run_env(double: DiscordDouble, config: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "NEWSBOT_"))}
    env.update(
        DISCORD_TOKEN=TOKEN,
        NEWSBOT_CONFIG=str(config),
        NEWSBOT_DISCORD_API_BASE=double.api_base,
        NEWSBOT_DISCORD_GATEWAY=double.gateway_url,
        PYTHONPATH=str(ROOT),
    )
    return env


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT])
async def test_newsbot_run_process_answers_then_exits_0_on_a_signal(tmp_path, sig, db_target):
    src = tmp_path / "src"
    write_corpus(src)
    async with DiscordDouble(token=TOKEN) as double:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "bot",
            "run",
            cwd=tmp_path,
            env=run_env(double, write_config(tmp_path, src, db_target)),
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        try:
            await double.wait_ready(timeout=30)
            # the data is ingested in the background; ask until it is there
            async with asyncio.timeout(15):
                while True:
                    handle = await double.slash("search", {"query": "facial recognition"})
                    data = (await handle.response(timeout=10))["data"]
                    if data.get("embeds") and "theguardian" in data["embeds"][0]["description"]:
                        break
                    await asyncio.sleep(0.1)
            proc.send_signal(sig)
            async with asyncio.timeout(10):
                out, err = await proc.communicate()
        finally:
            if proc.returncode is None:
                proc.kill()
                await proc.wait()
    log_text = err.decode()
    assert proc.returncode == 0, log_text
    assert f"{sig.name} received: shutting down" in log_text
    assert "newsbot stopped" in log_text
    assert TOKEN not in log_text and TOKEN not in out.decode()
    assert "Traceback" not in log_text


def test_no_token_exits_2_and_says_how_to_get_one(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv("DISCORD_TOKEN", raising=False)
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "config.toml"
    config.write_text(f'[database]\npath = "{tmp_path / "x.db"}"\n', encoding="utf-8")
    assert main(["--config", str(config), "run"]) == 2
    err = capsys.readouterr().err
    assert "Reset Token" in err
    assert "export DISCORD_TOKEN=" in err
    assert "newsbot preview" in err
    assert main(["--config", str(config), "sync-commands"]) == 2


async def test_a_rejected_token_exits_2(tmp_path, capsys):
    src = tmp_path / "src"
    write_corpus(src)
    async with DiscordDouble(token="the-right-token") as double:
        config = make_config(
            tmp_path, src, api_base=double.api_base, gateway_url=double.gateway_url
        )
        with point_discord_at(double):  # restores discord.py's endpoints afterwards
            assert await cmd_run(argparse.Namespace(), config) == 2
    assert BAD_TOKEN in capsys.readouterr().err


@pytest.mark.parametrize("guild", [None, 1_200_000_000_000_000_000])
async def test_sync_commands_registers_over_rest_only(tmp_path, capsys, guild):
    async with DiscordDouble(token=TOKEN) as double:
        config = make_config(
            tmp_path,
            tmp_path / "src",
            api_base=double.api_base,
            gateway_url=double.gateway_url,
            token=TOKEN,
        )
        with point_discord_at(double):
            assert await cmd_sync_commands(argparse.Namespace(guild=guild), config) == 0
        names = {c["name"] for c in double.commands(guild)}
        assert names == {"topics", "news", "story", "related", "search", "help", "digest"}
        assert not double.gateway.received  # no gateway connection was needed
    out = capsys.readouterr().out
    assert "Registered 7 commands" in out
    assert "  /news: Top stories" in out
    app_id = double.world.application_id
    assert (
        f"https://discord.com/oauth2/authorize?client_id={app_id}&scope=bot+applications.commands"
        "&permissions=84992"
    ) in out
    assert not (tmp_path / "newsbot.db").exists()  # sync-commands touches no database


async def test_discord_unreachable_at_login_exits_1(tmp_path, capsys):
    src = tmp_path / "src"
    write_corpus(src)
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = make_config(
        tmp_path,
        src,
        api_base=f"http://127.0.0.1:{port}/api/v10",
        gateway_url=f"ws://127.0.0.1:{port}/gateway",
    )
    assert await cmd_run(argparse.Namespace(), config) == 1  # conftest restores the endpoints
    assert "cannot log in to Discord" in capsys.readouterr().err

"""Log formats: JSON is one object a line (time, level, logger, message, and guild, channel,
subscription, command where known); the token never appears in either format, tracebacks
included, also from a real ``newsbot run`` process at DEBUG level."""

from __future__ import annotations

import asyncio
import io
import json
import logging
import signal
from datetime import UTC, datetime

import pytest

from bot.config import ConfigError, parse_config
from bot.ops.logs import make_handler
from bot.services.events import log_context
from tests.discord_double import DiscordDouble
from tests.support.ops import TOKEN, BotProcess, run_env
from tests.support.ui_harness import write_corpus

pytestmark = pytest.mark.timeout(60)


def capture(fmt: str) -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    logger = logging.getLogger(f"newsbot.test.{fmt}")
    logger.handlers = [make_handler(fmt, secrets=[TOKEN], stream=stream)]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_json_lines_have_the_fields_and_the_context():
    logger, stream = capture("json")
    logger.info("plain %s", "message")
    with log_context(subscription=7, guild=123):
        logger.warning("digest failed", extra={"channel": 456})
        with log_context(command="digest subscribe"):
            logger.error("inner")
    logger.debug("after")  # the context ended with its block
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 4
    for entry in lines:
        assert {"time", "level", "logger", "message"} <= set(entry)
        when = datetime.fromisoformat(entry["time"])
        assert when.utcoffset().total_seconds() == 0  # UTC
    assert lines[0]["message"] == "plain message" and lines[0]["level"] == "INFO"
    assert lines[0]["logger"] == "newsbot.test.json"
    assert not {"guild", "channel", "subscription", "command"} & set(lines[0])
    assert lines[1]["subscription"] == 7
    assert (lines[1]["guild"], lines[1]["channel"]) == (123, 456)
    assert lines[2]["command"] == "digest subscribe" and lines[2]["subscription"] == 7
    assert "subscription" not in lines[3]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_the_token_never_appears_even_in_a_traceback(fmt):
    logger, stream = capture(fmt)
    logger.info("token is %s", TOKEN)
    try:
        raise RuntimeError(f"login failed with {TOKEN}")
    except RuntimeError:
        logger.exception("failed: %r", {"token": TOKEN})
    with log_context(command=f"cmd {TOKEN}"):
        logger.info("x")
    text = stream.getvalue()
    assert TOKEN not in text
    assert "[redacted]" in text
    assert "RuntimeError: login failed with [redacted]" in (
        text if fmt == "text" else json.loads(text.splitlines()[1])["exception"]
    )


def test_text_lines_show_the_context():
    logger, stream = capture("text")
    with log_context(guild=1, command="news"):
        logger.info("hello")
    assert stream.getvalue().rstrip().endswith("hello [guild=1 command=news]")


def test_logging_format_config_key():
    assert parse_config({}).logging.format == "text"
    assert parse_config({"logging": {"format": "json"}}).logging.format == "json"
    with pytest.raises(ConfigError, match=r"\[logging\] format: expected one of text, json"):
        parse_config({"logging": {"format": "yaml"}})
    assert parse_config({"log_level": "debug"}).log_level == "DEBUG"  # the old key still works


@pytest.mark.parametrize("fmt", ["json", "text"])
async def test_newsbot_run_logs_without_the_token_in_either_format(tmp_path, fmt):
    src = tmp_path / "src"
    write_corpus(src)
    config = tmp_path / "config.toml"
    config.write_text(
        f'[database]\npath = "{tmp_path / "run.db"}"\n'
        f'[ingest]\nsources = ["{src}"]\nrescan_minutes = 0\nworkers = 1\n'
        '[http]\nlisten = "127.0.0.1:0"\n',
        encoding="utf-8",
    )
    async with DiscordDouble(token=TOKEN) as double:
        env = run_env(double.api_base, double.gateway_url, config)
        async with BotProcess(tmp_path, env, "--log-format", fmt, "-v") as bot:
            await double.wait_ready(timeout=30)
            await bot.wait_for_line(r"bot\.services\.ingest", 30)
            handle = await double.slash("news", {"days": 0})  # a friendly reply, logged at DEBUG
            await handle.response(timeout=10)
            await bot.wait_for_line(r"must be a whole number", 10)
            assert bot.proc is not None
            bot.proc.send_signal(signal.SIGTERM)
            assert await bot.wait_exit(10) == 0
    text = bot.text
    assert TOKEN not in text
    assert "newsbot stopped" in text
    if fmt == "text":
        assert "command=news" in text
        return
    entries = [json.loads(line) for line in bot.lines if line.strip()]  # every line is JSON
    assert all({"time", "level", "logger", "message"} <= set(e) for e in entries)
    [reply] = [e for e in entries if "must be a whole number" in e["message"]]
    assert reply["command"] == "news" and reply["guild"] == double.world.guild.id
    assert reply["channel"] and reply["level"] == "DEBUG"


async def test_a_digest_job_logs_with_its_subscription():
    from bot.scheduler import DigestScheduler
    from bot.services.digest import RunResult

    class Service:
        clock = staticmethod(lambda: None)

        async def run_scheduled(self, sub_id, now=None):
            logging.getLogger("bot.services.digest_delivery").warning("posting")
            return RunResult(sub_id, "sent")

    logger, stream = capture("json")
    delivery = logging.getLogger("bot.services.digest_delivery")
    delivery.addHandler(logger.handlers[0])
    try:
        scheduler = DigestScheduler(Service(), clock=lambda: datetime.now(UTC))  # type: ignore[arg-type]
        await asyncio.create_task(scheduler.run_job(42))  # APScheduler runs each job as a task
    finally:
        delivery.removeHandler(logger.handlers[0])
    [entry] = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert entry["subscription"] == 42 and entry["message"] == "posting"

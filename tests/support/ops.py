"""Helpers for the operations tests: HTTP calls to the ops server, metric parsing, and
``newsbot run`` as a child process with its log lines collected."""

from __future__ import annotations

import asyncio
import os
import re
import sys
from pathlib import Path
from typing import Any

import aiohttp
from prometheus_client.parser import text_string_to_metric_families

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "ops-test-token.SECRET-abcdefghijklmnop"


async def get(url: str) -> tuple[int, str, dict[str, str]]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.text(), dict(response.headers)


async def get_json(url: str) -> tuple[int, Any]:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return response.status, await response.json()


def families(text: str) -> dict[str, Any]:
    """Metric families by name as the Prometheus parser reads them (counters without _total)."""
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(text: str, name: str, **labels: str) -> float | None:
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return s.value
    return None


def run_env(api_base: str, gateway_url: str, config: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DISCORD_", "NEWSBOT_"))}
    env.update(
        DISCORD_TOKEN=TOKEN,
        NEWSBOT_CONFIG=str(config),
        NEWSBOT_DISCORD_API_BASE=api_base,
        NEWSBOT_DISCORD_GATEWAY=gateway_url,
        PYTHONPATH=str(ROOT),
        **extra,
    )
    return env


class BotProcess:
    """``python -m bot [ARGS] run`` as a child process; stderr lines collected as they come."""

    def __init__(
        self,
        cwd: Path,
        env: dict[str, str],
        *args: str,
        preamble: str = "",
        run_args: tuple[str, ...] = (),
    ) -> None:
        """``preamble``: Python run in the child before newsbot's ``main`` (to patch a sleep);
        ``args`` go before ``run`` (global options), ``run_args`` after it."""
        self.preamble = preamble
        self.run_args = run_args
        self.cwd = cwd
        self.env = env
        self.args = args
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self._reader: asyncio.Task[None] | None = None

    async def __aenter__(self) -> BotProcess:
        if self.preamble:
            code = f"{self.preamble}\nimport sys\nfrom bot.cli import main\n"
            code += "raise SystemExit(main(sys.argv[1:]))"
            launch = ["-c", code]
        else:
            launch = ["-m", "bot"]
        self.proc = await asyncio.create_subprocess_exec(
            sys.executable,
            *launch,
            *self.args,
            "run",
            *self.run_args,
            cwd=self.cwd,
            env=self.env,
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        self._reader = asyncio.create_task(self._read())
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()
            await self.proc.wait()
        if self._reader is not None:
            await self._reader

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stderr is not None
        async for raw in self.proc.stderr:
            self.lines.append(raw.decode(errors="replace").rstrip("\n"))

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    async def wait_for_line(self, pattern: str, timeout: float = 30.0) -> str:  # noqa: ASYNC109
        regex = re.compile(pattern)
        try:
            async with asyncio.timeout(timeout):
                while True:
                    for line in self.lines:
                        if regex.search(line):
                            return line
                    if self.proc is not None and self.proc.returncode is not None:
                        raise AssertionError(f"the bot exited early:\n{self.text[-3000:]}")
                    await asyncio.sleep(0.05)
        except TimeoutError:
            raise AssertionError(
                f"no log line matching {pattern!r} within {timeout:g} s:\n{self.text[-3000:]}"
            ) from None

    async def wait_exit(self, timeout: float) -> int:  # noqa: ASYNC109
        """The exit code, waited for at most ``timeout`` s (a bound, not a measurement)."""
        assert self.proc is not None
        try:
            async with asyncio.timeout(timeout):
                code = await self.proc.wait()
        except TimeoutError:
            raise AssertionError(
                f"the bot did not exit within {timeout:g} s:\n{self.text[-3000:]}"
            ) from None
        if self._reader is not None:
            await self._reader
        return code

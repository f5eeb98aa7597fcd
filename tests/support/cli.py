"""Running the real ``newsbot`` command in a subprocess, the way a user does."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
COLUMNS = 80


def cli_env(extra: dict | None = None) -> dict[str, str]:
    """The environment of a CLI run: no config or database from the caller, an 80-column
    terminal width, and nothing else that changes the output."""
    env = {
        k: v for k, v in os.environ.items() if not k.startswith("NEWSBOT_") and k != "DISCORD_TOKEN"
    }
    env.update({"COLUMNS": str(COLUMNS), "NO_COLOR": "1", "TERM": "dumb"})
    env.update(extra or {})
    return env


def newsbot(
    *args: str,
    env: dict | None = None,
    cwd: Path = ROOT,
    timeout: float = 120,
    module: str = "bot",
    session: bool = False,
) -> subprocess.CompletedProcess[str]:
    """``python -m bot ARGS`` (or another module with the same command line); ``session``: in a
    session (and process group) of its own."""
    return subprocess.run(
        [sys.executable, "-m", module, *args],
        check=False,
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=timeout,
        env=cli_env(env),
        start_new_session=session,
    )


def crashing(action: str, after: int, *args: str, **kwargs) -> subprocess.CompletedProcess[str]:
    """``newsbot ARGS`` with ``action`` injected after the ``after``-th committed ingest batch
    (see :mod:`tests.support.crashing_cli`): deterministic, no race with a timer."""
    env = {**(kwargs.pop("env", None) or {}), "CRASH_ACTION": action, "CRASH_AFTER": str(after)}
    return newsbot(*args, env=env, module="tests.support.crashing_cli", session=True, **kwargs)

"""The digest modules respect the layers: domain pure, services without Discord, apscheduler only
in bot/scheduler.py."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


@pytest.mark.parametrize(
    ("module", "forbidden"),
    [
        (
            "domain/digest.py",
            (
                "discord",
                "aiosqlite",
                "sqlite3",
                "apscheduler",
                "bot.storage",
                "bot.services",
                "bot.ui",
                "asyncio",
            ),
        ),
        (
            "domain/digest_messages.py",
            (
                "discord",
                "aiosqlite",
                "sqlite3",
                "apscheduler",
                "bot.storage",
                "bot.services",
                "bot.ui",
                "asyncio",
            ),
        ),
        ("storage/digests.py", ("discord", "apscheduler", "bot.services", "bot.ui")),
        ("services/digest.py", ("discord", "aiohttp", "apscheduler", "bot.ui")),
        ("services/digest_delivery.py", ("discord", "aiohttp", "apscheduler", "bot.ui")),
        ("services/digest_records.py", ("discord", "aiohttp", "apscheduler", "bot.ui")),
        ("services/digest_build.py", ("discord", "apscheduler", "bot.ui")),
        ("scheduler.py", ("discord", "bot.ui", "bot.storage")),
        ("ui/digest_render.py", ("apscheduler", "bot.storage")),
        ("ui/cogs/digest.py", ("apscheduler", "bot.storage")),
    ],
)
def test_digest_layers(module: str, forbidden: tuple[str, ...]) -> None:
    bad = {m for m in imports(BOT / module) for f in forbidden if m == f or m.startswith(f + ".")}
    assert not bad, f"{module} imports {sorted(bad)}"


def test_only_the_scheduler_imports_apscheduler() -> None:
    users = sorted(
        str(p.relative_to(BOT))
        for p in BOT.rglob("*.py")
        if any(m.split(".")[0] == "apscheduler" for m in imports(p))
    )
    assert users == ["scheduler.py"]

"""The Discord layer's imports: it uses the services only, and nothing below it knows Discord."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[1] / "bot"
# What the Discord layer never imports: the database, the parser, the scheduler's library.
UI_FORBIDDEN = ("sqlite3", "aiosqlite", "yaml", "apscheduler", "bot.storage", "bot.ingest")
BELOW_UI = ("domain", "ingest", "storage", "services")


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            found.add(node.module)
    return found


def _hits(names: set[str], forbidden: tuple[str, ...]) -> list[str]:
    return sorted(n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden))


@pytest.mark.parametrize("path", sorted((BOT / "ui").rglob("*.py")), ids=lambda p: p.name)
def test_the_discord_layer_uses_services_only(path):
    assert not _hits(imports(path), UI_FORBIDDEN)


@pytest.mark.parametrize(
    "path",
    sorted(p for layer in BELOW_UI for p in (BOT / layer).rglob("*.py")),
    ids=lambda p: f"{p.parent.name}/{p.name}",
)
def test_nothing_below_the_discord_layer_imports_discord(path):
    assert not _hits(imports(path), ("discord", "bot.ui", "bot.cli"))


def test_the_ui_package_never_shadows_discord():
    assert not (BOT / "discord").exists()
    for path in (BOT / "ui").rglob("*.py"):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = [n for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level]
        assert not relative, f"{path}: use absolute imports"

"""The Discord layer's imports: it uses the services only, and nothing below it knows Discord."""

from __future__ import annotations

import ast
import re
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


# -- the repository boundary: above storage, nobody sees a driver, a connection or SQL ---------
ABOVE_STORAGE = ("services", "ui", "cli", "scheduler.py")
# These two only format or report database failures (``newsbot db`` is the file-care command).
DRIVER_ALLOWED = {"cli/db.py", "cli/errors.py"}
DRIVERS = ("sqlite3", "aiosqlite", "psycopg", "psycopg_pool", "asyncpg")
_SQL = re.compile(
    r"\b(SELECT\s.+\sFROM|INSERT\s+(OR\s+\w+\s+)?INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"BEGIN(\s+IMMEDIATE|\s+DEFERRED)?\s*;?$|(COMMIT|ROLLBACK)\s*;?$|PRAGMA\s+\w+)",
    re.DOTALL,  # the code base writes SQL keywords in capitals
)


def _above_storage() -> list[Path]:
    found: list[Path] = []
    for part in ABOVE_STORAGE:
        target = BOT / part
        found.extend(sorted(target.rglob("*.py")) if target.is_dir() else [target])
    return found


def _rel(path: Path) -> str:
    return str(path.relative_to(BOT))


@pytest.mark.parametrize("path", _above_storage(), ids=_rel)
def test_no_database_driver_above_storage(path):
    if _rel(path) in DRIVER_ALLOWED:
        return
    assert not _hits(imports(path), DRIVERS), f"{_rel(path)}: use a repository of bot.storage"


@pytest.mark.parametrize("path", _above_storage(), ids=_rel)
def test_no_sql_above_storage(path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    sql = [
        node.value[:60]
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docs
        and _SQL.search(node.value)
    ]
    assert not sql, f"{_rel(path)} runs SQL {sql}: move it into a repository of bot.storage"


def test_the_boundary_check_sees_sql_and_drivers(tmp_path):
    """The two checks above can fail: a module with SQL and a driver import is caught."""
    bad = tmp_path / "bad.py"
    bad.write_text('import sqlite3\nQ = "SELECT id FROM items"\nB = "BEGIN IMMEDIATE"\n')
    tree = ast.parse(bad.read_text())
    texts = [n.value for n in ast.walk(tree) if isinstance(n, ast.Constant)]
    assert all(_SQL.search(t) for t in texts)
    assert _hits(imports(bad), DRIVERS) == ["sqlite3"]
    assert not _SQL.search("Select the stories from the pool")

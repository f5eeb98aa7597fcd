"""The ``newsbot`` command line through a real subprocess: options, help, streams, exit codes,
terminal width, JSON shapes, odd input, interruption and a full disk."""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.cli import build_parser
from bot.config import DigestConfig
from bot.services.digest import DigestService
from bot.storage.db import open_database
from tests.factories import SEEDS, related, write_article
from tests.support.backends import BACKENDS, rows
from tests.support.cli import COLUMNS, crashing, newsbot
from tests.support.storage import content

GUARDIAN = "https://www.theguardian.com/technology/2022/mar/24/ukraine-facial-recognition-identify-russian-soldiers"
ISO = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")


@pytest.fixture(scope="module", params=BACKENDS, ids=BACKENDS)
def seeded(request: pytest.FixtureRequest, tmp_path_factory) -> Iterator[str]:
    """The seed articles ingested by the CLI, in a SQLite file and in a PostgreSQL database."""
    if request.param == "sqlite":
        db = str(tmp_path_factory.mktemp("cli") / "seeds.db")
    else:
        server = request.getfixturevalue("pg_server")
        db = server.fresh()
    try:
        done = newsbot("--db", db, "ingest", str(SEEDS))
        assert done.returncode == 0, done.stderr
        yield db
    finally:
        if request.param != "sqlite":
            server.drop(db)


def _no_traceback(result) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout


# -- options, help ----------------------------------------------------------------------------
def test_global_options_work_before_or_after_the_command(seeded):
    before = newsbot("--db", seeded, "--json", "-v", "stats")
    after = newsbot("stats", "--db", seeded, "-v", "--json")
    assert before.returncode == after.returncode == 0, before.stderr + after.stderr
    assert json.loads(before.stdout)["articles"] == json.loads(after.stdout)["articles"] == 2
    mixed = newsbot("--json", "story", "#1", "--db", seeded)
    assert mixed.returncode == 0 and json.loads(mixed.stdout)["story_id"] == 1
    refused = newsbot("--json", "run", "--db", seeded)
    assert refused.returncode == 2 and "--json is not available" in refused.stderr


def test_newsbot_alone_and_help_list_every_command_on_one_line_each():
    commands = build_parser().get_default("_commands")
    for args in ((), ("help",)):
        shown = newsbot(*args)
        assert shown.returncode == 0 and shown.stderr == ""
        lines = shown.stdout.splitlines()
        for name, action in ((a.dest, a) for a in commands._choices_actions):
            (line,) = [ln for ln in lines if ln.startswith(name + " ")]
            assert action.help.split()[0] in line
    one = newsbot("help", "stories")
    assert one.returncode == 0 and "--min-quality" in one.stdout and "(default: 20)" in one.stdout
    assert "--db" in one.stdout  # the global options are listed with every command
    unknown = newsbot("help", "nope")
    assert unknown.returncode == 2 and unknown.stdout == "" and "newsbot help" in unknown.stderr


def _parsers(parser: argparse.ArgumentParser):
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in action.choices.values():
                yield from _parsers(sub)


def test_every_option_has_help_text_and_shows_its_default():
    for parser in _parsers(build_parser()):
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                continue
            assert action.help, f"{parser.prog} {action.dest}: no help text"
        text = parser.format_help()
        for action in parser._actions:
            default = action.default
            if action.option_strings and isinstance(default, int) and not isinstance(default, bool):
                assert f"(default: {default})" in text, f"{parser.prog} {action.dest}"


def test_read_commands_refuse_a_database_that_does_not_exist(tmp_path):
    typo = tmp_path / "typo.db"
    for args in (("search", "clearview"), ("stats",), ("preview",), ("digests", "list")):
        result = newsbot("--db", str(typo), *args)
        assert result.returncode == 2, result.stderr
        assert result.stdout == ""
        assert str(typo) in result.stderr and "newsbot ingest" in result.stderr
        assert not typo.exists()


def test_errors_go_to_stderr_and_name_cli_commands_not_slash_commands(seeded):
    result = newsbot("--db", seeded, "stories", "--topic", "nope", "--json")
    assert result.returncode == 1 and result.stdout == ""
    assert "No topic called “nope”. Run `newsbot topics` for the list." in result.stderr
    assert "/topics" not in result.stderr
    missing = newsbot("--db", seeded, "related", "https://nowhere.example/x")
    assert missing.returncode == 1 and missing.stdout == "" and "could not find" in missing.stderr
    ambiguous = newsbot("--db", seeded, "story", "1")
    assert ambiguous.returncode == 2 and "#1 for story 1" in ambiguous.stderr
    assert "newsbot stories" in ambiguous.stderr


# -- terminal output --------------------------------------------------------------------------
def test_text_output_fits_the_terminal_with_legend_plurals_and_more(seeded):
    for args in (
        ("preview",),
        ("story", "#1"),
        ("related", GUARDIAN),
        ("search", "clearview"),
        ("stories",),
        ("topics",),
        ("stats",),
    ):
        result = newsbot("--db", seeded, *args)
        assert result.returncode == 0, result.stderr
        _no_traceback(result)
        too_wide = [ln for ln in result.stdout.splitlines() if len(ln) > COLUMNS]
        assert too_wide == [], args
    preview = newsbot("--db", seeded, "preview").stdout
    assert "1 story" in preview and "1 stories" not in preview
    assert "14 outlets · 14 articles" in preview  # the one coverage count
    assert "… and 2 more (newsbot story #1 shows all)" in preview  # 12 of 14 rows shown
    assert "* lead article · A another loaded article" in preview  # the legend of the markers
    stats = newsbot("--db", seeded, "stats").stdout
    assert re.search(r"database size\s+\d+\.\d [KM]B", stats)  # a PostgreSQL database: MBs


def test_plural_of_one(tmp_path, db_target):
    src = tmp_path / "src"
    write_article(src, "a.md", "Alpha launches a rocket", "https://a.example/1")
    result = newsbot("--db", db_target, "ingest", str(src))
    assert result.stdout.startswith(
        "1 file: 1 new, 0 updated, 0 unchanged, 0 rejected; 0 related links"
    )


# -- JSON -------------------------------------------------------------------------------------
def _times(value, path=""):
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _times(v, f"{path}.{k}")
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _times(v, f"{path}[{i}]")
    elif path.endswith(("_at", "_start", "_end", "_published")) and value is not None:
        yield path, value


def test_every_json_output_is_one_object_with_iso_utc_times(seeded):
    outputs = {}
    for args in (
        ("stats",),
        ("topics",),
        ("stories",),
        ("story", "#1"),
        ("related", GUARDIAN),
        ("search", "clearview"),
        ("preview",),
        ("digests", "list"),
        ("digests", "status"),
    ):
        result = newsbot("--db", seeded, *args, "--json")
        assert result.returncode == 0, result.stderr
        data = json.loads(result.stdout)
        assert isinstance(data, dict), args
        for where, value in _times(data):
            assert ISO.match(value), (args, where, value)
        outputs[args[0]] = data
    assert outputs["topics"]["topics"][0].keys() == {"topic", "articles", "stories"}
    story = outputs["story"]
    assert (story["story"], story["outlets"], story["articles"]) == ("#1", 14, 14)
    assert story["lead"]["excerpt"] and story["lead"]["image_url"]
    assert len(story["coverage"]) == 14 and story["more_coverage"] == 0
    (shown,) = outputs["preview"]["stories"]  # the preview carries what its text shows
    assert len(shown["coverage"]) == 12 and shown["more_coverage"] == 2
    assert all("excerpt" in c and "image_url" in c for c in shown["coverage"])
    stories = outputs["stories"]["stories"]
    assert stories[0]["outlets"] == 14 and stories[0]["articles"] == 14


def test_ingest_problems_have_one_shape_and_warnings_are_summarised(tmp_path):
    src = tmp_path / "src"
    for i in range(3):
        write_article(
            src,
            f"w{i}.md",
            f"Story {i} with a broken related entry",
            f"https://w.example/{i}",
            related_items=[{"webUrl": f"https://r.example/{i}"}],  # no title: dropped
        )
    (src / "bad.md").write_text("no front matter here\n", encoding="utf-8")
    db = str(tmp_path / "n.db")
    text = newsbot("--db", db, "ingest", str(src))
    assert text.returncode == 1
    assert text.stdout.startswith("4 files: 3 new, 0 updated, 0 unchanged, 1 rejected;")
    assert "front matter" not in text.stdout  # the problems are on stderr
    assert "warning:" not in text.stderr  # summarised by kind, not one line each
    assert "3 warnings in 3 files" in text.stderr and "related: dropped" in text.stderr
    assert f"rejected: {(src / 'bad.md').resolve()}: " in text.stderr
    verbose = newsbot("--db", str(tmp_path / "v.db"), "ingest", str(src), "-v")
    assert verbose.stderr.count("warning: ") == 3
    data = json.loads(newsbot("--db", str(tmp_path / "j.db"), "ingest", str(src), "--json").stdout)
    for problem in data["rejected"] + data["warnings"]:
        assert problem.keys() == {"path", "kind", "message"}
    assert len(data["warnings"]) == 3
    assert {w["kind"] for w in data["warnings"]} == {"related: dropped: missing title"}


# -- odd input (issue 8 item 16) ----------------------------------------------------------------
@pytest.mark.parametrize(
    ("args", "code", "says"),
    [
        (("story", "²"), 1, "could not find an article"),
        (("story", "#²"), 1, "could not find an article"),
        (("story", "x\U0010ffff"), 1, "could not find an article"),
        (("story", "#99999999999999999999"), 1, "could not find"),
        (("stories", "--offset", "1e20"), 2, "not a whole number"),
        (("stories", "--offset", "100000000000000000000"), 2, "--offset"),
        (("preview", "--as-of", "0001-01-01"), 2, "1970-01-02"),
        (("stories", "--since", "0001-01-01"), 2, "1970-01-02"),
        (("search", "\U0010ffff"), 2, "at least one word"),
    ],
)
def test_odd_input_gets_one_friendly_line(seeded, args, code, says):
    result = newsbot("--db", seeded, *args)
    _no_traceback(result)
    assert result.returncode == code, result.stderr
    assert result.stdout == "" and says in result.stderr


def test_a_huge_relative_since_means_since_the_beginning(seeded):
    result = newsbot("--db", seeded, "stories", "--since", "99999999d", "--json")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["stories"]) == 1


# -- interruption, kill, full disk --------------------------------------------------------------
# SQLite only: these kill or starve a process writing a database FILE (signals mid-transaction,
# a file that cannot grow); the PostgreSQL server is another process, not under test here.
def _make(folder: Path, n: int) -> None:
    for i in range(n):
        write_article(
            folder,
            f"{i:04d}.md",
            f"Event {i} happens in world {i % 7}",
            f"https://site.example/{i}",
            published=f"2024-05-{1 + i % 28:02d}T10:00:00Z",
            related_items=[related(f"Outlet covers {i}", f"https://r.example/{i}", "2024-05-01")],
        )


@pytest.fixture(scope="module")
def many(tmp_path_factory) -> tuple[Path, Path]:
    root = tmp_path_factory.mktemp("many")
    src = root / "src"
    _make(src, 150)
    clean = root / "clean.db"
    assert newsbot("--db", str(clean), "ingest", str(src)).returncode == 0
    return src, clean


@pytest.mark.parametrize(
    ("action", "code", "word"), [("sigterm", 143, "stopped"), ("sigint", 130, "interrupted")]
)
def test_an_interrupted_ingest_ends_with_one_line_and_a_rerun_finishes(
    db_target, many, action, code, word
):
    src, clean = many
    db = db_target
    result = crashing(action, 1, "--db", db, "ingest", str(src), env={"CRASH_BATCH": "48"})
    assert result.returncode == code, result.stderr
    _no_traceback(result)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith(f"newsbot: ingest {word}: ")
    assert "in the database (committed)" in line and "again to finish the job" in line
    [(committed,)] = rows(db, "SELECT count(*) FROM files")
    assert 48 <= committed < 150
    assert newsbot("--db", db, "ingest", str(src)).returncode == 0
    assert content(db) == content(clean)


def test_ctrl_c_to_the_process_group_gives_no_parser_tracebacks(tmp_path):
    src = tmp_path / "src"
    _make(src, 300)  # enough files for the parser processes (not a thread)
    db = tmp_path / "n.db"
    result = crashing("ctrl-c", 1, "--db", str(db), "ingest", str(src), env={"CRASH_BATCH": "48"})
    assert result.returncode == 130, result.stderr
    _no_traceback(result)
    (line,) = result.stderr.strip().splitlines()
    assert line.startswith("newsbot: ingest interrupted: ") and "again to finish" in line
    assert newsbot("--db", str(db), "ingest", str(src)).returncode == 0


def test_a_killed_ingest_leaves_a_sound_database_and_a_rerun_matches_a_clean_run(db_target, many):
    src, clean = many
    db = db_target
    result = crashing("exit", 2, "--db", db, "ingest", str(src), env={"CRASH_BATCH": "48"})
    assert result.returncode == 9  # died right after the second batch committed
    if not db.startswith("postgresql://"):
        conn = sqlite3.connect(db)
        assert conn.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        conn.close()
    assert rows(db, "SELECT count(*) FROM files") == [(96,)]
    assert newsbot("--db", db, "ingest", str(src)).returncode == 0
    assert content(db) == content(clean)  # the clean run is on SQLite: the same content


def test_a_full_disk_is_one_clear_line_and_exit_code_3(tmp_path, many):
    """SQLite only: the full disk is injected as SQLITE_FULL (a capped page count)."""
    src, _ = many
    db = tmp_path / "full.db"
    result = crashing("full", 1, "--db", str(db), "ingest", str(src), env={"CRASH_BATCH": "48"})
    _no_traceback(result)
    assert result.returncode == 3, result.stderr
    (line,) = result.stderr.strip().splitlines()
    assert "is full" in line and str(db) in line and "run the command again" in line


# -- digests ------------------------------------------------------------------------------------
def test_digests_list_status_and_preview(db_target):
    db = db_target
    assert newsbot("--db", str(db), "ingest", str(SEEDS)).returncode == 0

    async def subscribe() -> int:
        async with open_database(db) as conn:
            service = DigestService(conn, DigestConfig())
            sub = await service.subscribe(
                guild_id=11, channel_id=22, time="08:00", timezone="Europe/London", name="Morning"
            )
            return sub.id

    sub_id = asyncio.run(subscribe())
    listed = json.loads(newsbot("--db", str(db), "digests", "list", "--json").stdout)
    (entry,) = listed["digests"]
    assert (entry["id"], entry["name"], entry["guild_id"], entry["time"]) == (
        sub_id,
        "Morning",
        11,
        "08:00",
    )
    text = newsbot("--db", str(db), "digests", "list")
    assert "Morning" in text.stdout and "1 digest" in text.stdout
    status = json.loads(newsbot("--db", str(db), "digests", "status", "--json").stdout)
    assert ISO.match(status["digests"][0]["next_run"]) and status["digests"][0]["last_run"] is None
    preview = newsbot("--db", str(db), "digests", "preview", str(sub_id), "--json")
    assert preview.returncode == 0, preview.stderr
    assert json.loads(preview.stdout)["digest"]["id"] == sub_id
    text = newsbot("--db", str(db), "digests", "preview", str(sub_id))
    assert text.returncode == 0 and f"Digest #{sub_id} Morning" in text.stdout
    missing = newsbot("--db", str(db), "digests", "preview", "999")
    assert missing.returncode == 1
    assert "No digest #999. Run `newsbot digests list` for the list." in missing.stderr


def test_database_failures_are_one_line_naming_the_file():
    import errno

    from bot.cli.errors import database_message
    from bot.storage.db import StorageBusy

    full = database_message(OSError(errno.ENOSPC, "No space left on device"), "/data/n.db")
    assert full.startswith("the disk holding /data/n.db is full") and "\n" not in full
    sqlite_full = database_message(sqlite3.OperationalError("database or disk is full"), "n.db")
    assert sqlite_full == full.replace("/data/n.db", "n.db")
    locked = database_message(StorageBusy("the database is busy: database is locked"), "n.db")
    assert "busy" in locked and locked.startswith("n.db: ")


def test_problem_kinds_drop_the_specifics():
    from bot.cli.data import problem_kind

    assert problem_kind("related[3]: dropped: missing title") == "related: dropped: missing title"
    assert problem_kind("related[12]: dropped: invalid webUrl: 'ftp://x'") == (
        "related: dropped: invalid webUrl"
    )
    assert problem_kind("") == "other"

"""Story grouping in the database: ids never reused, rebuild, batch independence, sent lists."""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.services.ingest import IngestService
from bot.services.stories import StoryService
from bot.storage.db import open_database
from tests.factories import SEEDS, write_article
from tests.support.backends import execute, rows
from tests.support.digest import Clock, FakePoster, make_service
from tests.support.stories import BACKGROUND

GUILD, CHANNEL = 100, 200


@pytest.fixture(autouse=True)
def _pyyaml_only(monkeypatch) -> None:
    """These tests ingest many times from fresh threads, which crashes yaml-rs 0.1.6 (issue 8,
    item 1, handled elsewhere); grouping does not depend on the parser, so parse with PyYAML."""
    import bot.ingest.yamlload as yamlload

    monkeypatch.setattr(yamlload, "_yaml_rs", None)


def stories_by_url(db_path: Path | str) -> list[set[str]]:
    groups: dict[int, set[str]] = {}
    for story, url in rows(db_path, "SELECT story_id, url FROM items WHERE story_id IS NOT NULL"):
        groups.setdefault(story, set()).add(url)
    return sorted(groups.values(), key=sorted)


def query(db_path: Path | str, sql: str, params: tuple = ()) -> list[tuple]:
    return rows(db_path, sql, params)


async def ingest(db_path: Path | str, *paths: Path, at: float | None = None) -> None:
    async with open_database(db_path) as db:
        kw = {"clock": lambda: at} if at is not None else {}
        report = await IngestService(db, workers=1, **kw).ingest([str(p) for p in paths])
        assert report.ok, report.rejected


def news_files(folder: Path, published: str = "2022-03-24T12:00:00Z") -> list[Path]:
    """Seeds plus a day of ordinary unrelated headlines, some of them twice (two outlets)."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = [Path(shutil.copy(p, folder / p.name)) for p in sorted(SEEDS.iterdir())]
    for i, title in enumerate(BACKGROUND):
        paths.append(
            write_article(
                folder, f"n{i:03d}.md", title, f"https://n{i}.example/a", published=published
            )
        )
    for i, title in enumerate(BACKGROUND[:8]):
        paths.append(
            write_article(
                folder,
                f"m{i:03d}.md",
                title.replace(" the ", " ") + " (update)",
                f"https://m{i}.example/b",
                published=published,
                provider="Other Outlet",
            )
        )
    return paths


# -- ids ---------------------------------------------------------------------------------------


async def test_story_ids_are_never_given_twice(tmp_path: Path, db_target: str) -> None:
    src = tmp_path / "src"
    write_article(
        src,
        "a.md",
        "Volcano erupts near Reykjavik airport",
        "https://a.example/1",
        excerpt="Lava flows toward the airport as Iceland evacuates Grindavik.",
        published="2024-05-01T08:00:00Z",
    )
    write_article(
        src,
        "b.md",
        "Quarterly earnings beat forecasts at bakery chain",
        "https://c.example/1",
        excerpt="Croissant sales lifted revenue.",
        published="2024-05-01T09:00:00Z",
    )
    db_path = db_target
    await ingest(db_path, src / "a.md", src / "b.md")
    # a story absorbed by a merge (the highest id) is deleted: SQLite would hand that id out again
    [(top,)] = query(db_path, "SELECT max(id) FROM stories")
    execute(
        db_path,
        "UPDATE items SET story_id = (SELECT min(id) FROM stories) WHERE story_id = ?",
        (top,),
    )
    execute(
        db_path,
        "INSERT INTO story_aliases(old_id, new_id) VALUES (?, (SELECT min(id) FROM stories))",
        (top,),
    )
    execute(db_path, "DELETE FROM stories WHERE id = ?", (top,))
    write_article(
        src,
        "c.md",
        "Zephyr scooter recall widens to Europe",
        "https://d.example/1",
        published="2024-05-01T10:00:00Z",
    )
    await ingest(db_path, src / "c.md")
    (new,) = query(db_path, "SELECT story_id FROM items WHERE url = 'https://d.example/1'")[0:1][0]
    assert new > top
    old_ids = {r[0] for r in query(db_path, "SELECT old_id FROM story_aliases")}
    assert not old_ids & {r[0] for r in query(db_path, "SELECT id FROM stories")}


# -- determinism and rebuild ---------------------------------------------------------------------


async def test_result_does_not_depend_on_batches(
    tmp_path: Path, db_target: str, another_db_target: str
) -> None:
    paths = news_files(tmp_path / "src")
    await ingest(db_target, *paths)
    for p in paths:  # one file per ingest run: every batch boundary possible
        await ingest(another_db_target, p)
    assert stories_by_url(db_target) == stories_by_url(another_db_target)


async def test_rebuild_equals_a_fresh_ingest_and_aliases_old_ids(
    tmp_path: Path, db_target: str, another_db_target: str
) -> None:
    paths = news_files(tmp_path / "src")
    db_path = db_target
    await ingest(db_path, *paths)
    before = stories_by_url(db_path)
    old_ids = {r[0] for r in query(db_path, "SELECT id FROM stories")}
    async with open_database(db_path) as db:
        report = await StoryService(db).rebuild()
    assert report.articles == len(paths)
    assert stories_by_url(db_path) == before
    await ingest(another_db_target, *paths)
    assert stories_by_url(another_db_target) == before
    new_ids = {r[0] for r in query(db_path, "SELECT id FROM stories")}
    assert min(new_ids) > max(old_ids)  # rebuilt stories get ids never given before
    aliases = dict(query(db_path, "SELECT old_id, new_id FROM story_aliases"))
    assert old_ids <= set(aliases) and set(aliases.values()) <= new_ids
    # the seed story survived the rebuild with its coverage
    seed = next(g for g in before if "https://www.theguardian.com" in " ".join(g))
    assert len(seed) > 5
    visible = query(db_path, "SELECT count(*) FROM stories WHERE article_count > 0")[0][0]
    assert visible > 0 and query(db_path, "SELECT count(*) FROM story_topics")[0][0] > 0


async def test_rebuild_is_one_transaction(tmp_path: Path, db_target: str) -> None:
    paths = news_files(tmp_path / "src")
    db_path = db_target
    await ingest(db_path, *paths)
    before = query(db_path, "SELECT id, story_id FROM items ORDER BY id")

    def boom(done: int, total: int) -> None:
        if done == total // 2:
            raise RuntimeError("killed half way")

    async with open_database(db_path) as db:
        with pytest.raises(RuntimeError):
            await StoryService(db).rebuild(boom)
    assert query(db_path, "SELECT id, story_id FROM items ORDER BY id") == before


def test_cli_stories_rebuild(tmp_path: Path, db_target: str, capsys) -> None:
    paths = news_files(tmp_path / "src")
    db_path = db_target
    assert main(["--db", str(db_path), "ingest", str(tmp_path / "src")]) == 0
    capsys.readouterr()
    assert main(["--db", str(db_path), "stories", "rebuild"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"regrouped {len(paths)} articles")
    assert main(["--db", str(db_path), "stories", "--json"]) == 0  # the listing still works
    assert capsys.readouterr().out.startswith("{")
    with pytest.raises(SystemExit):
        main(["--db", str(db_path), "stories", "rebuidl"])


# -- digests: "already sent" -------------------------------------------------------------------

DAY1 = datetime(2022, 3, 25, 8, 0, tzinfo=UTC)  # 08:00 London (GMT), the morning after the seeds


async def _subscribe(service):
    return await service.subscribe(
        guild_id=GUILD, channel_id=CHANNEL, time="08:00", timezone="Europe/London"
    )


def _posted(poster: FakePoster) -> list[int]:
    return [sid for p in poster.channel(CHANNEL) for sid in p.message.story_ids]


@pytest.mark.parametrize("rebuild", [False, True])
async def test_next_days_digest_does_not_repost_the_seed_story(
    tmp_path: Path, db_target: str, rebuild: bool
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    for p in sorted(SEEDS.iterdir()):
        shutil.copy(p, src / p.name)
    db_path = db_target
    await ingest(db_path, src, at=(DAY1 - timedelta(hours=2)).timestamp())
    seed_story = query(db_path, "SELECT story_id FROM items i JOIN files f ON f.item_id = i.id")
    assert len({r[0] for r in seed_story}) == 1  # the two seeds are one story
    clock = Clock(DAY1 - timedelta(days=1))
    poster = FakePoster()
    async with open_database(db_path) as db:
        service = make_service(db, clock, poster=poster)
        sub = await _subscribe(service)
        clock.set(DAY1)
        result = await service.run_scheduled(sub.id, now=DAY1)
    day1 = _posted(poster)
    assert day1, result
    assert seed_story[0][0] in day1
    if rebuild:
        async with open_database(db_path) as db:
            await StoryService(db).rebuild()
    # the next day: fresh coverage of the seed event and two new stories
    day2 = DAY1 + timedelta(days=1)
    new = tmp_path / "new"
    write_article(
        new,
        "x.md",
        "Ukraine uses facial recognition to identify dead Russian soldiers",
        "https://x.example/1",
        published="2022-03-25T10:00:00Z",
        excerpt="Clearview AI facial recognition identifies dead Russian soldiers.",
    )
    write_article(
        new,
        "y.md",
        "Volcano erupts near Reykjavik airport",
        "https://y.example/1",
        published="2022-03-25T11:00:00Z",
    )
    write_article(
        new,
        "z.md",
        "Bakery chain quarterly earnings beat forecasts",
        "https://z.example/1",
        published="2022-03-25T12:00:00Z",
    )
    await ingest(db_path, new, at=(day2 - timedelta(hours=3)).timestamp())
    async with open_database(db_path) as db:
        service = make_service(db, clock, poster=poster)
        clock.set(day2)
        await service.run_scheduled(sub.id, now=day2)
    day2_posted = _posted(poster)[len(day1) :]
    story_of = dict(query(db_path, "SELECT url, story_id FROM items"))
    seed_now = story_of["https://x.example/1"]
    assert seed_now not in day2_posted  # the seed event is not posted again
    assert story_of["https://y.example/1"] in day2_posted  # and new stories are not marked sent
    assert story_of["https://z.example/1"] in day2_posted


def test_similarity_reads_only_the_terms_the_held_story_needs(tmp_path: Path) -> None:
    """A story held in full against a stored one: the same cosine as both centroids loaded,
    without loading the stored story's every weight (issue 10, speed: the merge check).
    SQLite only: it drives the store's internals on a bare connection with explicit item ids."""
    from bot.domain.stories import StoryEngine, cosine
    from bot.storage.db import configure, migrate
    from bot.storage.stories import SqliteStore

    conn = sqlite3.connect(tmp_path / "s.db", isolation_level=None)
    configure(conn)
    migrate(conn, str(tmp_path / "s.db"))
    day = datetime(2022, 3, 24, tzinfo=UTC)
    titles = [
        "Titanfall beta opens to every Xbox One owner this weekend",
        "Titanfall open beta arrives on Xbox One and PC",
        "Respawn extends the Titanfall beta by a day",
        "Mt. Gox files for bankruptcy protection in Tokyo",
    ]
    for n, title in enumerate(titles, 1):
        conn.execute(
            "INSERT INTO items(id, url, title, first_seen_at, updated_at) VALUES (?, ?, ?, 0, 0)",
            (n, f"https://example.com/{n}", title),
        )
    conn.execute("BEGIN")
    store = SqliteStore(conn, 0)
    engine = StoryEngine(store)
    stored = [engine.add(n, t, None, day) for n, t in enumerate(titles[:3], 1)]
    store.write_stats()
    conn.execute("COMMIT")
    stored_story = stored[-1]

    conn.execute("BEGIN")
    fresh = SqliteStore(conn, 0)
    held = fresh.new_story()
    vec = StoryEngine(fresh).vector("Titanfall beta weekend on PC", None)
    fresh.add(held, 4, vec, day)
    got = fresh.similarity(held, stored_story)
    assert stored_story not in fresh._full  # only the needed weights were read
    assert got == fresh.similarity(stored_story, held)
    expected = cosine(fresh.centroid(held), fresh.centroid(stored_story))
    assert got > 0.0
    assert got == pytest.approx(expected, rel=1e-12)
    conn.execute("ROLLBACK")
    conn.close()

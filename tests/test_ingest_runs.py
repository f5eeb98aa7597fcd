"""Whole ingest runs: the seeds field by field, the CLI contract, a kill mid-way, the corpus; on
both backends (``db_target``) but the corpus."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.ingest.loader import expand_paths
from bot.ingest.parser import parse_article
from tests.factories import SEEDS, SHARED_CORPUS, write_article
from tests.support.backends import rows
from tests.support.cli import newsbot
from tests.support.storage import ingest

ROOT = Path(__file__).resolve().parents[1]
GUARDIAN = "https://www.theguardian.com/technology/2022/mar/24/ukraine-facial-recognition-identify-russian-soldiers"
GIZMODO = "https://gizmodo.com/clearview-ai-s-dystopian-face-rec-tech-now-being-used-t-1848697923"


async def test_seed_ingest_stores_exact_fields(db_target):
    report = await ingest(db_target, SEEDS)
    assert (report.files, report.new, report.rejected) == (2, 2, [])
    [row] = rows(
        db_target,
        "SELECT i.title, i.excerpt, i.published_at, i.quality, i.heat, p.name, p.domain, "
        "i.image_url, i.type, i.category FROM items i JOIN providers p ON p.id = i.provider_id "
        "WHERE i.url = ?",
        (GUARDIAN,),
    )
    assert row == (
        "Ukraine uses facial recognition software to identify Russian soldiers killed in combat",
        "The defense ministry began using technology from Clearview AI which scrapes images on "
        "the web to match uploaded photos",
        int(datetime(2022, 3, 24, 21, 38, tzinfo=UTC).timestamp()),
        66,
        -1,
        "The Guardian",
        "theguardian.com",
        "https://i.guim.co.uk/img/media/b1236187f5fc799d81709ad426146bccb186b4d6/0_187_5760_3456/"
        "master/5760.jpg?width=620&quality=85&auto=format&fit=max&s=dee9433c17da6c8c14788c605f7c32a3",
        "article",
        "news",
    )
    topics = [
        r[0]
        for r in rows(
            db_target,
            "SELECT t.name FROM item_topics it JOIN topics t ON t.id = it.topic_id "
            "JOIN items i ON i.id = it.item_id WHERE i.url = ? ORDER BY t.name",
            (GUARDIAN,),
        )
    ]
    assert topics == ["AI", "Computer Vision"]
    n_links = dict(
        rows(
            db_target,
            "SELECT i.url, count(*) FROM links l JOIN items i ON i.id = l.src_id GROUP BY i.url",
        )
    )
    assert n_links[GUARDIAN] == 11
    giz = rows(db_target, "SELECT quality, published_at FROM items WHERE url = ?", (GIZMODO,))
    assert giz == [(80, int(datetime(2022, 3, 24, 20, 25, tzinfo=UTC).timestamp()))]
    # the no-break space inside a related url is percent-encoded, not rejected
    bw = rows(db_target, "SELECT url FROM items WHERE url LIKE 'https://www.businesswire.com/%'")
    assert bw and all(" " not in u and "\xa0" not in u and "%" in u for (u,) in bw)


def test_cli_ingest_json_summary_and_exit_codes(tmp_path, db_target, another_db_target):
    src = tmp_path / "src"
    write_article(src, "a.md", "Alpha launches a rocket", "https://a.example/1")
    db = db_target
    ok = newsbot("--db", db, "ingest", "--json", str(src))
    assert ok.returncode == 0, ok.stderr
    summary = json.loads(ok.stdout)
    assert {k: summary[k] for k in ("files", "new", "updated", "unchanged", "rejected")} == {
        "files": 1,
        "new": 1,
        "updated": 0,
        "unchanged": 0,
        "rejected": [],
    }
    (src / "b.md").write_text("no front matter here\n", encoding="utf-8")
    bad = newsbot("--db", db, "ingest", str(src))
    assert bad.returncode == 1
    assert f"{(src / 'b.md').resolve()}: " in bad.stderr and "front matter" in bad.stderr
    stats = newsbot("--db", db, "stats", "--json")
    assert json.loads(stats.stdout)["articles"] == 1
    env_db = newsbot("ingest", "--json", str(src), env={"NEWSBOT_DB": another_db_target})
    assert env_db.returncode == 1  # b.md is still rejected; a.md went to the NEWSBOT_DB database
    assert rows(another_db_target, "SELECT url FROM items") == [("https://a.example/1",)]
    usage = newsbot("ingest")
    assert usage.returncode == 2
    cfg = tmp_path / "bad.toml"
    cfg.write_text("[digest]\ngrace_hours = 'six'\n")
    bad_cfg = newsbot("--config", str(cfg), "stats")
    assert bad_cfg.returncode == 2 and "grace_hours" in bad_cfg.stderr


# The kill mid-way is tests/test_cli.py::test_a_killed_ingest_leaves_a_sound_database_and_a_rerun_
# matches_a_clean_run: the crash is injected right after a known batch commits, not raced.


corpus = pytest.mark.skipif(not SHARED_CORPUS.is_dir(), reason="../shared/corpus is absent")


@corpus
async def test_whole_corpus_loads_and_counts_add_up(tmp_path):
    """SQLite only, for CI time: the whole corpus into PostgreSQL takes about 200 s
    (docs/scaling.md; bench/ingest.py --backend both loads it there and prints the rejections);
    the same code paths run on PostgreSQL in the smaller tests of both backends."""
    files, missing = expand_paths([str(SHARED_CORPUS)])
    assert missing == []
    urls = {parse_article(Path(f).read_bytes()).article.url for f in files}  # noqa: ASYNC240
    path = str(tmp_path / "corpus.db")
    report = await ingest(path, SHARED_CORPUS, workers=2)
    assert report.rejected == []
    assert report.files == len(files)
    assert report.new + report.updated + report.unchanged == len(files)
    assert report.new == len(urls)

    def count(sql: str) -> int:
        return rows(path, sql)[0][0]

    assert count("SELECT count(*) FROM items WHERE is_article = 1") == len(urls)
    assert count("SELECT count(*) FROM files WHERE error IS NULL") == len(files)
    assert count("SELECT count(*) FROM items WHERE removed = 1") == 1
    orphans = "SELECT count(*) FROM items WHERE is_article = 1 AND removed = 0 AND story_id IS NULL"
    assert count(orphans) == 0
    again = await ingest(path, SHARED_CORPUS, workers=2)
    assert (again.new, again.updated, again.unchanged, again.rejected) == (0, 0, len(files), [])


def test_every_query_command_works_from_the_cli_with_json(db_target):
    db = db_target
    assert newsbot("--db", db, "ingest", "seeds").returncode == 0
    preview = newsbot("--db", db, "preview", env={"COLUMNS": "200"})  # wide: urls shown too
    assert preview.returncode == 0, preview.stderr
    assert "No stories in the 24 hours" in preview.stdout  # the seeds are from 2022
    assert "Digest for 2022-03-24" in preview.stdout and "1 story" in preview.stdout
    assert "Ukraine uses facial recognition software" in preview.stdout
    assert "Clearview AI" in preview.stdout and "telegraph.co.uk" in preview.stdout

    def js(*args: str):
        out = newsbot("--db", db, *args, "--json")
        assert out.returncode == 0, out.stdout + out.stderr
        return json.loads(out.stdout)

    data = js("preview", "--as-of", "2022-03-25T20:00:00Z")
    assert not data["fell_back"] and len(data["stories"]) == 1
    assert data["stories"][0]["loaded_articles"] == 2
    topics = {t["topic"]: t["articles"] for t in js("topics")["topics"]}
    assert topics == {"AI": 2, "Computer Vision": 1}
    stories = js("stories", "--topic", "ai")["stories"]
    assert len(stories) == 1 and stories[0]["outlets"] >= 4
    story = js("story", GIZMODO)
    assert {i["url"] for i in story["coverage"]} >= {GIZMODO, GUARDIAN}
    related = js("related", GUARDIAN)
    assert related["article"]["url"] == GUARDIAN and len(related["related"]) == 11
    hits = js("search", "clearview dead soldiers")["results"]
    assert hits and all("id" in h and "score" in h for h in hits)
    missing = newsbot("--db", db, "related", "https://nowhere.example/x")
    assert missing.returncode == 1 and "could not find" in missing.stderr
    bad = newsbot("--db", db, "stories", "--min-quality", "lots")
    assert bad.returncode == 2 and "not a whole number" in bad.stderr

"""The services report to the events sink (digests posted / skipped / failed with their reason
and delay, ingest files by outcome), and no service imports the metrics or HTTP libraries."""

from __future__ import annotations

import ast
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.ops.metrics import Metrics
from bot.services.digest import PostForbidden
from bot.services.ingest import IngestService
from bot.storage.db import open_database
from tests.factories import write_article
from tests.support.digest import Article, Clock, FakePoster, ingest, make_service

GUILD, CHANNEL = 100, 200
DAY1 = datetime(2024, 6, 3, 7, 0, tzinfo=UTC)  # 08:00 London


class Recorder:
    def __init__(self) -> None:
        self.digests: list[tuple[str, str, float | None]] = []
        self.ingests: list[dict[str, int]] = []

    def command_finished(self, command: str, kind: str, outcome: str, seconds: float) -> None:
        pass

    def digest_finished(self, outcome: str, reason: str, delay_seconds: float | None) -> None:
        self.digests.append((outcome, reason, delay_seconds))

    def ingest_finished(self, files, seconds: float) -> None:
        self.ingests.append(dict(files))

    def feed_fetched(self, status: str, seconds: float) -> None:
        pass

    def feed_paused(self, reason: str) -> None:
        pass


@pytest.fixture
async def db(db_target: str):
    async with open_database(db_target) as database:
        yield database


async def setup(db, tmp_path, *, stories: int = 2, poster=None):
    clock = Clock(DAY1 - timedelta(days=1))
    if stories:
        articles = [Article(i, DAY1 - timedelta(hours=3), quality=60 + i) for i in range(stories)]
        await ingest(db, tmp_path / "a", articles, DAY1 - timedelta(hours=2))
    service = make_service(db, clock, poster=poster or FakePoster())
    recorder = Recorder()
    service.delivery.events = recorder
    sub = await service.subscribe(
        guild_id=GUILD, channel_id=CHANNEL, time="08:00", timezone="Europe/London"
    )
    return service, clock, recorder, sub


async def test_a_posted_digest_reports_its_delay_to_the_first_message(db, tmp_path):
    service, clock, recorder, sub = await setup(db, tmp_path)
    clock.set(DAY1 + timedelta(seconds=42))
    assert (await service.run_scheduled(sub.id, now=clock())).status == "sent"
    assert recorder.digests == [("posted", "", 42.0)]


async def test_failed_skipped_and_empty_digests_report_their_reason(db, tmp_path):
    poster = FakePoster()
    poster.failures[CHANNEL] = [PostForbidden("403 Missing Access")]
    service, clock, recorder, sub = await setup(db, tmp_path, poster=poster)
    clock.set(DAY1)
    await service.run_scheduled(sub.id, now=DAY1)
    clock.set(DAY1 + timedelta(days=1, hours=8))  # the next day's run missed by 8 h > grace
    await service.run_scheduled(sub.id, now=clock())
    assert recorder.digests == [("failed", "forbidden", None), ("skipped", "missed", None)]


async def test_an_empty_digest_is_reported_as_skipped_empty(db, tmp_path):
    service, clock, recorder, sub = await setup(db, tmp_path, stories=0)
    clock.set(DAY1)
    await service.run_scheduled(sub.id, now=DAY1)
    assert recorder.digests == [("skipped", "empty", None)]


async def test_ingest_reports_files_by_outcome(db, tmp_path):
    src = tmp_path / "src"
    write_article(src, "a.md", "First headline here", "https://e.example/a")
    write_article(src, "b.md", "Second headline here", "https://e.example/b")
    (src / "bad.md").write_text("no front matter at all", encoding="utf-8")
    service = IngestService(db, workers=1)
    recorder = Recorder()
    service.events = recorder
    await service.ingest([str(src)])
    await service.ingest([str(src)])
    assert recorder.ingests[0] == {"new": 2, "updated": 0, "unchanged": 0, "rejected": 1}
    assert recorder.ingests[1] == {"new": 0, "updated": 0, "unchanged": 2, "rejected": 1}


async def test_metrics_count_what_the_events_report():
    metrics = Metrics()
    metrics.digest_finished("posted", "", 12.0)
    metrics.digest_finished("failed", "forbidden", None)
    metrics.ingest_finished({"new": 3, "rejected": 1}, 0.5)
    metrics.feed_fetched("200", 0.2)
    metrics.feed_paused("gone")
    text = (await metrics.render()).decode()
    assert 'newsbot_digests_total{outcome="posted",reason=""} 1.0' in text
    assert 'newsbot_digests_total{outcome="failed",reason="forbidden"} 1.0' in text
    assert "newsbot_digest_delay_seconds_count 1.0" in text
    assert 'newsbot_ingest_files_total{outcome="new"} 3.0' in text
    assert 'newsbot_ingest_files_total{outcome="updated"} 0.0' in text  # present from the start
    assert 'newsbot_feed_fetches_total{status="200"} 1.0' in text
    assert 'newsbot_feed_pauses_total{reason="gone"} 1.0' in text


SERVICES = Path(__file__).resolve().parents[1] / "bot" / "services"


@pytest.mark.parametrize("path", sorted(SERVICES.rglob("*.py")), ids=lambda p: p.name)
def test_services_never_import_metrics_or_http_server_libraries(path):
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    bad = {n for n in names if n.split(".")[0] in ("prometheus_client", "aiohttp")}
    assert not bad and not any(n.startswith("bot.ops") for n in names)

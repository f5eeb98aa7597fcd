"""The running bot's rescans explain themselves: each rejected file logged once with its reason,
a missing source folder a warning naming ``[ingest] sources`` (not a rejected file)."""

from __future__ import annotations

import logging

from bot.services.ingest import IngestService
from bot.storage.db import open_database
from bot.ui.rescan import Rescanner
from tests.factories import write_article


async def test_rejected_files_are_logged_once_and_a_missing_folder_is_a_warning(
    tmp_path, caplog, db_target
):
    src = tmp_path / "src"
    write_article(src, "a.md", "Alpha launches a rocket", "https://a.example/1")
    (src / "bad.md").write_text("no front matter here\n", encoding="utf-8")
    missing = tmp_path / "not-there"
    caplog.set_level(logging.INFO, logger="bot.ui.rescan")
    async with open_database(db_target) as db:
        rescanner = Rescanner(IngestService(db, workers=1), [str(src), str(missing)], 0)
        for _ in range(3):
            report = await rescanner.run_once()
            assert report is not None
            assert [r["path"] for r in report.rejected] == [str((src / "bad.md").resolve())]
        rejected = [r for r in caplog.records if "rejected file" in r.getMessage()]
        assert len(rejected) == 1 and "front matter" in rejected[0].getMessage()
        assert rejected[0].levelno == logging.WARNING
        warned = [r for r in caplog.records if "[ingest] sources" in r.getMessage()]
        assert len(warned) == 1 and str(missing) in warned[0].getMessage()
        # the folder appears: loaded at the next run, and said so
        write_article(missing, "b.md", "Beta lands a probe", "https://b.example/1")
        report = await rescanner.run_once()
        assert report is not None and report.new == 1
        assert any("exists now" in r.getMessage() for r in caplog.records)
        # the same reason again: still not logged again
        (src / "bad.md").write_text("still no front matter, new reason?\n", encoding="utf-8")
        await rescanner.run_once()
        assert len([r for r in caplog.records if "rejected file" in r.getMessage()]) == 1

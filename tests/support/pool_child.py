"""Child-process programs for the parser-pool tests (run as ``python -m tests.support.pool_child
WHAT FOLDER``), so that a native crash shows as a return code instead of killing the test run.

* ``threads``: the issue's reproducer: the YAML loader used in thread A, A joined, then thread B;
* ``stress``: the rescanner of ``newsbot run`` with a short interval, files added between rescans
  (small rescans parse in the parse thread, large ones in the parser processes);
* ``hold``: starts the parser processes, prints their pids and the resource tracker's, waits.
"""

from __future__ import annotations

import asyncio
import json
import sys
import threading
from pathlib import Path


def threads() -> int:
    """Thread A imports the parser (as the old loader did, lazily in its parse thread) and
    parses; A is joined; then new threads parse. yaml_rs 0.1.6 used to crash here (SIGSEGV)."""
    from tests.factories import article_text, related

    sample = article_text(
        "A title",
        "https://t.example/a",
        related_items=[related("Rel", "https://t.example/b", "2024-05-01T09:00:00Z")],
    ).encode()

    def use() -> None:
        from bot.ingest.loader import parse_batch  # noqa: F401 - the import is the point
        from bot.ingest.parser import parse_article
        from bot.ingest.yamlload import load_front_matter

        load_front_matter("a: 1\ntitle: plain text\nn: 5\n")
        parse_article(sample)

    for _ in range(5):
        worker = threading.Thread(target=use)
        worker.start()
        worker.join()
    print(json.dumps({"yaml_rs_loaded": "yaml_rs" in sys.modules}))
    return 0


def _add(folder: Path, start: int, count: int) -> None:
    """Add ``count`` files at once: written in a hidden folder (never scanned), then renamed.
    Plain front matter, so that the parser processes take the yaml_rs fast path."""
    staging = folder / f".new{start}"
    staging.mkdir(parents=True)
    for i in range(start, start + count):
        (staging / f"{i:05d}.md").write_text(
            "---\n"
            f"title: Headline {i} about thing {i * 31 % 97}\n"
            f"webUrl: https://stress.example/{i}\n"
            f"publishedDateTime: 2024-05-{1 + i % 28:02d}T10:00:00Z\n"
            "quality: 50\n"
            "topics:\n  - AI\n"
            "---\nBody.\n",
            encoding="utf-8",
        )
    staging.rename(folder / f"batch{start}")


async def stress(folder: Path) -> int:
    from bot.services.ingest import PROCESS_THRESHOLD, IngestService
    from bot.storage.db import open_database
    from bot.ui.rescan import Rescanner

    src = folder / "src"
    _add(src, 0, 3)
    added = 3
    rounds = 40
    async with open_database(folder / "db.sqlite") as db, IngestService(db, workers=1) as service:
        rescanner = Rescanner(service, [str(src)], interval=0.01)
        rescanner.start()
        for run in range(1, rounds + 1):
            await rescanner.wait_runs(run)
            # mostly small additions (parse thread); twice a large one (parser processes)
            count = PROCESS_THRESHOLD + 10 if run in (6, 25) else 1 + run % 3
            await asyncio.to_thread(_add, src, added, count)
            added += count
        await rescanner.wait_runs(rounds + 1)
        await rescanner.stop()
        report = await service.ingest([str(src)])
        (articles,) = await db.fetchone("SELECT count(*) FROM items WHERE is_article = 1")
        print(
            json.dumps(
                {
                    "runs": rescanner.runs,
                    "added": added,
                    "articles": articles,
                    "rejected": report.rejected,
                    "restarts": service.pool.restarts,
                    "pool_started": service.pool.started,
                    "yaml_rs_loaded": "yaml_rs" in sys.modules,
                }
            )
        )
    return 0


async def hold(folder: Path) -> int:
    from multiprocessing import resource_tracker

    from bot.services.ingest import PROCESS_THRESHOLD, IngestService
    from bot.storage.db import open_database

    src = folder / "src"
    _add(src, 0, PROCESS_THRESHOLD + 5)
    async with open_database(folder / "db.sqlite") as db, IngestService(db, workers=2) as service:
        await service.ingest([str(src)])
        tracker = getattr(resource_tracker._resource_tracker, "_pid", None)
        print(json.dumps({"workers": service.pool.pids(), "tracker": tracker}), flush=True)
        await asyncio.sleep(3600)  # killed by the test
    return 0


def main() -> int:
    what, folder = sys.argv[1], Path(sys.argv[2])
    if what == "threads":
        return threads()
    if what == "stress":
        return asyncio.run(stress(folder))
    if what == "hold":
        return asyncio.run(hold(folder))
    raise SystemExit(f"unknown program {what}")


if __name__ == "__main__":
    raise SystemExit(main())

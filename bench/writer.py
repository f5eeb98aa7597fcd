"""CPU of the two sides of a cold ingest, measured apart (the machine's load moves wall times).

    python bench/writer.py [PATH] [--runs N]      (default PATH: ../shared/corpus)

(p) parser side: what a parser process does for every file (read, parse with the fast YAML
    path, pack for the process boundary, pickle), one process, CPU seconds;
(w) writer side: what the ingesting process does with those results (unpickle, unpack,
    ``write_batch`` in transactions of 100 files into an empty SQLite database: rows, links,
    story grouping), CPU seconds, each run into a new database.
``--baseline-no-anchor``: each run also writes once with the candidate search's anchor filter
    off (``SqliteStore.postings`` without ``span``: the same postings, every story row read),
    alternating, so the two are compared on the same machine state; the stories are checked
    to be the same.
``--baseline-rewrite-related``: the same with the cache of related rows written switched off
    (every related entry of every list upserted, as before it); also prints the related-item
    rows sent to the upsert either way and checks the item rows are the same.
A cold ``newsbot ingest`` runs (p) and (w) on two cores at once, so its wall time is about the
larger of the two on an idle machine, and their sum when the machine has no core to spare.
"""

from __future__ import annotations

import argparse
import pickle
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.domain.models import SourceFile  # noqa: E402
from bot.ingest.loader import expand_paths  # noqa: E402
from bot.ingest.wire import Unpacker, parse_batch_packed  # noqa: E402
from bot.storage.articles import write_batch  # noqa: E402
from bot.storage.db import configure, migrate  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "corpus"
CHUNK = 48  # files per parse job, as bot/services/ingest.py
WRITE_BATCH = 100  # files per write transaction, as bot/services/ingest.py


def parse_side(files: list[str]) -> tuple[float, list[bytes]]:
    started = time.process_time()
    chunks = [
        pickle.dumps(parse_batch_packed([(f, None) for f in files[i : i + CHUNK]], 10_000_000))
        for i in range(0, len(files), CHUNK)
    ]
    return time.process_time() - started, chunks


def write_side(
    chunks: list[bytes], folder: str, run: int, related_rows: list[int] | None = None
) -> float:
    """Writer CPU seconds; ``related_rows``: add the rows the related upsert runs for."""
    path = f"{folder}/writer-{run}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    configure(conn)
    migrate(conn, path)
    if related_rows is not None:

        def traced(sql: str) -> None:  # called for every row an executemany runs
            if sql.startswith(_RELATED_UPSERT):
                related_rows[0] += 1

        conn.set_trace_callback(traced)
    started = time.process_time()
    unpacker = Unpacker()
    pending = []
    for chunk in chunks:
        pending.extend(unpacker.unpack(pickle.loads(chunk)))
        while len(pending) >= WRITE_BATCH:
            batch, pending = pending[:WRITE_BATCH], pending[WRITE_BATCH:]
            _write(conn, batch)
    if pending:
        _write(conn, pending)
    took = time.process_time() - started
    conn.close()
    return took


def _write(conn: sqlite3.Connection, results: list) -> None:
    entries = [
        (SourceFile(r.path, r.size, r.mtime_ns, r.digest), r.parsed, r.error) for r in results
    ]
    write_batch(conn, entries, int(time.time()))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--baseline-no-anchor", action="store_true")
    parser.add_argument("--baseline-rewrite-related", action="store_true")
    args = parser.parse_args()
    if args.baseline_no_anchor or args.baseline_rewrite_related:
        compare(args.path, args.runs, "anchor" if args.baseline_no_anchor else "related")
        return
    from bot.ingest.yamlload import enable_fast_path

    enable_fast_path()  # as in a parser process (this benchmark is its own process)
    paths, _missing = expand_paths([args.path])  # in the order an ingest reads them
    print(f"corpus: {args.path} ({len(paths)} files), {args.runs} runs, CPU seconds")
    parse_times, write_times = [], []
    with tempfile.TemporaryDirectory(prefix="newsbot-writer-") as folder:
        for run in range(args.runs):
            took, chunks = parse_side(paths)
            parse_times.append(took)
            write_times.append(write_side(chunks, folder, run))
            p, w = parse_times[-1], write_times[-1]
            print(f"  run {run + 1}: (p) parser {p:6.2f} s   (w) writer {w:6.2f} s")
    for label, times in (("(p) parser side", parse_times), ("(w) writer side", write_times)):
        print(f"{label}: min {min(times):6.2f} s  median {statistics.median(times):6.2f} s")


def _select(path: str, sql: str) -> list[tuple]:
    conn = sqlite3.connect(path)
    found = conn.execute(sql).fetchall()
    conn.close()
    return found


def _partition(path: str) -> list[list[int]]:
    found = _select(
        path,
        "SELECT story_id, group_concat(id) FROM (SELECT story_id, id FROM items "
        "WHERE story_id IS NOT NULL ORDER BY id) GROUP BY story_id",
    )
    return sorted(sorted(int(i) for i in ids.split(",")) for _, ids in found)


class _Forgetful(dict):
    """A dict that keeps nothing: the writer's cache of related rows written, switched off."""

    def __setitem__(self, key, value) -> None:
        pass


def _anchor_switch(off: bool) -> None:
    from bot.storage.story_store import SqliteStore

    real = _ORIGINAL.setdefault("postings", SqliteStore.postings)

    def unfiltered(self, terms, lo, hi, limit, vector=(), linked=(), *, span=None):
        return real(self, terms, lo, hi, limit, vector, linked)

    SqliteStore.postings = unfiltered if off else real  # type: ignore[method-assign]


def _related_switch(off: bool) -> None:
    from bot.storage import article_lookups

    cls = article_lookups._Lookups
    real = _ORIGINAL.setdefault("lookups_init", cls.__init__)

    def forgetful(self, conn):
        real(self, conn)
        self.related_fields = _Forgetful()

    cls.__init__ = forgetful if off else real  # type: ignore[method-assign]


_ORIGINAL: dict = {}
_BASELINES = {
    # name: (switch, what the baseline lacks)
    "anchor": (_anchor_switch, "anchor filter"),
    "related": (_related_switch, "related rows written once per change"),
}
_RELATED_UPSERT = "INSERT INTO items(url, title, excerpt, published_at, provider_id, quality, image"


def compare(path: str, runs: int, baseline: str) -> None:
    """Writer CPU with one optimisation switched off and on, alternating in this process, the
    stories checked to be the same (and, for ``related``, the rows of the related upsert)."""
    switch, what = _BASELINES[baseline]
    from bot.ingest.yamlload import enable_fast_path

    enable_fast_path()
    paths, _missing = expand_paths([path])
    print(f"corpus: {path} ({len(paths)} files), {runs} runs each, writer CPU seconds")
    _took, chunks = parse_side(paths)
    times: dict[bool, list[float]] = {True: [], False: []}
    sent: dict[bool, int] = {}
    with tempfile.TemporaryDirectory(prefix="newsbot-writer-") as folder:
        for run in range(runs):
            for off in (True, False):
                switch(off)
                counter = [0]
                times[off].append(write_side(chunks, folder, 2 * run + (not off), counter))
                sent[off] = counter[0]
            switch(False)
            off_s, on_s = times[True][-1], times[False][-1]
            print(f"  run {run + 1}: {what} off {off_s:6.2f} s, on {on_s:6.2f} s")
        same = _partition(f"{folder}/writer-0.db") == _partition(f"{folder}/writer-1.db")
        rows_same = _related_rows(f"{folder}/writer-0.db") == _related_rows(f"{folder}/writer-1.db")
    best_off, best_on = min(times[True]), min(times[False])
    print(
        f"(w) writer, min of {runs}: {what} off {best_off:6.2f} s, "
        f"on {best_on:6.2f} s = {best_on / best_off:.2f} x"
    )
    print(f"    related-item rows sent to the upsert: off {sent[True]:,}, on {sent[False]:,}")
    print(f"    the same stories either way: {same}; the same item rows: {rows_same}")


def _related_rows(path: str) -> list[tuple]:
    return _select(
        path,
        "SELECT url, title, excerpt, published_at, provider_id, quality, image_url, type, "
        "is_article, story_id IS NULL FROM items ORDER BY url",
    )


if __name__ == "__main__":
    main()

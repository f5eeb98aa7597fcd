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


def write_side(chunks: list[bytes], folder: str, run: int) -> float:
    path = f"{folder}/writer-{run}.db"
    conn = sqlite3.connect(path, isolation_level=None)
    conn.row_factory = sqlite3.Row
    configure(conn)
    migrate(conn, path)
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
    args = parser.parse_args()
    if args.baseline_no_anchor:
        compare_anchor(args.path, args.runs)
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


def _partition(path: str) -> list[list[int]]:
    conn = sqlite3.connect(path)
    found = conn.execute(
        "SELECT story_id, group_concat(id) FROM (SELECT story_id, id FROM items "
        "WHERE story_id IS NOT NULL ORDER BY id) GROUP BY story_id"
    ).fetchall()
    conn.close()
    return sorted(sorted(int(i) for i in ids.split(",")) for _, ids in found)


def compare_anchor(path: str, runs: int) -> None:
    from bot.ingest.yamlload import enable_fast_path
    from bot.storage.story_store import SqliteStore

    enable_fast_path()
    paths, _missing = expand_paths([path])
    print(f"corpus: {path} ({len(paths)} files), {runs} runs each, writer CPU seconds")
    _took, chunks = parse_side(paths)
    real = SqliteStore.postings

    def unfiltered(self, terms, lo, hi, limit, vector=(), linked=(), *, span=None):
        return real(self, terms, lo, hi, limit, vector, linked)

    off: list[float] = []
    on: list[float] = []
    with tempfile.TemporaryDirectory(prefix="newsbot-writer-") as folder:
        for run in range(runs):
            SqliteStore.postings = unfiltered  # type: ignore[method-assign]
            off.append(write_side(chunks, folder, 2 * run))
            SqliteStore.postings = real  # type: ignore[method-assign]
            on.append(write_side(chunks, folder, 2 * run + 1))
            print(f"  run {run + 1}: anchor filter off {off[-1]:6.2f} s, on {on[-1]:6.2f} s")
        same = _partition(f"{folder}/writer-0.db") == _partition(f"{folder}/writer-1.db")
    best_off, best_on = min(off), min(on)
    print(
        f"(w) writer, min of {runs}: anchor filter off {best_off:6.2f} s, "
        f"on {best_on:6.2f} s = {best_on / best_off:.2f} x"
    )
    print(f"    the same stories either way: {same}")


if __name__ == "__main__":
    main()

"""CPU of the two sides of a cold ingest, measured apart (the machine's load moves wall times).

    python bench/writer.py [PATH] [--runs N]      (default PATH: ../shared/corpus)

(p) parser side: what a parser process does for every file (read, parse with the fast YAML
    path, pack for the process boundary, pickle), one process, CPU seconds;
(w) writer side: what the ingesting process does with those results (unpickle, unpack,
    ``write_batch`` in transactions of 100 files into an empty SQLite database: rows, links,
    story grouping), CPU seconds, each run into a new database.
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
    args = parser.parse_args()
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


if __name__ == "__main__":
    main()

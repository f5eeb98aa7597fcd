"""Ingest benchmark: prints the figures the ingest issue names, in one run.

    python bench/ingest.py [PATH] [--backend sqlite|postgresql|both] [--pg ADMIN_URL]
                           [--pg-prefix NAME]
                                          (default PATH: ../shared/corpus)

(a) baseline: PyYAML's libyaml ``CSafeLoader`` parsing every file's front matter, one process;
(b) cold ingest: ``newsbot ingest PATH`` into an empty database (a subprocess, all cores);
(c) re-ingest of the unchanged files into the same database;
(d) peak RSS of the largest ingest process (the CLI or one of its parser workers).
Bars: cold <= 0.5 x baseline, re-ingest <= 0.05 x cold, peak RSS <= 300 MB.
With PostgreSQL (``--pg`` or ``NEWSBOT_BENCH_PG``, an admin url; default backend both then):
(e) cold ingest and (f) re-ingest into a new PostgreSQL database (dropped after), side by side
with SQLite's. Bar: PostgreSQL cold ingest <= 2 x SQLite's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.ingest.loader import expand_paths  # noqa: E402
from bot.ingest.parser import split_front_matter  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "corpus"


def baseline(files: list[str]) -> tuple[float, int]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    texts = []
    total = 0
    for f in files:
        raw = Path(f).read_bytes()
        total += len(raw)
        text = raw.decode("utf-8-sig").replace("\r\n", "\n")
        texts.append(split_front_matter(text)[0])
    started = time.perf_counter()
    for text in texts:
        yaml.load(text, Loader=loader)
    return time.perf_counter() - started, total


def ingest(db: Path | str, path: Path) -> tuple[float, dict]:
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--db", str(db), "ingest", "--json", str(path)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    elapsed = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"ingest failed ({proc.returncode}):\n{proc.stderr}")
    return elapsed, json.loads(proc.stdout)


def pg_ingest(admin: str, path: Path, prefix: str) -> tuple[float, float, dict]:
    """Cold and warm ingest of ``path`` into a new PostgreSQL database, dropped after."""
    import psycopg

    name = f"{prefix}_ingest_{os.getpid()}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    url = f"{admin.rsplit('/', 1)[0]}/{name}"
    try:
        cold, summary = ingest(url, path)
        warm, _ = ingest(url, path)
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    return cold, warm, summary


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("path", nargs="?", default=str(DEFAULT))
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"))
    parser.add_argument("--pg", default=os.environ.get("NEWSBOT_BENCH_PG"), help="admin url")
    parser.add_argument("--pg-prefix", default="newsbot_bench", help="database name prefix")
    args = parser.parse_args()
    backend = args.backend or ("both" if args.pg else "sqlite")
    if backend != "sqlite" and not args.pg:
        sys.exit("--backend postgresql/both needs --pg ADMIN_URL or NEWSBOT_BENCH_PG")
    path = Path(args.path)
    if not path.exists():
        sys.exit(f"{path} does not exist; pass a folder of article files")
    files, _ = expand_paths([str(path)])
    print(f"corpus: {path} ({len(files)} files)")
    base, size = baseline(files)
    print(f"(a) baseline  PyYAML CSafeLoader, 1 process : {base:7.2f} s  ({size / 1e6:.1f} MB)")
    cold = 0.0
    with tempfile.TemporaryDirectory() as tmp:
        if backend == "postgresql":
            pg_report(args.pg, path, None, args.pg_prefix)
            return
        db = Path(tmp) / "bench.db"
        cold, summary = ingest(db, path)
        print(
            f"(b) cold ingest into an empty database     : {cold:7.2f} s  "
            f"= {cold / base:.2f} x baseline (bar 0.50)  "
            f"[{summary['new']} new, {summary['updated']} updated, "
            f"{summary['unchanged']} unchanged, {len(summary['rejected'])} rejected]"
        )
        warm, summary = ingest(db, path)
        print(
            f"(c) re-ingest, files unchanged             : {warm:7.2f} s  "
            f"= {warm / cold:.3f} x cold (bar 0.05)  [{summary['unchanged']} unchanged]"
        )
        size_mb = sum(p.stat().st_size for p in Path(tmp).iterdir()) / 1e6
    rss = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    print(f"(d) peak RSS of the largest ingest process  : {rss:7.1f} MB (bar 300)")
    print(f"    database size after ingest              : {size_mb:7.1f} MB")
    if backend == "both":
        pg_report(args.pg, path, cold, args.pg_prefix)


def pg_report(admin: str, path: Path, sqlite_cold: float | None, prefix: str) -> None:
    cold, warm, summary = pg_ingest(admin, path, prefix)
    versus = f"= {cold / sqlite_cold:.2f} x SQLite (bar 2.00)  " if sqlite_cold else ""
    print(
        f"(e) PostgreSQL cold ingest, new database   : {cold:7.2f} s  {versus}"
        f"[{summary['new']} new, {summary['updated']} updated, "
        f"{summary['unchanged']} unchanged, {len(summary['rejected'])} rejected]"
    )
    print(f"(f) PostgreSQL re-ingest, files unchanged  : {warm:7.2f} s  = {warm / cold:.3f} x cold")


if __name__ == "__main__":
    main()

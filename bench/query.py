"""Query benchmark: p50/p99 of every query-service method against the bare SQL it runs.

    python bench/query.py [CORPUS] [--scaled N] [--runs R] [--backend sqlite|postgresql|both]
                          [--pg ADMIN_URL] [--pg-prefix NAME] [--pg-drop]

The backend defaults to both when ``--pg`` or ``NEWSBOT_BENCH_PG`` (an admin url of a PostgreSQL
server) is given, else sqlite; with both, the two are printed side by side.

Builds (and caches under the system temp folder) two SQLite databases: the whole corpus, and one
scaled to N articles (default 100,000) generated from the corpus by copying each article with a
new url, a varied title, and its dates shifted by whole quarters, so copies never join each
other's stories. Their names carry the schema version and ``GENERATOR`` (``corpus-s9g2.db``), so
a stale cache is rebuilt, and a build is renamed into place only when complete. PostgreSQL's are
``db copy``s of those (same rows and ids), named PREFIX_corpus_s9g2 and PREFIX_scaled_N_s9g2
(default prefix newsbot_bench), kept for the next run unless ``--pg-drop``.

For each query it prints the service method's latency (through the database threads, as the bot
and the CLI call it) next to the same storage function run directly on a bare connection.
Bars: p99 <= 10 ms at corpus scale, <= 50 ms at 100k.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.pg_bench import PgBench  # noqa: E402
from bot.domain.models import RelatedItem, SourceFile  # noqa: E402
from bot.ingest.loader import expand_paths, parse_batch  # noqa: E402
from bot.services.ingest import IngestService  # noqa: E402
from bot.services.query import QueryService  # noqa: E402
from bot.storage import queries as q  # noqa: E402
from bot.storage import search as search_db  # noqa: E402
from bot.storage.articles import write_batch  # noqa: E402
from bot.storage.copy import copy_database  # noqa: E402
from bot.storage.db import configure, migrate, open_database  # noqa: E402
from bot.storage.dialect import parse_target  # noqa: E402
from bot.storage.migrations import SCHEMA_VERSION  # noqa: E402

DEFAULT = ROOT.parent / "shared" / "corpus"
CACHE = Path(tempfile.gettempdir()) / "newsbot-bench"


# Bump when build_scaled_db's output changes: with the schema version it names the cached
# databases, so a cache built by older code or for an older schema is never measured.
GENERATOR = 2


def cache_key() -> str:
    return f"s{SCHEMA_VERSION}g{GENERATOR}"


def sqlite_cache(name: str) -> Path:
    """The cached SQLite database ``name`` (``corpus``, ``scaled-N``) for this schema and
    generator."""
    return CACHE / f"{name}-{cache_key()}.db"


def _partial(path: Path) -> Path:
    return path.with_name(f"{path.stem}.partial-{os.getpid()}.db")


def _publish(partial: Path, path: Path) -> str:
    """Give a finished SQLite build its cached name (an interrupted one is never reused)."""
    conn = sqlite3.connect(partial)
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # everything in the file itself
    conn.close()
    for side in ("-wal", "-shm"):
        Path(f"{partial}{side}").unlink(missing_ok=True)
    os.replace(partial, path)
    return str(path)


def _to_postgres(pg: PgBench, name: str, sqlite_path: str) -> str:
    """The PostgreSQL twin of a cached SQLite database, made by ``db copy`` (same rows, same
    ids), analyzed, and cached under a name keyed like the SQLite file."""
    full = f"{name}_{cache_key()}"
    if pg.exists(full):
        return pg.url(full)
    pg.drop_stale(name, keep=full)
    started = time.perf_counter()
    report = copy_database(sqlite_path, pg.create_partial(full))
    if not report.ok:
        sys.exit(f"db copy into PostgreSQL {full}: counts differ: {report.to_dict()}")
    pg.finish(full)
    print(f"  copied {name} into PostgreSQL in {time.perf_counter() - started:.0f} s")
    return pg.url(full)


async def build_corpus_db(corpus: Path, pg: PgBench | None = None) -> str:
    path = sqlite_cache("corpus")
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        partial = _partial(path)
        async with open_database(partial) as db:
            await IngestService(db).ingest([str(corpus)])
        _publish(partial, path)
    return _to_postgres(pg, "corpus", str(path)) if pg is not None else str(path)


def _connect(target: str, *, create: bool = False):
    """A bare connection to ``target`` (sqlite3, or the PostgreSQL adapter), migrated when
    ``create``."""
    parsed = parse_target(target)
    if parsed.dialect == "postgresql":
        from bot.storage.pg import connect

        return connect(parsed.location)
    conn = sqlite3.connect(parsed.location, isolation_level=None)
    configure(conn)
    if create:
        migrate(conn, parsed.location)
    return conn


def build_scaled_db(corpus: Path, n: int, pg: PgBench | None = None) -> str:
    """The corpus scaled to ``n`` articles, built on SQLite (cached), then copied into
    PostgreSQL when ``pg``."""
    path = sqlite_cache(f"scaled-{n}")
    if not path.exists():
        CACHE.mkdir(exist_ok=True)
        _generate(corpus, n, _partial(path))
        _publish(_partial(path), path)
    return _to_postgres(pg, f"scaled_{n}", str(path)) if pg is not None else str(path)


def _generate(corpus: Path, n: int, target: Path) -> None:
    files, _ = expand_paths([str(corpus)])
    base = [r.parsed for r in parse_batch([(f, None) for f in files], 5_000_000) if r.parsed]
    conn = _connect(str(target), create=True)
    started = time.perf_counter()
    batch, copy, made = [], 0, 0
    while made < n:
        for parsed in base:
            if made >= n:
                break
            shift = timedelta(days=91 * copy)
            a = parsed.article
            related = tuple(
                RelatedItem(
                    f"{r.url}{'&' if '?' in r.url else '?'}copy={copy}",
                    r.title if copy == 0 else f"{r.title} ({copy})",
                    r.excerpt,
                    r.published_at + shift if r.published_at else None,
                    r.provider,
                    r.quality,
                    r.image_url,
                    r.type,
                )
                for r in a.related[:8]
            )
            article = replace(
                a,
                url=f"{a.url}{'&' if '?' in a.url else '?'}copy={copy}",
                title=a.title if copy == 0 else f"{a.title} ({copy})",
                published_at=a.published_at + shift,
                related=related,
            )
            src = SourceFile(f"/generated/{copy}/{made}.md", 1, copy, f"{made:032x}")
            batch.append((src, replace(parsed, article=article), None))
            made += 1
            if len(batch) >= 1000:
                write_batch(conn, batch, int(time.time()))
                batch = []
        copy += 1
    if batch:
        write_batch(conn, batch, int(time.time()))
    conn.close()
    print(f"  built {target.name}: {made} articles in {time.perf_counter() - started:.0f} s")


def pct(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def inputs(conn, runs: int, seed: int = 7) -> dict:
    rnd = random.Random(seed)
    topics = [r[0] for r in conn.execute("SELECT name FROM topics WHERE article_count > 0")]
    articles = [
        r
        for r in conn.execute(
            "SELECT id, title, url FROM items WHERE is_article = 1 AND removed = 0 "
            "ORDER BY random() LIMIT 2000"
        )
    ]
    stories = [
        r[0]
        for r in conn.execute(
            "SELECT id FROM stories WHERE article_count > 0 ORDER BY random() LIMIT 2000"
        )
    ]
    last = conn.execute("SELECT max(published_at) FROM items WHERE is_article = 1").fetchone()[0]
    words = [w for _, t, _ in articles for w in t.split() if len(w) > 4]
    return {
        "topic": [rnd.choice(topics) for _ in range(runs)],
        "article": [rnd.choice(articles) for _ in range(runs)],
        "story": [rnd.choice(stories) for _ in range(runs)],
        "word": [" ".join(rnd.sample(words, rnd.choice((1, 2)))) for _ in range(runs)],
        "prefix": [rnd.choice(articles)[1][: rnd.randint(3, 12)] for _ in range(runs)],
        "as_of": [
            datetime.fromtimestamp(last - rnd.randint(0, 400) * 86400, UTC) for _ in range(runs)
        ],
        "last": datetime.fromtimestamp(last, UTC),
    }


def cases(service: QueryService, data: dict):
    """(name, async service call, bare storage call) per query; i is the sample index."""
    week = lambda i: data["as_of"][i] - timedelta(days=7)  # noqa: E731
    ts = lambda d: int(d.timestamp())  # noqa: E731

    def topic_id(c, i):
        return q.topic_by_name(c, data["topic"][i])[0]

    return [
        (
            "topics",
            lambda i: service.topics(limit=25),
            lambda c, i: q.topics(c, since=None, until=None, limit=26, offset=0),
        ),
        (
            "topics --since 7d",
            lambda i: service.topics(since=week(i), limit=25),
            lambda c, i: q.topics(c, since=ts(week(i)), until=None, limit=26, offset=0),
        ),
        (
            "stories",
            lambda i: service.stories(limit=10),
            lambda c, i: q.stories(
                c, topic_id=None, min_quality=None, since=None, until=None, limit=11, offset=0
            ),
        ),
        (
            "stories --topic",
            lambda i: service.stories(topic=data["topic"][i], limit=10),
            lambda c, i: q.stories(
                c,
                topic_id=topic_id(c, i),
                min_quality=None,
                since=None,
                until=None,
                limit=11,
                offset=0,
            ),
        ),
        (
            "stories --topic --min-q --since",
            lambda i: service.stories(
                topic=data["topic"][i], min_quality=60, since=week(i), limit=10
            ),
            lambda c, i: q.stories(
                c,
                topic_id=topic_id(c, i),
                min_quality=60,
                since=ts(week(i)),
                until=None,
                limit=11,
                offset=0,
            ),
        ),
        (
            "story",
            lambda i: service.story(data["story"][i]),
            lambda c, i: (q.story(c, data["story"][i]), q.story_coverage(c, data["story"][i], 500)),
        ),
        (
            "related (by url)",
            lambda i: service.related(data["article"][i][2]),
            lambda c, i: q.related_coverage(c, data["article"][i][0], 11, 0),
        ),
        (
            "search",
            lambda i: service.search(data["word"][i]),
            lambda c, i: search_db.search(
                c, data["word"][i], quality_weight=0.5, limit=11, offset=0
            ),
        ),
        (
            "autocomplete",
            lambda i: service.title_choices(data["prefix"][i]),
            lambda c, i: search_db.title_matches(c, data["prefix"][i], 25),
        ),
        (
            "digest preview",
            lambda i: service.digest_preview(as_of=data["as_of"][i]),
            lambda c, i: q.stories_in_window(
                c,
                since=ts(data["as_of"][i]) - 86400,
                until=ts(data["as_of"][i]) + 1,
                topic_ids=None,
                min_quality=None,
                limit=10,
            ),
        ),
    ]


async def measure(target: str, runs: int) -> dict[str, tuple[float, float, float, float]]:
    """Per query: (service p50, service p99, bare SQL p50, bare SQL p99) in ms."""
    conn = _connect(target)
    data = inputs(conn, runs)
    out = {}
    async with open_database(target) as db:
        service = QueryService(db, clock=lambda: data["last"])
        for name, call, bare in cases(service, data):
            svc, raw = [], []
            for i in range(runs):
                t0 = time.perf_counter()
                await call(i)
                svc.append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                bare(conn, i)
                raw.append((time.perf_counter() - t0) * 1000)
            out[name] = (statistics.median(svc), pct(svc, 99), statistics.median(raw), pct(raw, 99))
    conn.close()
    return out


def report(results: dict[str, dict], bar: float) -> bool:
    """Print one backend as before, or several side by side; whether every service p99 is
    within ``bar``."""
    ok = True
    backends = list(results)
    if len(backends) == 1:
        print(f"  {'query':34} {'service p50':>11} {'p99':>8}   {'bare SQL p50':>12} {'p99':>8}")
    else:
        head = "".join(f" | {b + ' p50':>15} {'p99':>8} {'bare p99':>9}" for b in backends)
        print(f"  {'query':34}{head}")
    for name in results[backends[0]]:
        cells, over = [], False
        for b in backends:
            p50, p99, raw50, raw99 = results[b][name]
            over |= p99 > bar
            if len(backends) == 1:
                cells.append(f" {p50:9.2f}ms {p99:6.2f}ms   {raw50:10.2f}ms {raw99:6.2f}ms")
            else:
                cells.append(f" | {p50:13.2f}ms {p99:6.2f}ms {raw99:7.2f}ms")
        ok &= not over
        print(f"  {name:34}{''.join(cells)}{'   OVER BAR' if over else ''}")
    return ok


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("corpus", nargs="?", default=str(DEFAULT))
    parser.add_argument("--scaled", type=int, default=100_000, help="0: corpus only")
    parser.add_argument("--runs", type=int, default=300)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"))
    parser.add_argument("--pg", default=os.environ.get("NEWSBOT_BENCH_PG"), help="admin url")
    parser.add_argument("--pg-prefix", default="newsbot_bench")
    parser.add_argument("--pg-drop", action="store_true", help="drop the PG databases after")
    args = parser.parse_args()
    backend = args.backend or ("both" if args.pg else "sqlite")
    if backend != "sqlite" and not args.pg:
        sys.exit("--backend postgresql/both needs --pg ADMIN_URL or NEWSBOT_BENCH_PG")
    corpus = Path(args.corpus)
    if not corpus.exists():  # noqa: ASYNC240 - before any concurrent work starts
        sys.exit(f"{corpus} does not exist")
    pg = PgBench(args.pg, args.pg_prefix) if backend != "sqlite" else None
    names = ["sqlite", "postgresql"] if backend == "both" else [backend]
    try:
        ok = True
        phases = [("corpus", 10.0, lambda b: build_corpus_db(corpus, b))]
        if args.scaled > 0:  # --scaled 0: the corpus database only
            phases.append((f"scaled ({args.scaled} articles)", 50.0, None))
        for label, bar, build in phases:
            results = {}
            for name in names:
                owner = pg if name == "postgresql" else None
                target = (
                    await build(owner)
                    if build is not None
                    else build_scaled_db(corpus, args.scaled, owner)
                )
                conn = _connect(target)
                count = conn.execute("SELECT count(*) FROM items WHERE is_article = 1")
                articles = count.fetchone()[0]
                conn.close()
                results[name] = await measure(target, args.runs)
            print(f"{label} database ({articles} articles), bar p99 <= {bar:g} ms:")
            ok &= report(results, bar)
        print("all bars met" if ok else "SOME BARS MISSED")
    finally:
        if pg is not None and args.pg_drop:
            pg.drop_all()


if __name__ == "__main__":
    asyncio.run(main())

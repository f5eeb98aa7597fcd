"""Story grouping benchmark: prints, in one run, the figures the stories issue names.

    python bench/stories.py [--dev PATH] [--corpus [PATH]] [--scale N] [--templated N]

(a) the labelled dev slice (default ../shared/storyeval/dev): B-cubed P/R/F1, number of stories,
    largest story against the largest true one, grouping time per article (median, p99), for
    newsbot (a real ``IngestService`` ingest into a temporary database; the time per article is
    measured by replaying the grouping with ``stories rebuild``) and for a single-pass TF-IDF
    reference on the same titles (its best threshold, chosen on the same files: flattering);
(b) robustness: the dev slice split in two halves by time, and in two halves by story label;
    newsbot's fixed settings on each, and a threshold grid tuned on the first time half and
    measured on the second (and vice versa);
(c) with ``--corpus``: the shared corpus ingested, story counts and its largest stories;
(d) candidate search bounded: grouping cost per article for the first and the last 1,000 of
    ``--scale`` generated items (default 100,000), and the time to group ``--templated``
    (default 50,000) templated titles ("Sector Update: Consumer #N") against as many random ones.

Absolute times depend on the machine and its load; compare figures of one run.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import itertools
import math
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bot.domain.stories import DEFAULT_SETTINGS, StorySettings  # noqa: E402
from bot.domain.story_memory import Doc, group  # noqa: E402
from bot.services.ingest import IngestService  # noqa: E402
from bot.storage.db import configure, migrate, open_database  # noqa: E402
from bot.storage.stories import StoryGrouper  # noqa: E402
from bot.storage.story_rebuild import rebuild_stories  # noqa: E402

SHARED = ROOT.parent / "shared"
WINDOW = 3 * 86400


def bcubed(pred: list, true: list) -> tuple[float, float, float]:
    pc, tc, both = Counter(pred), Counter(true), Counter(zip(pred, true, strict=True))
    p = sum(both[(a, b)] / pc[a] for a, b in zip(pred, true, strict=True)) / len(pred)
    r = sum(both[(a, b)] / tc[b] for a, b in zip(pred, true, strict=True)) / len(pred)
    return p, r, 2 * p * r / (p + r) if p + r else 0.0


def line(name: str, pred: list, true: list, times: list[float] | None = None) -> str:
    p, r, f = bcubed(pred, true)
    sizes = Counter(pred)
    out = (
        f"{name:<34} P {p:.3f}  R {r:.3f}  F1 {f:.3f}  stories {len(sizes):>4}  "
        f"largest {max(sizes.values()):>4} (true {max(Counter(true).values())})"
    )
    if times:
        times = sorted(times)
        p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
        out += f"  median {statistics.median(times) * 1e3:.3f} ms  p99 {p99 * 1e3:.3f} ms"
    return out


# -- the TF-IDF reference ---------------------------------------------------------------------
_WORD = re.compile(r"(?u)\b\w\w+\b")  # scikit-learn's default token pattern


def tfidf_single_pass(titles: list[str], stamps: list[float], threshold: float):
    """Each title joins the cluster whose centroid is most similar (cosine, +-3 days), if at
    least ``threshold``, else starts one. IDF: smoothed, over all the titles (as a fitted
    vectoriser would). Returns (labels, seconds per title)."""
    docs = [Counter(_WORD.findall(t.lower())) for t in titles]
    df: Counter[str] = Counter()
    for d in docs:
        df.update(d.keys())
    n = len(docs)
    idf = {t: math.log((1 + n) / (1 + c)) + 1 for t, c in df.items()}
    centroids: list[dict[str, float]] = []
    spans: list[list[float]] = []
    postings: dict[str, set[int]] = defaultdict(set)
    labels, times = [], []
    for d, ts in zip(docs, stamps, strict=True):
        t0 = time.perf_counter()
        vec = {t: c * idf[t] for t, c in d.items()}
        norm = math.sqrt(sum(v * v for v in vec.values())) or 1.0
        vec = {t: v / norm for t, v in vec.items()}
        cands: set[int] = set()
        for t in vec:
            cands |= postings[t]
        best, best_sim = -1, threshold
        for c in sorted(cands):
            lo, hi = spans[c]
            if not lo - WINDOW <= ts <= hi + WINDOW:
                continue
            cen = centroids[c]
            cn = math.sqrt(sum(v * v for v in cen.values())) or 1.0
            sim = sum(v * cen.get(t, 0.0) for t, v in vec.items()) / cn
            if sim >= best_sim:
                best, best_sim = c, sim
        if best < 0:
            best = len(centroids)
            centroids.append({})
            spans.append([ts, ts])
        cen = centroids[best]
        for t, v in vec.items():
            cen[t] = cen.get(t, 0.0) + v
            postings[t].add(best)
        spans[best] = [min(spans[best][0], ts), max(spans[best][1], ts)]
        labels.append(best)
        times.append(time.perf_counter() - t0)
    return labels, times


def best_tfidf(rows: list[dict]) -> tuple[float, list, list[float]]:
    titles = [r["title"] for r in rows]
    stamps = [int(r["timestamp"]) / 1000 for r in rows]
    true = [r["story"] for r in rows]
    best = None
    grid = [0.02 + 0.01 * k for k in range(9)] + [0.15 + 0.05 * k for k in range(15)]
    for thr in grid:
        labels, times = tfidf_single_pass(titles, stamps, thr)
        f = bcubed(labels, true)[2]
        if best is None or f > best[0]:
            best = (f, thr, labels, times)
    assert best is not None
    return best[1], best[2], best[3]


# -- newsbot on the dev slice -----------------------------------------------------------------
def truth_rows(dev: Path) -> list[dict]:
    with (dev / "truth.tsv").open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    return sorted(rows, key=lambda r: r["file"])


async def ingest_into(db_path: Path, paths: list[str]) -> float:
    async with open_database(db_path) as db:
        started = time.perf_counter()
        report = await IngestService(db).ingest(paths)
        seconds = time.perf_counter() - started
    if report.rejected:
        print(f"  ({len(report.rejected)} files rejected, e.g. {report.rejected[0]})")
    return seconds


def stories_by_file(db_path: Path) -> dict[str, int]:
    conn = sqlite3.connect(db_path)
    try:
        return {
            Path(path).name: story
            for path, story in conn.execute(
                "SELECT f.path, i.story_id FROM files f JOIN items i ON i.id = f.item_id"
            )
        }
    finally:
        conn.close()


def timed_rebuild(db_path: Path) -> list[float]:
    conn = sqlite3.connect(db_path, isolation_level=None)
    configure(conn)
    stamps: list[float] = []

    def progress(done: int, total: int) -> None:
        stamps.append(time.perf_counter())

    start = time.perf_counter()
    rebuild_stories(conn, int(time.time()), progress)
    conn.close()
    edges = [start, *stamps]
    return [b - a for a, b in itertools.pairwise(edges)]


def engine_labels(rows: list[dict], settings: StorySettings) -> list[int]:
    docs = [
        Doc(r["title"], None, datetime.fromtimestamp(int(r["timestamp"]) / 1000, UTC)) for r in rows
    ]
    labels = [0] * len(docs)
    for k, members in enumerate(group(docs, settings=settings)):
        for i in members:
            labels[i] = k
    return labels


def dev_figures(dev: Path) -> None:
    rows = truth_rows(dev)
    true = [r["story"] for r in rows]
    print(f"== dev slice: {dev} ({len(rows)} headlines, {len(set(true))} true stories)")
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "dev.db"
        seconds = asyncio.run(ingest_into(db_path, [str(dev / "articles")]))
        by_file = stories_by_file(db_path)
        pred = [by_file[r["file"]] for r in rows]
        times = timed_rebuild(db_path)
        rebuilt = stories_by_file(db_path)
    same = bcubed([rebuilt[r["file"]] for r in rows], pred)[2]
    print(line("newsbot (ingest, SQLite)", pred, true, times))
    print(f"  ingest of the slice {seconds:.2f} s; rebuild reproduces the ingest: F1 {same:.3f}")
    thr, labels, ref_times = best_tfidf(rows)
    print(line(f"TF-IDF single pass (best thr {thr:.2f})", labels, true, ref_times))

    print("== robustness: halves of the dev slice by time")
    half = len(rows) // 2
    parts = {"first half": rows[:half], "second half": rows[half:]}
    for name, part in parts.items():
        print(line(f"newsbot defaults, {name}", engine_labels(part, DEFAULT_SETTINGS), _true(part)))
    print("== robustness: halves of the dev slice by story label (every other label, shuffled)")
    labels = sorted({r["story"] for r in rows})
    random.Random(1).shuffle(labels)
    chosen = set(labels[::2])
    for name, keep in (("labels A", True), ("labels B", False)):
        part = [r for r in rows if (r["story"] in chosen) == keep]
        print(line(f"newsbot defaults, {name}", engine_labels(part, DEFAULT_SETTINGS), _true(part)))
    grid = [0.125, 0.15, 0.175, 0.2, 0.225, 0.25]
    for tune, test in (("first half", "second half"), ("second half", "first half")):
        scores = []
        for t in grid:
            s = replace(DEFAULT_SETTINGS, join_threshold=t, merge_threshold=t)
            scores.append((bcubed(engine_labels(parts[tune], s), _true(parts[tune]))[2], t))
        f_tuned, t_best = max(scores)
        s = replace(DEFAULT_SETTINGS, join_threshold=t_best, merge_threshold=t_best)
        print(
            f"  tuned on {tune}: threshold {t_best} (F1 {f_tuned:.3f} there); "
            + line(f"on {test}", engine_labels(parts[test], s), _true(parts[test])).strip()
        )
        thr_ref, _, _ = best_tfidf(parts[tune])
        stamps = [int(r["timestamp"]) / 1000 for r in parts[test]]
        ref, _ = tfidf_single_pass([r["title"] for r in parts[test]], stamps, thr_ref)
        print(
            f"  TF-IDF tuned on {tune} (thr {thr_ref:.2f}): "
            + line(f"on {test}", ref, _true(parts[test])).strip()
        )


def _true(rows: list[dict]) -> list[str]:
    return [r["story"] for r in rows]


# -- the shared corpus ------------------------------------------------------------------------
def corpus_figures(corpus: Path) -> None:
    print(f"== shared corpus: {corpus}")
    with tempfile.TemporaryDirectory() as tmp:
        db_path = Path(tmp) / "corpus.db"
        seconds = asyncio.run(ingest_into(db_path, [str(corpus)]))
        conn = sqlite3.connect(db_path)
        items, stories, multi, in_multi = conn.execute(
            "SELECT (SELECT count(*) FROM items), count(*), "
            "count(*) FILTER (WHERE item_count > 1), "
            "coalesce(sum(item_count) FILTER (WHERE item_count > 1), 0) FROM stories"
        ).fetchone()
        print(
            f"  ingest {seconds:.1f} s; {items} items, {stories} stories, {multi} with more than "
            f"one item ({in_multi} items in them)"
        )
        for sid, n, providers in conn.execute(
            "SELECT id, item_count, provider_count FROM stories ORDER BY item_count DESC, id "
            "LIMIT 12"
        ).fetchall():
            titles = [
                t
                for (t,) in conn.execute(
                    "SELECT title FROM items WHERE story_id = ? ORDER BY published_at, id", (sid,)
                )
            ]
            sample = " | ".join(t[:60] for t in titles[:: max(1, len(titles) // 4)][:4])
            print(f"  {n:>4} items, {providers:>3} outlets: {sample}")
        conn.close()


# -- bounded candidate search -----------------------------------------------------------------
_SYLLABLES = [
    "ka",
    "ri",
    "mo",
    "ta",
    "ne",
    "shi",
    "lu",
    "po",
    "ve",
    "da",
    "zi",
    "gor",
    "bel",
    "tan",
    "mur",
    "sol",
    "vek",
    "dra",
    "lin",
    "qua",
]


def _word(rng: random.Random) -> str:
    return "".join(rng.choice(_SYLLABLES) for _ in range(rng.randint(2, 4)))


def generated_titles(n: int, seed: int = 7) -> list[tuple[str, int]]:
    """Titles of generated stories (1-20 items sharing three key words plus Zipf-ish filler),
    published over 60 days in order."""
    rng = random.Random(seed)
    vocab = [_word(rng) for _ in range(20_000)]
    weights = [1 / (k + 1) for k in range(len(vocab))]
    out: list[tuple[str, int]] = []
    t0 = 1_600_000_000
    while len(out) < n:
        keys = [rng.choice(vocab) for _ in range(3)]
        at = t0 + int(len(out) / n * 60 * 86400)
        for _ in range(rng.randint(1, 20)):
            filler = rng.choices(vocab, weights, k=4)
            words = rng.sample(keys, 2) + filler
            rng.shuffle(words)
            out.append((" ".join(words), at + rng.randint(0, 6 * 3600)))
    return out[:n]


def group_items(titles: list[tuple[str, int]]) -> list[float]:
    """Insert items and group each (as ingest does, one transaction); seconds per item."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    configure(conn)
    migrate(conn)
    conn.executemany(
        "INSERT INTO items(id, url, title, published_at, first_seen_at, updated_at, is_article) "
        "VALUES (?, ?, ?, ?, 0, 0, 1)",
        [(i + 1, f"https://g.example/{i}", t, at) for i, (t, at) in enumerate(titles)],
    )
    conn.execute("BEGIN")
    grouper = StoryGrouper(conn, 0)
    times = []
    for i in range(len(titles)):
        t = time.perf_counter()
        grouper.add_item_group(i + 1, [])
        times.append(time.perf_counter() - t)
    conn.execute("COMMIT")
    conn.close()
    return times


def scale_figures(scale: int, templated: int) -> None:
    print(f"== candidate search: {scale:,} generated items")
    times = group_items(generated_titles(scale))
    head, tail = times[:1000], times[-1000:]
    print(
        f"  per item: first 1,000 median {statistics.median(head) * 1e3:.3f} ms, "
        f"last 1,000 (at {scale:,} items) median {statistics.median(tail) * 1e3:.3f} ms, "
        f"p99 {sorted(tail)[989] * 1e3:.3f} ms"
    )
    rng = random.Random(3)
    sectors = ["Consumer", "Energy", "Health Care", "Industrials", "Financials", "Technology"]
    start = 1_600_000_000
    tmpl = [
        (f"Sector Update: {rng.choice(sectors)} #{i}", start + i * 60) for i in range(templated)
    ]
    words = [_word(rng) for _ in range(5000)]
    rand = [
        (" ".join(rng.choice(words) for _ in range(5)), start + i * 60) for i in range(templated)
    ]
    t_tmpl, t_rand = sum(group_items(tmpl)), sum(group_items(rand))
    print(
        f"  {templated:,} templated titles grouped in {t_tmpl:.1f} s, {templated:,} random "
        f"titles in {t_rand:.1f} s (ratio {t_tmpl / t_rand:.2f})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dev", type=Path, default=SHARED / "storyeval" / "dev")
    parser.add_argument("--corpus", nargs="?", type=Path, const=SHARED / "corpus")
    parser.add_argument("--scale", type=int, default=100_000)
    parser.add_argument("--templated", type=int, default=50_000)
    args = parser.parse_args()
    if not args.dev.is_dir():
        sys.exit(f"{args.dev}: no such folder (the labelled dev slice)")
    dev_figures(args.dev)
    if args.corpus:
        corpus_figures(args.corpus)
    if args.scale or args.templated:
        scale_figures(args.scale, args.templated)


if __name__ == "__main__":
    main()

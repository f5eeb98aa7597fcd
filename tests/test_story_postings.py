"""The candidate search's date filter (issue 10, speed: candidate search bounded).

Every centroid weight keeps an ``anchor``, a date inside its story's span, so that the search
skips far-off stories' postings without reading their story row. These tests pin that the anchor
stays inside the span however a story grows (items dated earlier and later, merges), that the
search with the filter returns exactly what the unfiltered search does, and that it does skip.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from bot.domain.stories import StorySettings
from bot.storage.stories import SqliteStore
from tests.factories import related, write_article
from tests.support.backends import connection, execute, rows
from tests.support.ingest import ingest_at

T0 = 1_700_000_000
DAY = timedelta(days=1)
START = datetime(2024, 5, 1, 10, tzinfo=UTC)


def _stamp(day: float) -> str:
    return (START + day * DAY).strftime("%Y-%m-%dT%H:%M:%SZ")


def _files(src: Path) -> None:
    """Falcon stories over six weeks: one that grows earlier and later (items out of date
    order) and absorbs another through a related list, and single ones in between."""
    n = 0

    def article(title: str, day: float, **kw: Any) -> None:
        nonlocal n
        n += 1
        write_article(src, f"{n:02d}.md", title, f"https://n{n}.example/a",
                      published=_stamp(day), **kw)  # fmt: skip

    article("Falcon rocket lands on a drone ship at sea", 10)
    article("Falcon rocket landing on drone ship filmed", 8)  # earlier than its story
    article("Falcon rocket drone ship landing video", 12)  # later
    article("Falcon heavy rocket static fire test", 11, related_items=[
        related("Falcon heavy static fire completed", "https://r.example/1", _stamp(9)),
        related("Falcon rocket lands on a drone ship at sea", "https://n1.example/a", _stamp(10)),
    ])  # fmt: skip
    for day, title in enumerate(
        ["Falcon chicks hatch at the city zoo", "Falcon mascot unveiled by the club",
         "Falcon statue restored in the old square", "Falcon sightings rise in the valley",
         "Falcon jets grounded after inspection", "Falcon cafe opens its second branch"]
    ):  # fmt: skip
        article(title, day * 7)


def _brute(conn: Any, term: str, lo: int, hi: int, limit: int) -> list[tuple[int, float]]:
    found = conn.execute(
        "SELECT t.story_id, t.weight FROM story_terms t JOIN stories s ON s.id = t.story_id "
        "WHERE t.term = ? AND s.span_last >= ? AND s.span_first <= ? "
        "ORDER BY t.story_id DESC LIMIT ?",
        (term, lo, hi, limit),
    ).fetchall()
    return [(r[0], r[1]) for r in found]


def _busiest_term(db_target: str) -> str:
    """The 'falcon' term held by the most stories (first by name among equals)."""
    [(term,)] = rows(
        db_target,
        "SELECT term FROM story_terms WHERE term LIKE 'falcon%' "
        "GROUP BY term ORDER BY count(*) DESC, term LIMIT 1",
    )
    return str(term)


async def test_anchors_stay_inside_their_spans_and_the_search_skips_only_what_cannot_meet(
    tmp_path: Path, db_target: str
) -> None:
    _files(tmp_path / "src")
    report = await ingest_at(db_target, tmp_path / "src", now=T0)
    assert report.new == 10 and not report.rejected
    outside = rows(
        db_target,
        "SELECT count(*) FROM story_terms t JOIN stories s ON s.id = t.story_id "
        "WHERE t.anchor IS NULL OR t.anchor < s.span_first OR t.anchor > s.span_last",
    )
    assert outside == [(0,)]
    spans = rows(db_target, "SELECT max(span_last - span_first) FROM stories")[0][0]
    assert spans >= 4 * 86400  # the grown story: days 8 to 12

    settings = StorySettings()
    term = _busiest_term(db_target)
    with connection(db_target) as conn:
        conn.execute("BEGIN")
        store = SqliteStore(conn, T0)
        for day in range(-3, 46):
            at = START + day * DAY
            lo, hi = at - settings.window, at + settings.window
            [got] = store.postings([term], lo, hi, 64, span=settings.max_span)
            lo_ts, hi_ts = int(lo.timestamp()), int(hi.timestamp())
            assert got == _brute(conn, term, lo_ts, hi_ts, 64), day
        conn.execute("ROLLBACK")

    # it does skip: a posting whose anchor is far off is not found, unless no span is given
    [(story, anchor)] = rows(
        db_target,
        "SELECT t.story_id, t.anchor FROM story_terms t JOIN stories s ON s.id = t.story_id "
        "WHERE t.term = ? AND s.span_first = s.span_last ORDER BY t.story_id LIMIT 1",
        (term,),
    )
    execute(
        db_target,
        "UPDATE story_terms SET anchor = ? WHERE story_id = ? AND term = ?",
        (anchor + 400 * 86400, story, term),
    )
    at = datetime.fromtimestamp(anchor, UTC)
    with connection(db_target) as conn:
        conn.execute("BEGIN")
        store = SqliteStore(conn, T0)
        args = ([term], at - settings.window, at + settings.window, 64)
        [filtered] = store.postings(*args, span=settings.max_span)
        [unfiltered] = store.postings(*args)
        conn.execute("ROLLBACK")
    assert story in {s for s, _ in unfiltered}
    assert story not in {s for s, _ in filtered}


async def test_candidate_norms_come_from_the_search_rows_exactly_and_stay_exact(
    tmp_path: Path, db_target: str
) -> None:
    """The engine ranks candidates by ``norm2(story, lo, hi)``, which a store answers from the
    rows its search read (no head made): the same number the story's head holds, 0.0 for a
    story whose span misses [lo, hi], and the new one once the story has grown."""
    _files(tmp_path / "src")
    await ingest_at(db_target, tmp_path / "src", now=T0)
    settings = StorySettings()
    term = _busiest_term(db_target)
    spans = dict(
        (story, (first, last))
        for story, first, last in rows(db_target, "SELECT id, span_first, span_last FROM stories")
    )
    with connection(db_target) as conn:
        conn.execute("BEGIN")
        store, reference = SqliteStore(conn, T0), SqliteStore(conn, T0)
        seen = 0
        for day in range(-3, 46):
            at = START + day * DAY
            lo, hi = at - settings.window, at + settings.window
            [got] = store.postings([term], lo, hi, 64, span=settings.max_span)
            for story, weight in got:
                assert story not in store._heads  # answered from the search's rows
                assert store.norm2(story, lo.timestamp(), hi.timestamp()) == (
                    reference.head(story).norm2
                )
                first, last = spans[story]
                assert store.norm2(story, last + 1.0, last + 86400.0) == 0.0
                assert store.norm2(story, first - 86400.0, first - 1.0) == 0.0
                assert store.norm2(story, None, None) == reference.head(story).norm2
                seen += 1
                found = (story, weight)
        assert seen > 20
        # a story that grows after its row was read: the norm follows, from its head
        story, weight = found
        before = store.norm2(story, None, None)
        store.add(story, -1, {term: 1.0}, START + 40 * DAY)
        assert story in store._heads
        assert store.norm2(story, None, None) == pytest.approx(before + 2 * weight + 1.0)
        conn.execute("ROLLBACK")


async def test_a_short_read_falls_back_to_the_exact_search_and_heads_written_count(
    tmp_path: Path, db_target: str
) -> None:
    """SQLite reads ``SEARCH_READ x limit`` postings a term and tests spans on the heads it
    holds; when that read runs out before ``limit`` stories met the window, the term is
    searched again exactly. With limits of 1 to 3 the newest postings of a term mostly lie
    outside a given day's window, so the fallback is what finds the older stories; and a
    story grown in the same transaction is tested on its new span (the head written)."""
    _files(tmp_path / "src")
    await ingest_at(db_target, tmp_path / "src", now=T0)
    settings = StorySettings()
    term = _busiest_term(db_target)
    with connection(db_target) as conn:
        conn.execute("BEGIN")
        store = SqliteStore(conn, T0)
        found_old = 0
        for limit in (1, 2, 3):
            for day in range(-3, 46):
                at = START + day * DAY
                lo, hi = at - settings.window, at + settings.window
                [got] = store.postings([term], lo, hi, limit, span=settings.max_span)
                lo_ts, hi_ts = int(lo.timestamp()), int(hi.timestamp())
                expected = _brute(conn, term, lo_ts, hi_ts, limit)
                assert got == expected, (limit, day)
                newest = _brute(conn, term, -(2**62), 2**62, 2 * limit)
                found_old += bool(got) and not set(got) & set(newest)
        assert found_old >= 5  # found only past the first read: the fallback ran
        # a one-day story grows by three days: a search five days after it now finds it
        [(story, last)] = rows(
            db_target,
            "SELECT s.id, s.span_last FROM stories s JOIN story_terms t ON t.story_id = s.id "
            "WHERE t.term = ? AND s.span_first = s.span_last ORDER BY s.id LIMIT 1",
            (term,),
        )
        at = datetime.fromtimestamp(last, UTC) + 5 * DAY
        lo, hi = at - settings.window, at + settings.window
        [before] = store.postings([term], lo, hi, 64, span=settings.max_span)
        assert story not in {s for s, _ in before}
        store.head(story)
        store.add(story, -1, {term: 1.0}, at - 2 * DAY)
        [after] = store.postings([term], lo, hi, 64, span=settings.max_span)
        assert story in {s for s, _ in after}
        assert after == _brute(conn, term, int(lo.timestamp()), int(hi.timestamp()), 64)
        conn.execute("ROLLBACK")

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
    [(term,)] = rows(
        db_target,
        "SELECT term FROM story_terms WHERE term LIKE 'falcon%' "
        "GROUP BY term ORDER BY count(*) DESC, term LIMIT 1",
    )
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

"""Story ranking: monotonicity, unscored heat, age decay, clamps."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from bot.domain.ranking import RankingSettings, rank_key, score_from_key, story_score

NOW = datetime(2024, 3, 10, 12, 0, tzinfo=UTC)
DEFAULT = RankingSettings()


def score(
    quality: int | None = 67,
    heat: int | None = None,
    providers: int = 1,
    age: timedelta = timedelta(0),
    settings: RankingSettings = DEFAULT,
) -> float:
    return story_score(
        best_quality=quality,
        max_heat=heat,
        providers=providers,
        latest_at=NOW - age,
        now=NOW,
        settings=settings,
    )


@pytest.mark.parametrize(
    ("field", "values"),
    [
        ("quality", [None, 0, 1, 30, 67, 104, 150, 189, 200, 250]),
        ("heat", [None, -1, 0, 1, 70, 84, 200, 999, 1000, 3694]),
        ("providers", [0, 1, 2, 3, 5, 8, 16, 17, 100]),
    ],
)
def test_monotone_in_each_signal(field: str, values: list[Any]) -> None:
    for other in ({}, {"quality": 120, "heat": 90, "providers": 3, "age": timedelta(hours=30)}):
        scores = [score(**{**other, field: v}) for v in values]
        assert scores == sorted(scores), (field, other)


@pytest.mark.parametrize(
    ("field", "low", "high"),
    [("quality", 66, 67), ("heat", 84, 85), ("providers", 2, 3)],
)
def test_strictly_increasing_below_caps(field: str, low: int, high: int) -> None:
    assert score(**{field: low}) < score(**{field: high})


def test_monotone_in_age() -> None:
    ages = [timedelta(hours=h) for h in (0, 1, 6, 24, 48, 72, 24 * 7, 24 * 30)]
    scores = [score(heat=120, providers=4, age=a) for a in ages]
    assert scores == sorted(scores, reverse=True)
    assert all(s > 0 for s in scores)


@pytest.mark.parametrize("unscored", [None, -1, 0])
def test_unscored_heat_counts_nothing(unscored: int | None) -> None:
    assert score(heat=unscored) == score(heat=None)
    assert score(heat=unscored) < score(heat=70)


@pytest.mark.parametrize("half_life_hours", [6, 24, 36])
def test_half_life_is_exact(half_life_hours: int) -> None:
    settings = RankingSettings(half_life=timedelta(hours=half_life_hours))
    fresh = score(heat=84, providers=3, settings=settings)
    for n in (1, 2, 3):
        aged = score(
            heat=84, providers=3, age=timedelta(hours=n * half_life_hours), settings=settings
        )
        assert aged == pytest.approx(fresh / 2**n, rel=1e-12)


def test_future_dates_clamp_to_age_zero() -> None:
    fresh = score(heat=84)
    assert score(heat=84, age=-timedelta(hours=5)) == fresh
    assert score(heat=84, age=-timedelta(days=400)) == fresh


def test_caps() -> None:
    assert score(quality=200) == score(quality=500)
    assert score(quality=-5) == score(quality=0) == score(quality=None)
    assert score(heat=1000) == score(heat=3694)
    assert score(providers=16) == score(providers=200)
    assert score(providers=0) == score(providers=1)


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"quality": None, "heat": None, "providers": 1}, 0.1),  # the floor
        ({"quality": 67, "heat": None, "providers": 1}, 0.77),
        ({"quality": 67, "heat": None, "providers": 4}, 0.77 + 0.5),
        ({"quality": 67, "heat": 1000, "providers": 16}, 0.77 + 1.0 + 1.0),
        ({"quality": 67, "heat": 84, "providers": 1}, 0.77 + math.log1p(84) / math.log1p(1000)),
        ({"quality": 67, "heat": None, "providers": 1, "age": timedelta(hours=24)}, 0.385),
    ],
)
def test_score_table(kwargs: dict[str, Any], expected: float) -> None:
    assert score(**kwargs) == pytest.approx(expected)


def test_weights_apply() -> None:
    no_heat = RankingSettings(heat_weight=0.0)
    assert score(heat=3000, settings=no_heat) == score(heat=None, settings=no_heat)
    double = RankingSettings(breadth_weight=2.0)
    assert score(providers=4, settings=double) == pytest.approx(0.77 + 1.0)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"half_life": timedelta(0)},
        {"half_life": timedelta(hours=-1)},
        {"heat_cap": 0},
        {"breadth_cap": 1},
        {"quality_scale": 0.0},
    ],
)
def test_invalid_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        RankingSettings(**kwargs)


@pytest.mark.parametrize(
    ("quality", "heat", "providers", "age_hours"),
    [(67, None, 1, 0), (120, 300, 5, 7.5), (None, -1, 0, 48), (189, 3694, 40, 240)],
)
def test_rank_key_round_trips_to_the_score(
    quality: int | None, heat: int | None, providers: int, age_hours: float
) -> None:
    latest = NOW - timedelta(hours=age_hours)
    signals = {"best_quality": quality, "max_heat": heat, "providers": providers}
    for latest_at in (latest, latest.timestamp(), int(latest.timestamp())):
        key = rank_key(**signals, latest_at=latest_at)
        for later in (timedelta(0), timedelta(hours=5), timedelta(days=3)):
            expected = story_score(**signals, latest_at=latest, now=NOW + later)
            got = score_from_key(key, now=NOW + later)
            assert got == pytest.approx(expected, rel=1e-9)
            assert score_from_key(key, now=(NOW + later).timestamp()) == pytest.approx(got)


def test_rank_key_orders_like_the_score() -> None:
    stories = [
        {"best_quality": q, "max_heat": h, "providers": p, "latest_at": NOW - timedelta(hours=a)}
        for q, h, p, a in [(67, None, 1, 0), (120, 300, 5, 30), (30, None, 1, 2), (90, 84, 2, 12)]
    ]
    by_key = sorted(range(4), key=lambda i: -rank_key(**stories[i]))
    for later in (timedelta(0), timedelta(days=2)):
        by_score = sorted(range(4), key=lambda i: -story_score(**stories[i], now=NOW + later))
        assert by_key == by_score


def test_rank_key_future_and_missing_dates() -> None:
    signals = {"best_quality": 67, "max_heat": None, "providers": 1}
    future = NOW + timedelta(hours=6)
    clamped = rank_key(**signals, latest_at=future, now=NOW)
    assert clamped == rank_key(**signals, latest_at=NOW)
    assert score_from_key(clamped, now=NOW) == pytest.approx(score(quality=67))
    undated = rank_key(**signals, latest_at=None)
    assert undated < rank_key(**signals, latest_at=datetime(1990, 1, 1, tzinfo=UTC))

"""Time zone suggestions: what people type -> the zone they mean, table-driven."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.domain.timezones import zone_choices

NOW = datetime(2026, 1, 15, 12, 0, tzinfo=UTC)  # northern winter: standard time

FIRST = [
    ("EST", "America/New_York"),
    ("edt", "America/New_York"),
    ("PST", "America/Los_Angeles"),
    ("pdt", "America/Los_Angeles"),
    ("CST", "America/Chicago"),
    ("MST", "America/Denver"),
    ("CET", "Europe/Paris"),
    ("IST", "Asia/Kolkata"),
    ("JST", "Asia/Tokyo"),
    ("AEST", "Australia/Sydney"),
    ("pacific", "America/Los_Angeles"),
    ("Pacific", "America/Los_Angeles"),
    ("eastern", "America/New_York"),
    ("india", "Asia/Kolkata"),
    ("japan", "Asia/Tokyo"),
    ("mumbai", "Asia/Kolkata"),
    ("Bangalore", "Asia/Kolkata"),
    ("new york", "America/New_York"),
    ("New_York", "America/New_York"),
    ("los ang", "America/Los_Angeles"),
    ("san francisco", "America/Los_Angeles"),
    ("london", "Europe/London"),
    ("berlin", "Europe/Berlin"),
    ("kolkata", "Asia/Kolkata"),
    ("utc", "UTC"),
    ("Europe/Paris", "Europe/Paris"),
]


@pytest.mark.parametrize(("typed", "zone"), FIRST)
def test_the_zone_meant_comes_first(typed, zone):
    choices = zone_choices(typed, NOW)
    assert choices and choices[0][1] == zone


@pytest.mark.parametrize(
    ("typed", "not_offered_first"),
    [("EST", "America/Creston"), ("EST", "Europe/Bucharest"), ("pacific", "Pacific/Apia")],
)
def test_substring_accidents_do_not_win(typed, not_offered_first):
    assert zone_choices(typed, NOW)[0][1] != not_offered_first


@pytest.mark.parametrize("typed", ["pacific", "gmt", "est", "central", "a", "america"])
def test_real_cities_rank_above_etc_and_legacy_zones(typed):
    zones = [z for _, z in zone_choices(typed, NOW, limit=100)]
    legacy = [i for i, z in enumerate(zones) if z.startswith(("Etc/", "US/")) or "/" not in z]
    places = [i for i, z in enumerate(zones) if "/" in z and not z.startswith(("Etc/", "US/"))]
    if legacy and places:
        assert min(legacy) > min(places)


def test_etc_zones_explain_their_inverted_sign():
    (label, zone), *_ = zone_choices("Etc/GMT+5", NOW)
    assert zone == "Etc/GMT+5"
    assert "UTC−05:00" in label and "inverted" in label and "behind UTC" in label
    (label, _), *_ = zone_choices("Etc/GMT-3", NOW)
    assert "UTC+03:00" in label and "ahead of UTC" in label


def test_labels_show_the_abbreviation_and_offset_and_fit_discord():
    label, _ = zone_choices("EST", NOW)[0]
    assert label == "America/New_York (New York, UTC−05:00 now, EST)"
    for typed in ("", "a", "america/argentina", "x" * 200):
        found = zone_choices(typed, NOW)
        assert len(found) <= 25
        assert all(len(name) <= 100 and len(value) <= 100 for name, value in found)


def test_empty_text_offers_common_zones_and_nonsense_offers_none():
    assert zone_choices("", NOW)[0][1] == "UTC"
    assert zone_choices("zzqx", NOW) == []

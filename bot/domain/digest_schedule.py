"""Digest schedule, pure: when a subscription's local time of day falls, as UTC instants.

No clock: every function takes the instant it reasons from. A time that does not exist on a day
(spring forward) runs at the end of the gap; an ambiguous one (autumn) runs once, the first time.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo


def fire_time(local_date: date, at: time, zone: ZoneInfo) -> datetime:
    """The instant (UTC) of the digest for ``local_date``.

    A time that does not exist that day (spring forward) runs at the first valid instant after it,
    the end of the gap; an ambiguous time (autumn) runs once, at its first occurrence.
    """
    naive = datetime.combine(local_date, at)
    first = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    if first.astimezone(zone).replace(tzinfo=None) == naive:
        return first  # exists (ambiguous times: fold=0 is the first occurrence)
    # In a gap, fold=1 reads the wall time with the offset after the transition, which gives an
    # instant before the transition; the transition itself is the first valid instant after.
    before = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    lo, hi = min(before, first), max(before, first)
    while hi - lo > timedelta(seconds=1):  # the transition instant, to the second
        mid = lo + (hi - lo) / 2
        if mid.astimezone(zone).replace(tzinfo=None) < naive:
            lo = mid
        else:
            hi = mid
    return hi.replace(microsecond=0)


def local_date_for(run_at: datetime, zone: ZoneInfo) -> date:
    """The local date a run at ``run_at`` (a scheduled fire instant) belongs to."""
    return run_at.astimezone(zone).date()


def next_fire(at: time, zone: ZoneInfo, start: datetime) -> datetime:
    """The earliest fire instant at or after ``start``."""
    day = start.astimezone(zone).date() - timedelta(days=1)
    while True:
        when = fire_time(day, at, zone)
        if when >= start:
            return when
        day += timedelta(days=1)


def previous_fire(at: time, zone: ZoneInfo, now: datetime) -> datetime:
    """The latest fire instant at or before ``now``."""
    day = now.astimezone(zone).date() + timedelta(days=1)
    while True:
        when = fire_time(day, at, zone)
        if when <= now:
            return when
        day -= timedelta(days=1)

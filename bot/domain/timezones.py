"""Time zone suggestions for autocomplete: IANA names found from what people actually type.

"EST", "pst", "CET", "IST", "pacific", "india", "mumbai", "new york" all find the zone meant;
real cities rank above the ``Etc/`` zones, whose inverted signs the label explains
(``Etc/GMT+5`` is five hours *behind* UTC). Pure: the zone list comes from :mod:`zoneinfo`
(read once, on first use) and the current time is a parameter, for the offsets shown.
"""

from __future__ import annotations

import functools
import zoneinfo
from collections.abc import Iterable
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

CHOICE_NAME = 100  # Discord's limit on a choice's name and value

# Abbreviations and common names -> the zones they usually mean, most likely first.
ALIASES: dict[str, tuple[str, ...]] = {
    # North America
    "est": ("America/New_York",),
    "edt": ("America/New_York",),
    "et": ("America/New_York",),
    "eastern": ("America/New_York", "America/Toronto"),
    "cst": ("America/Chicago", "Asia/Shanghai"),
    "cdt": ("America/Chicago",),
    "ct": ("America/Chicago",),
    "central": ("America/Chicago", "Europe/Berlin"),
    "mst": ("America/Denver", "America/Phoenix"),
    "mdt": ("America/Denver",),
    "mt": ("America/Denver",),
    "mountain": ("America/Denver", "America/Phoenix"),
    "pst": ("America/Los_Angeles",),
    "pdt": ("America/Los_Angeles",),
    "pt": ("America/Los_Angeles",),
    "pacific": ("America/Los_Angeles", "America/Vancouver"),
    "akst": ("America/Anchorage",),
    "akdt": ("America/Anchorage",),
    "alaska": ("America/Anchorage",),
    "hst": ("Pacific/Honolulu",),
    "hawaii": ("Pacific/Honolulu",),
    "ast": ("America/Halifax",),
    "atlantic": ("America/Halifax",),
    "nst": ("America/St_Johns",),
    "newfoundland": ("America/St_Johns",),
    "arizona": ("America/Phoenix",),
    "usa": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "us": ("America/New_York", "America/Chicago", "America/Denver", "America/Los_Angeles"),
    "canada": ("America/Toronto", "America/Vancouver", "America/Edmonton", "America/Halifax"),
    "mexico": ("America/Mexico_City",),
    # Europe
    "utc": ("UTC",),
    "gmt": ("Europe/London", "UTC"),
    "zulu": ("UTC",),
    "bst": ("Europe/London",),
    "uk": ("Europe/London",),
    "britain": ("Europe/London",),
    "england": ("Europe/London",),
    "scotland": ("Europe/London",),
    "wales": ("Europe/London",),
    "ireland": ("Europe/Dublin",),
    "wet": ("Europe/Lisbon",),
    "west": ("Europe/Lisbon",),
    "cet": ("Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome"),
    "cest": ("Europe/Paris", "Europe/Berlin", "Europe/Madrid", "Europe/Rome"),
    "eet": ("Europe/Athens", "Europe/Helsinki", "Europe/Bucharest", "Europe/Kyiv"),
    "eest": ("Europe/Athens", "Europe/Helsinki", "Europe/Bucharest", "Europe/Kyiv"),
    "msk": ("Europe/Moscow",),
    "france": ("Europe/Paris",),
    "germany": ("Europe/Berlin",),
    "spain": ("Europe/Madrid",),
    "italy": ("Europe/Rome",),
    "portugal": ("Europe/Lisbon",),
    "netherlands": ("Europe/Amsterdam",),
    "holland": ("Europe/Amsterdam",),
    "belgium": ("Europe/Brussels",),
    "switzerland": ("Europe/Zurich",),
    "austria": ("Europe/Vienna",),
    "poland": ("Europe/Warsaw",),
    "czechia": ("Europe/Prague",),
    "hungary": ("Europe/Budapest",),
    "romania": ("Europe/Bucharest",),
    "greece": ("Europe/Athens",),
    "turkey": ("Europe/Istanbul",),
    "ukraine": ("Europe/Kyiv",),
    "russia": ("Europe/Moscow",),
    "sweden": ("Europe/Stockholm",),
    "norway": ("Europe/Oslo",),
    "denmark": ("Europe/Copenhagen",),
    "finland": ("Europe/Helsinki",),
    # Asia and Oceania
    "ist": ("Asia/Kolkata", "Europe/Dublin", "Asia/Jerusalem"),
    "india": ("Asia/Kolkata",),
    "pkt": ("Asia/Karachi",),
    "pakistan": ("Asia/Karachi",),
    "bangladesh": ("Asia/Dhaka",),
    "nepal": ("Asia/Kathmandu",),
    "sri lanka": ("Asia/Colombo",),
    "china": ("Asia/Shanghai",),
    "hkt": ("Asia/Hong_Kong",),
    "taiwan": ("Asia/Taipei",),
    "jst": ("Asia/Tokyo",),
    "japan": ("Asia/Tokyo",),
    "kst": ("Asia/Seoul",),
    "korea": ("Asia/Seoul",),
    "sgt": ("Asia/Singapore",),
    "malaysia": ("Asia/Kuala_Lumpur",),
    "wib": ("Asia/Jakarta",),
    "indonesia": ("Asia/Jakarta",),
    "pht": ("Asia/Manila",),
    "philippines": ("Asia/Manila",),
    "vietnam": ("Asia/Ho_Chi_Minh",),
    "thailand": ("Asia/Bangkok",),
    "uae": ("Asia/Dubai",),
    "gst": ("Asia/Dubai",),
    "saudi arabia": ("Asia/Riyadh",),
    "israel": ("Asia/Jerusalem",),
    "iran": ("Asia/Tehran",),
    "aest": ("Australia/Sydney", "Australia/Brisbane"),
    "aedt": ("Australia/Sydney",),
    "acst": ("Australia/Adelaide", "Australia/Darwin"),
    "awst": ("Australia/Perth",),
    "australia": ("Australia/Sydney", "Australia/Melbourne", "Australia/Perth"),
    "nzst": ("Pacific/Auckland",),
    "nzdt": ("Pacific/Auckland",),
    "new zealand": ("Pacific/Auckland",),
    # Africa and South America
    "sast": ("Africa/Johannesburg",),
    "south africa": ("Africa/Johannesburg",),
    "egypt": ("Africa/Cairo",),
    "nigeria": ("Africa/Lagos",),
    "wat": ("Africa/Lagos",),
    "eat": ("Africa/Nairobi",),
    "kenya": ("Africa/Nairobi",),
    "cat": ("Africa/Maputo",),
    "brt": ("America/Sao_Paulo",),
    "brazil": ("America/Sao_Paulo",),
    "art": ("America/Argentina/Buenos_Aires",),
    "argentina": ("America/Argentina/Buenos_Aires",),
    "chile": ("America/Santiago",),
    "colombia": ("America/Bogota",),
    "peru": ("America/Lima",),
}

# Cities people name that are not themselves zone names.
CITIES: dict[str, str] = {
    "san francisco": "America/Los_Angeles",
    "seattle": "America/Los_Angeles",
    "portland": "America/Los_Angeles",
    "las vegas": "America/Los_Angeles",
    "san diego": "America/Los_Angeles",
    "boston": "America/New_York",
    "washington": "America/New_York",
    "miami": "America/New_York",
    "atlanta": "America/New_York",
    "philadelphia": "America/New_York",
    "dallas": "America/Chicago",
    "houston": "America/Chicago",
    "austin": "America/Chicago",
    "minneapolis": "America/Chicago",
    "montreal": "America/Toronto",
    "ottawa": "America/Toronto",
    "mumbai": "Asia/Kolkata",
    "bombay": "Asia/Kolkata",
    "delhi": "Asia/Kolkata",
    "new delhi": "Asia/Kolkata",
    "bangalore": "Asia/Kolkata",
    "bengaluru": "Asia/Kolkata",
    "chennai": "Asia/Kolkata",
    "hyderabad": "Asia/Kolkata",
    "calcutta": "Asia/Kolkata",
    "beijing": "Asia/Shanghai",
    "shenzhen": "Asia/Shanghai",
    "osaka": "Asia/Tokyo",
    "munich": "Europe/Berlin",
    "frankfurt": "Europe/Berlin",
    "hamburg": "Europe/Berlin",
    "barcelona": "Europe/Madrid",
    "milan": "Europe/Rome",
    "geneva": "Europe/Zurich",
    "kiev": "Europe/Kyiv",
    "st petersburg": "Europe/Moscow",
    "saint petersburg": "Europe/Moscow",
    "edinburgh": "Europe/London",
    "manchester": "Europe/London",
    "abu dhabi": "Asia/Dubai",
    "rio de janeiro": "America/Sao_Paulo",
    "canberra": "Australia/Sydney",
    "wellington": "Pacific/Auckland",
}

# Real places rank first, then UTC, then the legacy and Etc/ names (rarely what anyone means).
_PLACE, _UTC, _LEGACY = 0, 1, 2


@functools.cache
def _zones() -> tuple[str, ...]:
    return tuple(sorted(zoneinfo.available_timezones()))


def _key(text: str) -> str:
    return " ".join(text.casefold().replace("_", " ").replace("-", " ").split())


def _kind(name: str) -> int:
    if name == "UTC":
        return _UTC
    area = name.split("/", 1)[0]
    if "/" not in name or area in ("Etc", "US", "SystemV", "Brazil", "Canada", "Mexico", "Chile"):
        return _LEGACY
    return _PLACE


def _offset_text(delta: timedelta | None) -> str:
    if delta is None:
        return "UTC"
    minutes = int(delta.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "−"
    hours, mins = divmod(abs(minutes), 60)
    return f"UTC{sign}{hours:02d}:{mins:02d}"


def label(name: str, now: datetime, note: str = "") -> str:
    """``America/New_York (New York, UTC−05:00 now)``; Etc/ zones explain their inverted sign."""
    offset = _offset_text(now.astimezone(ZoneInfo(name)).utcoffset())
    if name.startswith("Etc/GMT") and name[7:8] in ("+", "-") and name[8:].isdigit():
        side = "behind" if name[7] == "+" else "ahead of"
        text = f"{name} ({offset}; Etc/ signs are inverted: {name[4:]} is {name[8:]} h {side} UTC)"
    else:
        city = name.rsplit("/", 1)[-1].replace("_", " ")
        where = f"{city}, " if "/" in name else ""
        text = f"{name} ({where}{offset} now{', ' + note if note else ''})"
    return text[:CHOICE_NAME]


def _matches(key: str) -> Iterable[tuple[int, str, str]]:
    """(rank, zone, note) for every zone ``key`` could mean; lower rank is better."""
    for alias, zones in ALIASES.items():
        if alias == key:
            for zone in zones:
                yield (0, zone, key.upper() if len(key) <= 5 else "")
        elif len(key) >= 3 and alias.startswith(key) and len(alias) > 5:
            for zone in zones:
                yield (4, zone, "")
    for city, zone in CITIES.items():
        if city == key:
            yield (1, zone, city.title())
        elif len(key) >= 3 and city.startswith(key):
            yield (3, zone, city.title())
    for zone in _zones():
        name = _key(zone)
        city = _key(zone.rsplit("/", 1)[-1])
        if key in (name, city):
            yield (1, zone, "")
        elif city.startswith(key) or name.startswith(key):
            yield (2, zone, "")
        elif any(part.startswith(key) for part in city.split()):
            yield (3, zone, "")
        elif len(key) >= 4 and key in name:
            yield (5, zone, "")


def zone_choices(text: str, now: datetime, limit: int = 25) -> list[tuple[str, str]]:
    """``(label, IANA name)`` pairs for ``text``: at most ``limit``, the likeliest first.

    Exact abbreviations and names first (EST -> America/New_York), then cities, then prefix and
    substring matches; real places before UTC before legacy and ``Etc/`` names.
    """
    key = _key(text or "")
    zones = set(_zones())
    if not key:
        common = ("UTC", "America/New_York", "America/Chicago", "America/Los_Angeles",
                  "Europe/London", "Europe/Paris", "Europe/Berlin", "Asia/Kolkata",
                  "Asia/Tokyo", "Australia/Sydney")  # fmt: skip
        return [(label(z, now), z) for z in common if z in zones][:limit]
    best: dict[str, tuple[int, int, str, str]] = {}
    for order, (rank, zone, note) in enumerate(_matches(key)):
        if zone not in zones:
            continue
        entry = (_kind(zone) if rank else 0, rank, f"{order:06d}", note)
        if zone not in best or entry < best[zone]:
            best[zone] = entry
    ranked = sorted(best.items(), key=lambda kv: (kv[1][0], kv[1][1], kv[1][2], kv[0]))
    return [(label(zone, now, entry[3]), zone) for zone, entry in ranked[:limit]]

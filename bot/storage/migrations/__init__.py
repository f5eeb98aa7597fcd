"""Numbered schema migrations: ONE tree, each step with its SQLite and its PostgreSQL text.

Append new steps; never edit one that has shipped. SQLite tracks the version in
``PRAGMA user_version``, PostgreSQL in the one-row table ``schema_version``; both refuse a
database newer than the code. ``MIGRATIONS`` (the SQLite texts) and ``SCHEMA_VERSION`` stay
importable for the call sites written before PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass

from bot.storage.migrations.postgresql_steps import POSTGRESQL_STEPS
from bot.storage.migrations.sqlite_steps import SQLITE_STEPS

__all__ = ["MIGRATIONS", "PG_MIGRATIONS", "SCHEMA_VERSION", "STEPS", "Step"]

_TITLES = (
    "articles, related coverage, providers, topics, images, files, stories, full-text index",
    "digest subscriptions, the delivery ledger, messages sent, stories sent per channel",
    "top stories walk one index in rank order",
    "each file's own version",
    "a scheduled digest is unique per subscription and fire instant",
    "story ids never given twice, story centroids and term statistics, sent items",
    "sources of every kind, feed polling state, feed entries",
    "leases and claims of several processes, the shared send pacing",
    "term frequencies of the grouping per week (a window of recent items weighs each item)",
    "search and autocomplete planned from real estimates (PostgreSQL)",
    "a date inside its story's span on every centroid weight (the candidate search's filter)",
    "a generation of the grouping state (a writer's cached reads are checked against it)",
)


@dataclass(frozen=True)
class Step:
    number: int
    title: str
    sqlite: str
    postgresql: str

    def sql(self, dialect: str) -> str:
        return self.postgresql if dialect == "postgresql" else self.sqlite


if not len(_TITLES) == len(SQLITE_STEPS) == len(POSTGRESQL_STEPS):
    raise RuntimeError("migrations: every step needs a title, a SQLite and a PostgreSQL text")

STEPS: tuple[Step, ...] = tuple(
    Step(n, title, lite, pg)
    for n, (title, lite, pg) in enumerate(
        zip(_TITLES, SQLITE_STEPS, POSTGRESQL_STEPS, strict=True), start=1
    )
)
MIGRATIONS: tuple[str, ...] = tuple(s.sqlite for s in STEPS)
PG_MIGRATIONS: tuple[str, ...] = tuple(s.postgresql for s in STEPS)
SCHEMA_VERSION = len(STEPS)

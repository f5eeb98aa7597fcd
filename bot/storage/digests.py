"""Digest storage: subscriptions, the delivery ledger, sent messages and sent stories.

Synchronous functions of a connection (``sqlite3.Connection`` or ``PgConnection``: the SQL is the
portable subset), run on the database thread through ``Database.run``; the services reach them
through the repositories of ``digest_ledger``. Writes that must land together run in one
transaction (``BEGIN IMMEDIATE`` on SQLite, ``BEGIN`` on PostgreSQL).
Times are stored as INTEGER unix seconds (UTC) and returned as aware datetimes.

The public face of the digest repositories, gathered from

* ``digest_subscriptions``: the subscriptions and their last outcome;
* ``digest_candidates``: the stories a digest may select, and those already sent to a channel;
* ``digest_runs``: the ledger (runs, their messages, the stories they sent);
* ``digest_sql``: the shared transaction and time conversion.

Storage code imports from here (``from bot.storage import digests as store``).
"""

from __future__ import annotations

from bot.storage.dialect import transaction
from bot.storage.digest_candidates import (
    SENT_MEMORY_DAYS,
    candidate_stories,
    coverage_providers,
    coverage_texts,
    items_version,
    sent_story_ids,
)
from bot.storage.digest_runs import (
    finish_run,
    first_attempt,
    get_run,
    insert_run,
    insert_runs,
    latest_runs,
    mark_sent,
    note_run,
    open_runs,
    previous_window_end,
    record_message,
    replan_run,
    reserved_story_ids,
    scheduled_run,
)
from bot.storage.digest_sql import LedgerUnavailable, guarded
from bot.storage.digest_subscriptions import (
    count_subscriptions,
    delete_subscription,
    get_subscription,
    insert_subscription,
    insert_unique_subscription,
    list_subscriptions,
    record_outcome,
    same_subscription,
    update_subscription,
)

__all__ = [
    "SENT_MEMORY_DAYS",
    "LedgerUnavailable",
    "candidate_stories",
    "count_subscriptions",
    "coverage_providers",
    "coverage_texts",
    "delete_subscription",
    "finish_run",
    "first_attempt",
    "get_run",
    "get_subscription",
    "guarded",
    "insert_run",
    "insert_runs",
    "insert_subscription",
    "insert_unique_subscription",
    "items_version",
    "latest_runs",
    "list_subscriptions",
    "mark_sent",
    "note_run",
    "open_runs",
    "previous_window_end",
    "record_message",
    "record_outcome",
    "replan_run",
    "reserved_story_ids",
    "same_subscription",
    "scheduled_run",
    "sent_story_ids",
    "transaction",
    "update_subscription",
]

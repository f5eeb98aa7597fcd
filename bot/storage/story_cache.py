"""What a writer's story grouping keeps from one transaction to the next (either dialect).

An ingest or a feed poll writes in many short transactions (``WRITE_BATCH`` files, about
``WRITE_ENTRIES`` feed entries), and each grouped item is weighed with the term frequencies of
its window (:class:`bot.storage.term_stats.TermStats`). A fresh ``TermStats`` per transaction
read again, for every term of the batch, the rows the previous transaction had just read and
written. :class:`GroupingCache` hands the ``TermStats`` of a writer's last transaction to its
next one instead; ``TermStats.write`` keeps what it holds exact as it stores the changes.

The cache only saves reads, so it must never be trusted when the database may hold something
else. ``story_ids.generation`` counts the transactions that changed the grouping state: every
one that does bumps it (``SqliteStore.write_stats``, ``story_rebuild``), and the cache is used
only when the generation found at the start of a transaction is the one its own last
transaction wrote. A change by another process or connection, a rolled-back transaction, a
rebuild, a transaction that ended before its counts were written: each leaves a generation the
cache did not write, or no kept state at all, and the next transaction starts afresh. Results
therefore never depend on the cache (tests/test_story_cache.py).
"""

from __future__ import annotations

from typing import Any

from bot.storage.term_stats import TermStats

__all__ = ["MAX_HELD", "GroupingCache", "read_generation"]

# sums and spans kept at most (~150 bytes each): beyond it the next transaction starts afresh
MAX_HELD = 200_000


def read_generation(conn: Any) -> int:
    """The grouping state's generation, read inside the transaction that will change it."""
    row = conn.execute("SELECT generation FROM story_ids WHERE id = 1").fetchone()
    return int(row[0]) if row else 0


class GroupingCache:
    """The term statistics a writer connection's last transaction left exact (see module).

    Owned by the :class:`bot.storage.db.Database` (one per process and database) and used on
    its writer thread only.
    """

    def __init__(self, max_held: int = MAX_HELD) -> None:
        self.max_held = max_held
        self._stats: TermStats | None = None
        self._generation: int | None = None  # the generation ``_stats`` is exact for
        self.reused = 0  # transactions that started from the kept state (tests, logs)
        self.fresh = 0

    def take(self, conn: Any, generation: int) -> TermStats:
        """Term statistics for a transaction that found ``generation``: the kept ones when
        they are exact for it, else fresh ones. The cache holds nothing until :meth:`keep`."""
        stats, kept_for = self._stats, self._generation
        self._stats = self._generation = None
        if stats is None or kept_for != generation or stats.pending or stats.size() > self.max_held:
            self.fresh += 1
            return TermStats(conn)
        self.reused += 1
        stats.conn = conn
        return stats

    def keep(self, stats: TermStats, generation: int) -> None:
        """``stats`` (written: nothing pending) are exact for ``generation`` once the
        transaction that wrote it commits; if it does not, the generation shows it."""
        self._stats, self._generation = stats, generation

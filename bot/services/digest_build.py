"""Building digests on the database thread, with a candidate pool shared by concurrent builds.

Many subscriptions are due in the same minute, and their windows nearly coincide. Instead of each
loading, scoring, and rendering the same stories, they share one :class:`CandidatePool`: the new
stories up to the pool's ``until`` instant, loaded once (no topic or quality filter, so it serves
every subscription), scored once at ``until``, kept in rank order, and rendered once per story.
Each subscription then scans the ranked pool with its own exact rules (``domain.digest``) and
stops when its digest is full.

The pool is replaced when the data changes (a new item was ingested), when it is older than
:data:`POOL_TTL`, or when the clock goes backwards. A digest built from a pool ends its window at
the pool's ``until``, so a story that arrives after the pool was loaded belongs to the next digest,
never to none.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta

from bot.domain import digest as d
from bot.domain.digest import Candidate, DigestPlan, Subscription
from bot.domain.digest_messages import EmbedSpec, story_embed
from bot.domain.views import StoryRow
from bot.storage import digests as store
from bot.storage.digest_ledger import LedgerTx

POOL_TTL = timedelta(seconds=60)
SINCE_STEP = 3600  # load pools from whole hours back, so nearby windows share one load

Score = Callable[[StoryRow, datetime], float]


def _floor(when: datetime, step: int) -> datetime:
    ts = int(when.timestamp())
    return datetime.fromtimestamp(ts - ts % step, UTC)


class CandidatePool:
    """New stories up to ``until``, ranked, with their rendered embeds (one pool per minute)."""

    def __init__(self, until: datetime, version: int, score: Score, color: int | None) -> None:
        self.until = until
        self.version = version
        self.since = until  # loaded range: last seen in (since, until]
        self.ranked: list[Candidate] = []
        self._score = score
        self._color = color
        self._ids: set[int] = set()
        self._embeds: dict[int, EmbedSpec] = {}

    def ensure(self, tx: LedgerTx, since: datetime) -> None:
        """Make sure every story new since ``since`` (up to ``until``) is in the pool."""
        if since >= self.since:
            return
        low = _floor(since, SINCE_STEP)
        rows = tx.candidate_stories(d.Window(low, self.until, low - d.PUBLISH_LAG))
        fresh = [r for r in rows if r.id not in self._ids]
        texts = tx.coverage_texts([r.id for r in fresh])
        added = [
            Candidate(r, self._score(r, self.until), "\n".join(texts.get(r.id, ()))) for r in fresh
        ]
        self._ids.update(r.id for r in fresh)
        self.ranked = d.rank([*self.ranked, *added])
        self.since = low

    def embeds(self, tx: LedgerTx, chosen: list[Candidate]) -> list[EmbedSpec]:
        missing = [c.story.id for c in chosen if c.story.id not in self._embeds]
        if missing:
            providers = tx.coverage_providers(missing)
            for sid in missing:
                story = next(c.story for c in chosen if c.story.id == sid)
                self._embeds[sid] = story_embed(story, providers.get(sid, ()), self._color)
        return [self._embeds[c.story.id] for c in chosen]


class DigestBuilder:
    """Selects a subscription's stories and plans its messages. Runs on the database thread only
    (through ``Database.run``), which also serialises access to the shared pool."""

    def __init__(self, score: Score, *, post_when_empty: bool, color: int | None) -> None:
        self.score = score
        self.post_when_empty = post_when_empty
        self.color = color
        self._pool: CandidatePool | None = None

    def _current_pool(self, tx: LedgerTx, now: datetime, version: int | None) -> CandidatePool:
        version = tx.items_version() if version is None else version
        pool = self._pool
        if (
            pool is None
            or pool.version != version
            or now < pool.until
            or now - pool.until > POOL_TTL
        ):
            pool = self._pool = CandidatePool(now, version, self.score, self.color)
        return pool

    def build(self, tx: LedgerTx, sub: Subscription, local_date: date, now: datetime) -> DigestPlan:
        previous = tx.previous_window_end(sub.id)
        first = None if previous is not None else tx.first_attempt(sub.id)
        # "Sent" includes what another digest of the channel planned and has not finished (or
        # given up): those stories are reserved by its open ledger run.
        sent = tx.sent_story_ids(
            sub.channel_id, now - timedelta(days=store.SENT_MEMORY_DAYS)
        ) | tx.reserved_story_ids(sub.channel_id)
        return self.compose(tx, sub, local_date, now, previous=previous, first=first, sent=sent)

    def compose(
        self,
        tx: LedgerTx,
        sub: Subscription,
        local_date: date,
        now: datetime,
        *,
        previous: datetime | None,
        first: datetime | None,
        sent: set[int],
        version: int | None = None,
    ) -> DigestPlan:
        """:meth:`build` with the subscription's ledger reads already made: ``previous`` (its
        last delivered window's end), ``first`` (its first attempt, when ``previous`` is None),
        ``sent`` (the stories sent or reserved in its channel), ``version`` (``items_version``;
        None: read it)."""
        pool = self._current_pool(tx, now, version)
        window = d.digest_window(previous, pool.until, None if previous is not None else first)
        pool.ensure(tx, window.since)
        chosen = d.select_stories(pool.ranked, sub, window, sent, ranked=True)
        return d.build_plan(
            sub,
            local_date,
            window,
            chosen,
            post_when_empty=self.post_when_empty,
            color=self.color,
            embeds=pool.embeds(tx, chosen),
        )

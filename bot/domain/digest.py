"""Daily digests, pure: the public face of the digest domain, gathered from its modules.

No I/O and no clock: every function that needs the time takes ``now``. The parts live in

* ``digest_subscription``: the :class:`Subscription` model, its states, input validation;
* ``digest_schedule``: local time of day plus an IANA zone into fire instants (DST included);
* ``digest_selection``: the digest window and the story selection rule;
* ``digest_plan``: a digest's message plan and its ledger row (:class:`DigestRun`);
* ``digest_messages``: the embeds and the split into Discord-sized messages.

Callers outside the domain import from here (``from bot.domain import digest as d``).
"""

from __future__ import annotations

from bot.domain.digest_messages import md_text
from bot.domain.digest_plan import OPEN_STATUSES, DigestPlan, DigestRun, RunStatus, build_plan
from bot.domain.digest_schedule import fire_time, local_date_for, next_fire, previous_fire
from bot.domain.digest_selection import (
    FIRST_WINDOW,
    INGEST_SETTLE,
    MAX_LOOKBACK,
    PUBLISH_LAG,
    Candidate,
    Window,
    digest_window,
    is_new,
    keyword_pattern,
    keywords_pass,
    rank,
    rank_score,
    select_stories,
    wanted,
)
from bot.domain.digest_subscription import (
    MAX_KEYWORD_LEN,
    MAX_KEYWORDS,
    MAX_NAME_LEN,
    MAX_STORIES,
    MAX_TOPICS,
    DigestInputError,
    Subscription,
    SubscriptionState,
    check_limits,
    check_name,
    check_topics,
    parse_keywords,
    parse_time,
    parse_timezone,
    split_list,
    timezone_choices,
)

__all__ = [
    "FIRST_WINDOW",
    "INGEST_SETTLE",
    "MAX_KEYWORDS",
    "MAX_KEYWORD_LEN",
    "MAX_LOOKBACK",
    "MAX_NAME_LEN",
    "MAX_STORIES",
    "MAX_TOPICS",
    "OPEN_STATUSES",
    "PUBLISH_LAG",
    "Candidate",
    "DigestInputError",
    "DigestPlan",
    "DigestRun",
    "RunStatus",
    "Subscription",
    "SubscriptionState",
    "Window",
    "build_plan",
    "check_limits",
    "check_name",
    "check_topics",
    "digest_window",
    "fire_time",
    "is_new",
    "keyword_pattern",
    "keywords_pass",
    "local_date_for",
    "md_text",
    "next_fire",
    "parse_keywords",
    "parse_time",
    "parse_timezone",
    "previous_fire",
    "rank",
    "rank_score",
    "select_stories",
    "split_list",
    "timezone_choices",
    "wanted",
]

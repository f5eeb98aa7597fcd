"""``newsbot digests list|status|preview ID``: the host's view of every server's digests.

Read-only, through the digest service's own methods (no SQL here); each has ``--json``.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from bot.cli.errors import require_database
from bot.cli.output import console, iso, make_table, plural, print_json
from bot.cli.query_json import story_dict
from bot.config import Config
from bot.domain.digest import Subscription
from bot.services.errors import HINT_DIGESTS
from bot.storage.db import open_database

if TYPE_CHECKING:
    from bot.services.digest import DigestService

# The digest and query services are imported when a digests command runs: other commands (e.g. a
# re-ingest, which takes a third of a second) start without them.


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("digests", help="the daily digests every server subscribed to (read-only)")
    actions = p.add_subparsers(dest="digests_command", metavar="ACTION", required=True)
    for name, help_text, handler in (
        ("list", "every digest subscription, all servers", cmd_list),
        ("status", "each digest's next and last run, and its last error", cmd_status),
    ):
        a = actions.add_parser(
            name, help=help_text, description=help_text[:1].upper() + help_text[1:] + "."
        )
        a.add_argument("--guild", type=int, metavar="ID", help="only this server's digests")
        a.add_argument("--json", action="store_true", help="print the result as one JSON object")
        a.set_defaults(handler=handler)
    a = actions.add_parser(
        "preview",
        help="what a digest would post if it ran now (nothing is sent or recorded)",
        description="What a digest would post if it ran now (nothing is sent or recorded).",
    )
    a.add_argument("id", type=int, metavar="ID", help="the digest's number (see `digests list`)")
    a.add_argument("--json", action="store_true", help="print the result as one JSON object")
    a.set_defaults(handler=cmd_preview)


async def _run(config: Config, fn) -> int:
    from bot.services.digest import DigestService
    from bot.services.query import QueryService

    require_database(config.database.path)
    async with open_database(config.database.path) as db:
        query = QueryService(db)
        service = DigestService(db, config.digest, score=query.score, topic_name=query.topic_exists)
        return await fn(service)


def subscription_dict(s: Subscription) -> dict[str, Any]:
    return {
        "id": s.id,
        "name": s.name,
        "guild_id": s.guild_id,
        "channel_id": s.channel_id,
        "time": s.time_text,
        "timezone": s.timezone,
        "topics": list(s.topics),
        "min_quality": s.min_quality,
        "max_stories": s.max_stories,
        "include": list(s.include),
        "exclude": list(s.exclude),
        "state": s.state.value,
        "failure_streak": s.failure_streak,
        "last_error": s.last_error,
        "last_run_at": iso(s.last_run_at),
        "last_outcome": s.last_outcome,
        "created_at": iso(s.created_at),
    }


def _when(dt) -> str:
    return dt.strftime("%Y-%m-%d %H:%M UTC") if dt else "–"


async def _subscriptions(service: DigestService, guild: int | None) -> list[Subscription]:
    subs = await service.all_subscriptions()
    return [s for s in subs if guild is None or s.guild_id == guild]


async def cmd_list(args: argparse.Namespace, config: Config) -> int:
    async def go(service: DigestService) -> int:
        subs = await _subscriptions(service, args.guild)
        if args.json:
            print_json({"digests": [subscription_dict(s) for s in subs]})
            return 0
        if not subs:
            console().print(
                "No digest subscriptions yet (members add them with /digest subscribe)."
            )
            return 0
        console().print(
            make_table(
                ["id", "name", "server", "channel", "time", "timezone", "state", "topics"],
                [
                    (
                        s.id,
                        s.name,
                        s.guild_id,
                        s.channel_id,
                        s.time_text,
                        s.timezone,
                        s.state.value,
                        ", ".join(s.topics) or "all",
                    )
                    for s in subs
                ],
                wrap=["topics", "name"],
            )
        )
        console().print(plural(len(subs), "digest"))
        return 0

    return await _run(config, go)


async def cmd_status(args: argparse.Namespace, config: Config) -> int:
    async def go(service: DigestService) -> int:
        guilds = sorted({s.guild_id for s in await _subscriptions(service, args.guild)})
        statuses = [st for g in guilds for st in await service.status(g)]
        if args.json:
            print_json(
                {
                    "digests": [
                        {
                            **subscription_dict(st.subscription),
                            "next_run": iso(st.next_run),
                            "last_run": None
                            if st.last_run is None
                            else {
                                "local_date": st.last_run.local_date.isoformat(),
                                "kind": st.last_run.kind,
                                "status": st.last_run.status.value,
                                "stories": len(st.last_run.story_ids),
                                "messages": len(st.last_run.messages),
                                "sent_messages": len(st.last_run.sent_message_ids),
                                "error": st.last_run.error,
                            },
                        }
                        for st in statuses
                    ]
                }
            )
            return 0
        if not statuses:
            console().print(
                "No digest subscriptions yet (members add them with /digest subscribe)."
            )
            return 0
        rows = []
        for st in statuses:
            s, last = st.subscription, st.last_run
            last_text = (
                f"{last.local_date.isoformat()} {last.status.value}"
                + (
                    f" ({plural(len(last.story_ids), 'story', 'stories')})"
                    if last.story_ids
                    else ""
                )
                if last
                else "never"
            )
            rows.append(
                (
                    s.id,
                    s.name,
                    s.state.value,
                    _when(st.next_run) if st.next_run else "paused",
                    last_text,
                    s.last_error or "",
                )
            )
        console().print(
            make_table(
                ["id", "name", "state", "next run", "last run", "last error"],
                rows,
                wrap=["last error", "name"],
            )
        )
        return 0

    return await _run(config, go)


async def cmd_preview(args: argparse.Namespace, config: Config) -> int:
    async def go(service: DigestService) -> int:
        found = [s for s in await service.all_subscriptions() if s.id == args.id]
        if not found:
            from bot.services.digest import SubscriptionNotFound

            raise SubscriptionNotFound(f"No digest #{args.id}.", hint=HINT_DIGESTS)
        sub = found[0]
        plan = await service.preview(sub.guild_id, sub.id)
        window = plan.window
        if args.json:
            print_json(
                {
                    "digest": subscription_dict(sub),
                    "local_date": plan.local_date.isoformat(),
                    "window_start": iso(window.since),
                    "window_end": iso(window.until),
                    "stories": [
                        {**story_dict(c.story, c.score), "outlet_names": list(c.providers)}
                        for c in plan.stories
                    ],
                    "messages": len(plan.messages),
                }
            )
            return 0
        out = console()
        out.print(
            f"Digest #{sub.id} {sub.name} for {plan.local_date.isoformat()} "
            f"(new coverage {_when(window.since)} – {_when(window.until)}): "
            f"{plural(len(plan.stories), 'story', 'stories')} in "
            f"{plural(len(plan.messages), 'message')}"
        )
        if plan.stories:
            out.print(
                make_table(
                    ["story", "score", "outlets", "articles", "title"],
                    [
                        (
                            f"#{c.story.id}",
                            f"{c.score:.1f}",
                            c.story.provider_count,
                            c.story.item_count,
                            c.story.lead.title,
                        )
                        for c in plan.stories
                    ],
                )
            )
        return 0

    return await _run(config, go)

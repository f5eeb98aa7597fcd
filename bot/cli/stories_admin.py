"""``newsbot stories rebuild``: recompute every story from the stored items.

``newsbot stories`` itself (top stories) is registered by ``bot.cli.queries``; this module adds an
optional ``ACTION`` positional to that parser (only ``rebuild``) and dispatches to
:func:`cmd_rebuild` when it is given, to the listing otherwise. Register it after ``queries``.
"""

from __future__ import annotations

import argparse

from bot.config import Config
from bot.services.stories import StoryService
from bot.storage.db import open_database


def register(sub: argparse._SubParsersAction) -> None:
    parser = sub.choices["stories"]
    listing = parser.get_default("handler")
    parser.add_argument(
        "action",
        nargs="?",
        choices=["rebuild"],
        metavar="ACTION",
        help="'rebuild': regroup every stored item with the current settings "
        "(one transaction; already-sent digest stories stay sent)",
    )

    async def dispatch(args: argparse.Namespace, config: Config) -> int:
        if getattr(args, "action", None) == "rebuild":
            return await cmd_rebuild(args, config)
        return await listing(args, config)

    parser.set_defaults(handler=dispatch)


async def cmd_rebuild(args: argparse.Namespace, config: Config) -> int:
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    with Progress(
        "[progress.description]{task.description}",
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        transient=True,
        disable=args.json,
    ) as bar:
        task = bar.add_task("regrouping", total=None)

        def progress(done: int, total: int) -> None:
            if done in (1, total) or done % 200 == 0:
                bar.update(task, completed=done, total=total)

        async with open_database(config.database.path) as db:
            report = await StoryService(db).rebuild(progress)
    if args.json:
        from bot.cli.output import print_json

        print_json(
            {
                "articles": report.articles,
                "stories_before": report.stories_before,
                "stories_after": report.stories_after,
                "multi_item_stories": report.multi_item_stories,
                "largest_story": report.largest,
            }
        )
    else:
        print(
            f"regrouped {report.articles} articles: {report.stories_before} stories before, "
            f"{report.stories_after} after ({report.multi_item_stories} with more than one item, "
            f"largest {report.largest} items)"
        )
    return 0

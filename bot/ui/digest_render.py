"""Pure builders for digests: planned messages into ``discord.Embed``, and the /digest replies.

Planned messages (``bot.domain.digest.MessagePlan``) are already within Discord's limits and their
article text already escaped; :func:`embed_from_spec` only converts. Replies about subscriptions go
through ``bot.ui.embeds.rendered`` like every other builder.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from zoneinfo import ZoneInfo

import discord

from bot.domain.digest import DigestPlan, Subscription, SubscriptionState
from bot.domain.digest_messages import EmbedSpec, MessagePlan
from bot.services.digest import RunResult, SubscriptionStatus
from bot.ui.embeds import COLOUR, Rendered, rendered
from bot.ui.text import md, plain

STATE_LABEL = {
    SubscriptionState.ACTIVE: "✅ active",
    SubscriptionState.FAILING: "⚠️ failing",
    SubscriptionState.PAUSED: "⏸️ paused",
}


def embed_from_spec(spec: EmbedSpec) -> discord.Embed:
    embed = discord.Embed(
        title=spec.title,
        url=spec.url,
        description=spec.description,
        colour=spec.color,
        timestamp=spec.timestamp,
    )
    if spec.footer:
        embed.set_footer(text=spec.footer)
    if spec.thumbnail_url:
        embed.set_thumbnail(url=spec.thumbnail_url)
    return embed


def message_kwargs(message: MessagePlan) -> dict:
    """Keyword arguments for ``Messageable.send`` / ``followup.send``."""
    return {
        "content": message.content,
        "embeds": [embed_from_spec(e) for e in message.embeds],
        "allowed_mentions": discord.AllowedMentions.none(),
    }


def local_time(dt: datetime, zone_name: str) -> str:
    """``Tue 4 Jun 08:30 BST`` in the subscription's zone."""
    local = dt.astimezone(ZoneInfo(zone_name))
    return f"{local:%a} {local.day} {local:%b %H:%M} {local.tzname()}"


def describe(sub: Subscription) -> str:
    """One line: where, when, and what."""
    what = []
    what.append(f"topics {', '.join(sub.topics)}" if sub.topics else "all topics")
    if sub.min_quality:
        what.append(f"quality ≥ {sub.min_quality}")
    what.append(f"up to {sub.max_stories} stories")
    if sub.include:
        what.append(f"with {' / '.join(sub.include)}")
    if sub.exclude:
        what.append(f"without {' / '.join(sub.exclude)}")
    return f"<#{sub.channel_id}> daily at **{sub.time_text}** {sub.timezone} · " + md(
        " · ".join(what), 600
    )


def _title(sub: Subscription) -> str:
    return f"#{sub.id} {plain(sub.name, 200)}"


def _named(sub: Subscription) -> str:
    """The digest in message content (markdown rendered): its name escaped."""
    return f"digest #{sub.id} ({md(sub.name, 100)})"


def subscribed(sub: Subscription, next_run: datetime, verb: str = "Subscribed") -> Rendered:
    embed = discord.Embed(title=f"{verb}: {_title(sub)}", colour=COLOUR, description=describe(sub))
    embed.add_field(name="Next digest", value=local_time(next_run, sub.timezone), inline=False)
    return rendered([embed])


def subscription_list(subs: Sequence[Subscription]) -> Rendered:
    if not subs:
        return rendered([], "No digests in this server yet. Add one with `/digest subscribe`.")
    embed = discord.Embed(title=f"Digests in this server ({len(subs)})", colour=COLOUR)
    for sub in subs[:25]:
        embed.add_field(
            name=f"{_title(sub)} · {STATE_LABEL[sub.state]}", value=describe(sub), inline=False
        )
    return rendered([embed])


def status_page(
    statuses: Sequence[SubscriptionStatus], problems: dict[int, str] | None = None
) -> Rendered:
    """``problems[sub_id]``: why the bot cannot post in that digest's channel right now (e.g.
    "I am missing Send Messages there")."""
    problems = problems or {}
    if not statuses:
        return rendered([], "No digests in this server yet. Add one with `/digest subscribe`.")
    embed = discord.Embed(title="Digest status", colour=COLOUR)
    for st in statuses[:25]:
        sub, run = st.subscription, st.last_run
        lines = [f"<#{sub.channel_id}> · {STATE_LABEL[sub.state]}"]
        if sub.id in problems:
            lines.append(f"**Cannot post:** {problems[sub.id]}")
        if st.next_run is not None:
            unix = int(st.next_run.timestamp())
            lines.append(f"**Next run:** {local_time(st.next_run, sub.timezone)} (<t:{unix}:R>)")
        else:
            lines.append("**Next run:** none while paused; `/digest edit` resumes it")
        if run is not None:
            when = local_time(run.updated_at or run.scheduled_for, sub.timezone)
            label = (
                "retrying" if run.is_open and "retrying" in (run.error or "") else str(run.status)
            )
            outcome = label + (f": {md(run.error, 400)}" if run.error else "")
            sent = f" ({len(run.sent_message_ids)}/{len(run.messages)} messages)"
            lines.append(f"**Last run:** {when} for {run.local_date:%d %b} · {outcome}{sent}")
        elif sub.last_outcome:
            lines.append(f"**Last run:** {sub.last_outcome}")
        else:
            lines.append("**Last run:** not yet")
        if sub.last_error:
            lines.append(f"**Last error:** {md(sub.last_error, 300)}")
        embed.add_field(name=_title(sub), value="\n".join(lines)[:1024], inline=False)
    return rendered([embed])


def preview_intro(sub: Subscription, plan: DigestPlan) -> str:
    if not plan.messages:
        return (
            f"**Preview of {_title(sub)}:** nothing new since the last digest, so nothing would "
            "be posted now."
        )
    return (
        f"**Preview of {_title(sub)}:** {len(plan.stories)} stories in {len(plan.messages)} "
        f"message(s), exactly as they would be posted in <#{sub.channel_id}> now."
    )


def send_result(sub: Subscription, result: RunResult) -> str:
    """The /digest send-now reply, in words."""
    where = f"<#{sub.channel_id}>"
    if result.status == "sent":
        text = (
            f"Posted {_named(sub)} in {where}: {result.stories} "
            f"stor{'y' if result.stories == 1 else 'ies'} in {result.messages_sent} "
            f"message{'' if result.messages_sent == 1 else 's'}."
        )
        if result.dropped:
            ids = ", ".join(f"#{s}" for s in result.dropped)
            text += f" Discord refused story {ids}, so it was left out (see `/digest status`)."
        return text
    if result.status == "empty":
        if result.messages_sent:
            return f"Nothing new since the last digest in {where}; posted a short note saying so."
        return f"Nothing new since the last digest in {where}, so nothing was posted."
    if result.status == "failed":
        return (
            f"Could not post {_named(sub)} in {where}: {md(result.error, 300)}. "
            "See `/digest status`."
        )
    if result.status == "interrupted":
        return (
            f"The bot is shutting down, so {_named(sub)} was not finished in {where}; the rest "
            "is posted when it is back."
        )
    return (
        f"{_named(sub).capitalize()} is already being posted in {where}, so nothing more was "
        "sent. See `/digest status`."
    )

"""/digest replies in words, with user text escaped, and /digest status naming what stops the
bot from posting (issue 9 item 5, issue 8 "Also")."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.test_digest_discord import DAY1, digest_env, make_sub

pytestmark = pytest.mark.usefixtures("on_each_backend")  # both backends


async def test_send_now_replies_in_words(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=2) as env:
        sub = await make_sub(env, name="**Bold** @everyone")
        env.clock.set(DAY1)
        handle = await env.slash("send-now", digest=sub.id)
        await handle.response()
        [reply] = await handle.followups(1)
        text = reply["content"]
        assert text.startswith(f"Posted digest #{sub.id} (\\*\\*Bold\\*\\* @\u200beveryone) in <#")
        assert "2 stories in 1 message." in text
        handle = await env.slash("send-now", digest=sub.id)
        await handle.response()
        [reply] = await handle.followups(1)
        channel = env.channel("news")
        assert reply["content"] == (
            f"Nothing new since the last digest in <#{channel}>, so nothing was posted."
        )
        assert ": noop" not in reply["content"] and ": empty" not in reply["content"]


async def test_unsubscribe_escapes_the_name(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=0) as env:
        sub = await make_sub(env, name="__x__ <@1>")
        reply = await (await env.slash("unsubscribe", digest=sub.id)).response()
        content = reply["data"]["content"]
        assert "\\_\\_x\\_\\_" in content and "<@1>" not in content


async def test_status_names_the_missing_permission(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=0) as env:
        await make_sub(env, channel="read-only")
        await make_sub(env, channel="no-embeds", time="09:00")
        await make_sub(env, channel="news", time="10:00")
        handle = await env.slash("status")
        await handle.response()
        fields = (await handle.message())["embeds"][0]["fields"]
        values = [f["value"] for f in fields]
        assert "**Cannot post:** I am missing Send Messages, Embed Links there" in values[0]
        assert "**Cannot post:** I am missing Embed Links there" in values[1]
        assert "Cannot post" not in values[2]


async def test_an_identical_subscription_is_refused_in_the_reply(tmp_path: Path) -> None:
    async with digest_env(tmp_path, n_stories=0) as env:
        options = {"channel": "news", "time": "08:00", "timezone": "UTC"}
        first = await (await env.slash("subscribe", **options)).response()
        assert "Subscribed" in first["data"]["embeds"][0]["title"]
        again = await (await env.slash("subscribe", **options)).response()
        assert "already posts exactly this" in again["data"]["content"]
        assert len(await env.digests.subscriptions(env.double.world.guild.id)) == 1

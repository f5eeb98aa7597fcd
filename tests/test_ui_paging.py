"""Previous / Next buttons: the invoker turns pages, others are refused, and the buttons expire."""

from __future__ import annotations

import pytest

from bot.ui.views import REFUSAL
from tests.factories import related, write_article
from tests.support.ui_harness import buttons, is_ephemeral, iso, running_bot

pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("on_each_backend")]


async def test_the_invoker_turns_pages_forward_and_back(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("news")
        first = (await handle.response())["data"]
        assert len(first["embeds"]) == 5
        assert first["embeds"][0]["footer"]["text"].endswith(" · rank 1")
        shown = buttons(first)
        assert shown["Previous"]["disabled"] is True
        assert not shown["Next"].get("disabled")

        press = await env.double.component(shown["Next"]["custom_id"])
        response = await press.response()
        assert response["type"] == 7  # the message is updated in place
        second = response["data"]
        assert second["content"].endswith("page 2")
        assert second["embeds"][0]["footer"]["text"].endswith(" · rank 6")
        assert second["allowed_mentions"] == {"parse": []}
        shown = buttons(second)
        assert not shown["Previous"].get("disabled")

        press = await env.double.component(shown["Previous"]["custom_id"])
        back = (await press.response())["data"]
        assert back["embeds"][0]["footer"]["text"].endswith(" · rank 1")
        assert buttons(back)["Previous"]["disabled"] is True


async def test_last_page_disables_next(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("topics")  # 33 topics, 20 a page
        first = (await handle.response())["data"]
        next_id = buttons(first)["Next"]["custom_id"]
        second = (await (await env.double.component(next_id)).response())["data"]
        assert second["embeds"][0]["footer"]["text"] == "Page 2 · topics 21–33"
        assert buttons(second)["Next"]["disabled"] is True


async def test_story_coverage_pages(tmp_path):
    async with running_bot(tmp_path) as env:
        # a story of 1 article and 25 related items: three pages of coverage
        items = [
            related(
                # the outlet named, not numbered: "outlet 3" would be a numbered slot, and
                # items numbering one slot differently are different events (docs/stories.md)
                f"Zeppelin lands on the moon, O{i} reports",
                f"https://other{i}.example/x",
                iso(1),
                provider=f"O{i}",
                excerpt="A zeppelin landed on the moon today.",
            )
            for i in range(25)
        ]
        write_article(
            env.src,
            "big.md",
            "Zeppelin lands on the moon",
            "https://big.example/a",
            published=iso(1),
            excerpt="A zeppelin landed on the moon today.",
            related_items=items,
        )
        await env.services.ingest.ingest([str(env.src)])
        handle = await env.double.slash("story", {"article": "https://big.example/a"})
        first = (await handle.response())["data"]
        assert first["embeds"][1]["footer"]["text"] == "Page 1 of 3"
        next_id = buttons(first)["Next"]["custom_id"]
        second = (await (await env.double.component(next_id)).response())["data"]
        assert second["embeds"][1]["footer"]["text"] == "Page 2 of 3"


async def test_someone_else_is_refused_ephemerally(tmp_path):
    async with running_bot(tmp_path) as env:
        handle = await env.double.slash("news", user="alice")
        first = (await handle.response())["data"]
        next_id = buttons(first)["Next"]["custom_id"]

        press = await env.double.component(next_id, user="mod")
        response = await press.response()
        assert response["type"] == 4
        assert is_ephemeral(response["data"])
        assert response["data"]["content"] == REFUSAL
        # alice's message is untouched and her buttons still work
        assert handle.original["embeds"][0]["footer"]["text"].endswith(" · rank 1")
        press = await env.double.component(next_id, user="alice")
        assert (await press.response())["type"] == 7


async def test_buttons_are_disabled_when_the_view_times_out(tmp_path):
    async with running_bot(tmp_path, page_timeout=0.3) as env:
        handle = await env.double.slash("news")
        await handle.response()
        (edit,) = await env.double.wait_for(
            "PATCH", r"^/webhooks/\d+/[^/]+/messages/@original$", timeout=5
        )
        assert edit.json["allowed_mentions"] == {"parse": []}
        shown = buttons(handle.original)
        assert shown["Previous"]["disabled"] is True
        assert shown["Next"]["disabled"] is True
        assert handle.original["embeds"][0]["footer"]["text"].endswith(" · rank 1")  # content kept

"""Issue 10 (ingest bar): the parser processes compute the grouping's tokens, the writer uses them.

The tokens travel with the parse result (``bot.ingest.wire``) and are only a cache of
``item_tokens`` keyed by the exact (title, excerpt): the stories must be the same whether the
writer received them or computed them itself.
"""

from __future__ import annotations

import shutil
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from bot.domain.models import SourceFile
from bot.domain.stories import StoryEngine, item_terms, item_tokens, terms_of
from bot.domain.story_memory import InMemoryStore
from bot.ingest.loader import parse_batch
from bot.ingest.wire import Unpacker, pack
from bot.storage.articles import write_batch
from bot.storage.db import configure, migrate
from tests.factories import SEEDS, related, write_article
from tests.support.stories import BACKGROUND


def test_terms_from_tokens_equal_item_terms_in_order() -> None:
    cases = [
        ("Vikings Season 3, Episode 9 recap", "Ragnar returns; episode 10 next week"),
        ("Search for MH370 widens", None),
        ("Café owners say the café is open", "Owners' café, again"),
        ("", ""),
    ]
    for title, excerpt in cases:
        direct = item_terms(title, excerpt)
        via = terms_of(item_tokens(title, excerpt))
        assert list(direct.items()) == list(via.items())  # same weights, same order


def test_engine_uses_prepared_tokens_only_for_the_exact_text() -> None:
    engine = StoryEngine(InMemoryStore())
    engine.prepared[("Quasar engine fires", None)] = (("zzz",), (), ())
    assert set(engine.vector("Quasar engine fires", None)) == {"zzz"}
    # another excerpt is another key: computed as usual
    assert set(engine.vector("Quasar engine fires", "")) == set(
        item_terms("Quasar engine fires", "")
    )


def _files(folder: Path) -> list[Path]:
    paths = [Path(shutil.copy(p, folder / p.name)) for p in sorted(SEEDS.iterdir())]
    for i, title in enumerate(BACKGROUND):
        paths.append(
            write_article(
                folder,
                f"n{i:03d}.md",
                title,
                f"https://n{i}.example/a",
                published="2022-03-24T12:00:00Z",
                related_items=[
                    related(BACKGROUND[(i + 1) % len(BACKGROUND)], f"https://r{i}.example/near",
                            "2022-03-25T08:00:00Z"),
                    related("Old coverage of something else", f"https://r{i}.example/old",
                            "2021-01-01T00:00:00Z"),
                ],
            )
        )  # fmt: skip
    return paths


def _stories(results, db: Path) -> list[set[str]]:
    conn = sqlite3.connect(db, isolation_level=None)
    configure(conn)
    migrate(conn, str(db))
    entries = [
        (SourceFile(r.path, r.size, r.mtime_ns, r.digest), r.parsed, r.error) for r in results
    ]
    write_batch(conn, entries, int(datetime(2022, 3, 26, tzinfo=UTC).timestamp()))
    groups: dict[int, set[str]] = {}
    for story, url in conn.execute("SELECT story_id, url FROM items WHERE story_id IS NOT NULL"):
        groups.setdefault(story, set()).add(url)
    conn.close()
    return sorted(groups.values(), key=sorted)


def test_tokens_cross_the_process_boundary_and_give_the_same_stories(tmp_path: Path) -> None:
    folder = tmp_path / "in"
    folder.mkdir()
    jobs = [(str(p), None) for p in _files(folder)]
    plain = parse_batch(jobs, 10_000_000)
    packed = Unpacker().unpack([pack(r) for r in plain])
    assert all(r.parsed is not None and r.parsed.tokens is None for r in plain)

    one = next(r.parsed for r in packed if r.path.endswith("n000.md"))
    assert one is not None and one.tokens is not None
    article = one.article
    assert one.tokens[0] == item_tokens(article.title, article.excerpt)
    near, old = one.tokens[1]
    assert near == item_tokens(article.related[0].title, article.related[0].excerpt)
    assert old is None  # outside the grouping window of the article: never grouped

    with_tokens = _stories(packed, tmp_path / "tokens.db")
    without = _stories(plain, tmp_path / "plain.db")
    assert with_tokens == without
    assert any(len(s) > 1 for s in with_tokens)  # the seed story at least

"""Builders for hand-made article files used across the tests."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

SEEDS = Path(__file__).resolve().parents[1] / "seeds"
SHARED_CORPUS = Path(__file__).resolve().parents[2] / "shared" / "corpus"


def related(
    title: str,
    url: str,
    published: str,
    *,
    quality: int = 50,
    provider: str = "Example",
    excerpt: str | None = None,
) -> dict[str, Any]:
    item: dict[str, Any] = {
        "title": title,
        "webUrl": url,
        "publishedDateTime": published,
        "type": "article",
        "provider": {"name": provider, "domain": provider.lower().replace(" ", "") + ".com"},
        "quality": quality,
    }
    if excerpt:
        item["excerpt"] = excerpt
    return item


def article_text(
    title: str,
    url: str,
    published: str = "2024-05-01T10:00:00Z",
    *,
    excerpt: str | None = "An excerpt.",
    quality: int | None = 70,
    heat: int | None = -1,
    provider: str = "Example News",
    topics: list[str] | None = None,
    related_items: list[dict[str, Any]] | None = None,
    image: str | None = None,
    removed: bool = False,
    extra: dict[str, Any] | None = None,
) -> str:
    data: dict[str, Any] = {
        "category": "news",
        "title": title,
        "webUrl": url,
        "publishedDateTime": published,
        "type": "article",
        "provider": {"name": provider, "domain": provider.lower().replace(" ", "") + ".com"},
        "topics": topics if topics is not None else ["AI"],
    }
    if excerpt is not None:
        data["excerpt"] = excerpt
    if quality is not None:
        data["quality"] = quality
    if heat is not None:
        data["heat"] = heat
    if image:
        data["images"] = [{"url": image, "width": 600, "height": 400}]
    if related_items:
        data["related"] = related_items
    if removed:
        data["removed"] = True
    if extra:
        data.update(extra)
    return "---\n" + yaml.safe_dump(data, sort_keys=False, allow_unicode=True) + "---\n"


def write_article(folder: Path, name: str, title: str, url: str, **kwargs: Any) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(article_text(title, url, **kwargs), encoding="utf-8")
    return path

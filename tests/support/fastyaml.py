"""The yaml_rs fast path for tests: it only ever runs in a spawned process that enabled it (as the
bot's parser processes do), never in the test process."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager

import yaml

from bot.ingest.yamlload import enable_fast_path, fast_path_enabled, load_front_matter


def outcome(text: str, fast: bool) -> tuple[str, object]:
    """What loading ``text`` gives: ("ok", value) or ("error", (exception type, message))."""
    try:
        return "ok", load_front_matter(text, fast=fast)
    except (yaml.YAMLError, ValueError, TypeError) as err:
        return "error", (type(err), str(err))


def enabled() -> bool:
    return fast_path_enabled()


@contextmanager
def fast_process() -> Iterator[ProcessPoolExecutor]:
    """One spawned process with the fast path enabled."""
    pool = ProcessPoolExecutor(
        max_workers=1,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=enable_fast_path,
    )
    try:
        yield pool
    finally:
        pool.shutdown(wait=True)

"""Issue 8 items 1 and 15: yaml_rs never runs in the bot's process, the parser processes are
reused, restarted when one dies, and end with their parent. Child programs run in subprocesses
(tests/support/pool_child.py) so that a native crash is a return code, not a dead test run."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from bot.ingest.pool import ParserPool
from bot.ingest.wire import Unpacker
from bot.ingest.yamlload import FAST_YAML, fast_path_enabled
from tests.factories import write_article
from tests.support.ingest import PYTHON, ROOT, python_env


def child(what: str, folder: Path, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PYTHON, "-m", "tests.support.pool_child", what, str(folder)],
        cwd=ROOT,
        env=python_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )


def test_loader_used_from_successive_threads_is_safe(tmp_path: Path) -> None:
    """The reproducer: loads in thread A, join A, loads in thread B (five times over)."""
    done = child("threads", tmp_path)
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    assert json.loads(done.stdout) == {"yaml_rs_loaded": False}


def test_the_fast_path_is_off_in_this_process() -> None:
    assert not fast_path_enabled()


@pytest.mark.timeout(600)
def test_many_rescans_with_files_added_between_them(tmp_path: Path) -> None:
    done = child("stress", tmp_path, timeout=540)
    assert done.returncode == 0, (done.returncode, done.stderr[-3000:])
    out = json.loads(done.stdout)
    assert out["runs"] >= 41 and out["pool_started"]
    assert out["articles"] == out["added"]
    assert out["rejected"] == [] and out["restarts"] == 0
    assert out["yaml_rs_loaded"] is False


def _gone(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return True
    return state in ("Z", "X")  # a zombie has ended (its new parent reaps it)


@pytest.mark.skipif(not Path("/proc").is_dir(), reason="needs /proc")
@pytest.mark.timeout(300)
def test_killing_the_parent_ends_the_parser_processes_and_the_resource_tracker(
    tmp_path: Path,
) -> None:
    proc = subprocess.Popen(
        [PYTHON, "-m", "tests.support.pool_child", "hold", str(tmp_path)],
        cwd=ROOT,
        env=python_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline()
        assert line, "the child ended before starting its pool"
        info = json.loads(line)
        pids = list(info["workers"]) + ([info["tracker"]] if info["tracker"] else [])
        assert info["workers"], info
        assert not any(_gone(pid) for pid in pids)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.monotonic() + 60
        while not all(_gone(pid) for pid in pids):
            assert time.monotonic() < deadline, [p for p in pids if not _gone(p)]
            time.sleep(0.05)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


@pytest.mark.timeout(300)
async def test_a_dead_worker_is_replaced_and_its_files_are_parsed_again(tmp_path: Path) -> None:
    files = [
        write_article(tmp_path, f"{i}.md", f"Title {i}", f"https://w.example/{i}") for i in range(3)
    ]
    jobs = [(str(p), None) for p in files]
    pool = ParserPool(1)
    try:
        first = Unpacker().unpack(await pool.parse(jobs[:1], 1_000_000))
        assert first[0].parsed is not None
        [pid] = pool.pids()
        os.kill(pid, signal.SIGKILL)
        broken = pool._pool
        deadline = time.monotonic() + 60
        while not getattr(broken, "_broken", False):  # the executor notices the death
            assert time.monotonic() < deadline
            await asyncio.to_thread(time.sleep, 0.02)
        results = Unpacker().unpack(await pool.parse(jobs, 1_000_000))
        assert [r.parsed.article.title for r in results] == ["Title 0", "Title 1", "Title 2"]
        assert pool.restarts == 1
        again = Unpacker().unpack(await pool.parse(jobs[1:], 1_000_000))  # a fresh pool
        assert [r.error for r in again] == [None, None]
    finally:
        await pool.close()
    assert pool.pids() == []


@pytest.mark.skipif(not FAST_YAML, reason="yaml_rs is not installed")
async def test_the_parser_processes_use_the_fast_path(tmp_path: Path) -> None:
    pool = ParserPool(1)
    try:
        loop = asyncio.get_running_loop()
        pool._pool = pool._new(1, fast=True)
        assert await loop.run_in_executor(pool._pool, fast_path_enabled)
    finally:
        await pool.close()


@pytest.mark.timeout(300)
async def test_a_file_that_kills_its_parser_is_rejected_with_a_reason_and_the_rest_parse(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from bot.ingest import pool as pool_mod
    from tests.support import crash

    monkeypatch.setattr(pool_mod, "parse_batch_packed", crash.parse_or_die)
    good = [write_article(tmp_path, f"{i}.md", f"T{i}", f"https://k.example/{i}") for i in range(2)]
    bad = write_article(tmp_path, "crash.md", "Boom", "https://k.example/boom")
    jobs = [(str(good[0]), None), (str(bad), None), (str(good[1]), None)]
    pool = ParserPool(1)
    try:
        results = Unpacker().unpack(await pool.parse(jobs, 1_000_000))
        assert [r.path for r in results] == [p for p, _ in jobs]
        assert results[0].parsed is not None and results[2].parsed is not None
        assert results[1].parsed is None and results[1].error == pool_mod.WORKER_DIED
        assert results[1].size == bad.stat().st_size  # recorded as it is: retried once it changes
        assert pool.restarts == 1
        after = Unpacker().unpack(await pool.parse(jobs[:1], 1_000_000))  # the pool was replaced
        assert after[0].parsed is not None
    finally:
        await pool.close()

"""``python -m tests.support.crashing_cli ARGS``: the real ``newsbot`` CLI with a fault injected.

``CRASH_ACTION`` says what happens right after the ``CRASH_AFTER``-th ingest batch has committed:

- ``exit``: the process dies on the spot (``os._exit``: no cleanup at all, like SIGKILL);
- ``sigterm`` / ``sigint``: the process sends itself that signal (a service stop, or Ctrl-C);
- ``ctrl-c``: SIGINT to the whole process group, parser processes included, as a terminal does
  (run it in its own session: :func:`tests.support.cli.crashing` does);
``CRASH_BATCH`` fixes the batch size, so that the files committed before the fault are known.

- ``full``: every later write fails as on a full disk (SQLite's SQLITE_FULL, "database or disk
  is full", the error ENOSPC gives), by capping the database's page count.
"""

from __future__ import annotations

import os
import signal
import sys

import bot.services.ingest as ingest_module
import bot.storage.article_repo as article_repo
from bot.cli import main

ACTION = os.environ.get("CRASH_ACTION", "")
AFTER = int(os.environ.get("CRASH_AFTER", "1"))
_original = article_repo.write_batch
_count = 0


def write_batch(conn, *args, **kwargs):
    global _count
    result = _original(conn, *args, **kwargs)  # committed when it returns
    _count += 1
    if _count == AFTER:
        if ACTION == "exit":
            os._exit(9)
        elif ACTION == "sigterm":
            os.kill(os.getpid(), signal.SIGTERM)
        elif ACTION == "sigint":
            os.kill(os.getpid(), signal.SIGINT)
        elif ACTION == "ctrl-c":  # what a terminal does: SIGINT to the whole process group
            os.killpg(os.getpgid(0), signal.SIGINT)
        elif ACTION == "full":
            (pages,) = conn.execute("PRAGMA page_count").fetchone()
            conn.execute(f"PRAGMA max_page_count = {pages}")
    return result


article_repo.write_batch = write_batch  # type: ignore[assignment]
if os.environ.get("CRASH_BATCH"):  # fixed-size batches: the crash lands after exactly N files
    ingest_module.BATCH = ingest_module.MIN_BATCH = int(os.environ["CRASH_BATCH"])

if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

"""Feed polling benchmark: prints the figures the feeds issue names, in one run.

    python bench/feeds.py [--feeds 5000] [--entries 20]

A feed server (a separate process: one aiohttp server on 127.0.0.1, a path per feed, real ETags)
serves N feeds of M entries: titles of 6-9 words and summaries of 30 drawn from a vocabulary of
60,000 random words, published over the last 3 days (all inside one story-grouping window).
``newsbot feeds poll --json`` then runs as a subprocess, three times,
on the same database:

(a) the first poll of every feed: fetch, parse (spawned worker processes), store, group stories;
(b) a poll where every feed answers 304 Not Modified;
(c) a poll where 10% of the feeds changed (two new entries each, two old ones gone).

For each: wall time, CPU seconds (user + system of the poll process and its parser workers) and
peak RSS (the largest of those processes, ru_maxrss). Between polls every feed is made due again
(the benchmark clears next_fetch_at). The server's own CPU is not counted (other process).
Bars: (a) <= 120 s, (b) <= 10 s, (c) <= 20 s, peak RSS <= 250 MB.

The host allows private addresses here (the server is 127.0.0.1) and, since every feed is on one
host, raises ``per_host`` to the global concurrency (50); defaults are 20 and 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import resource
import sqlite3
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from xml.sax.saxutils import escape

ROOT = Path(__file__).resolve().parents[1]
BARS = {"a": 120.0, "b": 10.0, "c": 20.0}
RSS_BAR_MB = 250.0
CONCURRENCY = 50


# -- the server ---------------------------------------------------------------------------------
def _vocabulary(rng: random.Random, n: int = 60_000) -> list[str]:
    """Random lower-case words of 4-10 letters (few shared prefixes, like real title words)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    words: set[str] = set()
    while len(words) < n:
        words.add("".join(rng.choice(letters) for _ in range(rng.randint(4, 10))))
    return sorted(words)


class Feeds:
    def __init__(self, n_feeds: int, n_entries: int, seed: int = 7) -> None:
        self.rng = random.Random(seed)
        self.words = _vocabulary(self.rng)
        self.now = datetime.now(UTC)
        self.n_entries = n_entries
        self.serial = 0
        self.entries = [[self._entry(f) for _ in range(n_entries)] for f in range(n_feeds)]
        self.version = [1] * n_feeds
        self.bodies: dict[int, bytes] = {}

    def _entry(self, feed: int) -> tuple[str, str, str, datetime]:
        self.serial += 1
        title = " ".join(self.rng.choice(self.words) for _ in range(self.rng.randint(6, 9)))
        summary = " ".join(self.rng.choice(self.words) for _ in range(30))
        link = f"https://site{feed % 500}.example.com/{feed}/story-{self.serial}"
        published = self.now - timedelta(minutes=self.rng.randint(0, 3 * 24 * 60))
        return title.capitalize(), summary, link, published

    def change(self, fraction: float) -> int:
        chosen = self.rng.sample(range(len(self.entries)), int(len(self.entries) * fraction))
        for f in chosen:
            fresh = [self._entry(f) for _ in range(2)]
            for i in range(len(fresh)):
                fresh[i] = (*fresh[i][:3], datetime.now(UTC))
            self.entries[f] = (fresh + self.entries[f])[: self.n_entries]
            self.version[f] += 1
            self.bodies.pop(f, None)
        return len(chosen)

    def body(self, f: int) -> bytes:
        body = self.bodies.get(f)
        if body is None:
            parts = [
                '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel>',
                f"<title>Feed {f}</title><link>https://site{f % 500}.example.com/</link>",
            ]
            for title, summary, link, published in self.entries[f]:
                parts.append(
                    f"<item><title>{escape(title)}</title><link>{link}</link>"
                    f"<guid>{link}</guid><pubDate>{published:%a, %d %b %Y %H:%M:%S} GMT</pubDate>"
                    f"<description>{escape(summary)}</description><category>Bench</category>"
                    "</item>"
                )
            parts.append("</channel></rss>")
            body = self.bodies[f] = "".join(parts).encode()
        return body


async def serve(n_feeds: int, n_entries: int, port_file: str) -> None:
    from aiohttp import web

    feeds = Feeds(n_feeds, n_entries)

    async def feed(request: web.Request) -> web.Response:
        f = int(request.match_info["n"])
        etag = f'"{f}-{feeds.version[f]}"'
        if request.headers.get("If-None-Match") == etag:
            return web.Response(status=304, headers={"ETag": etag})
        return web.Response(
            body=feeds.body(f), headers={"ETag": etag, "Content-Type": "application/rss+xml"}
        )

    async def change(request: web.Request) -> web.Response:
        return web.json_response({"changed": feeds.change(float(request.query["fraction"]))})

    app = web.Application()
    app.router.add_get("/feed/{n}.xml", feed)
    app.router.add_get("/change", change)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0, backlog=2048)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    await asyncio.to_thread(Path(port_file).write_text, str(port))
    await asyncio.Event().wait()


# -- the runs -----------------------------------------------------------------------------------
def newsbot(config: Path, *args: str) -> tuple[float, float, float, dict | str]:
    """Run a newsbot command; (wall s, CPU s, peak RSS MiB of it or its workers, output)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "bot", "--config", str(config), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        sys.exit(f"newsbot {' '.join(args)} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    try:
        out: dict | str = json.loads(proc.stdout)
    except json.JSONDecodeError:
        out = proc.stdout
    return wall, cpu, after.ru_maxrss / 1024, out


def make_due(db: Path) -> None:
    conn = sqlite3.connect(db)
    with conn:
        conn.execute("UPDATE sources SET next_fetch_at = NULL WHERE kind = 'feed'")
    conn.close()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=5000)
    parser.add_argument("--entries", type=int, default=20)
    parser.add_argument("--serve", metavar="PORT_FILE", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(args.feeds, args.entries, args.serve))
        return 0

    with tempfile.TemporaryDirectory(prefix="newsbot-bench-feeds-") as tmp:
        work = Path(tmp)
        port_file = work / "port"
        server = subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--serve",
                str(port_file),
                "--feeds",
                str(args.feeds),
                "--entries",
                str(args.entries),
            ],
        )
        try:
            for _ in range(600):
                if port_file.exists() and port_file.read_text():
                    break
                time.sleep(0.1)
            port = int(port_file.read_text())
            db = work / "bench.db"
            config = work / "config.toml"
            config.write_text(
                f'[database]\npath = "{db}"\n[feeds]\nallow_private_addresses = true\n'
                f"concurrency = {CONCURRENCY}\nper_host = {CONCURRENCY}\n",
                encoding="utf-8",
            )
            opml = work / "feeds.opml"
            outlines = "".join(
                f'<outline type="rss" text="Feed {f}" '
                f'xmlUrl="http://127.0.0.1:{port}/feed/{f}.xml"/>'
                for f in range(args.feeds)
            )
            opml.write_text(f'<opml version="2.0"><body>{outlines}</body></opml>')
            newsbot(config, "feeds", "import", str(opml), "--json")
            print(
                f"{args.feeds} feeds x {args.entries} entries from 127.0.0.1:{port}; "
                f"{os.cpu_count()} cores (shared with other work: absolute times vary)"
            )
            results = {}
            for phase, what in (
                ("a", "first poll of every feed"),
                ("b", "every feed answers 304"),
                ("c", "10% of the feeds changed"),
            ):
                label = what
                if phase == "c":
                    import urllib.request

                    with urllib.request.urlopen(
                        f"http://127.0.0.1:{port}/change?fraction=0.1"
                    ) as resp:
                        changed = json.loads(resp.read())["changed"]
                    label += f" ({changed} feeds)"
                if phase != "a":
                    make_due(db)
                wall, cpu, rss, out = newsbot(config, "feeds", "poll", "--json")
                assert isinstance(out, dict), out
                results[phase] = (wall, rss)
                ok = "ok" if wall <= BARS[phase] else "OVER"
                print(
                    f"({phase}) {label}: wall {wall:.2f} s, CPU {cpu:.2f} s, peak RSS {rss:.1f} MiB"
                    f" | fetched {out['fetched']}, 304 {out['not_modified']}, failed "
                    f"{out['failed']}, new {out['new']}, updated {out['updated']}, unchanged "
                    f"{out['unchanged']} | bar {BARS[phase]:.0f} s: {ok}"
                )
            conn = sqlite3.connect(db)
            articles, stories = conn.execute(
                "SELECT (SELECT count(*) FROM items WHERE is_article = 1), "
                "(SELECT count(*) FROM stories WHERE article_count > 0)"
            ).fetchone()
            conn.close()
            peak = max(r for _, r in results.values())
            print(
                f"stored {articles} articles in {stories} stories; peak RSS {peak:.1f} MiB, "
                f"bar {RSS_BAR_MB:.0f} MiB: {'ok' if peak <= RSS_BAR_MB else 'OVER'}"
            )
        finally:
            server.terminate()
            server.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())

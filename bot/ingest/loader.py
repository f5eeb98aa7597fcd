"""Finding article files and reading them: paths in, FileResults out.

The only module of ``bot.ingest`` that touches the file system. A bad file never raises: its
``FileResult`` carries the reason in ``error``. :func:`parse_batch` is a top-level function so that
it can run in a ``ProcessPoolExecutor`` worker.
"""

from __future__ import annotations

import glob
import hashlib
import os
import stat
from collections.abc import Sequence
from dataclasses import dataclass

from bot.domain.models import ParsedArticle

__all__ = ["ARTICLE_SUFFIXES", "FileResult", "expand_paths", "parse_batch", "read_and_parse"]

ARTICLE_SUFFIXES = (".md", ".markdown", ".txt")
_GLOB_CHARS = frozenset("*?[")


@dataclass(frozen=True, slots=True)
class FileResult:
    """One file's outcome: parsed, failed (``error``), or skipped as ``unchanged``."""

    path: str
    size: int
    mtime_ns: int
    digest: str
    parsed: ParsedArticle | None
    error: str | None
    unchanged: bool = False


def _walk(folder: str) -> list[str]:
    """Article files under ``folder``, sorted, skipping hidden files and folders."""
    found: list[str] = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(name for name in dirs if not name.startswith("."))
        found.extend(
            os.path.join(root, name)
            for name in sorted(files)
            if not name.startswith(".") and name.lower().endswith(ARTICLE_SUFFIXES)
        )
    return found


def expand_paths(specs: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Turn files, folders and glob patterns into absolute file paths.

    A file is taken whatever its extension; a folder is walked recursively (sorted) for
    ``.md``/``.markdown``/``.txt`` files, hidden files and folders skipped; a pattern is expanded
    with ``glob`` (``**`` recursive), folders it matches being walked like folders. Returns the
    de-duplicated paths in first-seen order and ``(spec, reason)`` for each spec that gives none.
    """
    paths: dict[str, None] = {}
    errors: list[tuple[str, str]] = []
    for spec in specs:
        if os.path.isfile(spec):
            found = [spec]
        elif os.path.isdir(spec):
            found = _walk(spec)
            if not found:
                errors.append((spec, "folder holds no .md, .markdown or .txt files"))
        elif _GLOB_CHARS.intersection(spec):
            found = []
            for match in sorted(glob.glob(spec, recursive=True)):
                if os.path.isdir(match):
                    found.extend(_walk(match))
                elif os.path.isfile(match):
                    found.append(match)
            if not found:
                errors.append((spec, "pattern matches no files"))
        else:
            errors.append((spec, "no such file or folder"))
            continue
        for path in found:
            paths.setdefault(os.path.abspath(path), None)
    return list(paths), errors


def _too_large(size: int, max_bytes: int) -> str:
    return f"file is {size} bytes, larger than the {max_bytes}-byte limit"


def _os_reason(err: OSError) -> str:
    return f"cannot read file: {err.strerror or err}"


def read_and_parse(path: str, *, max_bytes: int, known_digest: str | None = None) -> FileResult:
    """Read and parse one file; never raises for a bad or unreadable file.

    When the content's digest equals ``known_digest`` the file is reported ``unchanged`` and not
    parsed. Files larger than ``max_bytes`` are refused from their size, before reading.
    """
    try:
        info = os.stat(path)  # before opening: opening a FIFO would block
        if not stat.S_ISREG(info.st_mode):
            return FileResult(path, 0, info.st_mtime_ns, "", None, "not a regular file")
        if info.st_size > max_bytes:
            reason = _too_large(info.st_size, max_bytes)
            return FileResult(path, info.st_size, info.st_mtime_ns, "", None, reason)
        with open(path, "rb") as handle:
            content = handle.read(max_bytes + 1)
    except OSError as err:
        return FileResult(path, 0, 0, "", None, _os_reason(err))
    size = len(content)
    if size > max_bytes:  # the file grew after fstat
        return FileResult(path, size, info.st_mtime_ns, "", None, _too_large(size, max_bytes))
    digest = hashlib.blake2b(content, digest_size=16).hexdigest()
    if digest == known_digest:
        return FileResult(path, size, info.st_mtime_ns, digest, None, None, unchanged=True)
    # imported here: a re-ingest that finds nothing changed never loads the YAML parsers
    from bot.ingest.parser import ArticleParseError, parse_article

    try:
        parsed = parse_article(content, max_bytes=max_bytes)
    except ArticleParseError as err:
        return FileResult(path, size, info.st_mtime_ns, digest, None, str(err))
    return FileResult(path, size, info.st_mtime_ns, digest, parsed, None)


def parse_batch(jobs: list[tuple[str, str | None]], max_bytes: int) -> list[FileResult]:
    """``read_and_parse`` for each ``(path, known_digest)``; picklable for process pools."""
    return [read_and_parse(path, max_bytes=max_bytes, known_digest=digest) for path, digest in jobs]

"""Finding article files and reading them: paths in, FileResults out.

The only module of ``bot.ingest`` that touches the file system. A bad file never raises: its
``FileResult`` carries the reason in ``error``. :func:`parse_batch` is a top-level function so that
it can run in a ``ProcessPoolExecutor`` worker.
"""

from __future__ import annotations

import fnmatch
import functools
import glob
import hashlib
import os
import stat
from collections.abc import Iterator, Sequence
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


def _name_matches(name: str, pattern: str) -> bool:
    if name.startswith(".") and not pattern.startswith("."):
        return False  # as glob: wildcards never match a hidden name
    return fnmatch.fnmatchcase(name, pattern)


def _matches(parts: tuple[str, ...], pattern: tuple[str, ...]) -> bool:
    """Whether path components match pattern components, ``**`` meaning any (visible) depth."""

    @functools.cache
    def match(i: int, j: int) -> bool:
        if j == len(pattern):
            return i == len(parts)
        if pattern[j] == "**":
            if match(i, j + 1):
                return True
            return i < len(parts) and not parts[i].startswith(".") and match(i + 1, j)
        return i < len(parts) and _name_matches(parts[i], pattern[j]) and match(i + 1, j + 1)

    return match(0, 0)


def _walk_all(root: str) -> Iterator[tuple[str, ...]]:
    """Every path under ``root`` (itself first) as components, never following a symlinked
    folder (a symlink loop cannot make a walk endless) and never entering a folder twice."""
    seen: set[tuple[int, int]] = set()
    for top, dirs, files in os.walk(root, followlinks=False):
        try:
            info = os.stat(top)
        except OSError:
            dirs[:] = []
            continue
        if (info.st_dev, info.st_ino) in seen:
            dirs[:] = []
            continue
        seen.add((info.st_dev, info.st_ino))
        rel = os.path.relpath(top, root)
        base = () if rel == "." else tuple(rel.split(os.sep))
        if not base:
            yield ()
        dirs.sort()
        for name in dirs:
            yield (*base, name)
        for name in sorted(files):
            yield (*base, name)


def _recursive_glob(spec: str) -> list[str]:
    """``glob.glob(spec, recursive=True)`` without following symlinked folders under ``**``.

    The part before the first ``**`` is expanded with ``glob`` (a bounded depth); each folder it
    gives is walked once, and the paths under it are matched against the rest of the pattern.
    """
    parts = spec.split(os.sep)
    first = parts.index("**")
    prefix = os.sep.join(parts[:first])
    if prefix == "" and spec.startswith(os.sep):
        prefix = os.sep
    roots = sorted(glob.glob(prefix)) if _GLOB_CHARS.intersection(prefix) else [prefix or os.curdir]
    rest = tuple(part for part in parts[first:] if part)
    found: list[str] = []
    for root in roots:
        if not os.path.isdir(root):
            continue
        for rel in _walk_all(root):
            if not prefix and not rel:
                continue  # as glob: "**" alone does not give the current folder itself
            if _matches(rel, rest):
                found.append(os.path.join(*rel) if not prefix else os.path.join(root, *rel))
    return found


def expand_paths(specs: Sequence[str]) -> tuple[list[str], list[tuple[str, str]]]:
    """Turn files, folders and glob patterns into absolute file paths.

    A file is taken whatever its extension; a folder is walked recursively (sorted) for
    ``.md``/``.markdown``/``.txt`` files, hidden files and folders skipped; a pattern is expanded
    like ``glob`` (``**`` recursive, but symlinked folders are never followed there, so a
    symlink loop cannot make it endless), folders it matches being walked like folders. Returns the
    de-duplicated paths in first-seen order and ``(spec, reason)`` for each spec that gives none.
    """
    paths: dict[str, None] = {}
    identities: set[tuple[int, int]] = set()
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
            recursive = "**" in spec.split(os.sep)
            matched = _recursive_glob(spec) if recursive else glob.glob(spec)
            for match in sorted(matched):
                if os.path.isdir(match):
                    found.extend(_walk(match))
                elif os.path.isfile(match):
                    found.append(match)
            if not found:
                errors.append((spec, "pattern matches no files"))
        else:
            errors.append((spec, "no such file or folder"))
            continue
        for spec_path in found:
            path = os.path.abspath(spec_path)
            if path in paths:
                continue
            try:
                info = os.stat(path)
                identity = (info.st_dev, info.st_ino)
            except OSError:  # reported when it is read
                identity = None
            if identity is not None and identity in identities:
                continue  # the same file by another path (a symlink): read once
            if identity is not None:
                identities.add(identity)
            paths[path] = None
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

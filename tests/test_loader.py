"""expand_paths, read_and_parse and parse_batch on real temporary files."""

from __future__ import annotations

import dataclasses
import hashlib
import os
import pickle
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import pytest

from bot.ingest.loader import FileResult, expand_paths, parse_batch, read_and_parse

GOOD = (
    b'---\ntitle: "T"\nwebUrl: "https://example.com/a"\n'
    b"publishedDateTime: 2022-03-24T21:38:00Z\n---\n"
)
LIMIT = 5_000_000


def write(path: Path, data: bytes = GOOD) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    root = tmp_path / "news"
    for name in [
        "b.md",
        "a.markdown",
        "c.txt",
        "D.MD",
        "notes.json",
        "README",
        ".hidden.md",
        ".git/inside.md",
        "sub/z.md",
        "sub/e.md",
        "sub/.cache/f.md",
        "sub/deeper/g.txt",
        "_drafts/h.md",
        "quiet/.x.md",
        "quiet/notes.json",
        "quiet/.deep/y.md",
    ]:
        write(root / name)
    (root / "empty").mkdir()
    return root


def rel(paths: list[str], root: Path) -> list[str]:
    return [os.path.relpath(path, root) for path in paths]


# -- expand_paths ---------------------------------------------------------------------------------


def test_folder_is_walked_sorted_skipping_hidden_and_other_extensions(tree: Path) -> None:
    paths, errors = expand_paths([str(tree)])
    assert errors == []
    assert rel(paths, tree) == [
        "D.MD",
        "a.markdown",
        "b.md",
        "c.txt",
        "_drafts/h.md",
        "sub/e.md",
        "sub/z.md",
        "sub/deeper/g.txt",
    ]
    assert all(os.path.isabs(path) for path in paths)


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        (["notes.json"], ["notes.json"]),  # a file is taken whatever its extension
        ([".hidden.md"], [".hidden.md"]),  # ... and even when hidden, if named
        (["README", "b.md"], ["README", "b.md"]),
        (["*.md"], ["b.md"]),  # glob: case-sensitive, hidden files not matched
        (["sub/*.md"], ["sub/e.md", "sub/z.md"]),
        (["**/*.md"], ["_drafts/h.md", "b.md", "sub/e.md", "sub/z.md"]),
        (["sub/**/*.txt"], ["sub/deeper/g.txt"]),
        (["s?b"], ["sub/e.md", "sub/z.md", "sub/deeper/g.txt"]),  # a matched folder is walked
        (["[ab].*"], ["a.markdown", "b.md"]),
        ([".git"], [".git/inside.md"]),  # a hidden folder named explicitly is walked
        # de-duplicated, first-seen order, normalised
        (
            ["b.md", ".", "sub/../b.md", "./b.md"],
            [
                "b.md",
                "D.MD",
                "a.markdown",
                "c.txt",
                "_drafts/h.md",
                "sub/e.md",
                "sub/z.md",
                "sub/deeper/g.txt",
            ],
        ),
        (["sub", "sub/e.md", "**/e.md"], ["sub/e.md", "sub/z.md", "sub/deeper/g.txt"]),
    ],
)
def test_specs(
    tree: Path, monkeypatch: pytest.MonkeyPatch, specs: list[str], expected: list[str]
) -> None:
    monkeypatch.chdir(tree)
    paths, errors = expand_paths(specs)
    assert errors == []
    assert rel(paths, tree) == expected
    assert all(os.path.isabs(path) and os.path.normpath(path) == path for path in paths)


@pytest.mark.parametrize(
    ("spec", "reason"),
    [
        ("missing.md", "no such file or folder"),
        ("missing-folder", "no such file or folder"),
        ("empty", "folder holds no .md, .markdown or .txt files"),
        ("quiet", "folder holds no .md, .markdown or .txt files"),  # hidden or other kinds only
        ("*.rst", "pattern matches no files"),
        ("nowhere/**/*.md", "pattern matches no files"),
    ],
)
def test_spec_errors(tree: Path, monkeypatch: pytest.MonkeyPatch, spec: str, reason: str) -> None:
    monkeypatch.chdir(tree)
    paths, errors = expand_paths(["b.md", spec])
    assert rel(paths, tree) == ["b.md"]
    assert errors == [(spec, reason)]


def test_no_specs() -> None:
    assert expand_paths([]) == ([], [])


# -- read_and_parse -------------------------------------------------------------------------------


def test_read_and_parse_good_file(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md")
    result = read_and_parse(str(path), max_bytes=LIMIT)
    assert result.error is None
    assert result.parsed is not None and result.parsed.article.title == "T"
    assert result.unchanged is False
    assert result.path == str(path)
    assert result.size == len(GOOD)
    assert result.mtime_ns == path.stat().st_mtime_ns
    assert result.digest == hashlib.blake2b(GOOD, digest_size=16).hexdigest()
    assert len(result.digest) == 32


def test_unchanged_digest_is_not_parsed(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md")
    digest = hashlib.blake2b(GOOD, digest_size=16).hexdigest()
    result = read_and_parse(str(path), max_bytes=LIMIT, known_digest=digest)
    assert result == FileResult(
        str(path), len(GOOD), path.stat().st_mtime_ns, digest, None, None, True
    )


def test_changed_digest_is_parsed(tmp_path: Path) -> None:
    path = write(tmp_path / "a.md")
    result = read_and_parse(str(path), max_bytes=LIMIT, known_digest="0" * 32)
    assert result.unchanged is False
    assert result.parsed is not None


def test_unchanged_skips_even_a_bad_file(tmp_path: Path) -> None:
    path = write(tmp_path / "bad.md", b"not an article")
    digest = hashlib.blake2b(b"not an article", digest_size=16).hexdigest()
    result = read_and_parse(str(path), max_bytes=LIMIT, known_digest=digest)
    assert (result.unchanged, result.error, result.parsed) == (True, None, None)


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (b"", "empty file"),
        (b"title: x\n", "no front matter: the first line is not '---' (line 1)"),
        (
            b"---\ntitle: x\n",
            "front matter is not closed: no '---' line after the opening one (line 1)",
        ),
        (
            b"---\ntitle: \xe9\n---\n",
            "not valid UTF-8: byte 0xe9 at offset 11 (invalid continuation byte) (line 2)",
        ),
        (b"---\ntitle: T\n---\n", "missing url: neither webUrl nor originalUrl is set"),
    ],
)
def test_parse_errors_are_reported(tmp_path: Path, data: bytes, error: str) -> None:
    path = write(tmp_path / "bad.md", data)
    result = read_and_parse(str(path), max_bytes=LIMIT)
    assert result.error == error
    assert result.parsed is None
    assert result.digest == hashlib.blake2b(data, digest_size=16).hexdigest()
    assert result.size == len(data)


@pytest.mark.parametrize(("extra", "ok"), [(0, True), (1, False)])
def test_size_limit_boundary(tmp_path: Path, extra: int, ok: bool) -> None:
    limit = len(GOOD) + 10
    path = write(tmp_path / "a.md", GOOD + b"x" * (10 + extra))
    result = read_and_parse(str(path), max_bytes=limit)
    if ok:
        assert result.error is None
    else:
        assert result.error == f"file is {limit + 1} bytes, larger than the {limit}-byte limit"
        assert (result.size, result.digest, result.parsed) == (limit + 1, "", None)


def test_huge_file_is_refused_without_reading(tmp_path: Path) -> None:
    path = tmp_path / "huge.md"
    with open(path, "wb") as handle:
        handle.truncate(50 * 1024**3)  # sparse: reading it would take minutes and 50 GB
    result = read_and_parse(str(path), max_bytes=LIMIT)
    assert result.error == f"file is {50 * 1024**3} bytes, larger than the {LIMIT}-byte limit"
    assert result.digest == ""


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: p / "missing.md", "cannot read file: No such file or directory"),
        (lambda p: write(p / "file.md") / "child.md", "cannot read file: Not a directory"),
        (lambda p: p, "not a regular file"),
        (lambda p: p / ("x" * 300 + ".md"), "cannot read file: File name too long"),
    ],
    ids=["missing", "not-a-directory", "folder", "name-too-long"],
)
def test_unreadable_paths(tmp_path: Path, make, error: str) -> None:
    result = read_and_parse(str(make(tmp_path)), max_bytes=LIMIT)
    assert result.error == error
    assert (result.parsed, result.digest, result.unchanged) == (None, "", False)


def test_fifo_is_refused_without_blocking(tmp_path: Path) -> None:
    path = tmp_path / "pipe.md"
    os.mkfifo(path)
    assert read_and_parse(str(path), max_bytes=LIMIT).error == "not a regular file"


def test_permission_denied(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "secret.md")
    if os.geteuid() != 0:
        path.chmod(0)
    else:  # root reads everything: make open() fail the way it would for another user

        def refuse(*args: object, **kwargs: object) -> None:
            raise PermissionError(13, "Permission denied", str(path))

        monkeypatch.setattr("builtins.open", refuse)
    result = read_and_parse(str(path), max_bytes=LIMIT)
    monkeypatch.undo()
    assert result.error == "cannot read file: Permission denied"
    assert result.parsed is None


def test_file_result_is_frozen() -> None:
    result = FileResult("p", 1, 2, "d", None, "e")
    assert result.unchanged is False
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.size = 3  # type: ignore[misc]


# -- parse_batch ----------------------------------------------------------------------------------


def batch_jobs(tmp_path: Path) -> list[tuple[str, str | None]]:
    good = write(tmp_path / "good.md")
    same = write(tmp_path / "same.md")
    bad = write(tmp_path / "bad.md", b"oops")
    return [
        (str(good), None),
        (str(same), hashlib.blake2b(GOOD, digest_size=16).hexdigest()),
        (str(bad), None),
        (str(tmp_path / "gone.md"), None),
    ]


def check_batch(results: list[FileResult], jobs: list[tuple[str, str | None]]) -> None:
    assert [r.path for r in results] == [path for path, _ in jobs]
    good, same, bad, gone = results
    assert good.parsed is not None and good.error is None
    assert same.unchanged and same.parsed is None
    assert bad.error == "no front matter: the first line is not '---' (line 1)"
    assert gone.error == "cannot read file: No such file or directory"


def test_parse_batch(tmp_path: Path) -> None:
    jobs = batch_jobs(tmp_path)
    results = parse_batch(jobs, LIMIT)
    check_batch(results, jobs)
    assert pickle.loads(pickle.dumps(results)) == results


def test_parse_batch_in_a_process_pool(tmp_path: Path) -> None:
    jobs = batch_jobs(tmp_path)
    with ProcessPoolExecutor(max_workers=1) as pool:
        results = pool.submit(parse_batch, jobs, LIMIT).result(timeout=60)
    check_batch(results, jobs)
    assert results == parse_batch(jobs, LIMIT)


def test_parse_batch_empty() -> None:
    assert parse_batch([], LIMIT) == []

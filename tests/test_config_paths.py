"""Relative paths in a config file resolve against the file's folder, not the working directory."""

from __future__ import annotations

import os

from bot.config import load_config


def test_relative_paths_in_a_config_file_resolve_against_its_folder(tmp_path, monkeypatch):
    etc = tmp_path / "etc" / "newsbot"
    etc.mkdir(parents=True)
    cfg = etc / "config.toml"
    cfg.write_text(
        '[database]\npath = "data/newsbot.db"\n'
        '[ingest]\nsources = ["articles", "/abs/feed", "more/*.md", "~/news"]\n',
        encoding="utf-8",
    )
    elsewhere = tmp_path / "cwd"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # a service started with no WorkingDirectory
    config = load_config(str(cfg), env={})
    assert config.database.path == str(etc / "data" / "newsbot.db")
    assert config.ingest.sources == (
        str(etc / "articles"),
        "/abs/feed",
        str(etc / "more" / "*.md"),
        os.path.expanduser("~/news"),
    )


def test_defaults_and_the_environment_keep_meaning_the_working_directory(tmp_path):
    cfg = tmp_path / "config.toml"
    cfg.write_text('[database]\npath = ":memory:"\n', encoding="utf-8")
    config = load_config(str(cfg), env={})
    assert config.database.path == ":memory:"
    assert config.ingest.sources == ("seeds",)  # not written in the file: as before
    config = load_config(str(cfg), env={"NEWSBOT_DB": "rel.db"})
    assert config.database.path == "rel.db"

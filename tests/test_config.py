"""Config loading: defaults, every section, env overrides, errors that name the key."""

from __future__ import annotations

import pytest

from bot.config import Config, ConfigError, load_config, parse_config

EXAMPLE = "config.example.toml"


def test_example_config_is_valid_and_equals_the_defaults(monkeypatch):
    config = load_config(EXAMPLE, env={})
    assert config.database == Config().database
    assert config.ingest == Config().ingest
    assert config.digest == Config().digest
    assert config.discord.token == ""


def test_missing_default_file_means_defaults(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert load_config(None, env={}).database.path == "newsbot.db"


def test_missing_explicit_file_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load_config(str(tmp_path / "nope.toml"), env={})
    with pytest.raises(ConfigError, match="not found"):
        load_config(None, env={"NEWSBOT_CONFIG": str(tmp_path / "nope.toml")})


@pytest.mark.parametrize(
    ("doc", "key"),
    [
        ({"digest": {"grace_hours": "six"}}, "grace_hours"),
        ({"digest": {"grace_hours": -1}}, "grace_hours"),
        ({"digest": {"post_when_empty": "yes"}}, "post_when_empty"),
        ({"digest": {"max_subscriptions_per_guild": 2.5}}, "max_subscriptions_per_guild"),
        ({"ingest": {"sources": [1, 2]}}, "sources"),
        ({"ingest": {"workers": 1000}}, "workers"),
        ({"ingest": {"rescan_minuts": 5}}, "rescan_minuts"),
        ({"discord": {"token": 5}}, "token"),
        ({"database": "x.db"}, "database"),
        ({"log_level": "LOUD"}, "log_level"),
        ({"unknown_section": {}}, "unknown_section"),
    ],
)
def test_bad_values_name_the_key(doc, key):
    with pytest.raises(ConfigError, match=key):
        parse_config(doc, source="c.toml")


def test_env_overrides_and_token_is_never_in_repr(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text('[discord]\ntoken = "from-file"\n[ingest]\nsources = "news"\n')
    config = load_config(
        str(path),
        env={
            "DISCORD_TOKEN": "from-env",
            "NEWSBOT_DB": "/tmp/x.db",
            "NEWSBOT_DISCORD_API_BASE": "http://127.0.0.1:1/api/v10",
            "NEWSBOT_DISCORD_GATEWAY": "ws://127.0.0.1:1/gw",
        },
    )
    assert config.discord.token == "from-env"
    assert config.database.path == "/tmp/x.db"
    assert config.ingest.sources == (str(tmp_path / "news"),)  # relative to the file
    assert config.discord.api_base.endswith("/api/v10")
    assert config.discord.gateway_url == "ws://127.0.0.1:1/gw"
    assert "from-env" not in repr(config) and "from-env" not in str(config)


def test_invalid_toml_is_a_config_error(tmp_path):
    path = tmp_path / "c.toml"
    path.write_text("[digest\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(str(path), env={})

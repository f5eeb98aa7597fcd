"""Deployment files: the systemd unit (``systemd-analyze verify`` where it exists), the
Dockerfile and compose.yaml (``docker compose config`` / ``docker-compose config`` where they
exist; static checks always). No Docker engine is needed: the image is not built here."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
UNIT = ROOT / "deploy" / "newsbot.service"


def unit_settings() -> dict[str, list[str]]:
    found: dict[str, list[str]] = {}
    for line in UNIT.read_text(encoding="utf-8").splitlines():
        if "=" in line and not line.startswith(("#", "[")):
            key, _, value = line.partition("=")
            found.setdefault(key.strip(), []).append(value.strip())
    return found


def test_the_unit_has_the_service_essentials_and_hardening():
    s = unit_settings()
    assert s["User"] == ["newsbot"] and s["WorkingDirectory"] == ["/var/lib/newsbot"]
    assert s["Restart"] == ["on-failure"]
    assert s["EnvironmentFile"] == ["/etc/newsbot/newsbot.env"]  # the token, not in the unit
    assert not any("DISCORD_TOKEN" in v for v in s.get("Environment", []))
    assert s["NoNewPrivileges"] == ["yes"] and s["ProtectSystem"] == ["strict"]
    assert s["ReadWritePaths"] == ["/var/lib/newsbot"]
    assert s["KillSignal"] == ["SIGTERM"] and int(s["TimeoutStopSec"][0]) > 10
    assert s["ExecStart"] == ["/opt/newsbot/.venv/bin/newsbot run"]


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="no systemd-analyze here")
def test_systemd_analyze_verify_accepts_the_unit(tmp_path):
    # verify checks that ExecStart exists: point the unit at a stand-in install under tmp_path
    fake = tmp_path / "opt" / ".venv" / "bin" / "newsbot"
    fake.parent.mkdir(parents=True)
    fake.write_text("#!/bin/sh\n", encoding="utf-8")
    fake.chmod(0o755)
    unit = tmp_path / "newsbot.service"
    unit.write_text(
        UNIT.read_text(encoding="utf-8").replace("/opt/newsbot", str(tmp_path / "opt")),
        encoding="utf-8",
    )
    result = subprocess.run(
        ["systemd-analyze", "verify", str(unit)],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=tmp_path,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "newsbot.service" not in result.stderr, result.stderr  # no warning about our unit


def test_the_dockerfile_is_slim_non_root_with_a_volume_and_a_readyz_health_check():
    text = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    assert text.startswith("#") and "FROM python:3.11-slim" in text
    assert "pip install -c constraints.txt" in text
    assert "\nUSER newsbot\n" in text and 'VOLUME ["/data"]' in text
    assert "HEALTHCHECK" in text and "/readyz" in text
    assert "NEWSBOT_HTTP_LISTEN=127.0.0.1:8787" in text
    for copied in ("pyproject.toml", "constraints.txt", "bot"):
        assert (ROOT / copied).exists()
    ignored = (ROOT / ".dockerignore").read_text(encoding="utf-8").split()
    assert {".git", ".venv", "*.db", "config.toml", "*.env"} <= set(ignored)


def test_compose_has_the_bot_a_volume_log_rotation_and_a_health_check():
    doc = yaml.safe_load((ROOT / "compose.yaml").read_text(encoding="utf-8"))
    bot = doc["services"]["bot"]
    assert "newsbot-data:/data" in bot["volumes"] and "newsbot-data" in doc["volumes"]
    assert bot["logging"]["options"]["max-size"] and bot["logging"]["options"]["max-file"]
    assert "/readyz" in " ".join(bot["healthcheck"]["test"])
    assert bot["environment"]["DISCORD_TOKEN"].startswith("${DISCORD_TOKEN")


def _compose() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=30, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.skipif(_compose() is None, reason="neither docker compose nor docker-compose here")
def test_compose_config_accepts_the_file(tmp_path):
    env = {**os.environ, "DISCORD_TOKEN": "x"}
    result = subprocess.run(
        [*_compose(), "-f", str(ROOT / "compose.yaml"), "config"],  # type: ignore[misc]
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
        env=env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert "newsbot-data" in result.stdout

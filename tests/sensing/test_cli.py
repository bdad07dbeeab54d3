"""The CLI: help for every command, idempotent init on both backends, status."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from sensing.cli import COMMANDS, cli


def config_for(tmp_path: Path, db_url: str, **extra: object) -> Path:
    data = {"database": {"url": db_url}, "app": {"data_dir": str(tmp_path / "var")}, **extra}
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def test_help_lists_every_command() -> None:
    result = CliRunner().invoke(cli, ["--help"])
    assert result.exit_code == 0
    for name in ("init", "run", "status", "demo", "dashboard", "process"):
        assert name in result.output


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_command_explains_itself(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "unavailable" not in result.output, result.output
    assert "--config" in result.output or name in ("alerts", "users", "report", "events", "deadletter")


def test_init_twice_and_status(tmp_path: Path, db_url: str) -> None:
    cfg = config_for(tmp_path, db_url)
    runner = CliRunner()
    first = runner.invoke(cli, ["init", "--config", str(cfg)])
    assert first.exit_code == 0, first.output
    assert "already up to date" in first.output  # the fixture migrated it already
    second = runner.invoke(cli, ["--config", str(cfg), "init"])
    assert second.exit_code == 0 and "already up to date" in second.output
    status = runner.invoke(cli, ["status", "--json", "--config", str(cfg)])
    assert status.exit_code == 0, status.output
    data = json.loads(status.stdout)
    assert data["untagged_backlog"] == 0 and data["sources"] == []


def test_init_creates_fresh_sqlite(tmp_path: Path) -> None:
    cfg = config_for(tmp_path, f"sqlite:///{tmp_path / 'var' / 'new.db'}")
    result = CliRunner().invoke(cli, ["init", "--config", str(cfg)])
    assert result.exit_code == 0, result.output
    assert "database created" in result.output
    assert (tmp_path / "var" / "new.db").exists()


def test_status_on_an_empty_database_says_what_to_do(tmp_path: Path) -> None:
    cfg = config_for(tmp_path, f"sqlite:///{tmp_path / 'var' / 'never.db'}")
    result = CliRunner().invoke(cli, ["status", "--config", str(cfg)])
    assert result.exit_code == 1
    assert "run `sensing init` first" in result.output

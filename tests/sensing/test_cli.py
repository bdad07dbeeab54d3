"""The CLI: help for every command, idempotent init on both backends, status."""

from __future__ import annotations

import json
import os
from pathlib import Path

import click
import pytest
import yaml
from click.testing import CliRunner

from kernel import plugins
from sensing.cli import cli


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


@pytest.mark.parametrize("name", plugins.names(plugins.COMMANDS))
def test_every_command_explains_itself(name: str) -> None:
    result = CliRunner().invoke(cli, [name, "--help"])
    assert result.exit_code == 0, result.output
    assert "unavailable" not in result.output, result.output
    group = isinstance(plugins.load(plugins.COMMANDS, name), click.Group)  # its sub-commands take it
    assert "--config" in result.output or group


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


def test_demo_refuses_a_database_url_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sensing import supervisor

    started: list[dict[str, str]] = []
    monkeypatch.setattr(supervisor, "start_system", lambda app, env, port=None: started.append(env) or 0)
    cfg = config_for(
        tmp_path,
        "postgresql+psycopg://minsheng:prod-secret@db.internal/minsheng",  # ignored by the demo
        sources=[{"name": "demo", "kind": "demo"}],
    )
    monkeypatch.setenv("SENSING_DATABASE__URL", "postgresql+psycopg://minsheng:prod-secret@db.internal/prod")
    result = CliRunner().invoke(cli, ["demo", "--config", str(cfg)])
    assert result.exit_code == 1 and not started, result.output
    assert "SENSING_DATABASE__URL" in result.output and "db.internal/prod" in result.output
    assert "prod-secret" not in result.output

    monkeypatch.delenv("SENSING_DATABASE__URL")
    saved = dict(os.environ)
    try:
        result = CliRunner().invoke(cli, ["demo", "--config", str(cfg)])
    finally:  # the demo exports its settings to os.environ for its children
        os.environ.clear()
        os.environ.update(saved)
    assert result.exit_code == 0, result.output
    (env,) = started
    assert env["SENSING_DATABASE__URL"] == f"sqlite:///{tmp_path / 'var' / 'demo.db'}"

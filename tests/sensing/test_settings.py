"""Configuration: typed, validated at start-up, one clear message per problem."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from kernel.settings import ConfigError, load_settings, resolve_secret
from sensing.cli import cli
from sensing.config import load_config

REPO = Path(__file__).resolve().parents[2]


def write(tmp_path: Path, data: dict) -> Path:
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def problems(tmp_path: Path, data: dict, environ: dict[str, str] | None = None) -> list[str]:
    with pytest.raises(ConfigError) as info:
        load_config(write(tmp_path, data), environ or {})
    return info.value.problems


def test_repo_config_is_valid() -> None:
    settings = load_settings(REPO / "config.yaml", {})
    assert settings.database.url.startswith("sqlite:///var/")
    assert {s.kind for s in settings.sources} >= {"demo", "hotline_files"}
    assert settings.alerts.rules, "the shipped config has alert rules"


def test_unknown_key_names_file_and_path(tmp_path: Path) -> None:
    out = problems(tmp_path, {"database": {"url": "sqlite:///x.db", "urll": 1}})
    assert out == [f"{tmp_path / 'config.yaml'}: database.urll: unknown key"]


def test_wrong_type(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, {"nlp": {"batch_size": "many"}})
    assert "nlp.batch_size" in msg and "integer" in msg and "'many'" in msg


def test_bad_cron(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, {"reports": {"schedule": {"cron": "every monday"}}})
    assert "reports.schedule.cron" in msg and "cron expression" in msg


def test_bad_url(tmp_path: Path) -> None:
    data = {"alerts": {"notifiers": [{"name": "hook", "kind": "webhook", "url": "ftp:/nowhere"}]}}
    (msg,) = problems(tmp_path, data)
    assert "alerts.notifiers.0.url" in msg and "http(s) URL" in msg


def test_unknown_source_kind(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, {"sources": [{"name": "x", "kind": "telegraph"}]})
    assert "sources.0" in msg and "unknown source kind 'telegraph'" in msg and "rss" in msg


def test_several_problems_reported_together(tmp_path: Path) -> None:
    out = problems(tmp_path, {"database": {"url": "mysql://x"}, "dashboard": {"port": 70000}})
    assert len(out) == 2
    assert any("database.url" in p for p in out) and any("dashboard.port" in p for p in out)


def test_literal_secret_is_refused(tmp_path: Path) -> None:
    data = {
        "alerts": {
            "notifiers": [{"name": "hook", "kind": "webhook", "url": "http://h/x", "secret": "hunter2"}]
        }
    }
    (msg,) = problems(tmp_path, data)
    assert "alerts.notifiers.0.secret" in msg and "$env:NAME" in msg


def test_secret_references(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_SECRET", "s3")
    secret_file = tmp_path / "secret.txt"
    secret_file.write_text("from-file\n")
    assert resolve_secret("$env:MY_SECRET") == "s3"
    assert resolve_secret(f"$file:{secret_file}") == "from-file"
    assert resolve_secret("$env:NOT_SET_ANYWHERE") is None


def test_environment_overrides(tmp_path: Path) -> None:
    path = write(tmp_path, {"database": {"url": "sqlite:///a.db"}, "nlp": {"batch_size": 10}})
    env = {
        "SENSING_DATABASE__URL": "postgresql+psycopg://u@h/db",
        "SENSING_NLP__BATCH_SIZE": "42",
        "SENSING_DASHBOARD__PORT": "9000",
        "SENSING_CONFIG": str(path),  # not config keys: ignored
        "SENSING_ADMIN_PASSWORD": "secret",
    }
    settings = load_settings(path, env)
    assert settings.database.url == "postgresql+psycopg://u@h/db"
    assert settings.nlp.batch_size == 42
    assert settings.dashboard.port == 9000


def test_environment_override_is_validated(tmp_path: Path) -> None:
    (msg,) = problems(tmp_path, {}, {"SENSING_NLP__BATCH_SIZE": "-3"})
    assert "nlp.batch_size" in msg


def test_missing_file_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_settings(tmp_path / "absent.yaml", {})


def test_cli_fails_at_startup_with_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, {"database": {"url": "sqlite:///x.db"}, "nlp": {"bogus": 1}})
    result = CliRunner().invoke(cli, ["status", "--config", str(path)])
    assert result.exit_code == 2
    assert "nlp.bogus: unknown key" in result.output


def test_bad_keyword_expression(tmp_path: Path) -> None:
    data = {"alerts": {"rules": [{"name": "k", "kind": "keyword", "expression": "燃气 AND (爆炸 OR"}]}}
    (msg,) = problems(tmp_path, data)
    assert "alerts.rules.0" in msg and "boolean keyword expression" in msg

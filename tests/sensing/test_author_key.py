"""app.author_hash_key is required whenever a non-simulated source runs; the built-in key serves the demo."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner

from ingest.runner import DEV_AUTHOR_KEY, author_key, check_author_key, ingest_sources
from kernel.settings import ConfigError, load_settings
from sensing.app import load_app
from sensing.cli import cli
from sensing.supervisor import demo_overrides
from tests.ingest.conftest import ingest_runs

DEMO = {"name": "demo", "kind": "demo", "options": {"use_corpora": False, "backfill_days": 0.2}}


def write_config(
    tmp_path: Path, *sources: dict[str, object], key: str | None = "$env:TEST_AUTHOR_KEY"
) -> Path:
    data: dict[str, object] = {
        "app": {"data_dir": str(tmp_path / "var"), **({"author_hash_key": key} if key else {})},
        "database": {"url": f"sqlite:///{tmp_path / 'a.db'}"},
        "logging": {"level": "WARNING", "json_logs": False},
        "sources": list(sources),
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def hotline(tmp_path: Path, enabled: bool = True) -> dict[str, object]:
    folder = str(tmp_path / "inbox")
    return {"name": "wenzheng", "kind": "hotline_files", "enabled": enabled, "options": {"folder": folder}}


@pytest.fixture(autouse=True)
def no_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TEST_AUTHOR_KEY", raising=False)


def test_a_real_source_without_the_key_is_a_start_up_error(tmp_path: Path) -> None:
    path = write_config(tmp_path, hotline(tmp_path), DEMO)
    settings = load_settings(path, {})
    with pytest.raises(ConfigError) as caught:
        check_author_key(settings)
    (problem,) = caught.value.problems
    assert problem.startswith(f"{path}: app.author_hash_key: required")
    assert "wenzheng" in problem and "$env:TEST_AUTHOR_KEY is unset" in problem and "demo," not in problem
    with pytest.raises(ConfigError, match="app.author_hash_key"):
        author_key(settings)
    no_reference = load_settings(write_config(tmp_path, hotline(tmp_path), key=None), {})
    with pytest.raises(ConfigError, match="app.author_hash_key: .* it is not set"):
        check_author_key(no_reference)


def test_the_key_when_set_and_the_built_in_key_only_for_simulated_sources(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    demo_only = load_settings(write_config(tmp_path, hotline(tmp_path, enabled=False), DEMO), {})
    assert check_author_key(demo_only) is None and author_key(demo_only) == DEV_AUTHOR_KEY
    with pytest.raises(ConfigError):  # the disabled real source, run by name
        author_key(demo_only, [("wenzheng", "hotline_files")])
    with pytest.raises(ConfigError):  # file imports are real data too
        author_key(demo_only, [("upload", "file_import")])
    monkeypatch.setenv("TEST_AUTHOR_KEY", "a-long-random-secret")
    real = load_settings(write_config(tmp_path, hotline(tmp_path), DEMO), {})
    assert author_key(real) == "a-long-random-secret" == author_key(real, [("demo", "demo")])


def test_commands_that_collect_stop_with_the_key_named(tmp_path: Path) -> None:
    path = write_config(tmp_path, hotline(tmp_path))
    data = tmp_path / "posts.jsonl"
    data.write_text('{"id": "1", "content": "小区门口积水"}\n', encoding="utf-8")
    for args in (["ingest"], ["scheduler"], ["run"], ["import", str(data), "--source", "posts"]):
        result = CliRunner().invoke(cli, ["--config", str(path), *args])
        assert result.exit_code == 2, (args, result.output)
        assert f"config error: {path}: app.author_hash_key: required" in result.output, args
    assert not (tmp_path / "a.db").exists() or ingest_runs_of(tmp_path) == []


def ingest_runs_of(tmp_path: Path) -> list[object]:
    from sqlalchemy import create_engine, inspect

    engine = create_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        return [] if not inspect(engine).has_table("ingest_runs") else ingest_runs(engine)
    finally:
        engine.dispose()


def test_a_disabled_real_source_run_by_name_fails_its_run(tmp_path: Path) -> None:
    from ingest.runner import make_ingestor
    from storage.migrate import upgrade_database

    app = load_app(str(write_config(tmp_path, hotline(tmp_path, enabled=False), DEMO)))
    upgrade_database(app.engine)
    (demo,) = ingest_sources(app.settings, app.store, ["demo"])  # the shared ingestor: built-in key
    assert demo.status == "ok" and demo.new > 0
    (report,) = ingest_sources(app.settings, app.store, ["wenzheng"])
    assert report.status == "failed" and report.error is not None
    assert (
        report.error.startswith("ConfigError: invalid configuration: ")
        and "app.author_hash_key" in report.error
    )
    assert ingest_runs(app.engine, "wenzheng")[0]["error"] == report.error
    with pytest.raises(ConfigError, match="app.author_hash_key"):
        make_ingestor(app.settings, app.store, [app.settings.source("wenzheng")])
    app.engine.dispose()


def test_the_demo_runs_simulated_sources_only(tmp_path: Path) -> None:
    app = load_app(str(write_config(tmp_path, hotline(tmp_path), {**DEMO, "enabled": False})))
    env = demo_overrides(app, {})
    assert env["SENSING_SOURCES__0__ENABLED"] == "false" and env["SENSING_SOURCES__1__ENABLED"] == "true"
    demo_settings = load_settings(app.config_path, env)
    assert [s.name for s in demo_settings.sources if s.enabled] == ["demo"]
    assert author_key(demo_settings) == DEV_AUTHOR_KEY

"""``sensing subjects``: add, list --json, edit, archive from a terminal, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import yaml
from click.testing import CliRunner
from sqlalchemy import Engine

from sensing.commands.subjects import subjects_cmd
from tests.seed import seed_database

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def config(tmp_path: Path, db_url: str) -> str:
    path = tmp_path / "config.yaml"
    data = {"database": {"url": db_url}, "app": {"data_dir": str(tmp_path / "var")}}
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return str(path)


def test_subjects_from_a_terminal(tmp_path: Path, db_url: str, engine: Engine) -> None:
    facts = seed_database(engine, NOW)
    cfg = config(tmp_path, db_url)
    run = CliRunner().invoke

    added = run(
        subjects_cmd,
        ["add", "电梯", "--expr", "电梯 AND 故障", "--channels", "hotline,social", "--config", cfg],
    )
    assert added.exit_code == 0, added.output
    want = [
        d
        for d in facts.docs
        if all(w in d.title + d.content for w in ("电梯", "故障")) and d.channel in ("hotline", "social")
    ]
    assert f"{len(want)} matched" in added.output
    listed = json.loads(run(subjects_cmd, ["list", "--json", "--config", cfg]).stdout)
    assert [(r["name"], r["expression"], r["matched"], r["channels"]) for r in listed] == [
        ("电梯", "电梯 AND 故障", len(want), ["hotline", "social"])
    ]

    edited = run(subjects_cmd, ["edit", "电梯", "--channels", "hotline", "--config", cfg])
    assert edited.exit_code == 0, edited.output
    hotline = [d for d in want if d.channel == "hotline"]
    assert json.loads(run(subjects_cmd, ["list", "--json", "--config", cfg]).stdout)[0]["matched"] == len(
        hotline
    )

    bad = run(subjects_cmd, ["add", "坏", "--expr", "燃气 AND (泄漏", "--config", cfg])
    assert bad.exit_code == 2 and "position 10" in bad.output  # the missing ')' at the end
    assert run(subjects_cmd, ["add", "电梯", "--expr", "x", "--config", cfg]).exit_code == 1

    assert run(subjects_cmd, ["archive", "电梯", "--config", cfg]).exit_code == 0
    assert json.loads(run(subjects_cmd, ["list", "--json", "--active", "--config", cfg]).stdout) == []
    assert run(subjects_cmd, ["archive", "没有", "--config", cfg]).exit_code == 1

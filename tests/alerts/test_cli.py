"""``sensing alerts``: list, ack, resolve, silence from a terminal, on both backends."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, select

from sensing.cli import cli
from sensing.commands.alerts import parse_duration
from storage import schema as s
from storage.types import utcnow
from tests.alerts.conftest import write_config
from tests.alerts.test_lifecycle import delivered


def test_parse_duration() -> None:
    assert parse_duration("2h") == timedelta(hours=2)
    assert parse_duration("1h30m") == timedelta(minutes=90)
    assert parse_duration("1d") == timedelta(days=1) and parse_duration("45s") == timedelta(seconds=45)
    for bad in ("", "2", "2x", "h", "0m", "2h junk"):
        with pytest.raises(ValueError):
            parse_duration(bad)


def test_duty_officer_workflow(tmp_path: Path, db_url: str, engine: Engine) -> None:
    delivered(engine, "a", utcnow() - timedelta(hours=3))
    rules = [{"name": "src_silent", "kind": "source_silence", "silence_minutes": 60}]
    cfg = str(write_config(tmp_path, db_url, {"rules": rules}, sources=[{"name": "a", "kind": "demo"}]))
    run = CliRunner().invoke

    assert json.loads(run(cli, ["alerts", "evaluate", "--config", cfg]).stdout)["fired"] == 1
    listed = json.loads(run(cli, ["alerts", "list", "--json", "--config", cfg]).stdout)
    assert [(a["rule"], a["key"], a["status"]) for a in listed] == [("src_silent", "source=a", "open")]
    alert_id = str(listed[0]["id"])

    ack = run(cli, ["alerts", "ack", alert_id, "--note", "正在排查", "--user", "duty1", "--config", cfg])
    assert ack.exit_code == 0 and "已由 duty1 确认" in ack.output
    table = run(cli, ["alerts", "list", "--config", cfg])
    assert table.exit_code == 0 and "已确认" in table.output and "duty1" in table.output
    done = run(cli, ["alerts", "resolve", alert_id, "--user", "duty2", "--config", cfg])
    assert done.exit_code == 0
    again = run(cli, ["alerts", "resolve", alert_id, "--user", "duty2", "--config", cfg])
    assert again.exit_code == 1 and "已由 duty2 解除" in again.output
    assert json.loads(run(cli, ["alerts", "list", "--json", "--config", cfg]).stdout) == []
    assert (
        len(json.loads(run(cli, ["alerts", "list", "--status", "all", "--json", "--config", cfg]).stdout))
        == 1
    )

    silenced = run(
        cli,
        [
            "alerts",
            "silence",
            "src_silent",
            "--for",
            "2h",
            "--key",
            "source=a",
            "--user",
            "duty1",
            "--config",
            cfg,
        ],
    )
    assert silenced.exit_code == 0 and "静默 1" in silenced.output
    with engine.connect() as conn:
        until, who = conn.execute(select(s.silences.c.until, s.silences.c.created_by)).one()
    assert who == "duty1" and abs((until - utcnow()) - timedelta(hours=2)) < timedelta(minutes=1)
    assert "source=a" in run(cli, ["alerts", "silences", "--config", cfg]).output
    assert run(cli, ["alerts", "unsilence", "1", "--user", "duty1", "--config", cfg]).exit_code == 0
    unknown = run(cli, ["alerts", "silence", "nope", "--for", "2h", "--config", cfg])
    assert unknown.exit_code == 1 and "unknown rule 'nope'" in unknown.output
    bad = run(cli, ["alerts", "silence", "src_silent", "--for", "soon", "--config", cfg])
    assert bad.exit_code == 2 and "duration" in bad.output
    with engine.connect() as conn:
        actions = [r.action for r in conn.execute(select(s.audit_log.c.action).order_by(s.audit_log.c.id))]
    assert actions == ["alert.acknowledge", "alert.resolve", "alert.silence", "alert.unsilence"]

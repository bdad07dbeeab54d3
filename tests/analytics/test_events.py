"""Events on issues, from the CLI, with the effect read from the rollups (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine

from nlp.jobs import tag_backlog
from sensing.cli import cli
from storage.events import list_events
from storage.rollups.refresh import refresh_rollups
from storage.store import Store
from tests.nlp.test_jobs import tagger
from tests.sensing.test_cli import config_for

EVENT = datetime(2026, 11, 10, 12, tzinfo=UTC)


def seed_issue(engine: Engine) -> None:
    """Pollution complaints: 3 of 4 negative before the response, 1 of 4 after."""
    store = Store(engine)
    sid = store.ensure_source("wz", "hotline_files", "hotline")
    rows = []
    for h in range(-72, 72):
        for j in range(4):
            negative = j < 3 if h < 0 else j < 1
            text = ("河道污染太差" if negative else "河道污染已处理好") + f"{h}-{j}"
            rows.append({"external_id": f"{h}-{j}", "channel": "hotline", "content": text,
                         "published_at": EVENT + timedelta(hours=h, minutes=10), "content_hash": f"{h}-{j}"})  # fmt: skip
    store.write_documents(sid, rows)
    tag_backlog(engine, tagger())
    refresh_rollups(engine)


def test_event_cli_and_effect(engine: Engine, db_url: str, tmp_path: Path) -> None:
    seed_issue(engine)
    cfg = str(config_for(tmp_path, db_url))
    runner = CliRunner()
    out = runner.invoke(cli, ["events", "add", "官方回应", "--category", "环境保护", "--at", "2026-11-10 20:00",
                              "--user", "ana", "--config", cfg])  # fmt: skip
    assert out.exit_code == 0, out.output
    (event,) = list_events(engine)
    assert event["at"] == EVENT  # 20:00 Asia/Shanghai is 12:00 UTC
    out = runner.invoke(cli, ["events", "effect", str(event["id"]), "--config", cfg])
    assert out.exit_code == 0, out.output
    assert "回应后 72 小时内负面占比由 75% 降至 25%" in out.output

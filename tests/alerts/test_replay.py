"""``sensing alerts replay``: the rules over history, stored apart as replayed, nothing notified."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from sensing.cli import cli
from storage import schema as s
from storage.alert_replays import replayed_alerts
from tests.alerts.conftest import write_config
from tests.dashboard.conftest import NOW
from tests.seed import seed_database

RULES = {
    "notifiers": [{"name": "hook", "kind": "webhook", "url": "http://127.0.0.1:9/hook"}],
    "rules": [
        {"name": "gas", "kind": "keyword", "expression": "燃气 OR 电梯", "window_hours": 6, "min_count": 2,
         "notify": ["hook"]},
        {"name": "surge", "kind": "volume_spike", "dimension": "topic", "window_hours": 6, "min_count": 3,
         "notify": ["hook"]},
        {"name": "quiet", "kind": "source_silence", "notify": ["hook"]},
    ],
}  # fmt: skip


def counts(engine: Engine) -> tuple[int, int, int]:
    with engine.connect() as conn:
        return tuple(  # type: ignore[return-value]
            conn.execute(select(func.count()).select_from(t)).scalar_one()
            for t in (s.alerts, s.alert_events, s.outbox)
        )


def test_replay_stores_what_would_have_fired_and_notifies_nobody(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    seed_database(engine, NOW)
    before = counts(engine)
    config = write_config(tmp_path, db_url, RULES, app={"data_dir": str(tmp_path / "var"), "timezone": "UTC"})
    start, end = (NOW - timedelta(days=4)).date(), (NOW - timedelta(days=1)).date()
    args = [
        "--config",
        str(config),
        "alerts",
        "replay",
        "--from",
        str(start),
        "--to",
        str(end),
        "--step",
        "3h",
    ]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "未发送任何通知" in result.output and "跳过 1 条只适用于当前的规则" in result.output
    assert counts(engine) == before  # no alert, no alert event, no outbox row
    replays = replayed_alerts(engine)
    assert set(replays["rule"]) <= {"gas", "surge"} and "gas" in set(replays["rule"])
    assert (replays["first_seen"].dt.date >= start).all() and (
        replays["last_seen"].dt.date <= end + timedelta(days=1)
    ).all()
    gas = replays.loc[replays["rule"] == "gas"].iloc[0]
    assert gas["evidence"]["document_ids"]  # the documents that would have been shown
    # replaying the same period again replaces its rows instead of adding to them
    again = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert again.exit_code == 0, again.output
    assert len(replayed_alerts(engine)) == len(replays)
    assert counts(engine) == before


def test_a_replay_needs_an_order(engine: Engine, db_url: str, tmp_path: Path) -> None:
    config = write_config(tmp_path, db_url, RULES)
    args = ["--config", str(config), "alerts", "replay", "--from", "2019-11-30", "--to", "2019-11-01"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 2 and "must be after --from" in result.output

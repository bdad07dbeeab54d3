"""``sensing process`` scores the replies it finds, so imported replies get a quality score."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from sensing.cli import cli
from storage import schema as s
from storage.store import Store
from tests.sensing.test_cli import config_for

ASKED = datetime(2019, 11, 5, 9, 0, tzinfo=UTC)


def test_process_scores_imported_replies(engine: Engine, db_url: str, tmp_path: Path) -> None:
    store = Store(engine)
    sid = store.ensure_source("wz", "file_import", "hotline")
    rows = [
        {"external_id": f"m{i}", "channel": "hotline", "title": "小区路灯不亮",
         "content": f"我们小区的路灯坏了一个多月了，晚上出行很不方便，请尽快维修。第{i}栋",
         "reply": "网友您好！经核实，已安排物业于11月8日更换路灯，感谢您的监督。",
         "published_at": ASKED + timedelta(hours=i), "replied_at": ASKED + timedelta(days=3),
         "content_hash": f"h{i}"}
        for i in range(3)
    ]  # fmt: skip
    store.write_documents(sid, rows)
    result = CliRunner().invoke(cli, ["--config", str(config_for(tmp_path, db_url)), "process"])
    assert result.exit_code == 0, result.output
    assert "scored 3 replies" in result.output
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.reply_scores)).scalar() == 3

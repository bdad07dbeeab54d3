"""An imported archive gets the full treatment: the shared 附件3 + 附件4 files, ``sensing process
--history``, then the weekly report of a past week has ranked hot issues and scored replies."""

from __future__ import annotations

from collections import Counter
from datetime import UTC
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner, Result
from openpyxl import load_workbook
from sqlalchemy import func, select

from reports.ranking import rank_topics
from reports.weekly import week_bounds
from sensing.app import load_app
from sensing.cli import cli
from storage import schema as s
from storage.db import make_engine
from storage.types import iso_week

FILES = ["fujian3_messages_votes.xlsx", "fujian4_messages_replies.xlsx"]


def run(config: Path, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--config", str(config), *args], catch_exceptions=False)


def sheet(path: Path, prefix: str) -> list[tuple[object, ...]]:
    book = load_workbook(path, read_only=True)
    (ws,) = [w for w in book.worksheets if w.title.startswith(prefix)]
    return [tuple(r) for r in ws.iter_rows(values_only=True)]


@pytest.mark.slow
@pytest.mark.timeout(1200)  # 2-3 min alone (SQLite 112 s, PostgreSQL 167 s); 8 min seen on a busy machine
def test_a_past_week_of_the_archive_has_hot_issues_and_scored_replies(
    shared_data: Path, db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TEST_AUTHOR_KEY", "history-tests")
    config = tmp_path / "config.yaml"
    config.write_text(
        f"""
app: {{data_dir: {tmp_path / "var"}, author_hash_key: $env:TEST_AUTHOR_KEY}}
database: {{url: "{db_url}"}}
logging: {{level: WARNING, json_logs: false}}
nlp: {{topics: {{window_days: 30}}}}
sources:
  - {{name: wenzheng, kind: hotline_files, channel: hotline, options: {{folder: {tmp_path / "inbox"}}}}}
""",
        encoding="utf-8",
    )
    for name in FILES:
        path = shared_data / "tipdm2020_c" / name
        result = run(config, "import", str(path), "--source", "wenzheng", "--no-progress")
        assert result.exit_code == 0, result.output
    result = run(config, "process", "--history")
    assert result.exit_code == 0, result.output
    assert "topics over the archive" in result.output

    engine = make_engine(db_url)
    d, r = s.documents, s.reply_scores
    with engine.connect() as conn:
        replies = conn.execute(select(func.count()).where(d.c.reply.is_not(None), d.c.reply != "")).scalar()
        scored = conn.execute(select(func.count()).select_from(r)).scalar()
        first = select(func.count()).select_from(s.doc_tags.join(d, d.c.id == s.doc_tags.c.document_id))
        in_topic = conn.execute(
            first.where(d.c.dup_of.is_(None), s.doc_tags.c.topic_id.is_not(None))
        ).scalar()
        firsts = conn.execute(first.where(d.c.dup_of.is_(None))).scalar()
        stamps = [r[0] for r in conn.execute(select(s.doc_tags.c.published_at))]
    app = load_app(str(config))
    tz = app.settings.app.timezone
    weeks = Counter(iso_week(t.astimezone(ZoneInfo(tz)).date()) for t in stamps)
    busy = sorted(w for w, n in weeks.items() if n >= 30)
    unranked = [
        w
        for w in busy
        if rank_topics(engine, app.settings, *(t.astimezone(UTC) for t in week_bounds(w, tz))).empty
    ]
    engine.dispose()
    assert replies == 2816 and scored == replies  # every imported reply has a quality score
    assert in_topic >= 0.6 * firsts
    assert len(busy) >= 50 and unranked == []  # every week with >= 30 documents has ranked hot issues

    out = tmp_path / "out"
    result = run(config, "report", "weekly", "--week", "2019-W45", "--format", "xlsx", "--out", str(out))
    assert result.exit_code == 0, result.output
    book = out / "minsheng-weekly-2019-W45.xlsx"
    hot = [row for row in sheet(book, "03") if isinstance(row[0], int)]
    assert len(hot) >= 5 and all(row[1] and row[3] and row[8] for row in hot)  # label, heat, drivers
    quality = {row[0]: row[2] for row in sheet(book, "15")}
    assert quality["答复数"] == quality["已评分"] > 0

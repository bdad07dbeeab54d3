"""An ingest run that fails on a database error records and logs no row contents."""

from __future__ import annotations

import logging

import pytest
from sqlalchemy import Engine
from sqlalchemy.exc import IntegrityError

from kernel.logs import TextFormatter
from tests.ingest.conftest import ingest_runs
from tests.ingest.test_pipeline import ListSource, item, make_ingestor

ROW = "我叫张三，电话13812345678"


def test_a_database_error_is_recorded_as_class_and_short_message(
    engine: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    # What psycopg raises for a duplicate key: the DETAIL line repeats the row's values.
    orig = Exception(f'duplicate key value violates unique constraint "uq_x"\nDETAIL:  Key (content)=({ROW})')
    error = IntegrityError("INSERT INTO documents (content) VALUES (%(content)s)", {"content": ROW}, orig)
    with caplog.at_level(logging.WARNING):
        report = make_ingestor(engine).run(ListSource([[item("x1", "内容")]], fail_after=0, error=error))
    assert report.status == "failed"
    assert report.error == 'IntegrityError: duplicate key value violates unique constraint "uq_x"'
    (run,) = ingest_runs(engine)
    assert run["error"] == report.error
    formatter = TextFormatter("%(message)s")
    logged = "\n".join(formatter.format(r) for r in caplog.records)
    assert "uq_x" in logged and "13812345678" not in logged and "张三" not in logged

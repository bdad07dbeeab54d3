"""The scheduler: jobs from config in the database job store; failures recorded, never fatal."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from sensing import jobs
from sensing.app import load_app
from sensing.schedule import build_scheduler, planned_jobs, register_jobs
from storage import schema as s
from tests.sensing.test_cli import config_for


@pytest.fixture
def app(tmp_path: Path, db_url: str):  # type: ignore[no-untyped-def]
    cfg = config_for(
        tmp_path,
        db_url,
        sources=[{"name": "demo", "kind": "demo", "schedule": {"interval_seconds": 30}}],
        reports={"schedule": {"cron": "0 8 * * 1"}, "subject_schedule": {"cron": "0 8 1 * *"}},
        alerts={"rules": [{"name": "v", "kind": "volume_spike"}]},
    )
    application = load_app(str(cfg))
    yield application
    application.engine.dispose()


def test_planned_jobs_follow_config(app) -> None:  # type: ignore[no-untyped-def]
    planned = planned_jobs(app.settings)
    expected = {"ingest:demo", "rollups", "topics", "topics.early", "reply_quality"}
    expected |= {"alerts.evaluate", "alerts.deliver"}
    expected |= {"report.weekly", "report.subjects"}
    if app.settings.database.url.startswith("sqlite"):
        expected.add("search_index")  # the keyword index is SQLite's; PostgreSQL uses ILIKE
    assert set(planned) == expected
    assert planned["ingest:demo"][0] == ["ingest", "demo"]


def test_jobs_persist_in_database_and_stale_ones_go(app) -> None:  # type: ignore[no-untyped-def]
    sched = build_scheduler(app)
    sched.start(paused=True)
    try:
        sched.add_job("sensing.jobs:run_job", "interval", seconds=60, args=["rollups"], id="stale")
        ids = register_jobs(sched, app)
        assert "stale" not in {j.id for j in sched.get_jobs()}
        assert set(ids) == {j.id for j in sched.get_jobs()}
        job = sched.get_job("rollups")
        assert job.max_instances == 1 and job.coalesce and job.misfire_grace_time == 300
    finally:
        sched.shutdown(wait=False)
    with app.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT id FROM apscheduler_jobs").scalars().all()
    assert set(stored) == set(ids)


def test_failing_job_is_recorded_and_swallowed(app, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    jobs.set_app(app)

    def boom(_app):  # type: ignore[no-untyped-def]
        raise RuntimeError("source exploded")

    monkeypatch.setitem(jobs.JOBS, "rollups", boom)
    assert jobs.run_job("rollups") is None
    monkeypatch.setitem(jobs.JOBS, "rollups", lambda _app: {"rows": 3})
    assert jobs.run_job("rollups") == {"rows": 3}
    with app.engine.connect() as conn:
        rows = conn.execute(select(s.job_runs.c.status, s.job_runs.c.error).order_by(s.job_runs.c.id)).all()
    assert rows[0].status == "failed" and "source exploded" in rows[0].error
    assert rows[1].status == "ok"

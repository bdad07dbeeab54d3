"""The scheduler process: APScheduler 3.x with its job store in the application database.

Jobs come from config: each enabled source's interval or cron, rollups, topic refits, alert
evaluation and delivery, the weekly report, the model-written briefings and retention. Jobs run with ``max_instances=1``,
coalescing and a misfire grace time; jobs no longer in config are removed at start-up.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

import click
from apscheduler.jobstores.sqlalchemy import SQLAlchemyJobStore
from apscheduler.schedulers.background import BackgroundScheduler
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger

from kernel.settings import ScheduleSettings, Settings
from sensing.app import App, pass_app
from sensing.jobs import set_app

log = logging.getLogger(__name__)
MISFIRE_GRACE_SECONDS = 300
EARLY_TOPICS_SECONDS = 120  # how often the topics.early job checks whether a first fit is due
STOP_GRACE_SECONDS = 10.0  # below the supervisor's grace, so the scheduler stops itself


def make_trigger(schedule: ScheduleSettings, timezone: str) -> Any:
    """An APScheduler trigger for a validated schedule."""
    if schedule.cron:
        return CronTrigger.from_crontab(schedule.cron, timezone=timezone)
    return IntervalTrigger(seconds=schedule.interval_seconds, timezone=timezone)


def planned_jobs(settings: Settings) -> dict[str, tuple[list[str], ScheduleSettings]]:
    """Job id -> (args for ``sensing.jobs.run_job``, schedule), from config."""
    jobs: dict[str, tuple[list[str], ScheduleSettings]] = {}
    for src in settings.sources:
        if src.enabled:
            jobs[f"ingest:{src.name}"] = (["ingest", src.name], src.schedule)
    jobs["rollups"] = (["rollups"], settings.analytics.rollup)
    jobs["topics"] = (["topics"], settings.nlp.topics.refit)
    # a first window refitted within minutes, not at the next scheduled refit (nlp.topic_jobs)
    jobs["topics.early"] = (["topics.early"], ScheduleSettings(interval_seconds=EARLY_TOPICS_SECONDS))
    jobs["reply_quality"] = (["reply_quality"], ScheduleSettings(interval_seconds=300))
    if settings.database.url.startswith("sqlite"):
        jobs["search_index"] = (["search_index"], ScheduleSettings(interval_seconds=60))
    if settings.alerts.rules:
        jobs["alerts.evaluate"] = (["alerts.evaluate"], settings.alerts.evaluate)
        jobs["alerts.deliver"] = (["alerts.deliver"], settings.alerts.deliver)
    if settings.reports.schedule is not None:
        jobs["report.weekly"] = (["report.weekly"], settings.reports.schedule)
    if settings.llm is not None:  # briefings only when the office's model is configured
        for kind in ("daily", "weekly"):
            when = getattr(settings.llm, f"{kind}_schedule")
            if when is not None:
                jobs[f"brief.{kind}"] = ([f"brief.{kind}"], when)
    if settings.reports.subject_schedule is not None:
        jobs["report.subjects"] = (["report.subjects"], settings.reports.subject_schedule)
    if settings.analytics.retention_days:
        jobs["retention"] = (["retention"], ScheduleSettings(cron="30 3 * * *"))
    return jobs


def build_scheduler(app: App) -> BackgroundScheduler:
    """A scheduler whose job store is the application database."""
    tz = app.settings.app.timezone
    sched = BackgroundScheduler(
        jobstores={"default": SQLAlchemyJobStore(engine=app.engine)},
        job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": MISFIRE_GRACE_SECONDS},
        timezone=tz,
    )
    return sched


def register_jobs(sched: Any, app: App) -> list[str]:
    """Add or replace every planned job and drop stale ones; returns the job ids."""
    planned = planned_jobs(app.settings)
    for job in sched.get_jobs():
        if job.id not in planned:
            sched.remove_job(job.id)
    for job_id, (args, schedule) in planned.items():
        sched.add_job(
            "sensing.jobs:run_job",
            trigger=make_trigger(schedule, app.settings.app.timezone),
            args=args,
            id=job_id,
            name=job_id,
            replace_existing=True,
        )
    return sorted(planned)


@click.command("scheduler")
@click.option("--run-now", is_flag=True, help="Run every job once at start-up.")
@pass_app
def scheduler_cmd(app: App, run_now: bool) -> None:
    """Run the scheduler process alone (`sensing run` starts it for you)."""
    from ingest.runner import check_author_key
    from storage.migrate import upgrade_database

    check_author_key(app.settings)  # real sources need app.author_hash_key: fail now, not per run
    upgrade_database(app.engine)
    set_app(app)
    sched = build_scheduler(app)
    sched.start(paused=True)
    ids = register_jobs(sched, app)
    if run_now:
        from datetime import datetime

        for job in sched.get_jobs():
            job.modify(next_run_time=datetime.now(sched.timezone))

    stopped = threading.Event()

    def _stop(*_: Any) -> None:
        stopped.set()

    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    from ingest.runner import start_webhook_servers

    servers = start_webhook_servers(app.settings)  # push endpoints spool; their ingest jobs store
    log.info("scheduler started", extra={"jobs": ids, "webhooks": len(servers)})
    sched.resume()
    stopped.wait()
    log.info("scheduler stopping")
    signal.signal(signal.SIGTERM, _exit_now)  # a second signal: no more waiting for jobs
    signal.signal(signal.SIGINT, _exit_now)
    for server in servers:
        server.stop()
    finishing = threading.Thread(target=sched.shutdown, kwargs={"wait": True}, daemon=True)
    finishing.start()
    finishing.join(STOP_GRACE_SECONDS)
    if finishing.is_alive():
        log.warning(
            "jobs still running %.0fs after the stop signal; exiting without them", STOP_GRACE_SECONDS
        )
        _exit_now()


def _exit_now(*_: Any) -> None:
    """Leave at once (running jobs are transactional: their work is rolled back, not half-stored)."""
    logging.shutdown()
    os._exit(1)

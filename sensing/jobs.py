"""Every scheduled job, by name, in one place.

The scheduler stores only a job's name (``sensing.jobs:run_job``, args ``[name]``) in its
job store; the function looks the job up here, so renaming code never breaks stored jobs.
Each run is recorded in ``job_runs``; a failure is logged and recorded and never propagates
to the scheduler.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from sensing.app import App, load_app
from storage.errors import describe_error

log = logging.getLogger(__name__)
_APP: App | None = None


def set_app(app: App) -> None:
    """Install the process-wide app the jobs use (called by the scheduler process)."""
    global _APP
    _APP = app


def get_app() -> App:
    global _APP
    if _APP is None:
        _APP = load_app()
    return _APP


def job_ingest(app: App, source: str) -> dict[str, Any]:
    from ingest.pipeline import run_source

    summary = run_source(app, source)
    return summary if isinstance(summary, dict) else dict(vars(summary))


def job_rollups(app: App) -> dict[str, Any]:
    from analytics.rollups import refresh_rollups

    return refresh_rollups(
        app.engine, tz=app.settings.app.timezone, low_confidence=app.settings.nlp.low_confidence
    )


def job_topics(app: App) -> dict[str, Any]:
    from nlp.topic_jobs import refit_topics

    return refit_topics(app)


def job_alerts_evaluate(app: App) -> dict[str, Any]:
    from alerts.engine import evaluate_rules

    return evaluate_rules(app)


def job_alerts_deliver(app: App) -> dict[str, Any]:
    from alerts.engine import deliver_outbox

    return deliver_outbox(app)


def job_report(app: App) -> dict[str, Any]:
    from reports.weekly import run_scheduled_report

    return run_scheduled_report(app)


def job_reply_quality(app: App) -> dict[str, Any]:
    from analytics.jobs import job_reply_quality as run

    return run(app)


def job_search_index(app: App) -> dict[str, Any]:
    from storage.db import is_sqlite
    from storage.search_index import index_documents

    return {"indexed": index_documents(app.engine) if is_sqlite(app.engine) else 0}


def job_retention(app: App) -> dict[str, Any]:
    from analytics.retention import apply_retention

    return apply_retention(app)


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": job_ingest,
    "rollups": job_rollups,
    "topics": job_topics,
    "alerts.evaluate": job_alerts_evaluate,
    "alerts.deliver": job_alerts_deliver,
    "report.weekly": job_report,
    "retention": job_retention,
    "reply_quality": job_reply_quality,
    "search_index": job_search_index,
}


def run_job(name: str, *args: str) -> dict[str, Any] | None:
    """Run job ``name`` once, recording it; errors are logged and recorded, not raised."""
    app = get_app()
    label = name if not args else f"{name}:{','.join(args)}"
    try:
        with app.store.job_run(label) as counts:
            result = JOBS[name](app, *args) or {}
            counts.update({k: v for k, v in result.items() if isinstance(v, (int, float, str, bool))})
        log.info("job done", extra={"job": label, **counts})
        return counts
    except Exception as exc:
        log.exception("job failed", extra={"job": label, "error": describe_error(exc)})
        return None

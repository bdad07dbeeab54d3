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

from sqlalchemy import Engine

from kernel.errors import describe_error
from kernel.settings import Settings
from sensing.app import App, load_app

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
    """Run the configured source ``source`` once; the process keeps one warm ingestor per engine."""
    from ingest.runner import ingest_sources

    (report,) = ingest_sources(app.settings, app.store, [source])
    return report.as_dict()


def job_rollups(app: App) -> dict[str, Any]:
    from storage.rollups.refresh import refresh_rollups

    return refresh_rollups(
        app.engine, tz=app.settings.app.timezone, low_confidence=app.settings.nlp.low_confidence
    )


def job_topics(app: App) -> dict[str, Any]:
    from nlp.topic_jobs import refit_topics

    return refit_topics(app.engine, app.settings)


def job_topics_early(app: App) -> dict[str, Any]:
    from nlp.topic_jobs import refit_topics_early

    return refit_topics_early(app.engine, app.settings)


def job_alerts_evaluate(app: App) -> dict[str, Any]:
    from alerts.engine import evaluate_rules

    return evaluate_rules(app.engine, app.settings)


def job_alerts_deliver(app: App) -> dict[str, Any]:
    from alerts.engine import deliver_outbox

    return deliver_outbox(app.engine, app.settings.alerts.notifiers)


def job_report(app: App) -> dict[str, Any]:
    from reports.weekly import run_scheduled_report

    return run_scheduled_report(app.engine, app.settings)


def job_brief_daily(app: App) -> dict[str, Any]:
    """Yesterday's briefing by the office's model (scheduled only when ``llm.daily_schedule`` is set)."""
    return _brief(app, "daily")


def job_brief_weekly(app: App) -> dict[str, Any]:
    """Last week's briefing by the office's model (scheduled only when ``llm.weekly_schedule`` is set)."""
    return _brief(app, "weekly")


def _brief(app: App, kind: str) -> dict[str, Any]:
    from reports.briefing import write_briefing

    briefing = write_briefing(app.engine, app.settings, kind, requested_by="scheduler")
    return {
        "briefing_id": briefing.id,
        "period": briefing.period,
        "status": briefing.status,
        "checked_figures": int(briefing.verification.get("checked_figures", 0)),
        "removed": len(briefing.removed),
    }


def job_subject_reports(app: App) -> dict[str, Any]:
    from reports.subject_report import run_scheduled_subject_reports

    return run_scheduled_subject_reports(app.engine, app.settings)


def score_replies(engine: Engine, settings: Settings) -> int:
    """Score every reply the current scorer has not scored, with the configured weights and bands."""
    from analytics.reply_quality import SCORER_VERSION, reply_scorer
    from storage.reply_scores import score_pending_replies

    cfg = settings.reply_quality
    weights = {k: getattr(cfg, k) for k in ("relevance", "completeness", "policy", "timeliness", "tone")}
    return score_pending_replies(engine, reply_scorer(weights, list(cfg.delay_bands_days)), SCORER_VERSION)


def job_reply_quality(app: App) -> dict[str, Any]:
    return {"scored": score_replies(app.engine, app.settings)}


def job_search_index(app: App) -> dict[str, Any]:
    from storage.db import is_sqlite
    from storage.search_index import index_documents

    return {"indexed": index_documents(app.engine) if is_sqlite(app.engine) else 0}


def job_retention(app: App) -> dict[str, Any]:
    """Apply ``analytics.retention_days`` (no-op when unset)."""
    from storage.retention import archive_old_text

    days = app.settings.analytics.retention_days
    return {"archived": archive_old_text(app.engine, days, app.data_dir / "archive") if days else 0}


JOBS: dict[str, Callable[..., dict[str, Any]]] = {
    "ingest": job_ingest,
    "rollups": job_rollups,
    "topics": job_topics,
    "topics.early": job_topics_early,
    "alerts.evaluate": job_alerts_evaluate,
    "alerts.deliver": job_alerts_deliver,
    "report.weekly": job_report,
    "brief.daily": job_brief_daily,
    "brief.weekly": job_brief_weekly,
    "report.subjects": job_subject_reports,
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

"""The weekly report: build it (pure data), generate its files, and send it on a schedule.

* :func:`build_weekly_report` reads one ISO week (in the app time zone) and its previous week and
  returns a :class:`~reports.model.WeeklyReport`: KPIs, hot issues with their heat explanation and
  trend, sentiment and emotion by channel / category / region, demand categories and the agenda
  priority list, the week's alerts and their handling, the quality of the replies answered in the
  week (``reports.replies``), the events marked in the week with their before/after effect
  (``reports.effects``), representative (masked) documents and the methods section. The same week
  from the same data gives the same numbers.
* :func:`generate_weekly_report` renders DOCX / XLSX / PDF files and records a ``report_runs`` row.
* :func:`run_scheduled_report` is the scheduler's job: the previous ISO week, e-mailed to
  ``reports.recipients`` through the SMTP notifier named in ``reports.notifier``.
"""

from __future__ import annotations

import logging
import os
import tempfile
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Engine, update

from kernel.errors import describe_error
from kernel.settings import Settings
from reports import data, effects, examples, followup_data, issues, methods, ranking, replies, tables
from reports.model import BRIEFING_SECTION, REPLY_QUERY, WeeklyReport
from reports.narrative import narrate
from storage import schema as s
from storage.briefings import latest_briefing
from storage.db import write_tx
from storage.permissions import PRIVATE_FILE_MODE, make_private_dir
from storage.tiers import tier_counts
from storage.types import iso_week, utcnow

log = logging.getLogger(__name__)
FORMATS = ("docx", "xlsx", "pdf")


class ReportError(ValueError):
    """A report request is invalid (bad week, unknown format)."""


def parse_week(week: str) -> tuple[int, int]:
    """``"2026-W47"`` -> ``(2026, 47)``; raises :class:`ReportError` when it is not an ISO week."""
    try:
        year_s, num_s = week.strip().upper().split("-W")
        year, num = int(year_s), int(num_s)
        date.fromisocalendar(year, num, 1)
    except ValueError:
        raise ReportError(f"not an ISO week like 2026-W47: {week!r}") from None
    return year, num


def week_bounds(week: str, tz: str) -> tuple[datetime, datetime]:
    """The week as [Monday 00:00, next Monday 00:00) in time zone ``tz``."""
    year, num = parse_week(week)
    monday = date.fromisocalendar(year, num, 1)
    start = datetime(monday.year, monday.month, monday.day, tzinfo=ZoneInfo(tz))
    nxt = monday + timedelta(days=7)
    return start, datetime(nxt.year, nxt.month, nxt.day, tzinfo=ZoneInfo(tz))


def previous_week(week: str) -> str:
    year, num = parse_week(week)
    return iso_week(date.fromisocalendar(year, num, 1) - timedelta(days=7))


def last_complete_week(now: datetime, tz: str) -> str:
    """The ISO week before the one ``now`` falls in (local time)."""
    return iso_week(now.astimezone(ZoneInfo(tz)).date() - timedelta(days=7))


def newest_week_with_data(engine: Engine, now: datetime, tz: str) -> str:
    """The last complete week, or the week of the newest document when that is earlier (an archive
    whose data ends in the past opens on its own last week, not on an empty one)."""
    from storage.extent import data_extent

    last = last_complete_week(now, tz)
    _, newest = data_extent(engine)
    if newest is None:
        return last
    week = iso_week(newest.astimezone(ZoneInfo(tz)).date())
    return min(week, last, key=parse_week)


def build_weekly_report(engine: Engine, settings: Settings, week: str) -> WeeklyReport:
    """Read the store and assemble the report of ``week`` (no files written)."""
    start, end = week_bounds(week, settings.app.timezone)
    return build_period_report(engine, settings, start, end, week, previous_week(week))


def build_period_report(
    engine: Engine, settings: Settings, start: datetime, end: datetime, label: str, previous_label: str
) -> WeeklyReport:
    """The report's tables and narrative for [start, end) (whole local days) against the period before.

    The weekly report is this for one ISO week; the daily briefing reads the same figures for one day.
    """
    tz = settings.app.timezone
    p_start = start - (end - start)
    su, eu, psu = (t.astimezone(UTC) for t in (start, end, p_start))
    cur = data.load_documents(engine, su, eu)
    prev = data.load_documents(engine, psu, su)
    alerts, prev_alerts = data.load_alerts(engine, su, eu), data.load_alerts(engine, psu, su)
    report = WeeklyReport(
        week=label,
        previous_week=previous_label,
        timezone=tz,
        start=start,
        end=end,
        base_query=data.query_sql(engine, data.documents_query(su, eu)),
        previous_query=data.query_sql(engine, data.documents_query(psu, su)),
    )
    days = [start + timedelta(days=i) for i in range((end - start).days)]
    report.add(tables.kpi_table(cur, prev, alerts, prev_alerts))
    report.add(tables.daily_volume_table(cur, days, tz))
    ranked = ranking.rank_topics(engine, settings, su, eu)
    topics = ranking.topic_labels(engine, ranked)
    for table in issues.hot_issue_tables(cur, prev, ranked, topics, days, tz):
        report.add(table)
    for dim in ("channel", "category", "province"):
        report.add(tables.sentiment_table(cur, prev, dim))
    for dim in ("channel", "category", "province"):
        report.add(tables.emotion_table(cur, dim))
    report.add(issues.category_table(cur, prev))
    report.add(issues.agenda_table(cur, ranking.rank_agenda(engine, settings, su, eu)))
    alert_docs = {int(a["id"]): examples.alert_document_ids(a["evidence"]) for _, a in alerts.iterrows()}
    report.add(tables.alerts_table(alerts, alert_docs, tz))
    weights = replies.reply_weights(settings)
    add_followup(report, engine, weights, su, eu, psu)
    picks = examples.pick_examples(cur, report.tables["hot_issues"])
    report.add(
        examples.examples_table(cur, picks, data.load_document_texts(engine, [i for _, i in picks]), tz)
    )
    covered, gaps = methods.sources_table(
        data.load_sources(engine), cur, data.load_ingest_runs(engine, su, eu), su, eu, tz
    )
    report.add(covered)
    report.add(gaps)
    versions, meta = data.load_pipeline_versions(engine, su, eu), data.load_model_meta()
    report.add(methods.models_table(versions, meta, tier_counts(engine, su, eu)))
    narrate(report, cur, settings, ranking.rollup_volume(engine, su, eu))
    return report


def add_followup(
    report: WeeklyReport, engine: Engine, weights: dict[str, float], su: datetime, eu: datetime, psu: datetime
) -> None:
    """Add the 答复质量 and 处置与成效 sections to ``report`` (UTC bounds: week start, end, previous start).

    Replies are selected by answer time and events by their time, so these sections have their own
    base query (``report.queries``) and documents; their tables and sentences are added in place.
    """
    tz = report.timezone
    cur, prev = followup_data.load_replies(engine, su, eu), followup_data.load_replies(engine, psu, su)
    report.queries[REPLY_QUERY] = data.query_sql(engine, followup_data.replies_query(su, eu))
    report.queries[f"上周{REPLY_QUERY}"] = data.query_sql(engine, followup_data.replies_query(psu, su))
    report.add(replies.summary_table(cur, prev))
    for dim in ("unit", "category", "province"):
        report.add(replies.group_table(cur, dim, weights))
    texts = followup_data.load_reply_texts(engine, replies.worst_ids(cur))
    for table in replies.worst_tables(cur, texts, tz):
        report.add(table)
    versions = sorted({str(v) for v in cur["scorer_version"].dropna()})
    replies.narrate_replies(lambda line: report.say("replies", line), report.tables, weights, versions)
    found = followup_data.load_event_effects(engine, su, eu, followup_data.EFFECT_HOURS)
    tids = [int(e.event["topic_id"]) for e in found if e.event.get("topic_id") is not None]
    labels = {tid: t["label"] for tid, t in data.load_topics(engine, tids).items()}
    report.add(effects.events_table(found, labels, tz))
    report.add(effects.effects_table(found, followup_data.EFFECT_HOURS, tz))
    effects.narrate_effects(
        lambda line: report.say("effects", line), found, labels, followup_data.EFFECT_HOURS, tz
    )


def add_briefing(report: WeeklyReport, engine: Engine) -> None:
    """Append the week's latest verified model-written briefing (if any) as its own labelled section."""
    briefing = latest_briefing(engine, "weekly", report.week)
    if briefing is None or briefing.status != "verified":
        return
    report.say(
        BRIEFING_SECTION.key,
        f"以下由大模型 {briefing.model} 根据本报告的统计撰写，所含 {briefing.checked_figures} 个数字已逐一与系统计算的事实核对，"
        "未通过核验的句子已删除并列于文末。",
    )
    for line in briefing.text.splitlines():
        if line.strip():
            report.say(BRIEFING_SECTION.key, line.strip())


def _record_run(engine: Engine, week: str, formats: Sequence[str], requested_by: str) -> int:
    with write_tx(engine) as conn:
        return int(
            conn.execute(
                s.report_runs.insert()
                .values(
                    week=week,
                    formats=list(formats),
                    status="running",
                    requested_by=requested_by,
                    started_at=utcnow(),
                )
                .returning(s.report_runs.c.id)
            ).scalar_one()
        )


def _finish_run(engine: Engine, run_id: int, **values: Any) -> None:
    with write_tx(engine) as conn:
        conn.execute(
            update(s.report_runs).where(s.report_runs.c.id == run_id).values(finished_at=utcnow(), **values)
        )


def _write_atomically(path: Path, render: Any) -> Path:
    """Render into a temporary file next to ``path``, then rename: readers never see half a file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.stem}-", suffix=path.suffix, dir=path.parent)
    os.close(fd)
    try:
        render(Path(tmp))
        os.chmod(tmp, PRIVATE_FILE_MODE)  # a renderer may have replaced mkstemp's 0o600 file
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
    return path


def write_report_files(
    report: WeeklyReport, formats: Sequence[str], folder: Path, stem: str, meta: dict[str, str]
) -> list[Path]:
    """Render ``report`` as ``<folder>/<stem>.<fmt>`` for each format, each file written atomically."""
    from reports.charts import render_charts
    from reports.render_docx import render_docx
    from reports.render_pdf import render_pdf
    from reports.render_xlsx import render_xlsx

    charts = render_charts(report) if {"docx", "pdf"} & set(formats) else {}
    paths = []
    for fmt in formats:
        path = folder / f"{stem}.{fmt}"
        if fmt == "docx":
            paths.append(_write_atomically(path, lambda p: render_docx(report, charts, p, meta)))
        elif fmt == "xlsx":
            paths.append(_write_atomically(path, lambda p: render_xlsx(report, p, meta)))
        else:
            paths.append(_write_atomically(path, lambda p: render_pdf(report, charts, p, meta)))
    return paths


def generate_weekly_report(
    engine: Engine,
    settings: Settings,
    week: str | None = None,
    formats: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    requested_by: str = "system",
) -> list[Path]:
    """Build the report of ``week`` and write it in ``formats``; returns the files written.

    Args:
        engine: the store.
        settings: the application settings.
        week: ISO week such as ``2026-W47``; default: the newest complete week with data
            (:func:`newest_week_with_data`).
        formats: any of docx, xlsx, pdf; default ``reports.formats``.
        out_dir: folder for the files; default ``reports.out_dir``.
        requested_by: user name (or ``scheduler``) stored in ``report_runs``.

    Raises:
        ReportError: bad week or format. Rendering errors are recorded in ``report_runs`` and re-raised.
    """

    tz = settings.app.timezone
    week = week or newest_week_with_data(engine, utcnow(), tz)
    parse_week(week)
    formats = list(formats or settings.reports.formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ReportError(f"unknown report formats {unknown}; expected some of {list(FORMATS)}")
    folder = make_private_dir(out_dir or settings.reports.out_dir)
    run_id = _record_run(engine, week, formats, requested_by)
    try:
        report = build_weekly_report(engine, settings, week)
        if settings.reports.briefing:
            add_briefing(report, engine)
        meta = {"生成时间": f"{utcnow().astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}", "生成人": requested_by}
        paths = write_report_files(report, formats, folder, f"minsheng-weekly-{week}", meta)
    except Exception as exc:
        _finish_run(engine, run_id, status="failed", error=describe_error(exc))
        raise
    _finish_run(engine, run_id, status="ok", paths=[str(p) for p in paths])
    log.info("weekly report generated", extra={"week": week, "formats": formats, "run_id": run_id})
    return paths


def run_scheduled_report(engine: Engine, settings: Settings) -> dict[str, Any]:
    """The scheduler's job: report the previous ISO week and e-mail it to ``reports.recipients``."""
    from reports.mail import report_notifier, send_report_email

    week = last_complete_week(utcnow(), settings.app.timezone)
    paths = generate_weekly_report(engine, settings, week, requested_by="scheduler")
    recipients = list(settings.reports.recipients)
    if recipients:
        start, end = week_bounds(week, settings.app.timezone)
        body = (
            f"附件为 {week}（{start:%Y-%m-%d} 至 {end - timedelta(days=1):%Y-%m-%d}）舆情周报，"
            f"共 {len(paths)} 个文件：{', '.join(p.name for p in paths)}。\n本邮件由民声系统按计划自动发送。"
        )
        send_report_email(report_notifier(settings), recipients, f"民声舆情周报 {week}", body, paths)
    return {"week": week, "files": len(paths), "emailed": len(recipients)}

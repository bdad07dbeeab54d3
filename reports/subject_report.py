"""A subject's (专题) report for any period, on the weekly report's model and renderers.

:func:`build_subject_report` reads the documents the subject holds in the period and in the period
of the same kind just before (the previous day, week, month, quarter, or a custom range's equal
length) and fills a :class:`~reports.model.WeeklyReport` with the weekly report's tables: KPIs,
daily volume by channel, sentiment and emotion by channel / category / region, demand categories,
the subject's alerts, sources covered and model versions. Every row carries its evidence; the base
query is the period's documents restricted to the subject, so the figures are reproducible.
:func:`generate_subject_report` writes DOCX / XLSX / PDF; :func:`run_scheduled_subject_reports` (the
``report.subjects`` job, ``reports.subject_schedule``) e-mails each subject's previous month to its
subscribers.

Periods: ``2026-11-20`` (a day), ``2026-W47`` (an ISO week), ``2026-11`` (a month), ``2026-Q4``
(a quarter) or ``2026-11-01..2026-11-15`` (a custom range of whole days), in the app time zone.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
from sqlalchemy import Engine

from kernel.errors import describe_error
from kernel.settings import Settings
from reports import data, examples, issues, methods, tables
from reports.model import WeeklyReport
from reports.weekly import FORMATS, ReportError, _finish_run, _record_run, week_bounds, write_report_files
from storage.permissions import make_private_dir
from storage.subjects import Subject, get_subject
from storage.types import utcnow

log = logging.getLogger(__name__)


def _months_later(day: date, months: int) -> date:
    total = day.year * 12 + day.month - 1 + months
    return date(total // 12, total % 12 + 1, 1)


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise ReportError(f"not a date like 2026-11-20: {text!r}") from None


def period_days(period: str) -> tuple[str, date, date, str, date]:
    """``(label, first day, day after the last, previous label, previous first day)`` of a period."""
    p = period.strip().upper()
    if m := re.fullmatch(r"(\d{4})-(\d{2})", p):
        first = date(int(m[1]), int(m[2]), 1) if 1 <= int(m[2]) <= 12 else None
        if first is None:
            raise ReportError(f"no month {p!r}")
        prev = _months_later(first, -1)
        return p, first, _months_later(first, 1), f"{prev:%Y-%m}", prev
    if m := re.fullmatch(r"(\d{4})-Q([1-4])", p):
        first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
        prev = _months_later(first, -3)
        return p, first, _months_later(first, 3), f"{prev.year}-Q{(prev.month - 1) // 3 + 1}", prev
    if re.fullmatch(r"\d{4}-W\d{2}", p):
        start, end = week_bounds(p, "UTC")
        prev = start.date() - timedelta(days=7)
        y, w, _ = prev.isocalendar()
        return p, start.date(), end.date(), f"{y}-W{w:02d}", prev
    if ".." in p:
        lo, hi = (_day(x.strip()) for x in p.split("..", 1))
        if hi < lo:
            raise ReportError(f"the range ends before it starts: {period!r}")
        span = (hi - lo).days + 1
        prev = lo - timedelta(days=span)
        return f"{lo}..{hi}", lo, hi + timedelta(days=1), f"{prev}..{lo - timedelta(days=1)}", prev
    if re.fullmatch(r"\d{4}-\d{2}-\d{2}", p):
        day = _day(p)
        return p, day, day + timedelta(days=1), f"{day - timedelta(days=1)}", day - timedelta(days=1)
    raise ReportError(
        f"not a period like 2026-11, 2026-W47, 2026-Q4, 2026-11-20 or 2026-11-01..2026-11-15: {period!r}"
    )


def _local(day: date, tz: str) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=ZoneInfo(tz))


def build_subject_report(engine: Engine, settings: Settings, subject: Subject, period: str) -> WeeklyReport:
    """Read the store and assemble ``subject``'s report for ``period`` (no files written)."""
    tz = settings.app.timezone
    label, first, after, prev_label, prev_first = period_days(period)
    start, end, p_start = _local(first, tz), _local(after, tz), _local(prev_first, tz)
    su, eu, psu = (t.astimezone(UTC) for t in (start, end, p_start))
    cur = data.load_documents(engine, su, eu, subject.id)
    prev = data.load_documents(engine, psu, su, subject.id)
    key = f"subject={subject.name}"

    def own(frame: pd.DataFrame) -> pd.DataFrame:
        """The alerts on this subject: its key, or its key with a channel."""
        return frame.loc[[str(k) == key or str(k).startswith(f"{key}|") for k in frame["key"]]]

    alerts, prev_alerts = own(data.load_alerts(engine, su, eu)), own(data.load_alerts(engine, psu, su))
    report = WeeklyReport(
        week=label,
        previous_week=prev_label,
        timezone=tz,
        start=start,
        end=end,
        base_query=data.query_sql(engine, data.documents_query(su, eu, subject.id)),
        previous_query=data.query_sql(engine, data.documents_query(psu, su, subject.id)),
        heading=f"民声专题报告：{subject.name}（{label}）",
    )
    days = [_local(first + timedelta(days=i), tz) for i in range((after - first).days)]
    report.add(tables.kpi_table(cur, prev, alerts, prev_alerts))
    report.add(tables.daily_volume_table(cur, days, tz))
    for dim in ("channel", "category", "province"):
        report.add(tables.sentiment_table(cur, prev, dim))
    for dim in ("channel", "category", "province"):
        report.add(tables.emotion_table(cur, dim))
    report.add(issues.category_table(cur, prev))
    alert_docs = {int(a["id"]): examples.alert_document_ids(a["evidence"]) for _, a in alerts.iterrows()}
    report.add(tables.alerts_table(alerts, alert_docs, tz))
    covered, gaps = methods.sources_table(
        data.load_sources(engine), cur, data.load_ingest_runs(engine, su, eu), su, eu, tz
    )
    report.add(covered)
    report.add(gaps)
    report.add(methods.models_table(data.load_pipeline_versions(engine, su, eu), data.load_model_meta()))
    _narrate(report, subject, cur)
    return report


def _narrate(report: WeeklyReport, subject: Subject, cur: pd.DataFrame) -> None:
    kpi = report.tables["kpi"]
    total, last = kpi.lookup("文档总量", "this_week"), kpi.lookup("文档总量", "last_week")
    share = kpi.lookup("负面占比", "this_week")
    report.say(
        "overview",
        f"专题「{subject.name}」（表达式：{subject.expression}）在 {report.period_label} 共有文档 {int(total):,} 条"
        f"（上一期 {report.previous_week}：{int(last):,} 条）"
        + (f"，负面占比 {share:.1f}%。" if share is not None else "。"),
    )
    report.say("issues", "专题报告只含本专题的文档，不做全库热点排名；热点话题见周报。")
    if not report.tables["alerts"].rows:
        report.say("alerts", "本期该专题未触发预警。")
    untagged = int(cur["pipeline_version"].isna().sum())
    report.say(
        "methods",
        f"统计口径：时段为 {report.timezone} 时区的自然日；文档为专题匹配的文档（关键词表达式、排除词与筛选条件），"
        f"声量含转载副本；情感、情绪、分类以人工更正优先；有 {untagged:,} 条尚未完成模型标注，计入声量但不计入情感与分类统计。",
    )


def generate_subject_report(
    engine: Engine,
    settings: Settings,
    name: str,
    period: str,
    formats: Sequence[str] | None = None,
    out_dir: str | Path | None = None,
    requested_by: str = "system",
) -> list[Path]:
    """Build ``name``'s report for ``period`` and write it in ``formats``; returns the files written.

    Raises:
        ReportError: unknown subject, bad period or format.
    """

    subject = get_subject(engine, name)
    if subject is None:
        raise ReportError(f"no subject {name!r}")
    label = period_days(period)[0]
    formats = list(formats or settings.reports.formats)
    unknown = [f for f in formats if f not in FORMATS]
    if unknown or not formats:
        raise ReportError(f"unknown report formats {unknown}; expected some of {list(FORMATS)}")
    folder = make_private_dir(out_dir or settings.reports.out_dir)
    run_id = _record_run(engine, label if len(label) <= 10 else label[:10], formats, requested_by)
    tz = settings.app.timezone
    try:
        report = build_subject_report(engine, settings, subject, period)
        meta = {
            "生成时间": f"{utcnow().astimezone(ZoneInfo(tz)):%Y-%m-%d %H:%M}", "生成人": requested_by,
            "专题": subject.name,
        }  # fmt: skip
        stem = f"minsheng-subject-{subject.id}-{label.replace('..', '_')}"
        paths = write_report_files(report, formats, folder, stem, meta)
    except Exception as exc:
        _finish_run(engine, run_id, status="failed", error=describe_error(exc))
        raise
    _finish_run(engine, run_id, status="ok", paths=[str(p) for p in paths])
    log.info("subject report generated", extra={"subject": subject.name, "period": label, "run_id": run_id})
    return paths


def previous_month(now: datetime, tz: str) -> str:
    """The month before the one ``now`` falls in (local time), e.g. ``2026-10``."""
    local = now.astimezone(ZoneInfo(tz)).date()
    return f"{_months_later(local.replace(day=1), -1):%Y-%m}"


def run_scheduled_subject_reports(
    engine: Engine, settings: Settings, now: datetime | None = None
) -> dict[str, Any]:
    """The scheduler's job: the previous month's report of every active subject with subscribers,
    e-mailed to them through ``reports.notifier``. A subject that fails is logged and counted; the
    others are still sent."""
    from reports.mail import report_notifier, send_report_email
    from storage.subjects import list_subjects

    period = previous_month(now or utcnow(), settings.app.timezone)
    counts: dict[str, Any] = {"period": period, "subjects": 0, "emailed": 0, "errors": 0}
    subscribed = [r for r in list_subjects(engine, include_archived=False) if r["subscribers"]]
    notifier = report_notifier(settings) if subscribed else None
    for row in subscribed:
        try:
            paths = generate_subject_report(engine, settings, row["name"], period, requested_by="scheduler")
            body = (
                f"附件为专题「{row['name']}」{period} 月度报告，共 {len(paths)} 个文件：{', '.join(p.name for p in paths)}。"
                "\n本邮件由民声系统按计划自动发送。"
            )
            assert notifier is not None
            send_report_email(
                notifier, list(row["subscribers"]), f"民声专题报告 {row['name']} {period}", body, paths
            )
        except Exception as exc:  # one subject must not stop the others
            counts["errors"] += 1
            log.exception(
                "subject report failed", extra={"subject": row["name"], "error": describe_error(exc)}
            )
            continue
        counts["subjects"] += 1
        counts["emailed"] += len(row["subscribers"])
    return counts

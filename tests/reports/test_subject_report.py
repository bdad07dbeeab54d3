"""A subject's (专题) report for any period: same model and renderers as the weekly report, and
the numbers the subject page shows."""

from __future__ import annotations

import email
from datetime import UTC, date, datetime
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from pypdf import PdfReader
from sqlalchemy import Engine

from analytics.subjects import compile_subject, spec_from
from kernel.settings import Settings
from reports.subject_report import build_subject_report, period_days, run_scheduled_subject_reports
from reports.weekly import ReportError
from sensing.commands.reports import report_cmd
from storage import queries as q
from storage.subjects import SubjectError, backfill_subject, create_subject, get_subject
from tests.reports.conftest import NOW
from tests.seed import SeedFacts, seed_database

GAS = "燃气 AND (泄漏 OR 检查)"


def test_periods() -> None:
    assert period_days("2026-11") == (
        "2026-11",
        date(2026, 11, 1),
        date(2026, 12, 1),
        "2026-10",
        date(2026, 10, 1),
    )
    assert period_days("2026-q1")[1:] == (date(2026, 1, 1), date(2026, 4, 1), "2025-Q4", date(2025, 10, 1))
    assert period_days("2026-W47")[1:] == (
        date(2026, 11, 16),
        date(2026, 11, 23),
        "2026-W46",
        date(2026, 11, 9),
    )
    assert period_days("2026-11-20")[1:3] == (date(2026, 11, 20), date(2026, 11, 21))
    custom = period_days("2026-11-01..2026-11-10")
    assert custom[1:] == (date(2026, 11, 1), date(2026, 11, 11), "2026-10-22..2026-10-31", date(2026, 10, 22))
    for bad in ("2026-13", "November", "2026-11-10..2026-11-01", "2026-02-30"):
        with pytest.raises(ReportError):
            period_days(bad)


def test_monthly_subject_report_equals_the_page(
    seeded: tuple[Engine, SeedFacts], settings: Settings, tmp_path: Path, db_url: str
) -> None:
    engine, facts = seeded
    subject = create_subject(engine, "燃气安全", GAS, "ana")
    m = compile_subject(spec_from(subject))
    backfill_subject(engine, subject, m.matches, m.prefilter())
    report = build_subject_report(engine, settings, subject, "2026-11")
    zone = ZoneInfo(settings.app.timezone)
    su = datetime(2026, 11, 1, tzinfo=zone).astimezone(UTC)
    eu = datetime(2026, 12, 1, tzinfo=zone).astimezone(UTC)
    page = q.QueryFilters(start=su, end=eu, subject_id=subject.id)  # what the page reads for the month
    shown = q.aggregate(engine, page, ["sentiment"])
    mine = [
        d
        for d in facts.docs
        if "燃气" in d.title + d.content and ("泄漏" in d.content or "检查" in d.content)
    ]
    untagged = sum(1 for d in mine if not d.tagged)
    kpi = report.tables["kpi"]
    assert kpi.lookup("文档总量", "this_week") == int(shown["n"].sum()) + untagged == len(mine) > 0
    neg = float(shown.loc[shown["sentiment"] == "negative", "n"].sum()) / float(shown["n"].sum())
    assert kpi.lookup("负面占比", "this_week") == pytest.approx(100 * neg, abs=0.005)  # in percent
    assert kpi.lookup("文档总量", "last_week") == 0 and report.previous_week == "2026-10"
    by_channel = {r[0]: r for r in report.tables["sentiment_channel"].rows}
    assert sum(int(r[1]) for r in by_channel.values()) == int(shown["n"].sum())
    assert report.title == "民声专题报告：燃气安全（2026-11）"
    again = build_subject_report(engine, settings, subject, "2026-11")
    assert again.figures() == report.figures()  # reproducible

    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump({"database": {"url": db_url}, "app": {"data_dir": str(tmp_path / "var")}}))
    out = tmp_path / "out"
    args = [
        "subject",
        "燃气安全",
        "--period",
        "2026-11",
        "--format",
        "pdf,xlsx",
        "--out",
        str(out),
        "--config",
        str(cfg),
    ]
    result = CliRunner().invoke(report_cmd, args)
    assert result.exit_code == 0, result.output
    pdf = next(p for p in out.iterdir() if p.suffix == ".pdf")
    text = "".join(page.extract_text() for page in PdfReader(str(pdf)).pages[:2])
    assert "燃气安全" in text and f"共有文档 {len(mine):,} 条" in text.replace("\n", "")
    bad = CliRunner().invoke(report_cmd, ["subject", "没有", "--period", "2026-11", "--config", str(cfg)])
    assert bad.exit_code == 2 and "no subject" in bad.output


def test_scheduled_subject_reports_reach_their_subscribers(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: tuple[Any, Any]
) -> None:
    ctl, sink = smtp_server
    facts = seed_database(sqlite_engine, NOW)
    with pytest.raises(SubjectError, match="not e-mail addresses"):
        create_subject(sqlite_engine, "坏", "燃气", "ana", subscribers=["nobody"])
    create_subject(
        sqlite_engine, "燃气安全", GAS, "ana", subscribers=["office@gov.local", "leader@gov.local"]
    )
    create_subject(sqlite_engine, "无人订阅", "电梯", "ana")
    subject = get_subject(sqlite_engine, "燃气安全")
    assert subject is not None
    m = compile_subject(spec_from(subject))
    backfill_subject(sqlite_engine, subject, m.matches, m.prefilter())
    notifier = {"name": "mail", "kind": "smtp", "smtp_host": "127.0.0.1", "smtp_port": ctl.port,
                "smtp_starttls": False, "sender": "minsheng@gov.local", "recipients": ["duty@gov.local"]}  # fmt: skip
    settings = Settings.model_validate(
        {"alerts": {"notifiers": [notifier]},
         "reports": {"out_dir": str(tmp_path / "reports"), "notifier": "mail", "formats": ["pdf"]}}
    )  # fmt: skip
    later = datetime(2026, 12, 3, 1, 0, tzinfo=UTC)  # in December: November is reported
    result = run_scheduled_subject_reports(sqlite_engine, settings, now=later)
    assert result == {"period": "2026-11", "subjects": 1, "emailed": 2, "errors": 0}
    (envelope,) = sink.messages
    assert sorted(envelope.rcpt_tos) == ["leader@gov.local", "office@gov.local"]
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    assert "燃气安全" in msg["Subject"] and "2026-11" in msg["Subject"]
    (pdf,) = list(msg.iter_attachments())
    assert pdf.get_filename() == f"minsheng-subject-{subject.id}-2026-11.pdf"
    assert facts.docs  # the seeded store the report read

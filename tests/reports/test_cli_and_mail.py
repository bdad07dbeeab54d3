"""``sensing report weekly`` and the scheduled job that e-mails the files (a real local SMTP server)."""

from __future__ import annotations

import email
from datetime import datetime, timedelta
from email import policy
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import yaml
from click.testing import CliRunner
from openpyxl import load_workbook
from sqlalchemy import Engine, select

from kernel.settings import Settings
from reports.mail import ReportMailError
from reports.weekly import run_scheduled_report
from sensing.app import App
from sensing.cli import cli
from storage import schema as s
from tests.reports.conftest import NOW, WEEK
from tests.seed import seed_database


def write_config(tmp_path: Path, engine: Engine) -> Path:
    path = tmp_path / "config.yaml"
    data = {
        "database": {"url": engine.url.render_as_string(hide_password=False)},
        "app": {"data_dir": str(tmp_path)},
    }
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def test_cli_writes_the_requested_formats(sqlite_engine: Engine, tmp_path: Path) -> None:
    facts = seed_database(sqlite_engine, NOW)
    config, out = write_config(tmp_path, sqlite_engine), tmp_path / "out"
    runner = CliRunner()
    args = [
        "--config",
        str(config),
        "report",
        "weekly",
        "--week",
        WEEK,
        "--format",
        "xlsx",
        "--out",
        str(out),
    ]
    result = runner.invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    written = [Path(line) for line in result.stdout.split()]
    assert [p.name for p in written] == [f"minsheng-weekly-{WEEK}.xlsx"]
    assert all(p.stat().st_size > 1000 for p in written)
    ws = load_workbook(written[0])["01 核心指标（本周与上周对比）"]
    start = datetime(2026, 11, 16, tzinfo=ZoneInfo("Asia/Shanghai"))
    expected = sum(start <= d.published_at < start + timedelta(days=7) for d in facts.docs)
    assert ws["A2"].value == "文档总量" and ws["C2"].value == expected
    with sqlite_engine.connect() as conn:
        assert conn.execute(select(s.report_runs.c.requested_by)).scalar_one().startswith("cli")

    bad = runner.invoke(
        cli, ["--config", str(config), "report", "weekly", "--week", "2026-W60", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "ISO week" in bad.output
    bad = runner.invoke(
        cli, ["--config", str(config), "report", "weekly", "--format", "doc", "--out", str(out)]
    )
    assert bad.exit_code == 2 and "formats" in bad.output


def _app(engine: Engine, tmp_path: Path, port: int, **reports: Any) -> App:
    notifier = {
        "name": "mail",
        "kind": "smtp",
        "smtp_host": "127.0.0.1",
        "smtp_port": port,
        "smtp_starttls": False,  # the test server offers no TLS
        "sender": "minsheng@gov.local",
        "recipients": ["duty@gov.local"],
    }
    settings = Settings.model_validate(
        {"alerts": {"notifiers": [notifier]}, "reports": {"out_dir": str(tmp_path / "reports"), **reports}}
    )
    return App(settings=settings, _engine=engine)


def test_scheduled_report_is_emailed_with_its_files(
    sqlite_engine: Engine, tmp_path: Path, smtp_server: tuple[Any, Any]
) -> None:
    ctl, sink = smtp_server
    app = _app(
        sqlite_engine,
        tmp_path,
        ctl.port,
        recipients=["leader@gov.local", "office@gov.local"],
        notifier="mail",
    )
    result = run_scheduled_report(
        app.engine, app.settings
    )  # an empty database still gives a complete (empty) report
    today = datetime.now(ZoneInfo("Asia/Shanghai")).date()
    year, week, _ = (today - timedelta(days=7)).isocalendar()
    assert result == {"week": f"{year}-W{week:02d}", "files": 3, "emailed": 2}
    assert len(sink.messages) == 1
    envelope = sink.messages[0]
    assert sorted(envelope.rcpt_tos) == ["leader@gov.local", "office@gov.local"]
    msg = email.message_from_bytes(envelope.content, policy=policy.default)
    assert result["week"] in msg["Subject"] and "舆情周报" in msg["Subject"]
    names = sorted(part.get_filename() for part in msg.iter_attachments())
    assert names == sorted(f"minsheng-weekly-{result['week']}.{ext}" for ext in ("docx", "pdf", "xlsx"))
    pdf = next(p for p in msg.iter_attachments() if p.get_filename().endswith(".pdf"))
    assert pdf.get_content_type() == "application/pdf" and pdf.get_content().startswith(b"%PDF")
    with sqlite_engine.connect() as conn:
        run = conn.execute(select(s.report_runs)).one()
    assert (run.status, run.requested_by) == ("ok", "scheduler")


def test_recipients_without_an_smtp_notifier_is_an_error(sqlite_engine: Engine, tmp_path: Path) -> None:
    app = _app(sqlite_engine, tmp_path, 25, recipients=["leader@gov.local"], formats=["xlsx"])
    with pytest.raises(ReportMailError, match="reports.notifier"):
        run_scheduled_report(app.engine, app.settings)


def test_report_mail_needs_starttls_unless_switched_off(tmp_path: Path, smtp_server: tuple[Any, Any]) -> None:
    from kernel.settings import NotifierSettings
    from reports.mail import send_report_email

    ctl, sink = smtp_server  # offers no STARTTLS
    files = [tmp_path / "a.xlsx"]
    files[0].write_bytes(b"x")
    base = {"name": "mail", "kind": "smtp", "smtp_host": "127.0.0.1", "smtp_port": ctl.port}
    base |= {"sender": "minsheng@gov.local", "recipients": ["duty@gov.local"]}
    with pytest.raises(ReportMailError, match="STARTTLS"):
        send_report_email(NotifierSettings.model_validate(base), ["lead@gov.local"], "周报", "正文", files)
    assert sink.messages == []
    plain = NotifierSettings.model_validate({**base, "smtp_starttls": False})
    send_report_email(plain, ["lead@gov.local"], "周报", "正文", files)
    assert len(sink.messages) == 1

"""``sensing report weekly [--week 2026-W47] ...`` and ``sensing report subject NAME --period 2026-11 ...``."""

from __future__ import annotations

import click

from sensing.app import App, cli_user, pass_app


@click.group("report")
def report_cmd() -> None:
    """Generate reports (Word / Excel / PDF)."""


@report_cmd.command("weekly")
@click.option(
    "--week",
    default=None,
    metavar="YYYY-Www",
    help="ISO week, e.g. 2026-W47 (default: the newest complete week with data).",
)
@click.option(
    "--format",
    "formats",
    default=None,
    metavar="LIST",
    help="Comma-separated formats among docx,xlsx,pdf (default: reports.formats in config).",
)
@click.option(
    "--out",
    "out_dir",
    default=None,
    type=click.Path(file_okay=False),
    help="Output folder (default: reports.out_dir).",
)
@pass_app
def weekly_cmd(app: App, week: str | None, formats: str | None, out_dir: str | None) -> None:
    """Write the weekly report of one ISO week and print the files written."""
    from reports.fonts import CjkFontError
    from reports.weekly import ReportError, generate_weekly_report

    chosen = [f.strip().lower() for f in formats.split(",") if f.strip()] if formats else None
    try:
        paths = generate_weekly_report(
            app.engine,
            app.settings,
            week=week,
            formats=chosen,
            out_dir=out_dir,
            requested_by=f"cli:{cli_user()}",
        )
    except ReportError as exc:
        raise click.UsageError(str(exc)) from None
    except CjkFontError as exc:  # the machine, not the request, is at fault
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(str(path))


@report_cmd.command("subject")
@click.argument("name")
@click.option(
    "--period",
    required=True,
    metavar="PERIOD",
    help="2026-11-20 (day), 2026-W47 (week), 2026-11 (month), 2026-Q4 (quarter) or 2026-11-01..2026-11-15.",
)
@click.option(
    "--format", "formats", default=None, metavar="LIST", help="Comma-separated among docx,xlsx,pdf."
)
@click.option("--out", "out_dir", default=None, type=click.Path(file_okay=False), help="Output folder.")
@pass_app
def subject_cmd(app: App, name: str, period: str, formats: str | None, out_dir: str | None) -> None:
    """Write a subject's (专题) report for any period and print the files written."""
    from reports.fonts import CjkFontError
    from reports.subject_report import generate_subject_report
    from reports.weekly import ReportError

    chosen = [f.strip().lower() for f in formats.split(",") if f.strip()] if formats else None
    try:
        paths = generate_subject_report(
            app.engine,
            app.settings,
            name,
            period,
            formats=chosen,
            out_dir=out_dir,
            requested_by=f"cli:{cli_user()}",
        )
    except ReportError as exc:
        raise click.UsageError(str(exc)) from None
    except CjkFontError as exc:
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(str(path))

"""``sensing report weekly [--week 2026-W47] [--format docx,xlsx,pdf] [--out DIR]``."""

from __future__ import annotations

import getpass

import click

from sensing.app import App, pass_app


def _user() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"


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
            app.engine, app.settings, week=week, formats=chosen, out_dir=out_dir, requested_by=_user()
        )
    except ReportError as exc:
        raise click.UsageError(str(exc)) from None
    except CjkFontError as exc:  # the machine, not the request, is at fault
        raise click.ClickException(str(exc)) from None
    for path in paths:
        click.echo(str(path))

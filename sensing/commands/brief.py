"""``sensing brief daily|weekly [--date D] [--json]``: a briefing written by the office's model, verified."""

from __future__ import annotations

import json

import click

from sensing.app import App, cli_user, pass_app


@click.command("brief")
@click.argument("kind", type=click.Choice(["daily", "weekly"]))
@click.option(
    "--date",
    "when",
    default=None,
    metavar="DATE",
    help="daily: YYYY-MM-DD (default yesterday); weekly: 2026-W47 or a day in it (default last week).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object: text, removed, facts.")
@pass_app
def brief_cmd(app: App, kind: str, when: str | None, as_json: bool) -> None:
    """Write a daily or weekly briefing (舆情要报) with the configured large model and store it.

    Every figure is checked against Minsheng's own facts; failing sentences are removed and listed.
    Exits 1 when the model could not be used (the template briefing is stored instead).
    """
    from reports.briefing import BriefingError, write_briefing

    try:
        briefing = write_briefing(app.engine, app.settings, kind, when, requested_by=f"cli:{cli_user()}")
    except BriefingError as exc:
        raise click.UsageError(str(exc)) from None
    if as_json:
        click.echo(json.dumps(briefing.as_json(), ensure_ascii=False, indent=2))
    else:
        click.echo(f"# {briefing.period} 舆情要报（{briefing.model} 撰写，{briefing.status}）")
        click.echo(briefing.text)
        click.echo(
            f"\n核验：{briefing.verification.get('checked_figures', 0)} 个数字已与事实核对，"
            f"{len(briefing.removed)} 句未通过；要报编号 {briefing.id}。"
        )
    if briefing.error is not None:
        click.echo(f"error: the large model was not used: {briefing.error}", err=True)
        raise SystemExit(1)

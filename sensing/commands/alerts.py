"""``sensing alerts``: the duty officer's terminal view of alerts.

sensing alerts list [--status open|acknowledged|resolved|active|all] [--json]
sensing alerts ack ID [--note TEXT] [--user NAME]
sensing alerts resolve ID [--note TEXT] [--user NAME]
sensing alerts silence RULE --for 2h [--key KEY] [--note TEXT] [--user NAME]
sensing alerts silences | unsilence ID
sensing alerts evaluate | deliver        (run the scheduled jobs once, now)
sensing alerts replay --from DATE --to DATE [--step 1h]   (回溯: what the rules would have raised)
"""

from __future__ import annotations

import json
import logging
import re
from datetime import datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import click
from rich.console import Console
from rich.table import Table

from kernel import labels
from sensing.app import App, cli_user, pass_app
from storage import alert_actions
from storage.types import utcnow

log = logging.getLogger(__name__)

_DURATION = re.compile(r"(\d+)\s*([dhms])", re.IGNORECASE)
_UNITS = {"d": "days", "h": "hours", "m": "minutes", "s": "seconds"}


def parse_duration(text: str) -> timedelta:
    """``2h``, ``30m``, ``1d``, ``1h30m`` -> timedelta (raises ValueError otherwise)."""
    compact = text.replace(" ", "")
    parts = _DURATION.findall(compact)
    if not parts or "".join(n + u for n, u in parts).lower() != compact.lower():
        raise ValueError(f"a duration like 2h, 30m, 1d or 1h30m, got {text!r}")
    total = timedelta()
    for number, unit in parts:
        total += timedelta(**{_UNITS[unit.lower()]: int(number)})
    if total <= timedelta(0):
        raise ValueError("the duration must be positive")
    return total


def _local(at: datetime | None, tz: str) -> str:
    return at.astimezone(ZoneInfo(tz)).strftime("%m-%d %H:%M") if at else ""


def _user_option(fn: Any) -> Any:
    return click.option(
        "--user", default=cli_user, show_default="$SENSING_USER or login name", help="Who acts."
    )(fn)


@click.group("alerts")
def alerts_cmd() -> None:
    """List, acknowledge, resolve and silence alerts."""


@alerts_cmd.command("list")
@click.option(
    "--status",
    type=click.Choice(["active", "open", "acknowledged", "resolved", "all"]),
    default="active",
    show_default=True,
    help="Which alerts: active = open or acknowledged.",
)
@click.option("--limit", type=click.IntRange(1, 10_000), default=50, show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def list_cmd(app: App, status: str, limit: int, as_json: bool) -> None:
    """Show alerts, newest first."""
    statuses = {"active": list(alert_actions.ACTIVE), "all": None}.get(status, [status])
    rows = alert_actions.list_alerts(app.engine, statuses, limit)
    if as_json:
        click.echo(json.dumps(rows, default=str, ensure_ascii=False))
        return
    tz = app.settings.app.timezone
    table = Table(title=f"预警（{len(rows)} 条）")
    for col in ("ID", "状态", "级别", "规则", "对象", "标题", "首次发现", "最近触发", "处理人"):
        table.add_column(col)
    for r in rows:
        who = r["resolved_by"] if r["status"] == "resolved" else r["acked_by"]
        table.add_row(
            str(r["id"]),
            labels.ALERT_STATUS.get(r["status"], r["status"]),
            labels.SEVERITY.get(r["severity"], r["severity"]),
            r["rule"],
            r["key"],
            r["title"],
            _local(r["first_seen"], tz),
            _local(r["last_seen"], tz),
            who or "",
        )
    Console().print(table)


def _act(action: Any, *args: Any, **kwargs: Any) -> None:
    try:
        action(*args, **kwargs)
    except (alert_actions.AlertNotFoundError, alert_actions.AlertStateError, ValueError) as exc:
        raise click.ClickException(str(exc)) from None


@alerts_cmd.command("ack")
@click.argument("alert_id", type=int)
@click.option("--note", default=None, help="What you are doing about it.")
@_user_option
@pass_app
def ack_cmd(app: App, alert_id: int, note: str | None, user: str) -> None:
    """Acknowledge alert ID: stops reminders, keeps it active."""
    _act(alert_actions.acknowledge_alert, app.engine, alert_id, user, note)
    click.echo(f"预警 {alert_id} 已由 {user} 确认")


@alerts_cmd.command("resolve")
@click.argument("alert_id", type=int)
@click.option("--note", default=None, help="How it was handled.")
@_user_option
@pass_app
def resolve_cmd(app: App, alert_id: int, note: str | None, user: str) -> None:
    """Resolve alert ID."""
    _act(alert_actions.resolve_alert, app.engine, alert_id, user, note)
    click.echo(f"预警 {alert_id} 已由 {user} 解除")


@alerts_cmd.command("silence")
@click.argument("rule")
@click.option("--for", "duration", required=True, help="How long, e.g. 2h, 30m, 1d, 1h30m.")
@click.option("--key", default=None, help="Only this key (e.g. category=环境保护); default every key.")
@click.option("--note", default=None, help="Why.")
@_user_option
@pass_app
def silence_cmd(app: App, rule: str, duration: str, key: str | None, note: str | None, user: str) -> None:
    """Stop notifications of RULE for a while (alerts are still recorded)."""
    known = [r.name for r in app.settings.alerts.rules]
    if rule not in known:
        raise click.ClickException(f"unknown rule {rule!r}; configured rules: {', '.join(known) or '(none)'}")
    try:
        until = utcnow() + parse_duration(duration)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--for") from None
    silence_id = alert_actions.create_silence(app.engine, rule, until, user, key=key, note=note)
    scope = f"「{key}」" if key else "全部对象"
    click.echo(
        f"静默 {silence_id}：规则 {rule} {scope} 至 {_local(until, app.settings.app.timezone)}，由 {user} 设置"
    )


@alerts_cmd.command("silences")
@pass_app
def silences_cmd(app: App) -> None:
    """Show silences in force."""
    tz = app.settings.app.timezone
    rows = alert_actions.list_silences(app.engine)
    table = Table(title=f"静默（{len(rows)} 条）")
    for col in ("ID", "规则", "对象", "截止", "设置人", "说明"):
        table.add_column(col)
    for r in rows:
        table.add_row(
            str(r["id"]),
            r["rule"],
            r["key"] or "全部",
            _local(r["until"], tz),
            r["created_by"],
            r["note"] or "",
        )
    Console().print(table)


@alerts_cmd.command("unsilence")
@click.argument("silence_id", type=int)
@_user_option
@pass_app
def unsilence_cmd(app: App, silence_id: int, user: str) -> None:
    """End silence SILENCE_ID now."""
    _act(alert_actions.end_silence, app.engine, silence_id, user)
    click.echo(f"静默 {silence_id} 已结束")


@alerts_cmd.command("evaluate")
@pass_app
def evaluate_cmd(app: App) -> None:
    """Evaluate every rule once now (what the scheduler does every minute)."""
    from alerts.engine import evaluate_rules

    click.echo(json.dumps(evaluate_rules(app.engine, app.settings), ensure_ascii=False))


@alerts_cmd.command("deliver")
@pass_app
def deliver_cmd(app: App) -> None:
    """Send due notifications once now."""
    from alerts.engine import deliver_outbox

    click.echo(json.dumps(deliver_outbox(app.engine, app.settings.alerts.notifiers), ensure_ascii=False))


def parse_moment(text: str, tz: str, *, end: bool = False) -> datetime:
    """``2019-11-04`` (local midnight; with ``end``, the midnight after it) or an ISO date-time
    (local time when it has no offset) -> an aware datetime."""
    try:
        value = datetime.fromisoformat(text.strip())
    except ValueError:
        raise click.BadParameter(f"a date like 2019-11-04 or 2019-11-04T08:00, got {text!r}") from None
    if value.tzinfo is None:
        value = value.replace(tzinfo=ZoneInfo(tz))
    if end and len(text.strip()) == 10:  # a whole day: up to its end
        value += timedelta(days=1)
    return value


@alerts_cmd.command("replay")
@click.option("--from", "start_text", required=True, metavar="DATE", help="First day (or ISO date-time).")
@click.option(
    "--to", "end_text", required=True, metavar="DATE", help="Last day, included (or ISO date-time)."
)
@click.option("--step", "step_text", default="1h", show_default=True, help="Time between two evaluations.")
@pass_app
def replay_cmd(app: App, start_text: str, end_text: str, step_text: str) -> None:
    """Run the configured rules over history and store what would have fired (回溯), never notified.

    The replayed alerts are shown apart on 预警中心; a replay of the same period replaces them.
    """
    from rich.progress import Progress

    from alerts.replay import replay_rules

    tz = app.settings.app.timezone
    start, end = parse_moment(start_text, tz), parse_moment(end_text, tz, end=True)
    try:
        step = parse_duration(step_text)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--step") from None
    if end <= start:
        raise click.BadParameter(f"--to ({end_text}) must be after --from ({start_text})")
    with app.store.job_run("alerts.replay") as counts, Progress(transient=True) as progress:
        task = progress.add_task("replaying rules", total=None)
        result = replay_rules(
            app.engine,
            app.settings,
            start,
            end,
            step=step,
            on_step=lambda done, total: progress.update(task, completed=done, total=total),
        )
        counts.update({k: v for k, v in result.items() if k != "by_rule"})
    per_rule = "、".join(f"{k} {v}" for k, v in sorted(result["by_rule"].items())) or "无"
    click.echo(
        f"回溯 {start_text} 至 {end_text}：{result['rules']} 条规则 × {result['steps']} 次评估，"
        f"{result['replayed']} 条回溯预警（{per_rule}），未发送任何通知"
        + (f"；跳过 {result['skipped']} 条只适用于当前的规则" if result["skipped"] else "")
        + (f"；{result['errors']} 次规则出错" if result["errors"] else "")
    )

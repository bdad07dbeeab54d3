"""``sensing events``: mark what the government did on an issue and see the effect."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import click

from analytics.effect import EVENT_KINDS, estimate_effect
from sensing.app import App, pass_app
from storage.events import add_event, get_event, issue_series, list_events
from storage.subjects import get_subject


@click.group("events")
def events_cmd() -> None:
    """Mark events (政策出台 / 现场处置 / 官方回应) on an issue and measure their effect."""


@events_cmd.command("add")
@click.argument("kind", type=click.Choice(EVENT_KINDS))
@click.option("--topic", "topic_id", type=int, default=None, help="Topic id the event concerns.")
@click.option("--category", default=None, help="Demand category (with --region: a category x region issue).")
@click.option("--region", "province", default=None, help="Province, e.g. 广东省.")
@click.option("--subject", "subject_name", default=None, help="A 专题 by name (see `sensing subjects list`).")
@click.option("--at", "at", required=True, help="When it happened, e.g. '2026-11-20 15:00' (app time zone).")
@click.option("--note", default=None)
@click.option("--user", default="cli", show_default=True, help="Who records it (audit log).")
@pass_app
def add_cmd(app: App, kind: str, topic_id: int | None, category: str | None, province: str | None,
            subject_name: str | None, at: str, note: str | None, user: str) -> None:  # fmt: skip
    """Record an event on a topic, a category x region, or a 专题."""
    if topic_id is None and category is None and subject_name is None:
        raise click.UsageError("give --topic, --category or --subject")
    subject_id = None
    if subject_name is not None:
        subject = get_subject(app.engine, subject_name)
        if subject is None:
            raise click.UsageError(f"no subject named {subject_name!r}")
        subject_id = subject.id
    when = datetime.fromisoformat(at)
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(app.settings.app.timezone))
    event_id = add_event(app.engine, kind, when.astimezone(UTC), user, topic_id=topic_id, category=category,
                         province=province, subject_id=subject_id, note=note)  # fmt: skip
    click.echo(f"event {event_id} recorded")


@events_cmd.command("list")
@pass_app
def list_cmd(app: App) -> None:
    """List events, newest first."""
    for e in list_events(app.engine):
        if e["subject_id"] is not None:
            target = f"subject {e['subject_id']}"
        elif e["topic_id"] is not None:
            target = f"topic {e['topic_id']}"
        else:
            target = f"{e['category']} {e['province'] or ''}"
        click.echo(f"{e['id']:>5}  {e['at']:%Y-%m-%d %H:%M}Z  {e['kind']}  {target}  {e['note'] or ''}")


@events_cmd.command("effect")
@click.argument("event_id", type=int)
@click.option("--hours", type=int, default=72, show_default=True, help="Window on each side.")
@pass_app
def effect_cmd(app: App, event_id: int, hours: int) -> None:
    """Before/after change of volume and negative share around an event."""
    event = get_event(app.engine, event_id)
    if event is None:
        raise click.ClickException(f"no event {event_id}")
    est = estimate_effect(issue_series(app.engine, event, hours), event["at"], event["kind"], hours)
    click.echo(est.summary)

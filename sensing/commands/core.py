"""Core commands: ``sensing init`` and ``sensing status``."""

from __future__ import annotations

import os
import sys

import click
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from kernel.settings import ConfigError
from sensing.app import App, pass_app
from storage.backlog import count_backlog
from storage.health import failing_jobs, source_health
from storage.migrate import upgrade_database


def sync_sources(app: App) -> dict[str, int]:
    """Make sure every configured source has a row (ids are stable, cursors kept)."""
    from ingest.registry import source_class

    ids = {}
    for src in app.settings.sources:
        channel = src.channel or source_class(src.kind).default_channel
        ids[src.name] = app.store.ensure_source(src.name, src.kind, channel)
    return ids


def initialize(app: App) -> tuple[str | None, str | None]:
    """Create or upgrade the database, then register sources and users (idempotent)."""
    before, after = upgrade_database(app.engine)
    sync_sources(app)
    from dashboard.auth import sync_users

    try:
        sync_users(app.engine, app.settings.dashboard.users)
    except ConfigError as exc:  # the other users are synchronised; these are refused
        origin = app.config_path or os.environ.get("SENSING_CONFIG") or "config.yaml"
        raise click.ClickException(
            "\n".join(f"config error: {origin}: {problem}" for problem in exc.problems)
        ) from exc

    return before, after


@click.command("init")
@pass_app
def init_cmd(app: App) -> None:
    """Create or upgrade the database (safe to run again) and register configured sources."""
    before, after = initialize(app)
    state = "created" if before is None else ("upgraded" if before != after else "already up to date")
    url = app.engine.url.render_as_string(hide_password=True)
    click.echo(f"database {state} at revision {after}: {url}; {len(app.settings.sources)} sources registered")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of a table.")
@pass_app
def status_cmd(app: App, as_json: bool) -> None:
    """Show each source's last success, last error, item counts, dead letters, the untagged backlog and
    the encoder tier's backlog per priority class."""
    from storage.migrate import current_revision

    if current_revision(app.engine) is None:
        url = app.engine.url.render_as_string(hide_password=True)
        raise click.ClickException(f"the database at {url} is not initialised: run `sensing init` first")
    health = source_health(app.engine)
    backlog = count_backlog(app.engine)
    failing = failing_jobs(app.engine)
    encoder = encoder_figures(app)
    if as_json:
        import json

        click.echo(
            json.dumps(
                {
                    "sources": health.astype(object).where(health.notna(), None).to_dict(orient="records"),
                    "untagged_backlog": backlog,
                    "encoder": encoder,
                    "failing_jobs": [j["job"] for j in failing],
                },
                default=str,
                ensure_ascii=False,
            )
        )
        return
    table = Table(title="Sources")
    for col in (
        "source",
        "kind",
        "documents",
        "last success",
        "last run",
        "new/fetched",
        "skipped",
        "dead-lettered",
        "last error",
    ):
        table.add_column(col)
    for row in health.itertuples():
        table.add_row(
            row.name,
            row.kind,
            str(row.documents),
            _fmt(row.last_success),
            f"{_fmt(row.last_run)} {row.last_status or ''}",
            f"{_int(row.last_new)}/{_int(row.last_fetched)}",
            _int(row.last_skipped),
            _int(row.dead_letters),
            (str(row.last_error)[:60] if isinstance(row.last_error, str) else "-"),
        )
    console = Console(width=None if sys.stdout.isatty() else 160)
    console.print(table)
    console.print(f"untagged backlog: {backlog} documents")
    console.print(describe_encoder(encoder))
    dead = int(health["dead_letters"].sum()) if not health.empty else 0
    if dead:
        console.print(f"[yellow]{dead} dead-lettered item(s): see `sensing deadletter list`[/yellow]")
    for job in failing:
        console.print(f"[red]job {job['job']} failing since {_fmt(job['started_at'])}: {job['error']}[/red]")


def encoder_figures(app: App) -> dict[str, object]:
    """The encoder tier's state and backlog per priority class (see storage.encodings.encoder_status)."""
    from sensing.encoder_priority import current_priority
    from storage.encodings import encoder_status

    figures = encoder_status(app.engine, current_priority(app.engine, app.settings))
    return {"enabled": app.settings.nlp.encoder.enabled, **figures}


def describe_encoder(e: dict[str, object]) -> str:
    """One line: the encoder tier's version (or why it is idle) and its backlog per class."""
    if e["version"]:
        state = f"version {escape(str(e['version']))} (worker seen {_fmt(e['seen_at'])})"
    elif e["problem"]:
        state = f"[yellow]idle: {escape(str(e['problem']))}[/yellow]"
    else:
        state = "no worker has run yet"
    if not e["enabled"]:
        state += " (disabled: nlp.encoder.enabled is false)"
    outdated = f", {e['outdated']} of them outdated" if e["outdated"] else ""
    return (
        f"encoder tier: {state}; backlog {e['total']} documents: priority channels {e['priority']}, "
        f"hot topics and alerts {e['hot']}, rest {e['rest']}{outdated}"
    )


def _fmt(value: object) -> str:
    if value is None or (isinstance(value, float)) or str(value) in ("NaT", "nan", "None"):
        return "-"
    return str(value)[:19]


def _int(value: object) -> str:
    try:
        return str(int(value))  # type: ignore[call-overload]
    except (TypeError, ValueError):
        return "-"

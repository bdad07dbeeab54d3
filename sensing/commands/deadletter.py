"""``sensing deadletter``: items that could not be stored and documents that could not be tagged."""

from __future__ import annotations

import json

import click

from ingest.dead_letters import retry_dead_letter, source_for
from ingest.pipeline import Ingestor
from sensing.app import App, pass_app
from storage.dead_letters import get_dead_letter, list_dead_letters, resolve_dead_letter


@click.group("deadletter")
def deadletter_cmd() -> None:
    """Items that could not be stored and documents that could not be tagged."""


@deadletter_cmd.command("list")
@click.option("--source", default=None, help="Only this source.")
@click.option("--all", "show_all", is_flag=True, help="Include retried and dropped ones.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON lines.")
@click.option("--limit", type=int, default=200, show_default=True)
@pass_app
def list_cmd(app: App, source: str | None, show_all: bool, as_json: bool, limit: int) -> None:
    """List open dead letters, oldest first."""
    rows = list_dead_letters(app.engine, status=None if show_all else "open", source=source, limit=limit)
    for row in rows:
        if as_json:
            click.echo(json.dumps(row, default=str, ensure_ascii=False))
            continue
        click.echo(
            f"{row['id']:>6}  {row['status']:<7} {row['source']:<16} {row['ref']:<32} "
            f"{row['error_class']}: {row['message'][:80]} (attempts {row['attempts']})"
        )
    if not as_json:
        click.echo(f"{len(rows)} dead letter(s)")


@deadletter_cmd.command("retry")
@click.argument("dead_id", type=int)
@pass_app
def retry_cmd(app: App, dead_id: int) -> None:
    """Read the item again (after a fix) and store it; it stays open if it still fails."""
    from ingest.runner import author_key

    dead = get_dead_letter(app.engine, dead_id)
    if dead is None:
        raise click.ClickException(f"no dead letter {dead_id}")
    source = source_for(app.settings, dead)
    try:
        outcome = retry_dead_letter(
            app.store, Ingestor(app.store, author_key=author_key(app.settings)), source, dead_id
        )
    finally:
        if source is not None:
            source.close()
    if not outcome.ok:
        raise click.ClickException(f"dead letter {dead_id} not retried: {outcome.message}")
    click.echo(f"dead letter {dead_id} retried: {outcome.message}")


@deadletter_cmd.command("drop")
@click.argument("dead_id", type=int)
@pass_app
def drop_cmd(app: App, dead_id: int) -> None:
    """Give up on an item: close its dead letter and release what was kept to read it again."""
    dead = get_dead_letter(app.engine, dead_id)
    if dead is None:
        raise click.ClickException(f"no dead letter {dead_id}")
    if not resolve_dead_letter(app.engine, dead_id, "dropped"):
        raise click.ClickException(f"dead letter {dead_id} is already {dead['status']}")
    source = source_for(app.settings, dead) if dead["kind"] == "item" and dead["locator"] else None
    if source is not None:
        try:
            source.forget_retry(dead["locator"])
        finally:
            source.close()
    click.echo(f"dead letter {dead_id} dropped")

"""``sensing subjects``: define 专题 (monitoring subjects) from a terminal and backfill their matches."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import click

from analytics.subjects import WatchlistSyntaxError, compile_subject, spec_from
from sensing.app import App, pass_app
from storage.subjects import (
    BackfillResult,
    Subject,
    SubjectError,
    backfill_subject,
    create_subject,
    get_subject,
    list_subjects,
    set_active,
    update_subject,
)


def _split(values: Sequence[str]) -> list[str] | None:
    """``--channels a,b --channels c`` -> [a, b, c]; None when the option was not given."""
    if not values:
        return None
    return [v.strip() for value in values for v in value.replace("，", ",").split(",") if v.strip()]


def _check_expression(expression: str | None) -> None:
    if expression is None:
        return
    try:
        compile_subject(spec_from(Subject(id=0, name="", owner="", expression=expression)))
    except WatchlistSyntaxError as exc:
        raise click.BadParameter(str(exc), param_hint="'--expr'") from exc


def run_backfill(app: App, subject: Subject, quiet: bool = False) -> BackfillResult:
    """Backfill ``subject`` from the store with a progress bar; prints one summary line."""
    from rich.progress import Progress

    matcher = compile_subject(spec_from(subject))
    with Progress(transient=True, disable=quiet) as progress:
        task = progress.add_task(f"backfill {subject.name}", total=None)

        def step(done: int, total: int) -> None:
            progress.update(task, completed=done, total=total)

        result = backfill_subject(app.engine, subject, matcher.matches, matcher.prefilter(), progress=step)
    click.echo(
        f"backfilled {subject.name}: {result.candidates} candidates, {result.matched} matched "
        f"(+{result.added} / -{result.removed}) in {result.seconds:.1f}s",
        err=quiet,
    )
    return result


_LIST_OPTIONS = (
    click.option("--exclude", multiple=True, help="Exclusion words (comma-separated or repeated)."),
    click.option("--channels", multiple=True, help="Only these channels (social, news, hotline, gov)."),
    click.option("--sources", multiple=True, help="Only these source names."),
    click.option("--regions", multiple=True, help="Only these provinces, cities or districts."),
    click.option("--categories", multiple=True, help="Only these demand categories."),
    click.option(
        "--subscribers", multiple=True, help="E-mail addresses its scheduled monthly report goes to."
    ),
)


def _list_options(fn: Any) -> Any:
    for option in reversed(_LIST_OPTIONS):
        fn = option(fn)
    return fn


@click.group("subjects")
def subjects_cmd() -> None:
    """专题: subjects defined by a keyword expression (AND / OR / NOT, "phrases", parentheses)."""


@subjects_cmd.command("add")
@click.argument("name")
@click.option(
    "--expr", "expression", required=True, help='Keyword expression, e.g. 燃气 AND (泄漏 OR "爆炸").'
)
@_list_options
@click.option("--user", default="cli", show_default=True, help="Owner (audit log).")
@click.option("--no-backfill", is_flag=True, help="Only match documents tagged from now on.")
@pass_app
def add_cmd(
    app: App, name: str, expression: str, user: str, no_backfill: bool, **lists: Sequence[str]
) -> None:
    """Create a subject and backfill its matches from the store."""
    _check_expression(expression)
    try:
        subject = create_subject(
            app.engine, name, expression, user, **{k: _split(v) for k, v in lists.items()}
        )
    except SubjectError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"subject {subject.name} created")
    if not no_backfill:
        run_backfill(app, subject)


@subjects_cmd.command("edit")
@click.argument("name")
@click.option("--expr", "expression", default=None, help="A new keyword expression.")
@_list_options
@click.option("--user", default="cli", show_default=True, help="Who edits (audit log).")
@pass_app
def edit_cmd(app: App, name: str, expression: str | None, user: str, **lists: Sequence[str]) -> None:
    """Change a subject's expression or filters (options not given stay) and backfill again."""
    _check_expression(expression)
    try:
        subject = update_subject(
            app.engine, name, user, expression=expression, **{k: _split(v) for k, v in lists.items()}
        )
    except SubjectError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"subject {subject.name} saved")
    run_backfill(app, subject)


@subjects_cmd.command("archive")
@click.argument("name")
@click.option("--user", default="cli", show_default=True, help="Who archives (audit log).")
@pass_app
def archive_cmd(app: App, name: str, user: str) -> None:
    """Stop matching new documents (the matches so far are kept)."""
    try:
        set_active(app.engine, name, user, False)
    except SubjectError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"subject {name} archived")


@subjects_cmd.command("backfill")
@click.argument("name")
@pass_app
def backfill_cmd(app: App, name: str) -> None:
    """Check the whole store against a subject again."""
    subject = get_subject(app.engine, name)
    if subject is None:
        raise click.ClickException(f"no subject {name!r}")
    run_backfill(app, subject)


@subjects_cmd.command("list")
@click.option("--json", "as_json", is_flag=True, help="One JSON array: name, expression, matched, ...")
@click.option("--active", "active_only", is_flag=True, help="Leave out archived subjects.")
@pass_app
def list_cmd(app: App, as_json: bool, active_only: bool) -> None:
    """Subjects with their expression and number of matched documents."""
    rows = list_subjects(app.engine, include_archived=not active_only)
    if as_json:
        keys = ("name", "expression", "matched", "active", "owner", "exclude", "channels", "sources", "regions",
                "categories", "subscribers")  # fmt: skip
        out = [{k: list(r[k]) if isinstance(r[k], tuple) else r[k] for k in keys} for r in rows]
        for item, r in zip(out, rows, strict=True):
            item["backfilled_at"] = r["backfilled_at"].isoformat() if r["backfilled_at"] else None
        click.echo(json.dumps(out, ensure_ascii=False, indent=2))
        return
    for r in rows:
        state = "" if r["active"] else "  (已归档)"
        click.echo(f"{r['name']:<20} {r['matched']:>8}  {r['expression']}{state}")


__all__ = ["run_backfill", "subjects_cmd"]

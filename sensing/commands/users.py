"""``sensing users``: manage dashboard users from a terminal (add, list, set-password, set-role, disable,
enable).

Passwords meet the same policy as in the dashboard and the configuration
(:func:`dashboard.auth.check_password`). A new password, a new role or disabling ends the user's
dashboard sessions at their next page run.
"""

from __future__ import annotations

import click

from dashboard import auth
from sensing.app import App, pass_app


def _fail(exc: Exception) -> None:
    raise click.ClickException(str(exc)) from exc


@click.group("users")
def users_cmd() -> None:
    """Manage dashboard users (roles: official, analyst, duty, admin)."""


@users_cmd.command("add")
@click.argument("name")
@click.option("--role", type=click.Choice(auth.ROLES), required=True, help="What the user may do.")
@click.option("--display-name", default=None, help="Name shown in the dashboard.")
@click.password_option("--password", prompt="Password", help="Prompted (and confirmed) when omitted.")
@pass_app
def add_cmd(app: App, name: str, role: str, display_name: str | None, password: str) -> None:
    """Add user NAME with --role; the password is prompted for."""
    try:
        auth.add_user(app.engine, name, role, password, display_name)
    except (auth.UserError, ValueError) as exc:
        _fail(exc)
    app.store.audit("cli", "user.add", name, {"role": role})
    click.echo(f"user {name} added with role {role}")


@users_cmd.command("list")
@pass_app
def list_cmd(app: App) -> None:
    """List users with their role and whether they are active."""
    rows = auth.list_users(app.engine)
    if not rows:
        click.echo("no users")
        return
    width = max(len(r["username"]) for r in rows)
    for r in rows:
        state = "active" if r["active"] else "disabled"
        click.echo(f"{r['username']:<{width}}  {r['role']:<8}  {state:<8}  {r['display_name'] or ''}")


@users_cmd.command("set-password")
@click.argument("name")
@click.password_option("--password", prompt="New password", help="Prompted (and confirmed) when omitted.")
@pass_app
def set_password_cmd(app: App, name: str, password: str) -> None:
    """Set the password of user NAME (their dashboard sessions end)."""
    try:
        auth.set_password(app.engine, name, password)
    except auth.UserError as exc:
        _fail(exc)
    app.store.audit("cli", "user.set-password", name)
    click.echo(f"password of {name} changed; their dashboard sessions have ended")


@users_cmd.command("set-role")
@click.argument("name")
@click.argument("role", type=click.Choice(auth.ROLES))
@pass_app
def set_role_cmd(app: App, name: str, role: str) -> None:
    """Give user NAME the role ROLE (their dashboard sessions end when it changes)."""
    try:
        before = auth.get_user_row(app.engine, name)
        auth.set_role(app.engine, name, role)
    except auth.UserError as exc:
        _fail(exc)
    assert before is not None
    app.store.audit("cli", "user.set-role", name, {"from": before["role"], "to": role})
    click.echo(f"user {name} now has role {role}")


def _set_active(app: App, name: str, active: bool) -> None:
    try:
        auth.set_active(app.engine, name, active)
    except auth.UserError as exc:
        _fail(exc)
    word = "enable" if active else "disable"
    app.store.audit("cli", f"user.{word}", name)
    click.echo(f"user {name} {word}d")


@users_cmd.command("disable")
@click.argument("name")
@pass_app
def disable_cmd(app: App, name: str) -> None:
    """Disable user NAME (their dashboard sessions end at their next page run)."""
    _set_active(app, name, False)


@users_cmd.command("enable")
@click.argument("name")
@pass_app
def enable_cmd(app: App, name: str) -> None:
    """Enable user NAME again."""
    _set_active(app, name, True)

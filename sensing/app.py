"""The application context shared by every command: settings, engine and store, built once."""

from __future__ import annotations

import functools
import getpass
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import click
from sqlalchemy import Engine

from kernel.settings import ConfigError, Settings
from sensing.config import load_config
from storage.db import engine_from_settings
from storage.store import Store

F = TypeVar("F", bound=Callable[..., Any])


@dataclass
class App:
    """Everything a command needs, created lazily from the validated settings."""

    settings: Settings
    config_path: str | None = None
    _engine: Engine | None = field(default=None, repr=False)

    @property
    def engine(self) -> Engine:
        if self._engine is None:
            self._engine = engine_from_settings(self.settings)
        return self._engine

    @property
    def store(self) -> Store:
        return Store(self.engine)

    @property
    def data_dir(self) -> Path:
        path = Path(self.settings.app.data_dir)
        path.mkdir(parents=True, exist_ok=True)
        return path


def load_app(config_path: str | None = None) -> App:
    """Validate the configuration and build the context (raises ConfigError)."""
    return App(settings=load_config(config_path), config_path=config_path)


def _store_config(ctx: click.Context, _param: click.Parameter, value: str | None) -> None:
    if value is not None:
        ctx.meta["sensing.config"] = value


def pass_app(fn: F) -> F:
    """Decorate a command: adds ``--config PATH`` and passes a validated :class:`App` first.

    A bad configuration stops the command before it does anything, with one line per problem.
    """

    @click.option(
        "--config",
        "config",
        type=click.Path(dir_okay=False),
        expose_value=False,
        callback=_store_config,
        is_eager=True,
        help="Configuration file (default: $SENSING_CONFIG or ./config.yaml).",
    )
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        ctx = click.get_current_context()
        app = ctx.meta.get("sensing.app")
        if app is None:
            try:
                app = load_app(ctx.meta.get("sensing.config"))
            except ConfigError as exc:
                for problem in exc.problems:
                    click.echo(f"config error: {problem}", err=True)
                ctx.exit(2)
            from kernel.logs import configure_logging

            configure_logging(app.settings.logging.level, app.settings.logging.json_logs)
            ctx.meta["sensing.app"] = app
        try:
            return fn(app, *args, **kwargs)
        except ConfigError as exc:  # a start-up check of the command (e.g. app.author_hash_key)
            for problem in exc.problems:
                click.echo(f"config error: {problem}", err=True)
            ctx.exit(2)

    return wrapper  # type: ignore[return-value]


def cli_user() -> str:
    """Who is acting from a terminal: ``$SENSING_USER``, else the login name (``cli`` when there is none)."""
    try:
        return os.environ.get("SENSING_USER") or getpass.getuser()
    except (KeyError, OSError):  # no user name in a bare container
        return "cli"

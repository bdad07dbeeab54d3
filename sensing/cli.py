"""The ``sensing`` command line.

Commands are the ``minsheng.commands`` entry points (:mod:`kernel.plugins`), built-in and
third-party alike, imported only when used so that ``sensing status`` does not load the NLP models.
"""

from __future__ import annotations

import sys
from typing import Any

import click

from kernel import plugins
from sensing.app import App, pass_app


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return plugins.names(plugins.COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in plugins.names(plugins.COMMANDS):
            return None
        try:
            cmd: click.Command = plugins.load(plugins.COMMANDS, cmd_name)
        except (ImportError, AttributeError) as exc:  # a missing optional part: say so plainly
            reason = f"{cmd_name} is unavailable: {exc}"
            return click.Command(cmd_name, help=reason, callback=lambda: sys.exit(reason))
        return cmd


@click.group(
    cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False),
    default=None,
    help="Configuration file (default: $SENSING_CONFIG or ./config.yaml).",
)
@click.version_option(package_name="minsheng")
@click.pass_context
def cli(ctx: click.Context, config: str | None) -> None:
    """民声 Minsheng: public-opinion demand sensing, fully offline.

    Start with `sensing demo` to see the whole system on simulated data, or `sensing init`
    then `sensing run` with your own config.yaml.
    """
    if config:
        ctx.meta["sensing.config"] = config


def main(argv: list[str] | None = None) -> Any:
    """Console-script entry point."""
    return cli.main(args=argv, prog_name="sensing")


__all__ = ["App", "cli", "main", "pass_app"]

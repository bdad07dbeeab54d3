"""The ``sensing`` command line.

Core commands live here; each package contributes its own commands (``ingest``, ``process``,
``alerts`` ...) through the explicit table :data:`COMMANDS`, imported only when used so that
``sensing status`` does not load the NLP models.
"""

from __future__ import annotations

import importlib
import sys
from typing import Any

import click

from sensing.app import App, pass_app

COMMANDS: dict[str, str] = {
    "init": "sensing.commands:init_cmd",
    "status": "sensing.commands:status_cmd",
    "run": "sensing.supervisor:run_cmd",
    "demo": "sensing.supervisor:demo_cmd",
    "dashboard": "sensing.supervisor:dashboard_cmd",
    "scheduler": "sensing.schedule:scheduler_cmd",
    "worker": "nlp.jobs:worker_cmd",
    "process": "nlp.jobs:process_cmd",
    "eval": "nlp.cli:eval_cmd",
    "train": "nlp.cli:train_cmd",
    "ingest": "ingest.cli:ingest_cmd",
    "import": "ingest.cli:import_cmd",
    "extract": "ingest.web.cli:extract_cmd",
    "alerts": "alerts.cli:alerts_cmd",
    "report": "reports.cli:report_cmd",
    "users": "dashboard.cli:users_cmd",
    "events": "analytics.cli:events_cmd",
}


class LazyGroup(click.Group):
    """A group whose sub-commands are imported on first use."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        target = COMMANDS.get(cmd_name)
        if target is None:
            return None
        module, _, attr = target.partition(":")
        try:
            cmd: click.Command = getattr(importlib.import_module(module), attr)
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

"""``sensing run`` / ``sensing demo``: start and supervise the processes of the system.

Three children run side by side: the scheduler, the NLP worker and the Streamlit dashboard.
A child that dies is restarted with exponential back-off (reset after a minute of good
health); Ctrl-C or SIGTERM stops all of them cleanly.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import click

from sensing.app import App, pass_app

log = logging.getLogger(__name__)
DASHBOARD_SCRIPT = Path(__file__).resolve().parents[1] / "dashboard" / "streamlit_app.py"
HEALTHY_AFTER = 60.0
MAX_BACKOFF = 60.0


@dataclass
class Child:
    """One supervised process."""

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 1.0
    restart_at: float = 0.0
    restarts: int = field(default=0)

    def start(self) -> None:
        self.proc = subprocess.Popen(self.argv, env=self.env)
        self.started = time.monotonic()
        log.info("started %s", self.name, extra={"child": self.name, "pid": self.proc.pid})


def sensing_argv(*args: str) -> list[str]:
    return [sys.executable, "-m", "sensing", *args]


def dashboard_argv(app: App, port: int | None = None) -> list[str]:
    """Streamlit command line: localhost by default, usage statistics off."""
    cfg = app.settings.dashboard
    port = port or int(os.environ.get("STREAMLIT_SERVER_PORT", cfg.port))
    return [
        sys.executable, "-m", "streamlit", "run", str(DASHBOARD_SCRIPT),
        "--server.address", cfg.host, "--server.port", str(port), "--server.headless", "true",
        "--browser.gatherUsageStats", "false", "--server.fileWatcherType", "none",
        "--global.developmentMode", "false",
    ]  # fmt: skip


def supervise(children: list[Child], *, poll: float = 0.5) -> int:
    """Run children until SIGINT/SIGTERM, restarting crashed ones with back-off."""
    stopping = {"flag": False}

    def _stop(*_: Any) -> None:
        stopping["flag"] = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    for child in children:
        child.start()
    while not stopping["flag"]:
        now = time.monotonic()
        for child in children:
            if child.proc is None:
                if now >= child.restart_at:
                    child.start()
                continue
            code = child.proc.poll()
            if code is None:
                if now - child.started > HEALTHY_AFTER:
                    child.backoff = 1.0
                continue
            child.restarts += 1
            log.error(
                "%s exited with %s; restarting in %.0fs",
                child.name,
                code,
                child.backoff,
                extra={"child": child.name, "code": code, "restarts": child.restarts},
            )
            child.proc = None
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
        time.sleep(poll)
    log.info("stopping all processes")
    for child in children:
        if child.proc and child.proc.poll() is None:
            child.proc.terminate()
    deadline = time.monotonic() + 15
    for child in children:
        if child.proc is None:
            continue
        try:
            child.proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            child.proc.kill()
            child.proc.wait()
    return 0


def start_system(app: App, env: dict[str, str], port: int | None = None) -> int:
    from sensing.commands import initialize
    from sensing.settings import check_author_key

    check_author_key(app.settings)  # before anything starts: real sources need app.author_hash_key
    initialize(app)
    cfg_args = ["--config", app.config_path] if app.config_path else []
    children = [
        Child("scheduler", sensing_argv("scheduler", *cfg_args, "--run-now"), env),
        Child("nlp-worker", sensing_argv("worker", *cfg_args), env),
        Child("dashboard", dashboard_argv(app, port), env),
    ]
    port = port or int(env.get("STREAMLIT_SERVER_PORT", app.settings.dashboard.port))
    host = app.settings.dashboard.host
    click.echo(
        f"Minsheng is running. Dashboard: http://{'localhost' if host == '127.0.0.1' else host}:{port}"
    )
    click.echo("Press Ctrl-C to stop.")
    return supervise(children)


@click.command("run")
@click.option("--port", type=int, default=None, help="Dashboard port (default from config).")
@pass_app
def run_cmd(app: App, port: int | None) -> None:
    """Start the scheduler, the NLP worker and the dashboard, and keep them running."""
    env = dict(os.environ)
    if app.config_path:
        env["SENSING_CONFIG"] = app.config_path
    sys.exit(start_system(app, env, port))


def demo_overrides(app: App, environ: dict[str, str]) -> dict[str, str]:
    """Environment for the demo: a SQLite store under ./var/, only the demo source on, a known login."""
    env = dict(environ)
    env.setdefault("SENSING_DATABASE__URL", f"sqlite:///{Path(app.settings.app.data_dir) / 'demo.db'}")
    for i, src in enumerate(app.settings.sources):
        # Simulated data only: real sources would mix into the demo store (and need the author key).
        env[f"SENSING_SOURCES__{i}__ENABLED"] = "true" if src.kind == "demo" else "false"
    env.setdefault("SENSING_ADMIN_PASSWORD", "minsheng-demo")
    return env


@click.command("demo")
@click.option("--port", type=int, default=None, help="Dashboard port (default from config).")
@pass_app
def demo_cmd(app: App, port: int | None) -> None:
    """Run the whole system on simulated data in ./var/demo.db (no data needed)."""
    from sensing.app import load_app

    if not any(s.kind == "demo" for s in app.settings.sources):
        raise click.ClickException("config.yaml has no source of kind 'demo'")
    env = demo_overrides(app, dict(os.environ))
    os.environ.update(env)
    demo_app = load_app(app.config_path)
    click.echo(f"Demo data: {demo_app.settings.database.url} (simulated, labelled 模拟)")
    click.echo(f"Log in as admin / {env['SENSING_ADMIN_PASSWORD']}")
    sys.exit(start_system(demo_app, env, port))


@click.command("dashboard")
@click.option("--port", type=int, default=None, help="Port (default: $STREAMLIT_SERVER_PORT or config).")
@pass_app
def dashboard_cmd(app: App, port: int | None) -> None:
    """Start the dashboard alone."""
    env = dict(os.environ)
    if app.config_path:
        env["SENSING_CONFIG"] = app.config_path
    sys.exit(subprocess.call(dashboard_argv(app, port), env=env))


__all__ = ["supervise"]

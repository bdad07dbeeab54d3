"""``sensing run`` / ``sensing demo``: start and supervise the processes of the system.

The children run side by side: the scheduler, the NLP worker, the Streamlit dashboard and, when
``nlp.encoder.enabled``, ``nlp.encoder.workers`` encoder-tier workers (one on SQLite). A child that dies is restarted with exponential back-off (reset after a minute of good
health). Ctrl-C or SIGTERM is forwarded to each child's process group; a child still running
after :data:`STOP_GRACE` seconds (or at a second Ctrl-C) is killed with its group, so nothing
the command started outlives it. ``sensing dashboard`` runs its one child the same way.
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
STOP_GRACE = 15.0  # seconds a child gets to stop after SIGTERM before it is killed
PR_SET_PDEATHSIG = 1


@dataclass
class Child:
    """One supervised process, started in its own process group.

    The group lets a stop reach everything the child started in turn (a browser, a worker
    pool), not just the child itself.
    """

    name: str
    argv: list[str]
    env: dict[str, str]
    proc: subprocess.Popen[bytes] | None = None
    started: float = 0.0
    backoff: float = 1.0
    restart_at: float = 0.0
    restarts: int = field(default=0)

    def start(self) -> None:
        self.proc = subprocess.Popen(
            self.argv, env=self.env, start_new_session=True, preexec_fn=_die_with_parent
        )
        self.started = time.monotonic()
        log.info("started %s", self.name, extra={"child": self.name, "pid": self.proc.pid})

    def signal_group(self, sig: int) -> None:
        """Send ``sig`` to the child's process group (nothing when it is gone)."""
        if self.proc is None:
            return
        try:
            os.killpg(self.proc.pid, sig)
        except (ProcessLookupError, PermissionError):
            pass


def _die_with_parent() -> None:  # pragma: no cover - runs in the forked child
    """Linux: the child gets SIGTERM when the supervisor dies, even by SIGKILL."""
    if sys.platform.startswith("linux"):
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


class StopSignals:
    """SIGINT/SIGTERM handlers that count: the first asks for a clean stop, a second for a kill."""

    def __init__(self) -> None:
        self.count = 0

    def install(self) -> StopSignals:
        signal.signal(signal.SIGINT, self._handle)
        signal.signal(signal.SIGTERM, self._handle)
        return self

    def _handle(self, signum: int, _frame: Any) -> None:
        self.count += 1
        log.info("received %s", signal.Signals(signum).name, extra={"signals": self.count})


def stop_children(children: list[Child], signals: StopSignals, grace: float | None = None) -> None:
    """Forward SIGTERM to every child's group, wait up to ``grace`` (:data:`STOP_GRACE`) s, then SIGKILL.

    A second SIGINT/SIGTERM while waiting escalates at once. Whatever a child left behind in
    its group is killed after the child itself has exited.
    """
    running = [c for c in children if c.proc is not None and c.proc.poll() is None]
    for child in running:
        child.signal_group(signal.SIGTERM)
    seen = signals.count
    deadline = time.monotonic() + (STOP_GRACE if grace is None else grace)
    while any(c.proc is not None and c.proc.poll() is None for c in running):
        if time.monotonic() >= deadline or signals.count > seen:
            for child in running:
                if child.proc is not None and child.proc.poll() is None:
                    log.warning("killing %s", child.name, extra={"child": child.name})
                    child.signal_group(signal.SIGKILL)
            break
        time.sleep(0.05)
    for child in children:
        if child.proc is not None:
            child.proc.wait()
            child.signal_group(signal.SIGKILL)  # stragglers of the group, if any


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


def supervise(children: list[Child], *, poll: float = 0.5, restart: bool = True) -> int:
    """Run children until SIGINT/SIGTERM, restarting crashed ones with back-off.

    With ``restart=False`` the first child to exit ends the run and its exit code is returned.
    Either way every child's process group is stopped before returning.
    """
    signals = StopSignals().install()
    code = 0
    for child in children:
        child.start()
    while not signals.count:
        now = time.monotonic()
        for child in children:
            if child.proc is None:
                if now >= child.restart_at:
                    child.start()
                continue
            exited = child.proc.poll()
            if exited is None:
                if now - child.started > HEALTHY_AFTER:
                    child.backoff = 1.0
                continue
            if not restart:
                log.info("%s exited with %s", child.name, exited, extra={"child": child.name})
                stop_children(children, signals)
                return exited
            child.restarts += 1
            log.error(
                "%s exited with %s; restarting in %.0fs",
                child.name,
                exited,
                child.backoff,
                extra={"child": child.name, "code": exited, "restarts": child.restarts},
            )
            child.signal_group(signal.SIGKILL)  # what the crashed child left behind
            child.proc = None
            child.restart_at = now + child.backoff
            child.backoff = min(child.backoff * 2, MAX_BACKOFF)
        time.sleep(poll)
    log.info("stopping all processes")
    stop_children(children, signals)
    return code


#: How much lower the encoder workers run than the other children (``os.nice``).
ENCODER_NICENESS = 10


def encoder_children(app: App, cfg_args: list[str], env: dict[str, str]) -> list[Child]:
    """The encoder-tier workers to start: ``nlp.encoder.workers`` when enabled, at most one on SQLite."""
    from storage.db import is_sqlite

    cfg = app.settings.nlp.encoder
    count = cfg.workers if cfg.enabled else 0
    if count > 1 and is_sqlite(app.settings.database.url):
        log.warning("SQLite has one writer: starting 1 encoder worker, not %d", count)
        count = 1
    names = ["encoder"] if count == 1 else [f"encoder-{i + 1}" for i in range(count)]
    niced = {**env, "SENSING_NICE": str(ENCODER_NICENESS)}  # background work yields to the rest
    return [Child(name, sensing_argv("encode", *cfg_args), niced) for name in names]


def start_system(app: App, env: dict[str, str], port: int | None = None) -> int:
    from ingest.runner import check_author_key
    from sensing.commands.core import initialize

    check_author_key(app.settings)  # before anything starts: real sources need app.author_hash_key
    initialize(app)
    cfg_args = ["--config", app.config_path] if app.config_path else []
    children = [
        Child("scheduler", sensing_argv("scheduler", *cfg_args, "--run-now"), env),
        Child("nlp-worker", sensing_argv("worker", *cfg_args), env),
        *encoder_children(app, cfg_args, env),
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
    """Start the scheduler, the NLP and encoder workers and the dashboard, and keep them running."""
    env = dict(os.environ)
    if app.config_path:
        env["SENSING_CONFIG"] = app.config_path
    sys.exit(start_system(app, env, port))


def demo_overrides(app: App, environ: dict[str, str]) -> dict[str, str]:
    """Environment for the demo: its own SQLite store under ./var/, only the demo source on, a known login.

    The demo writes simulated documents, so it never runs on another database: a
    ``SENSING_DATABASE__URL`` in the environment that is not the demo's own file (a production
    PostgreSQL, say) is refused, and ``database.url`` of the config file is ignored.
    """
    env = dict(environ)
    demo_url = f"sqlite:///{Path(app.settings.app.data_dir) / 'demo.db'}"
    given = env.get("SENSING_DATABASE__URL")
    if given and given != demo_url:
        raise click.ClickException(
            f"sensing demo runs only on its own SQLite file ({demo_url}), but SENSING_DATABASE__URL "
            f"is set to {_hide_password(given)}: unset it to run the demo"
        )
    env["SENSING_DATABASE__URL"] = demo_url
    for i, src in enumerate(app.settings.sources):
        # Simulated data only: real sources would mix into the demo store (and need the author key).
        env[f"SENSING_SOURCES__{i}__ENABLED"] = "true" if src.kind == "demo" else "false"
    env.setdefault("SENSING_ADMIN_PASSWORD", "minsheng-demo")
    return env


def _hide_password(url: str) -> str:
    from sqlalchemy.engine import make_url
    from sqlalchemy.exc import ArgumentError

    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return repr(url.split("@")[-1])


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
    sys.exit(supervise([Child("dashboard", dashboard_argv(app, port), env)], restart=False))


__all__ = ["supervise"]

"""SIGTERM (what service managers send) to each long-running command leaves no process and a free port.

Each command runs as a real subprocess on a temporary SQLite store and a free port; once it is
up, every descendant is recorded from /proc, the command gets SIGTERM, and the test checks that
the command exited, that no recorded descendant survived and that the port can be bound again.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
UP_TIMEOUT = 120.0
STOP_TIMEOUT = 40.0

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not Path("/proc/self/stat").exists(), reason="walks /proc (Linux)"),
]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def proc_stat(pid: int) -> tuple[str, int, int] | None:
    """(state, parent pid, start time) of a process, None when it is gone."""
    try:
        raw = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    fields = raw[raw.rindex(")") + 2 :].split()  # the command name may hold spaces and parentheses
    return fields[0], int(fields[1]), int(fields[19])


def descendants(root: int) -> dict[int, int]:
    """Every live descendant of ``root``: pid -> start time."""
    parents: dict[int, list[tuple[int, int]]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (stat := proc_stat(int(entry.name))) is not None:
            parents.setdefault(stat[1], []).append((int(entry.name), stat[2]))
    found: dict[int, int] = {}
    todo = [root]
    while todo:
        for pid, start in parents.get(todo.pop(), []):
            found[pid] = start
            todo.append(pid)
    return found


def survivors(recorded: dict[int, int]) -> list[int]:
    """Recorded processes still running (a zombie nobody reaps has stopped running)."""
    alive = []
    for pid, start in recorded.items():
        stat = proc_stat(pid)
        if stat is not None and stat[2] == start and stat[0] not in ("Z", "X"):
            alive.append(pid)
    return alive


def listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def wait_for(condition: Callable[[], bool], proc: subprocess.Popen[bytes], log: Path, what: str) -> None:
    deadline = time.monotonic() + UP_TIMEOUT
    while not condition():
        if proc.poll() is not None:
            pytest.fail(f"{what}: exited with {proc.returncode}\n{log.read_text(errors='replace')[-3000:]}")
        if time.monotonic() > deadline:
            pytest.fail(f"{what}: not up after {UP_TIMEOUT:.0f}s\n{log.read_text(errors='replace')[-3000:]}")
        time.sleep(0.2)


def write_config(tmp_path: Path, dashboard_port: int, webhook_port: int) -> Path:
    data = {
        "database": {"url": f"sqlite:///{tmp_path / 'var' / 'store.db'}"},
        "app": {"data_dir": str(tmp_path / "var"), "author_hash_key": "$env:STOP_TEST_AUTHOR_KEY"},
        "dashboard": {"port": dashboard_port},
        "sources": [
            {"name": "demo", "kind": "demo", "enabled": False, "options": {"backfill_days": 0}},
            {
                "name": "pushed",
                "kind": "webhook",
                "options": {"token": "$env:STOP_TEST_TOKEN", "port": webhook_port},
            },
        ],
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


# command -> (extra arguments, which port shows it is up: dashboard / webhook / none)
COMMANDS: dict[str, tuple[list[str], str]] = {
    "dashboard": ([], "dashboard"),
    "scheduler": ([], "webhook"),
    "worker": ([], "none"),
    "run": ([], "dashboard"),
    "demo": ([], "dashboard"),
}


@pytest.mark.timeout(400)
@pytest.mark.parametrize("command", list(COMMANDS))
def test_sigterm_stops_the_whole_tree(command: str, tmp_path: Path) -> None:
    dashboard_port, webhook_port = free_port(), free_port()
    config = write_config(tmp_path, dashboard_port, webhook_port)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSING_", "STREAMLIT_"))}
    env.update(
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        STOP_TEST_TOKEN="t",
        STOP_TEST_AUTHOR_KEY="a-long-random-test-key",
        SENSING_ADMIN_PASSWORD="stop-test",
    )
    extra, up_port = COMMANDS[command]
    subprocess.run(  # a migrated store, as after `sensing init`
        [sys.executable, "-m", "sensing", "init", "--config", str(config)], cwd=tmp_path, env=env, check=True
    )
    log = tmp_path / "out.log"
    tree: dict[int, int] = {}
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensing", command, "--config", str(config), *extra],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        port = {"dashboard": dashboard_port, "webhook": webhook_port}.get(up_port)
        if port is not None:
            wait_for(lambda: listening(port), proc, log, command)
        else:
            wait_for(lambda: "nlp worker started" in log.read_text(errors="replace"), proc, log, command)
        if command in ("run", "demo"):  # the scheduler and the worker are up too
            wait_for(lambda: len(descendants(proc.pid)) >= 3, proc, log, f"{command} children")
            if command == "run":
                wait_for(lambda: listening(webhook_port), proc, log, f"{command} scheduler")
            else:  # the demo switches real sources (the webhook) off: its scheduler shows by its first job
                wait_for(
                    lambda: '"job": "ingest:demo"' in log.read_text(errors="replace"),
                    proc,
                    log,
                    "demo scheduler",
                )
        tree = descendants(proc.pid)
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            pytest.fail(f"{command} still running {STOP_TIMEOUT:.0f}s after SIGTERM")
        deadline = time.monotonic() + 5
        while survivors(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        left = survivors(tree)
        assert not left, (
            f"{command}: processes {left} outlived SIGTERM\n{log.read_text(errors='replace')[-2000:]}"
        )
        for p in (dashboard_port, webhook_port):
            assert port_is_free(p), f"{command}: port {p} still taken after SIGTERM"
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in survivors(tree):  # never leave a stray server behind, even when the test failed
            os.kill(pid, signal.SIGKILL)


@pytest.mark.timeout(200)
def test_scheduler_leaves_a_hanging_job_after_its_grace(tmp_path: Path) -> None:
    from sensing.schedule import STOP_GRACE_SECONDS
    from tests.ingest.conftest import Reply, ScriptedServer

    feed = ScriptedServer()
    feed.set("/feed", Reply(body=b"<rss/>", delay=150))  # the ingest job hangs on this answer
    feed.thread.start()
    webhook_port = free_port()
    config = write_config(tmp_path, free_port(), webhook_port)
    data = yaml.safe_load(config.read_text(encoding="utf-8"))
    data["sources"].append(
        {
            "name": "slow_feed",
            "kind": "rss",
            "options": {"url": feed.url("/feed"), "http": {"read_timeout_s": 300, "retries": 0}},
        }
    )
    config.write_text(yaml.safe_dump(data), encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSING_", "STREAMLIT_"))}
    env.update(PYTHONPATH=str(REPO), OMP_NUM_THREADS="1", STOP_TEST_TOKEN="t", STOP_TEST_AUTHOR_KEY="k" * 32)
    subprocess.run(
        [sys.executable, "-m", "sensing", "init", "--config", str(config)], cwd=tmp_path, env=env, check=True
    )
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensing", "scheduler", "--run-now", "--config", str(config)],
            cwd=tmp_path,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for(lambda: listening(webhook_port) and bool(feed.hits("/feed")), proc, log, "scheduler")
        proc.send_signal(signal.SIGTERM)
        started = time.monotonic()
        try:
            proc.wait(timeout=STOP_GRACE_SECONDS + 20)
        except subprocess.TimeoutExpired:
            pytest.fail(
                f"the scheduler waited for the hanging job {STOP_GRACE_SECONDS + 20:.0f}s after SIGTERM"
            )
        assert time.monotonic() - started >= STOP_GRACE_SECONDS - 1  # the job had its grace first
        assert "exiting without them" in log.read_text(errors="replace")
        assert port_is_free(webhook_port)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        feed.httpd.shutdown()
        feed.httpd.server_close()

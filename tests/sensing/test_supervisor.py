"""``sensing run``'s supervisor: restarts a crashed child with back-off, stops all on SIGTERM."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

SUPERVISOR = r"""
import logging, sys
from sensing.supervisor import Child, supervise
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
crash = [sys.executable, "-c", "import time; time.sleep(0.2); raise SystemExit(3)"]
sleeper = [sys.executable, "-c", "import sys, time, os, pathlib; pathlib.Path(sys.argv[1]).write_text(str(os.getpid())); time.sleep(600)", sys.argv[1]]
sys.exit(supervise([Child("crashy", crash, {}), Child("steady", sleeper, {})], poll=0.05))
"""


def test_restart_with_backoff_and_clean_stop(tmp_path: Path) -> None:
    pidfile = tmp_path / "steady.pid"
    proc = subprocess.Popen(
        [sys.executable, "-c", SUPERVISOR, str(pidfile)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    time.sleep(4.0)  # crash at 0.2s, restart after 1s, crash, restart after 2s ...
    proc.send_signal(signal.SIGTERM)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0, out
    restarts = out.count("crashy exited with 3")
    assert 2 <= restarts <= 3, out  # back-off: 1s then 2s, not a tight loop
    assert "stopping all processes" in out
    steady_pid = int(pidfile.read_text())
    try:
        os.kill(steady_pid, 0)
        alive = True
    except ProcessLookupError:
        alive = False
    assert not alive, "the steady child outlived the supervisor"


FAMILY = r"""
import logging, sys
import sensing.supervisor as sup
logging.basicConfig(level=logging.INFO, stream=sys.stdout, format="%(message)s")
sup.STOP_GRACE = 1.0
folder = sys.argv[1]
# a child that starts a grandchild of its own and dies on SIGTERM without stopping it
parent = [sys.executable, "-c", (
    "import subprocess, sys, time, pathlib; "
    "g = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); "
    f"pathlib.Path({folder!r}, 'grandchild.pid').write_text(str(g.pid)); time.sleep(600)"
)]
# a child that ignores SIGTERM
stubborn = [sys.executable, "-c", (
    "import os, signal, time, pathlib; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
    f"pathlib.Path({folder!r}, 'stubborn.pid').write_text(str(os.getpid())); time.sleep(600)"
)]
sys.exit(sup.supervise([sup.Child("parent", parent, {}), sup.Child("stubborn", stubborn, {})], poll=0.05))
"""


def alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state not in ("Z", "X")


def test_stop_reaches_grandchildren_and_kills_a_child_that_ignores_sigterm(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", FAMILY, str(tmp_path)],
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    pidfiles = [tmp_path / "grandchild.pid", tmp_path / "stubborn.pid"]
    deadline = time.monotonic() + 30
    while not all(f.exists() and f.read_text() for f in pidfiles) and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = [int(f.read_text()) for f in pidfiles]
    try:
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=30)
        assert proc.returncode == 0, out
        assert time.monotonic() - started < 10, out  # the stubborn child was killed after the grace
        assert "killing stubborn" in out
        time.sleep(0.2)
        assert [p for p in pids if alive(p)] == [], out
    finally:
        for pid in pids:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)

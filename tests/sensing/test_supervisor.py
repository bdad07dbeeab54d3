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

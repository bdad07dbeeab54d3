"""``sensing encode`` and the encoder tier in ``sensing status`` and the supervisor: encodes in priority
order, says plainly what is missing and waits (no restart storm), stops on SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from sqlalchemy import Engine, func, select

from kernel import plugins
from kernel.settings import load_settings
from sensing.commands.core import status_cmd
from sensing.commands.encoder import encode_cmd
from sensing.supervisor import encoder_children
from storage import schema as s
from storage.db import make_engine
from tests.encoder_heads import Post, seed_posts
from tests.sensing.test_stop_tree import descendants, free_port, survivors, wait_for

REPO = Path(__file__).resolve().parents[2]


def config_for(tmp_path: Path, db_url: str, heads: Path | None, **encoder: object) -> Path:
    data = {
        "database": {"url": db_url},
        "app": {"data_dir": str(tmp_path / "var")},
        "nlp": {"encoder": {"path": str(heads or tmp_path / "no_heads"), "batch_size": 4, **encoder}},
    }
    path = tmp_path / "config.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


def encoded(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(s.encoder_tags)).scalar_one())


def status(cfg: Path) -> dict:
    result = CliRunner().invoke(status_cmd, ["--config", str(cfg), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)["encoder"]


def test_encode_runs_the_backlog_and_status_shows_it(
    tmp_path: Path, engine: Engine, db_url: str, shared_posts: list[Post], encoder_heads_dir: Path
) -> None:
    posts = [p for p in shared_posts if p.channel == "social"][:4] + [
        p for p in shared_posts if p.channel == "hotline"
    ][:2]
    ids = seed_posts(engine, posts)
    cfg = config_for(tmp_path, db_url, encoder_heads_dir)
    before = status(cfg)
    assert (before["version"], before["total"], before["priority"], before["rest"]) == (None, 6, 2, 4)
    first = CliRunner().invoke(encode_cmd, ["--config", str(cfg), "--max-docs", "2"])
    assert first.exit_code == 0, first.output
    assert "encoded 2 documents" in first.output
    with engine.connect() as conn:
        done = set(conn.execute(select(s.encoder_tags.c.document_id)).scalars())
    assert done == set(ids[4:])  # the hotline messages first
    middle = status(cfg)
    assert middle["version"] and middle["version"].startswith("e1-")
    assert (middle["total"], middle["priority"], middle["rest"]) == (4, 0, 4)
    rest = CliRunner().invoke(encode_cmd, ["--config", str(cfg), "--once"])
    assert rest.exit_code == 0, rest.output
    assert "encoded 4 documents" in rest.output and middle["version"] in rest.output
    assert encoded(engine) == 6 and status(cfg)["total"] == 0
    text = CliRunner().invoke(status_cmd, ["--config", str(cfg)])
    assert f"encoder tier: version {middle['version']}" in text.output
    assert "backlog 0 documents: priority channels 0, hot topics and alerts 0, rest 0" in text.output


def test_encode_without_its_models_says_what_is_missing(tmp_path: Path, sqlite_engine: Engine) -> None:
    cfg = config_for(tmp_path, str(sqlite_engine.url), None)
    before = signal.getsignal(signal.SIGTERM)
    result = CliRunner().invoke(encode_cmd, ["--config", str(cfg), "--once"])
    assert result.exit_code == 1
    assert "the encoder tier cannot run: no encoder-tier model in" in result.output
    assert "Traceback" not in result.output
    assert signal.getsignal(signal.SIGTERM) is before  # the worker's handlers are gone with it
    assert "no encoder-tier model in" in status(cfg)["problem"]
    text = CliRunner().invoke(status_cmd, ["--config", str(cfg)]).output
    assert "encoder tier: idle: no encoder-tier model in" in text


def test_the_supervisor_starts_the_configured_encoder_workers(tmp_path: Path) -> None:
    from sensing.app import App

    def children(url: str, **encoder: object) -> list[tuple[str, list[str]]]:
        cfg = config_for(tmp_path, url, None, **encoder)
        app = App(settings=load_settings(cfg, {}), config_path=str(cfg))
        return [(c.name, c.argv[-3:]) for c in encoder_children(app, ["--config", str(cfg)], {})]

    cfg_args = ["encode", "--config", str(tmp_path / "config.yaml")]
    pg = "postgresql+psycopg://u@db/minsheng"
    assert children(pg, workers=2) == [("encoder-1", cfg_args), ("encoder-2", cfg_args)]
    assert children(pg) == [("encoder", cfg_args)]  # the default: one
    assert children(f"sqlite:///{tmp_path}/a.db", workers=3) == [("encoder", cfg_args)]  # one writer
    assert children(pg, workers=2, enabled=False) == []
    assert children(pg, workers=0) == []
    cfg = config_for(tmp_path, pg, None)
    app = App(settings=load_settings(cfg, {}), config_path=str(cfg))
    [child] = encoder_children(app, ["--config", str(cfg)], {"A": "1"})
    assert child.env == {"A": "1", "SENSING_NICE": "10"}  # background work yields to the rest


def sensing_env(tmp_path: Path) -> dict[str, str]:
    """The environment for ``python -m sensing``: this checkout first, and the ``encode`` command
    registered as pyproject.toml registers it (a shim until the package is reinstalled)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SENSING_", "STREAMLIT_"))}
    paths = [str(REPO)]
    if "encode" not in plugins.names(plugins.COMMANDS):
        dist = tmp_path / "site" / "minsheng_encode_shim-0.dist-info"
        dist.mkdir(parents=True, exist_ok=True)
        (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: minsheng-encode-shim\nVersion: 0\n")
        (dist / "entry_points.txt").write_text(
            "[minsheng.commands]\nencode = sensing.commands.encoder:encode_cmd\n"
        )
        paths.append(str(tmp_path / "site"))
    env.update(
        PYTHONPATH=os.pathsep.join(paths),
        OMP_NUM_THREADS="1",
        STOP_TEST_AUTHOR_KEY="a-long-random-test-key",
        SENSING_ADMIN_PASSWORD="encoder-test",
    )
    return env


def start(tmp_path: Path, cfg: Path, *args: str) -> tuple[subprocess.Popen[bytes], Path]:
    log = tmp_path / "out.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sensing", *args, "--config", str(cfg)],
            cwd=tmp_path,
            env=sensing_env(tmp_path),
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return proc, log


def stop(proc: subprocess.Popen[bytes], timeout: float = 30) -> int:
    proc.send_signal(signal.SIGTERM)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        pytest.fail(f"still running {timeout:.0f}s after SIGTERM")


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_the_worker_encodes_then_stops_on_sigterm(
    tmp_path: Path, shared_posts: list[Post], encoder_heads_dir: Path
) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    engine = make_engine(url)
    from storage.migrate import upgrade_database

    upgrade_database(engine)
    seed_posts(engine, shared_posts[:5])
    cfg = config_for(tmp_path, url, encoder_heads_dir, idle_seconds=1)
    proc, log = start(tmp_path, cfg, "encode")
    try:
        wait_for(lambda: encoded(engine) == 5, proc, log, "sensing encode")
        time.sleep(1.5)  # idle now: nothing is waiting
        assert proc.poll() is None
        assert stop(proc) == 0
        text = log.read_text(errors="replace")
        assert '"message": "encoder worker started"' in text and '"message": "encoder worker stopped"' in text
    finally:
        if proc.poll() is None:
            proc.kill()
        engine.dispose()


@pytest.mark.slow
@pytest.mark.timeout(300)
def test_without_models_the_worker_waits_instead_of_exiting(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'w.db'}"
    cfg = config_for(tmp_path, url, None)
    env = sensing_env(tmp_path)
    subprocess.run(
        [sys.executable, "-m", "sensing", "init", "--config", str(cfg)], cwd=tmp_path, env=env, check=True
    )
    proc, log = start(tmp_path, cfg, "encode")
    try:
        wait_for(lambda: "encoder worker idle" in log.read_text(errors="replace"), proc, log, "idle worker")
        time.sleep(3)
        assert proc.poll() is None, "the worker exited: the supervisor would restart it over and over"
        text = log.read_text(errors="replace")
        assert text.count("encoder worker idle") == 1
        assert "no encoder-tier model in" in text and "Traceback" not in text
        assert stop(proc) == 0
    finally:
        if proc.poll() is None:
            proc.kill()


@pytest.mark.slow
@pytest.mark.timeout(400)
def test_sensing_run_starts_an_encoder_worker_and_sigterm_stops_it(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'var' / 'store.db'}"
    cfg = config_for(tmp_path, url, None)
    data = yaml.safe_load(cfg.read_text(encoding="utf-8"))
    data["dashboard"] = {"port": free_port()}
    data["app"]["author_hash_key"] = "$env:STOP_TEST_AUTHOR_KEY"
    cfg.write_text(yaml.safe_dump(data), encoding="utf-8")
    proc, log = start(tmp_path, cfg, "run")
    tree: dict[int, int] = {}
    try:

        def encoder_running() -> bool:
            for pid in descendants(proc.pid):
                try:
                    argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
                except OSError:
                    continue
                if b"encode" in argv and b"sensing" in argv:
                    return True
            return False

        wait_for(encoder_running, proc, log, "the encoder worker under sensing run")
        wait_for(lambda: "encoder worker idle" in log.read_text(errors="replace"), proc, log, "idle worker")
        tree = descendants(proc.pid)
        assert stop(proc, 40) == 0
        deadline = time.monotonic() + 5
        while survivors(tree) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not survivors(tree), log.read_text(errors="replace")[-2000:]
        assert "encoder exited" not in log.read_text(errors="replace")  # never restarted
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        for pid in survivors(tree):
            os.kill(pid, signal.SIGKILL)

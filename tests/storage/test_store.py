"""The store on both backends: idempotent batches, atomic cursors, crash safety."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select, text

from storage import schema as s
from storage.db import make_engine
from storage.migrate import current_revision, head_revision, upgrade_database
from storage.store import Store

REPO = Path(__file__).resolve().parents[2]
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def make_row(i: int, batch: int = 0, **extra: object) -> dict[str, object]:
    row = {
        "external_id": f"b{batch}-{i}",
        "channel": "social",
        "content": f"第{batch}批第{i}条内容",
        "published_at": T0 + timedelta(minutes=i),
        "content_hash": f"h{batch}-{i}",
    }
    row.update(extra)
    return row


def count_docs(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(s.documents)).scalar_one())


def test_upgrade_is_idempotent(engine: Engine) -> None:
    assert current_revision(engine) == head_revision(engine)
    before, after = upgrade_database(engine)
    assert before == after == head_revision(engine)


def test_same_item_twice_is_a_noop(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("src", "rss", "news")
    assert store.ensure_source("src", "rss", "news") == sid
    first = store.write_documents(sid, [make_row(i) for i in range(5)], {"last": 5})
    again = store.write_documents(sid, [make_row(i) for i in range(7)], {"last": 7})
    assert (first.new, first.duplicates) == (5, 0)
    assert (again.new, again.duplicates) == (2, 5)
    assert count_docs(engine) == 7
    assert store.get_cursor(sid) == {"last": 7}


def test_dup_links_count_copies(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("src", "rss", "news")
    first = store.write_documents(sid, [make_row(0)])
    orig = first.new_ids[0]
    store.write_documents(sid, [make_row(1, dup_of=orig), make_row(2, dup_of=orig)])
    with engine.connect() as conn:
        n = conn.execute(select(s.documents.c.dup_count).where(s.documents.c.id == orig)).scalar_one()
    assert n == 2
    assert store.find_by_hash(["h0-0", "nope"]) == {"h0-0": orig}


def test_failed_batch_leaves_nothing(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("src", "rss", "news")
    bad = [make_row(0), make_row(1), {**make_row(2), "content": None}]  # NOT NULL violation on row 3
    with pytest.raises(Exception):  # noqa: B017 - either backend's IntegrityError
        store.write_documents(sid, bad, {"last": 3})
    assert count_docs(engine) == 0
    assert store.get_cursor(sid) == {}


def test_naive_datetimes_are_refused(engine: Engine) -> None:
    store = Store(engine)
    sid = store.ensure_source("src", "rss", "news")
    with pytest.raises(Exception, match="naive datetime"):
        store.write_documents(sid, [make_row(0, published_at=datetime(2026, 1, 1))])


def test_job_run_records_success_and_failure(engine: Engine) -> None:
    store = Store(engine)
    with store.job_run("ok-job") as counts:
        counts["n"] = 3
    with pytest.raises(RuntimeError), store.job_run("bad-job"):
        raise RuntimeError("boom")
    with engine.connect() as conn:
        rows = {r.job: r for r in conn.execute(select(s.job_runs))}
    assert rows["ok-job"].status == "ok" and rows["ok-job"].counts == {"n": 3}
    assert rows["bad-job"].status == "failed" and "boom" in rows["bad-job"].error


def test_sqlite_pragmas(sqlite_engine: Engine) -> None:
    with sqlite_engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar() == 10000


WRITER = r"""
import sys, time
from datetime import UTC, datetime, timedelta
from storage.db import make_engine
from storage.store import Store
url, batches, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
store = Store(make_engine(url))
sid = store.ensure_source("killme", "rss", "news")
start = store.get_cursor(sid).get("batch", -1) + 1
t0 = datetime(2026, 1, 1, tzinfo=UTC)
for b in range(start, batches):
    rows = [{"external_id": f"{b}-{i}", "channel": "news", "content": "x" * 200 + str(i),
             "published_at": t0 + timedelta(seconds=i), "content_hash": f"{b}-{i}"} for i in range(size)]
    store.write_documents(sid, rows, {"batch": b})
    print(b, flush=True)
print("done", flush=True)
"""


def test_sigkill_mid_batch_leaves_whole_batches_only(db_url: str, tmp_path: Path) -> None:
    """A real process killed during writes leaves only complete batches; a restart finishes the job."""
    script = tmp_path / "writer.py"
    script.write_text(WRITER)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    batches, size = 40, 400
    proc = subprocess.Popen(
        [sys.executable, str(script), db_url, str(batches), str(size)],
        stdout=subprocess.PIPE,
        env=env,
        text=True,
    )
    assert proc.stdout is not None
    first = proc.stdout.readline()  # at least one batch committed
    assert first.strip() == "0"
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    engine = make_engine(db_url)
    try:
        with engine.connect() as conn:
            per_batch = conn.execute(
                text(
                    "SELECT substr(external_id, 1, instr(external_id, '-') - 1) AS b, count(*) FROM documents GROUP BY b"
                )
                if engine.dialect.name == "sqlite"
                else text("SELECT split_part(external_id, '-', 1) AS b, count(*) FROM documents GROUP BY b")
            ).all()
        assert per_batch, "nothing was committed before the kill"
        assert all(n == size for _, n in per_batch), per_batch  # no half-written batch
        killed_at = len(per_batch)
        cursor = Store(engine).get_cursor(Store(engine).ensure_source("killme", "rss", "news"))
        assert cursor["batch"] == killed_at - 1  # cursor committed with its batch
        assert killed_at < batches, "the writer finished before the kill; make batches bigger"
        out = subprocess.run(
            [sys.executable, str(script), db_url, str(batches), str(size)],
            env=env,
            capture_output=True,
            text=True,
        )
        assert out.returncode == 0, out.stderr
        assert count_docs(engine) == batches * size  # resumed, nothing duplicated
    finally:
        engine.dispose()

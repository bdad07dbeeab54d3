"""Files holding personal data are created owner-only (0o600 files, 0o700 folders), whatever the umask."""

from __future__ import annotations

import gzip
import os
import stat
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from ingest.sources.webhook import INCOMING, Spool
from storage.db import make_engine
from storage.permissions import make_private_dir, open_private, touch_private_file


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture(autouse=True)
def lax_umask() -> Iterator[None]:
    """The usual 022: without care, new files would be world-readable."""
    old = os.umask(0o022)
    try:
        yield
    finally:
        os.umask(old)


def test_the_sqlite_file_and_its_wal_and_shm_are_owner_only(tmp_path: Path) -> None:
    db = tmp_path / "new" / "var" / "minsheng.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.begin() as conn:
            conn.execute(text("CREATE TABLE t (x TEXT)"))
            conn.execute(text("INSERT INTO t VALUES ('我叫张*')"))
        wal, shm = Path(f"{db}-wal"), Path(f"{db}-shm")
        assert wal.exists() and shm.exists()  # WAL mode, connection still open
        assert {p.name: mode(p) for p in (db, wal, shm)} == {p.name: 0o600 for p in (db, wal, shm)}
        assert mode(db.parent) == 0o700 and mode(db.parent.parent) == 0o700  # folders it created
    finally:
        engine.dispose()


def test_the_webhook_spool_is_owner_only(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool" / "pushed")
    spool.append([{"id": "1", "content": "电话138****5678"}])
    assert mode(spool.folder) == 0o700 and mode(spool.folder.parent) == 0o700
    assert mode(spool.folder / INCOMING) == 0o600 and mode(spool.lock_path) == 0o600
    spool.seal()
    (segment,) = spool.segments()
    assert mode(segment) == 0o600
    spool.append([{"id": "2", "content": "再来一条"}])
    assert mode(spool.folder / INCOMING) == 0o600


def test_weekly_report_files_and_folder_are_owner_only(engine: Engine, tmp_path: Path) -> None:
    from kernel.settings import Settings
    from reports.weekly import generate_weekly_report
    from tests.reports.conftest import NOW, WEEK
    from tests.seed import seed_database

    seed_database(engine, NOW)
    out = tmp_path / "reports" / "weekly"
    (xlsx,) = generate_weekly_report(engine, Settings(), WEEK, ["xlsx"], out)
    assert mode(out) == 0o700 and mode(out.parent) == 0o700 and mode(xlsx) == 0o600


def test_archived_text_is_owner_only(engine: Engine, tmp_path: Path) -> None:
    from storage.retention import archive_old_text
    from tests.nlp.test_jobs import T0, seed

    seed(engine, 5)
    archive = tmp_path / "archive"
    assert archive_old_text(engine, 30, archive, now=T0 + timedelta(days=31)) == 5
    (path,) = archive.glob("*.jsonl.gz")
    assert mode(archive) == 0o700 and mode(path) == 0o600
    assert len(gzip.decompress(path.read_bytes()).splitlines()) == 5


def test_helpers(tmp_path: Path) -> None:
    existing = tmp_path / "shared"
    existing.mkdir(mode=0o755)
    os.chmod(existing, 0o755)
    assert mode(make_private_dir(existing / "a" / "b")) == 0o700
    assert mode(existing) == 0o755  # not created here: left alone
    path = touch_private_file(existing / "f")
    assert mode(path) == 0o600 and path.read_bytes() == b""
    with open_private(existing / "w.txt", "w", encoding="utf-8") as fh:
        fh.write("x")
    with open_private(existing / "w.txt", "a", encoding="utf-8") as fh:
        fh.write("y")
    assert (existing / "w.txt").read_text(encoding="utf-8") == "xy" and mode(existing / "w.txt") == 0o600

"""Topics over the whole archive: windows planned over the range, ids kept across them, resumable."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from nlp.history_topics import PROGRESS_KEY, fit_history_topics, plan_windows
from nlp.jobs import tag_backlog
from nlp.topics.state import load_current_state, topic_state_root
from sensing.app import load_app
from storage import schema as s
from storage.state import get_state
from storage.store import Store
from tests.nlp.test_jobs import tagger
from tests.nlp.test_topic_jobs import THEMES
from tests.sensing.test_cli import config_for

START = datetime(2019, 1, 7, tzinfo=UTC)
DAYS = 42


def test_plan_covers_every_document_once_and_stretches_over_sparse_years() -> None:
    sparse = [START - timedelta(days=30 * i) for i in range(40, 0, -1)]  # one a month
    dense = [START + timedelta(hours=3 * i) for i in range(8 * 60)]  # eight a day for 60 days
    stamps = sparse + dense
    windows = plan_windows(stamps, window_days=14, step_days=7, min_step_docs=30, min_window_docs=60)
    owned = [sum(1 for t in stamps if w.start <= t < w.end) for w in windows]
    assert sum(owned) == len(stamps)
    assert all(a.end <= b.start for a, b in zip(windows, windows[1:], strict=False))
    assert all(w.fit_start <= w.start and w.start.minute == 0 for w in windows)
    fitted = [sum(1 for t in stamps if w.fit_start <= t < w.end) for w in windows]
    before = [sum(1 for t in stamps if t < w.end) for w in windows]
    assert all(n >= min(60, b) for n, b in zip(fitted, before, strict=True))
    assert owned[0] >= 30  # the sparse years make one long step, not forty empty ones
    assert 9 <= len(windows) <= 11  # two steps for forty sparse months, then a step a week
    assert plan_windows([], 14, 7) == []


def seed_archive(engine: Engine) -> dict[str, list[int]]:
    """Three issues running through six weeks of an old archive, plus a repost of each."""
    store = Store(engine)
    sid = store.ensure_source("wz", "hotline_files", "hotline")
    rows = []
    for day in range(DAYS):
        for k, (name, text) in enumerate(THEMES.items()):
            for j in range(2):
                i = day * 2 + j
                rows.append({"external_id": f"{name}{i}", "channel": "hotline",
                             "content": f"{text}。第{i}号楼{i * 7 % 13}单元{day}日反映",
                             "published_at": START + timedelta(days=day, hours=3 * k + 9 * j),
                             "content_hash": f"{name}{i}"})  # fmt: skip
    store.write_documents(sid, rows)
    tag_backlog(engine, tagger())
    with engine.connect() as conn:
        ids = {r.external_id: r.id for r in conn.execute(select(s.documents.c.external_id, s.documents.c.id))}
    return {name: [ids[f"{name}{i}"] for i in range(DAYS * 2)] for name in THEMES}


def topics_of(engine: Engine) -> dict[int, int | None]:
    with engine.connect() as conn:
        return dict(conn.execute(select(s.doc_tags.c.document_id, s.doc_tags.c.topic_id)).all())  # type: ignore[arg-type]


def test_an_issue_across_windows_keeps_one_topic_and_a_killed_run_resumes(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    themes = seed_archive(engine)
    app = load_app(str(config_for(tmp_path, db_url, nlp={"topics": {"window_days": 14}})))
    app._engine = engine
    seen: list[tuple[int, int]] = []

    def killed_after_two(done: int, total: int) -> None:
        seen.append((done, total))
        if done == 2:
            raise KeyboardInterrupt

    kwargs = {"step_days": 7.0, "min_step_docs": 30, "min_window_docs": 60}
    with pytest.raises(KeyboardInterrupt):
        fit_history_topics(engine, app.settings, **kwargs, on_window=killed_after_two)  # type: ignore[arg-type]
    total = seen[-1][1]
    assert total >= 5 and get_state(engine, PROGRESS_KEY)["status"] == "running"
    again: list[tuple[int, int]] = []
    result = fit_history_topics(
        engine,
        app.settings,
        **kwargs,  # type: ignore[arg-type]
        on_window=lambda done, n: again.append((done, n)),
    )
    assert result["resumed_at"] == 2 and result["windows"] == total and again[0] == (2, total)
    assert get_state(engine, PROGRESS_KEY)["status"] == "done"

    topic = topics_of(engine)
    kept: dict[str, int] = {}
    for name, ids in themes.items():
        assigned = Counter(topic[i] for i in ids if topic[i] is not None)
        main, n = assigned.most_common(1)[0]
        assert n >= 0.8 * len(ids), (name, assigned)  # one id from the first week to the last
        assert topic[ids[0]] == main and topic[ids[-1]] == main
        kept[name] = main
    assert len(set(kept.values())) == 3
    with engine.connect() as conn:
        labels = dict(conn.execute(select(s.topics.c.id, s.topics.c.label)).all())  # type: ignore[arg-type]
        first_seen = conn.execute(select(s.topics.c.first_seen).where(s.topics.c.id == kept["燃气"])).scalar()
        counted = conn.execute(select(func.sum(s.topic_counts.c.n))).scalar()
    assert "燃气" in labels[kept["燃气"]] and first_seen < START + timedelta(days=2)
    assert counted == sum(1 for t in topic.values() if t is not None)
    # the live refit continues from the last window's state
    current = load_current_state(topic_state_root(app.settings))
    assert current is not None and kept["燃气"] in current.topics


def test_copies_share_their_first_copy_topic(engine: Engine, db_url: str, tmp_path: Path) -> None:
    themes = seed_archive(engine)
    store = Store(engine)
    sid = store.ensure_source("wz", "hotline_files", "hotline")
    original = themes["学位"][10]
    with engine.connect() as conn:
        row = conn.execute(select(s.documents).where(s.documents.c.id == original)).one()
    store.write_documents(sid, [{"external_id": "repost", "channel": "hotline", "content": row.content,
                                 "published_at": row.published_at + timedelta(hours=1),
                                 "content_hash": "repost-hash", "dup_of": original}])  # fmt: skip
    tag_backlog(engine, tagger())
    app = load_app(str(config_for(tmp_path, db_url, nlp={"topics": {"window_days": 14}})))
    fit_history_topics(engine, app.settings, step_days=7.0, min_step_docs=30, min_window_docs=60)
    with engine.connect() as conn:
        (copy,) = conn.execute(select(s.documents.c.id).where(s.documents.c.external_id == "repost")).one()
    topic = topics_of(engine)
    assert topic[original] is not None and topic[copy] == topic[original]

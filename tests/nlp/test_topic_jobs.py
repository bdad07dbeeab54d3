"""The topic refit job on both backends: topics stored, ids stable across refits, counts kept, and
a first window refitted early."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine, func, select

from nlp.jobs import tag_backlog
from nlp.topic_jobs import early_refit_reason, refit_topics, refit_topics_early
from sensing.app import load_app
from storage import schema as s
from storage.store import Store
from tests.nlp.test_jobs import tagger
from tests.sensing.test_cli import config_for

THEMES = {
    "燃气": "小区燃气管道老化泄漏，居民担心燃气爆炸，要求物业尽快更换燃气管道",
    "学位": "孩子入学学位紧张，学区划分不合理，家长要求教育局增加学位公开划片",
    "噪音": "夜间工地施工噪音扰民严重，居民无法休息，要求城管查处夜间施工噪音",
}


def seed_themes(engine: Engine, per_theme: int = 40) -> None:
    store = Store(engine)
    sid = store.ensure_source("wz", "hotline_files", "hotline")
    now = datetime.now(UTC).replace(microsecond=0)
    rows = []
    for k, (name, text) in enumerate(THEMES.items()):
        for i in range(per_theme):
            rows.append({"external_id": f"{name}{i}", "channel": "hotline", "content": f"{text}。第{i}号楼{i * 7 % 13}单元反映",
                         "published_at": now - timedelta(hours=i + k), "content_hash": f"{name}{i}"})  # fmt: skip
    store.write_documents(sid, rows)
    tag_backlog(engine, tagger())


def test_refit_stores_topics_and_keeps_ids(engine: Engine, db_url: str, tmp_path: Path) -> None:
    seed_themes(engine)
    app = load_app(str(config_for(tmp_path, db_url)))
    app._engine = engine
    first = refit_topics(app.engine, app.settings)
    assert first["documents"] == 120 and first["topics"] >= 2
    with engine.connect() as conn:
        topics = {r.id: r.label for r in conn.execute(select(s.topics).where(s.topics.c.active))}
        assigned = conn.execute(select(func.count()).where(s.doc_tags.c.topic_id.is_not(None))).scalar()
        counted = conn.execute(select(func.sum(s.topic_counts.c.n))).scalar()
    assert assigned >= 90 and counted == assigned
    assert any("燃气" in label for label in topics.values())
    second = refit_topics(app.engine, app.settings)  # same data: every topic keeps its id
    with engine.connect() as conn:
        again = {r.id: r.label for r in conn.execute(select(s.topics).where(s.topics.c.active))}
    assert second["topics"] == first["topics"] and set(again) == set(topics)
    assert (tmp_path / "var" / "topics" / "CURRENT").exists()


def test_refit_clusters_in_the_encoder_space_once_the_window_is_encoded(
    engine: Engine, db_url: str, tmp_path: Path, encoder_tagger: object
) -> None:
    from sqlalchemy import delete

    from nlp.encoder_jobs import encode_backlog
    from storage.encoder_backlog import Priority

    seed_themes(engine, per_theme=12)
    app = load_app(str(config_for(tmp_path, db_url)))
    app._engine = engine
    assert refit_topics(engine, app.settings)["embedder"] == "lsa"  # nothing encoded yet
    assert encode_backlog(engine, encoder_tagger, 64, priority=Priority()) == 36
    done = refit_topics(engine, app.settings)
    assert done["embedder"] == "encoder" and done["topics"] >= 2
    with engine.connect() as conn:
        labels = [r.label for r in conn.execute(select(s.topics).where(s.topics.c.active))]
        assigned = conn.execute(select(func.count()).where(s.doc_tags.c.topic_id.is_not(None))).scalar()
    assert assigned >= 24 and any("燃气" in label for label in labels)
    with engine.begin() as conn:  # a third of the window not encoded: below the coverage, LSA again
        conn.execute(delete(s.encoder_tags).where(s.encoder_tags.c.document_id % 3 == 0))
    assert refit_topics(engine, app.settings)["embedder"] == "lsa"
    forced = app.settings.model_copy(deep=True)
    forced.nlp.topics.embedder = "encoder"  # embeds the missing third at refit
    assert refit_topics(engine, forced)["embedder"] == "encoder"


def test_a_first_window_is_refitted_early_then_left_to_the_schedule(
    engine: Engine, db_url: str, tmp_path: Path
) -> None:
    app = load_app(str(config_for(tmp_path, db_url, nlp={"topics": {"max_docs": 200}})))
    app._engine = engine
    settings = app.settings
    # a fresh start: the start-up refit finds nothing tagged, and nothing is due yet
    assert refit_topics(engine, settings)["documents"] == 0
    assert early_refit_reason(engine, settings) is None
    assert refit_topics_early(engine, settings) == {"due": False}
    seed_themes(engine, per_theme=10)  # the first documents are tagged
    assert early_refit_reason(engine, settings) == "no topics fitted yet, 30 documents in the window"
    first = refit_topics_early(engine, settings)
    assert first["due"] and first["documents"] == 30
    assert refit_topics_early(engine, settings) == {"due": False}  # the same window is not refitted
    seed_themes(engine, per_theme=40)  # 90 more: the window has quadrupled
    assert early_refit_reason(engine, settings) == "the last fit saw 30 documents, the window now holds 120"
    second = refit_topics_early(engine, settings)
    assert second["due"] and second["documents"] == 120 and second["topics"] >= 2
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).where(s.topics.c.active)).scalar() == second["topics"]
    assert early_refit_reason(engine, settings) is None  # 120 < 240 and < max_docs: not yet
    seed_themes(engine, per_theme=80)  # 240 in the window: max_docs (200) is reached
    assert early_refit_reason(engine, settings) == "the last fit saw 120 documents, the window now holds 200"
    assert refit_topics_early(engine, settings)["documents"] == 200
    # a fit on max_docs documents: from now on only the scheduled refit runs
    seed_themes(engine, per_theme=200)
    assert early_refit_reason(engine, settings) is None

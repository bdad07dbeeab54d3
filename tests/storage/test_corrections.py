"""Corrections override tags everywhere, feed training, and drive the review queue and drift."""

from __future__ import annotations

import pandas as pd
import pytest
from sqlalchemy import Engine, func, select

from nlp.jobs import tag_backlog
from storage import schema as s
from storage.corrections import (
    CorrectionError,
    add_correction,
    corrections_for_training,
    drift_by_source_week,
    label_shift,
    review_queue,
)
from storage.rollups.refresh import refresh_rollups
from tests.nlp.test_jobs import seed, tagger


def first_negative(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                select(func.min(s.doc_tags.c.document_id)).where(s.doc_tags.c.sentiment == "negative")
            ).scalar_one()
        )


def test_correction_overrides_rollups_and_feeds_training(engine: Engine) -> None:
    seed(engine, 6)
    tag_backlog(engine, tagger())
    refresh_rollups(engine)
    doc = first_negative(engine)
    add_correction(engine, doc, "sentiment", "neutral", "ana")
    refresh_rollups(engine)
    with engine.connect() as conn:
        neutral = conn.execute(
            select(func.sum(s.rollups.c.n)).where(s.rollups.c.sentiment == "neutral")
        ).scalar()
        audit = conn.execute(select(s.audit_log.c.action, s.audit_log.c.user)).all()
    assert neutral == 3  # two model-neutral documents plus the corrected one
    assert ("tag.correct", "ana") in audit
    train = corrections_for_training(engine, "sentiment")
    assert train.to_dict("records") == [{"text": train["text"][0], "label": "neutral"}]
    assert "路面太差了" in train["text"][0]


def test_bad_corrections_are_refused(engine: Engine) -> None:
    seed(engine, 2)
    tag_backlog(engine, tagger())
    with pytest.raises(CorrectionError, match="expected one of"):
        add_correction(engine, first_negative(engine), "sentiment", "furious", "ana")
    with pytest.raises(CorrectionError, match="field 'mood'"):
        add_correction(engine, first_negative(engine), "mood", "happy", "ana")
    with pytest.raises(CorrectionError, match="does not exist"):
        add_correction(engine, 999_999, "sentiment", "neutral", "ana")


def test_review_queue_and_drift(engine: Engine) -> None:
    seed(engine, 4)
    tag_backlog(engine, tagger())
    with engine.begin() as conn:
        ids = (
            conn.execute(select(s.doc_tags.c.document_id).order_by(s.doc_tags.c.document_id)).scalars().all()
        )
        for i, doc in enumerate(ids):
            conn.execute(
                s.doc_tags.update()
                .where(s.doc_tags.c.document_id == doc)
                .values(category_score=0.3 + 0.1 * i)
            )
    queue = review_queue(engine, limit=3)
    assert [q["id"] for q in queue] == ids[:3]
    add_correction(engine, ids[0], "category", "城乡建设", "ana")
    assert [q["id"] for q in review_queue(engine, limit=3)] == ids[1:4]
    drift = drift_by_source_week(engine, "category", low_confidence=0.55)
    assert drift["n"].sum() == 4 and drift["low_confidence_share"].iloc[0] == pytest.approx(0.75)
    assert label_shift(drift).empty  # one week only


def test_drift_weeks_counts_and_shift(engine: Engine) -> None:
    """ISO weeks in UTC (a late-Sunday document stays in its week), low-confidence share, mix, shift."""
    from datetime import UTC, datetime

    from storage.store import Store
    from storage.types import utcnow

    store = Store(engine)
    sid = store.ensure_source("wb", "rss", "social")
    plan = [  # published_at, sentiment, score
        (datetime(2026, 11, 2, 8, tzinfo=UTC), "positive", 0.9),
        (datetime(2026, 11, 4, 8, tzinfo=UTC), "positive", 0.5),
        (datetime(2026, 11, 6, 8, tzinfo=UTC), "negative", 0.4),
        (datetime(2026, 11, 8, 23, 30, tzinfo=UTC), "neutral", 0.8),
        (datetime(2026, 11, 9, 0, 30, tzinfo=UTC), "negative", 0.9),
        (datetime(2026, 11, 12, 8, tzinfo=UTC), "negative", 0.9),
    ]
    store.write_documents(
        sid,
        [
            {"external_id": str(i), "channel": "social", "content": f"文本{i}", "published_at": at}
            | {"content_hash": f"d{i}"}
            for i, (at, _, _) in enumerate(plan)
        ],
    )
    with engine.begin() as conn:
        ids = conn.execute(select(s.documents.c.id).order_by(s.documents.c.id)).scalars().all()
        conn.execute(
            s.doc_tags.insert(),
            [
                {"document_id": doc, "published_at": at, "channel": "social", "sentiment": label}
                | {
                    "sentiment_score": score,
                    "pipeline_version": "v",
                    "model_versions": {},
                    "tagged_at": utcnow(),
                }
                for doc, (at, label, score) in zip(ids, plan, strict=True)
            ],
        )
    drift = drift_by_source_week(engine, "sentiment", low_confidence=0.55).set_index("week")
    assert drift["n"].to_dict() == {"2026-W45": 4, "2026-W46": 2}
    assert drift.loc["2026-W45", "low_confidence_share"] == pytest.approx(0.5)
    assert drift.loc["2026-W46", "low_confidence_share"] == pytest.approx(0.0)
    assert drift.loc["2026-W45", ["share_positive", "share_negative", "share_neutral"]].tolist() == [
        pytest.approx(0.5),
        pytest.approx(0.25),
        pytest.approx(0.25),
    ]
    assert drift.loc["2026-W46", "share_negative"] == pytest.approx(1.0)
    shift = label_shift(drift.reset_index())
    assert shift.to_dict("records") == [{"source": "wb", "week": "2026-W46", "shift": pytest.approx(0.75)}]
    since = drift_by_source_week(engine, "sentiment", since=datetime(2026, 11, 9, tzinfo=UTC))
    assert since["n"].tolist() == [2]

    # The rollup refresh builds the per-day counts; the same figures then come from them.
    raw = drift_by_source_week(engine, "sentiment", low_confidence=0.55)
    refresh_rollups(engine, low_confidence=0.55)
    with engine.connect() as conn:
        days = conn.execute(select(func.count()).select_from(s.tag_quality_daily)).scalar_one()
    assert days == 6  # six source-day-label rows of sentiment (emotion and category are empty)
    with engine.begin() as conn:  # a raw-tag change the counts cannot see: proves which path is read
        conn.execute(
            s.doc_tags.update().where(s.doc_tags.c.document_id == ids[0]).values(sentiment_score=0.1)
        )
    cached = drift_by_source_week(engine, "sentiment", low_confidence=0.55)
    pd.testing.assert_frame_equal(cached, raw)
    other = drift_by_source_week(engine, "sentiment", low_confidence=0.6)  # not built for 0.6: raw tags
    assert other.set_index("week").loc["2026-W45", "low_confidence_share"] == pytest.approx(0.75)
    refresh_rollups(engine, low_confidence=0.6)  # another threshold rebuilds the counts
    rebuilt = drift_by_source_week(engine, "sentiment", low_confidence=0.6)
    pd.testing.assert_frame_equal(rebuilt, other)

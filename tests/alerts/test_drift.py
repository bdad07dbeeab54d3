"""A source whose weekly sentiment mix shifts far raises a model-drift alert (both backends)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine, select

from alerts.engine import evaluate_rules
from nlp.jobs import tag_backlog
from storage import schema as s
from storage.store import Store
from tests.alerts.conftest import make_app
from tests.nlp.test_jobs import tagger


def seed_weeks(engine: Engine, now: datetime, negative_this_week: int) -> None:
    """60 posts last week (a third negative), 60 this week with ``negative_this_week`` negative."""
    store = Store(engine)
    sid = store.ensure_source("weibo", "rss", "social")
    rows = []
    for week, negatives in ((1, 20), (0, negative_this_week)):
        for i in range(60):
            text = "路面太差了" if i < negatives else "服务很好"
            at = now - timedelta(days=7 * week, hours=i % 24)
            rows.append({"external_id": f"{week}-{i}", "channel": "social", "content": f"{text}{week}-{i}",
                         "published_at": at, "content_hash": f"{week}-{i}"})  # fmt: skip
    store.write_documents(sid, rows)
    tag_backlog(engine, tagger())


def drift_alerts(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        return [r.key for r in conn.execute(select(s.alerts).where(s.alerts.c.rule == "drift"))]


RULES = {"rules": [{"name": "drift", "kind": "model_drift", "threshold": 0.3, "min_count": 30}]}


def test_large_shift_fires_small_does_not(engine: Engine) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)  # a Thursday: both weeks are distinct ISO weeks
    seed_weeks(engine, now, negative_this_week=50)  # 1/3 -> 5/6 negative: shift 0.5
    evaluate_rules(engine, make_app(engine, RULES).settings, now=now)
    assert drift_alerts(engine) == ["source=weibo"]


def test_stable_mix_is_quiet(engine: Engine) -> None:
    now = datetime(2026, 11, 26, 12, tzinfo=UTC)
    seed_weeks(engine, now, negative_this_week=24)  # 1/3 -> 2/5: shift 0.07
    evaluate_rules(engine, make_app(engine, RULES).settings, now=now)
    assert drift_alerts(engine) == []

"""Subject alert rules: a burst on a subject's series and its first appearance in a new channel
raise alerts whose notifications name the subject, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from importlib.metadata import EntryPoint

import pytest
from sqlalchemy import Engine, select

from alerts.engine import deliver_outbox, evaluate_rules
from analytics.subjects import compile_subject, spec_from
from kernel import plugins
from storage import schema as s
from storage.db import write_tx
from storage.store import Store
from storage.subjects import backfill_subject, create_subject
from tests.alerts.conftest import NOW, make_app
from tests.conftest import HttpReceiver

KINDS = ("subject_volume", "subject_negative_share", "subject_new_channel", "subject_new_region")


@pytest.fixture(autouse=True)
def _subject_rule_kinds(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The shared venv holds main's entry points; these kinds are registered in this branch's pyproject."""
    real = plugins._registered

    def registered(group: str) -> dict[str, EntryPoint]:
        found = dict(real(group))
        if group == plugins.RULES:
            for kind in KINDS:
                found.setdefault(kind, EntryPoint(kind, f"alerts.subject_rules:{kind}_rule", group))
        return found

    monkeypatch.setattr(plugins, "_registered", registered)
    yield


def seed(engine: Engine) -> None:
    store = Store(engine)
    social, news = store.ensure_source("weibo", "rss", "social"), store.ensure_source("paper", "rss", "news")
    rows = []
    for h in range(14 * 24, 1, -1):  # a quiet fortnight: one post every three hours
        if h % 3 == 0:
            rows.append((social, f"q{h}", "social", "小区燃气泄漏，物业已处理", NOW - timedelta(hours=h)))
        rows.append((social, f"o{h}", "social", "公交线路调整", NOW - timedelta(hours=h)))
    for i in range(30):  # the burst: this hour
        rows.append((social, f"b{i}", "social", f"燃气泄漏爆炸 现场{i}", NOW - timedelta(minutes=50 - i)))
    for i in range(3):  # and the newspapers pick it up for the first time
        rows.append((news, f"n{i}", "news", f"多地燃气泄漏 报道{i}", NOW - timedelta(minutes=20 - i)))
    for source, ext, channel, text, at in rows:
        store.write_documents(
            source,
            [
                {
                    "external_id": ext,
                    "channel": channel,
                    "content": text,
                    "published_at": at,
                    "content_hash": ext,
                }
            ],
        )


def test_subject_burst_and_new_channel_alert_naming_the_subject(
    engine: Engine, receiver: HttpReceiver
) -> None:
    seed(engine)
    subject = create_subject(engine, "燃气安全", "燃气 AND 泄漏", "ana")
    m = compile_subject(spec_from(subject))
    assert backfill_subject(engine, subject, m.matches, m.prefilter()).matched == 112 + 30 + 3
    alerts = {
        "rules": [
            {"name": "subj_spike", "kind": "subject_volume", "min_count": 5, "notify": ["hook"]},
            {"name": "subj_channel", "kind": "subject_new_channel", "window_hours": 6, "notify": ["hook"]},
            {"name": "other_subject", "kind": "subject_volume", "subject": "没有这个专题", "min_count": 5},
        ],
        "notifiers": [{"name": "hook", "kind": "webhook", "url": receiver.url}],
    }
    app = make_app(engine, alerts)
    counts = evaluate_rules(app.engine, app.settings, now=NOW)
    assert counts["errors"] == 0 and counts["fired"] == 2, counts
    with engine.connect() as conn:
        rows = conn.execute(
            select(s.alerts.c.rule, s.alerts.c.key, s.alerts.c.title, s.alerts.c.evidence)
        ).all()
    fired = {r.rule: r for r in rows}
    assert fired["subj_spike"].key == "subject=燃气安全" and "专题「燃气安全」" in fired["subj_spike"].title
    assert fired["subj_channel"].key == "subject=燃气安全|channel=news"
    assert fired["subj_channel"].title == "专题「燃气安全」首次出现在渠道「新闻」"
    assert len(fired["subj_spike"].evidence["document_ids"]) == 3
    deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)
    texts = [r.json()["text"] for r in receiver.requests]
    assert texts and all("专题「燃气安全」" in t for t in texts)
    # Quiet again an hour later: evaluating once more fires nothing new.
    assert evaluate_rules(app.engine, app.settings, now=NOW + timedelta(minutes=5))["fired"] == 0


def test_subject_negative_share_spike_and_new_region(engine: Engine) -> None:
    seed(engine)
    with engine.connect() as conn:
        docs = conn.execute(select(s.documents.c.id, s.documents.c.content, s.documents.c.published_at,
                                   s.documents.c.channel)).all()  # fmt: skip
    tags = [
        {"document_id": i, "published_at": at, "channel": ch, "sentiment": "negative" if "爆炸" in text else "neutral",
         "province": "北京市" if "报道" in text else "广东省",
         "pipeline_version": "t", "model_versions": {}, "tagged_at": NOW}
        for i, text, at, ch in docs
    ]  # fmt: skip
    with write_tx(engine) as conn:
        conn.execute(s.doc_tags.insert(), tags)
    subject = create_subject(engine, "燃气安全", "燃气 泄漏", "ana")
    m = compile_subject(spec_from(subject))
    backfill_subject(engine, subject, m.matches, m.prefilter())
    rules = [
        {"name": "subj_neg", "kind": "subject_negative_share", "min_count": 10},
        {"name": "subj_region", "kind": "subject_new_region", "window_hours": 6},
    ]
    app = make_app(engine, {"rules": rules})
    assert evaluate_rules(app.engine, app.settings, now=NOW)["fired"] == 2
    with engine.connect() as conn:
        rows = {r.rule: r for r in conn.execute(select(s.alerts.c.rule, s.alerts.c.key, s.alerts.c.title))}
    assert rows["subj_neg"].key == "subject=燃气安全" and "专题「燃气安全」" in rows["subj_neg"].title
    assert rows["subj_region"].key == "subject=燃气安全|province=北京市"
    assert rows["subj_region"].title == "专题「燃气安全」首次出现在地区「北京市」"

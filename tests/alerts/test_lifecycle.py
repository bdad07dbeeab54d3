"""Lifecycle on both backends: de-duplication, grouping, auto-resolve, cooldown, re-notify, silences, ack/resolve.

Driven end to end through ``evaluate_rules`` / ``deliver_outbox`` with a source-silence rule,
whose condition the tests control exactly through ``ingest_runs`` rows.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from alerts.engine import deliver_outbox, evaluate_rules
from sensing.app import App
from storage import alert_actions
from storage import schema as s
from storage.db import write_tx
from storage.store import Store
from tests.alerts.conftest import NOW, make_app
from tests.conftest import HttpReceiver

MIN = timedelta(minutes=1)


def silence_app(
    engine: Engine, receiver: HttpReceiver, rules: list[dict[str, Any]] | None = None, **rule: Any
) -> App:
    base = {"name": "src_silent", "kind": "source_silence", "silence_minutes": 60, "cooldown_minutes": 30}
    base.update({"renotify_minutes": 120, "notify": ["hook"], **rule})
    sources = [{"name": n, "kind": "demo"} for n in ("a", "b")] + [
        {"name": "off", "kind": "demo", "enabled": False}
    ]
    alerts = {
        "rules": [base] if rules is None else rules,
        "notifiers": [{"name": "hook", "kind": "webhook", "url": receiver.url}],
    }
    return make_app(engine, alerts, sources=sources)


def delivered(engine: Engine, source: str, at: datetime, new: int = 5) -> None:
    sid = Store(engine).ensure_source(source, "demo", "social")
    with write_tx(engine) as conn:
        conn.execute(
            s.ingest_runs.insert().values(
                source_id=sid, started_at=at - MIN, finished_at=at, status="ok", fetched=new, new=new
            )
        )


def alerts_by_key(engine: Engine) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    with engine.connect() as conn:
        for row in conn.execute(select(s.alerts).order_by(s.alerts.c.id)):
            out.setdefault(row.key, []).append(row)
    return out


def events(engine: Engine, alert_id: int) -> list[tuple[str, str]]:
    with engine.connect() as conn:
        q = select(s.alert_events.c.event, s.alert_events.c.actor).where(
            s.alert_events.c.alert_id == alert_id
        )
        return [tuple(r) for r in conn.execute(q.order_by(s.alert_events.c.id))]  # type: ignore[misc]


def outbox_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(s.outbox)).scalar_one())


@pytest.fixture
def silent_ab(engine: Engine) -> Engine:
    """Sources a and b last delivered two hours before NOW; the disabled one too (ignored)."""
    for name in ("a", "b", "off"):
        delivered(engine, name, NOW - timedelta(hours=2))
    return engine


def test_dedupes_groups_and_records_every_change(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver)
    first = evaluate_rules(app.engine, app.settings, now=NOW)
    assert (first["fired"], first["queued"], first["errors"]) == (
        2,
        1,
        0,
    )  # two alerts, one grouped notification
    again = evaluate_rules(app.engine, app.settings, now=NOW + MIN)
    assert (again["fired"], again["updated"], again["queued"]) == (2 - 2, 2, 0)
    by_key = alerts_by_key(silent_ab)
    assert sorted(by_key) == ["source=a", "source=b"] and all(len(v) == 1 for v in by_key.values())
    assert "已 121 分钟没有新数据" in by_key["source=a"][0].message
    assert deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + MIN)["sent"] == 1
    (req,) = receiver.requests
    body = req.json()
    assert {a["key"] for a in body["alerts"]} == {"source=a", "source=b"}
    assert "等 2 条预警" in body["title"] and "/alerts?alert=" in body["text"]
    assert events(silent_ab, by_key["source=a"][0].id) == [
        ("fired", "system"),
        ("notified", "system"),
        ("delivered", "notifier:hook"),
    ]


def test_auto_resolves_when_the_condition_clears(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver)
    evaluate_rules(app.engine, app.settings, now=NOW)
    delivered(silent_ab, "a", NOW + 5 * MIN)
    assert evaluate_rules(app.engine, app.settings, now=NOW + 6 * MIN)["resolved"] == 1
    by_key = alerts_by_key(silent_ab)
    a, b = by_key["source=a"][0], by_key["source=b"][0]
    assert (a.status, a.resolved_by, b.status) == ("resolved", "system", "open")
    assert events(silent_ab, a.id)[-1] == ("resolved", "system")


def test_cooldown_holds_back_a_flapping_condition(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver, silence_minutes=5)
    delivered(silent_ab, "b", NOW + 30 * MIN)  # keep b quiet in this test
    assert evaluate_rules(app.engine, app.settings, now=NOW)["queued"] == 1
    delivered(silent_ab, "a", NOW + MIN)
    assert evaluate_rules(app.engine, app.settings, now=NOW + 2 * MIN)["resolved"] == 1
    # a silent again: a new alert, but within the 30 min cooldown
    flap = evaluate_rules(app.engine, app.settings, now=NOW + 7 * MIN)
    assert (flap["fired"], flap["queued"]) == (1, 0)
    assert evaluate_rules(app.engine, app.settings, now=NOW + 29 * MIN)["queued"] == 0
    assert (
        evaluate_rules(app.engine, app.settings, now=NOW + 31 * MIN)["queued"] == 1
    )  # cooldown over, still open: notified
    first, second = alerts_by_key(silent_ab)["source=a"]
    assert first.status == "resolved" and second.status == "open" and second.last_notified == NOW + 31 * MIN


def test_renotifies_until_acknowledged(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver, renotify_minutes=120)
    evaluate_rules(app.engine, app.settings, now=NOW)
    assert evaluate_rules(app.engine, app.settings, now=NOW + 119 * MIN)["queued"] == 0
    assert evaluate_rules(app.engine, app.settings, now=NOW + 120 * MIN)["queued"] == 1
    deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW + 120 * MIN)
    reminder = receiver.requests[-1].json()
    assert "仍在持续" in reminder["title"]
    alert_a = alerts_by_key(silent_ab)["source=a"][0]
    alert_actions.acknowledge_alert(
        silent_ab, alert_a.id, "zhang.san", "已联系数据源负责人", now=NOW + 121 * MIN
    )
    evaluate_rules(app.engine, app.settings, now=NOW + 240 * MIN)
    with silent_ab.connect() as conn:
        payload = conn.execute(select(s.outbox.c.payload).order_by(s.outbox.c.id.desc())).scalars().first()
    assert [a["key"] for a in payload["alerts"]] == ["source=b"]  # a acknowledged: no more reminders
    acked = alerts_by_key(silent_ab)["source=a"][0]
    assert (acked.status, acked.acked_by, acked.note) == ("acknowledged", "zhang.san", "已联系数据源负责人")
    assert ("acknowledged", "zhang.san") in events(silent_ab, acked.id)


def test_silence_suppresses_until_it_expires(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver)
    alert_actions.create_silence(
        silent_ab, "src_silent", NOW + 60 * MIN, "li.si", key="source=a", note="维护窗口", now=NOW - MIN
    )
    evaluate_rules(app.engine, app.settings, now=NOW)
    with silent_ab.connect() as conn:
        payload = conn.execute(select(s.outbox.c.payload)).scalar_one()
    assert [a["key"] for a in payload["alerts"]] == ["source=b"]  # a is recorded but not sent
    assert evaluate_rules(app.engine, app.settings, now=NOW + 59 * MIN)["queued"] == 0
    assert evaluate_rules(app.engine, app.settings, now=NOW + 61 * MIN)["queued"] == 1  # silence expired
    assert [r["id"] for r in alert_actions.list_silences(silent_ab, now=NOW + 61 * MIN)] == []
    all_keys = alert_actions.create_silence(
        silent_ab, "src_silent", NOW + 999 * MIN, "li.si", now=NOW + 62 * MIN
    )
    assert ("silenced", "li.si") in events(silent_ab, alerts_by_key(silent_ab)["source=b"][0].id)
    assert (
        evaluate_rules(app.engine, app.settings, now=NOW + 300 * MIN)["queued"] == 0
    )  # every key silenced: no reminders
    alert_actions.end_silence(silent_ab, all_keys, "li.si", now=NOW + 301 * MIN)
    assert evaluate_rules(app.engine, app.settings, now=NOW + 302 * MIN)["queued"] == 1


def test_manual_resolve_ack_and_state_errors(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver)
    evaluate_rules(app.engine, app.settings, now=NOW)
    alert_a = alerts_by_key(silent_ab)["source=a"][0]
    alert_actions.resolve_alert(silent_ab, alert_a.id, "wang.wu", "数据源已修复", now=NOW + MIN)
    with pytest.raises(alert_actions.AlertStateError):
        alert_actions.resolve_alert(silent_ab, alert_a.id, "wang.wu")
    with pytest.raises(alert_actions.AlertStateError):
        alert_actions.acknowledge_alert(silent_ab, alert_a.id, "wang.wu")
    with pytest.raises(alert_actions.AlertNotFoundError):
        alert_actions.acknowledge_alert(silent_ab, 99999, "wang.wu")
    assert events(silent_ab, alert_a.id)[-1] == ("resolved", "wang.wu")
    with silent_ab.connect() as conn:
        audit = conn.execute(select(s.audit_log.c.user, s.audit_log.c.action)).all()
    assert [tuple(r) for r in audit] == [("wang.wu", "alert.resolve")]
    # Still silent: the next evaluation opens a fresh alert (the resolved one stays resolved).
    assert evaluate_rules(app.engine, app.settings, now=NOW + 2 * MIN)["fired"] == 1
    assert [r.status for r in alerts_by_key(silent_ab)["source=a"]] == ["resolved", "open"]


def test_alerts_of_removed_rules_are_resolved(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver)
    evaluate_rules(app.engine, app.settings, now=NOW)
    without = silence_app(silent_ab, receiver, rules=[])
    assert evaluate_rules(without.engine, without.settings, now=NOW + MIN)["resolved"] == 2
    assert all(r.status == "resolved" for rows in alerts_by_key(silent_ab).values() for r in rows)


def test_rule_without_notifiers_records_alerts_only(silent_ab: Engine, receiver: HttpReceiver) -> None:
    app = silence_app(silent_ab, receiver, notify=[])
    assert evaluate_rules(app.engine, app.settings, now=NOW)["fired"] == 2
    assert outbox_count(silent_ab) == 0

"""Alerts on an issue that was recently handled say so: "该议题已于 11月20日 官方回应".

Pure matching and wording first, then end to end on both backends: events marked through
``storage.events``, rules evaluated on seeded rollups, the delivered message read back.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import Engine

from alerts.engine import deliver_outbox, evaluate_rules
from alerts.message import build_notification, related_events
from storage.events import add_event
from tests.alerts.conftest import NOW, make_app
from tests.alerts.test_rules import daily_pattern, seed_documents, seed_rollups
from tests.conftest import HttpReceiver

DAY = timedelta(days=1)


def event(i: int, kind: str, age: timedelta, **where: Any) -> dict[str, Any]:
    return {"id": i, "kind": kind, "at": NOW - age, "note": None, "topic_id": None, "category": None,
            "province": None, **where}  # fmt: skip


EVENTS = [
    event(1, "官方回应", 2 * DAY, topic_id=3, note="区教育局：[公告](http://evil.example) 已发布"),
    event(2, "现场处置", 3 * DAY, category="环境保护", province="湖南省"),
    event(3, "政策出台", 9 * DAY, topic_id=3),  # older than a week: not mentioned
    event(4, "官方回应", 1 * DAY, category="城乡建设"),
    event(5, "官方回应", -DAY, topic_id=3),  # in the future of the notification: not mentioned
]


def alert(key: str, title: str = "议题发文量异常升高") -> dict[str, Any]:
    return {"id": 9, "rule": "r", "key": key, "title": title, "message": "最近1小时 40 条。", "severity": "warning",
            "evidence": {"since": NOW.isoformat(), "documents": []}}  # fmt: skip


def test_events_match_the_alerts_issue_within_a_week() -> None:
    assert [e["id"] for e in related_events("topic=3", EVENTS, NOW)] == [1]
    assert [e["id"] for e in related_events("category=环境保护", EVENTS, NOW)] == [2]
    assert [e["id"] for e in related_events("region=湖南省", EVENTS, NOW)] == [2]
    assert related_events("topic=4", EVENTS, NOW) == []
    for key in ("total", "channel=social", "watchlist", "source=a", "category="):
        assert related_events(key, EVENTS, NOW) == [], key


def test_notification_mentions_the_event_in_plain_words() -> None:
    note = build_notification(
        [alert("topic=3")], idempotency_key="k", base_url="http://h", tz="Asia/Shanghai", created_at=NOW,
        events=EVENTS,
    )  # fmt: skip
    assert (
        "处置情况：该议题已于 11月18日 官方回应（说明：区教育局：[公告](http://evil.example) 已发布）。"
        in note.text
    )
    assert "11月11日" not in note.text and "政策出台" not in note.text  # last week's event is not news
    assert "](http://evil" not in note.markdown and "该议题已于 11月18日 官方回应" in note.markdown
    assert note.alerts[0]["events"] == [
        {"id": 1, "kind": "官方回应", "topic_id": 3, "category": None, "province": None,
         "note": EVENTS[0]["note"], "at": (NOW - 2 * DAY).isoformat()}
    ]  # fmt: skip
    category = build_notification(
        [alert("category=环境保护"), alert("region=湖南省")], idempotency_key="k", base_url="http://h",
        tz="Asia/Shanghai", created_at=NOW, events=EVENTS,
    )  # fmt: skip
    assert "该诉求类别在湖南省已于 11月17日 现场处置" in category.text
    assert "该地区「环境保护」诉求已于 11月17日 现场处置" in category.text
    quiet = build_notification(
        [alert("total")], idempotency_key="k", base_url="http://h", tz="UTC", created_at=NOW, events=EVENTS
    )
    assert "处置情况" not in quiet.text and quiet.alerts[0]["events"] == []


def test_delivered_alert_mentions_events_marked_in_the_store(engine: Engine, receiver: HttpReceiver) -> None:
    env = daily_pattern(14, 11)
    env[-1] += 50
    seed_rollups(engine, {("环境保护", "neutral"): env, ("城乡建设", "neutral"): daily_pattern(14, 12)})
    seed_documents(
        engine, "环境保护", [("河道污染严重，鱼大量死亡", 5), ("污水直排", 1)], NOW - timedelta(minutes=10)
    )
    add_event(
        engine, "官方回应", NOW - 2 * DAY, "ana", category="环境保护", note="生态环境局回应：已立案调查"
    )
    add_event(engine, "现场处置", NOW - 10 * DAY, "ana", category="环境保护")  # too old
    add_event(engine, "政策出台", NOW - DAY, "ana", category="城乡建设")  # another issue
    add_event(engine, "现场处置", NOW - 3 * DAY, "ana", category="交通运输", province="湖南省")
    alerts = {
        "rules": [
            {"name": "category_spike", "kind": "volume_spike", "dimension": "category", "min_count": 8,
             "notify": ["hook"]},
            {"name": "region_spike", "kind": "volume_spike", "dimension": "region", "min_count": 8,
             "notify": ["hook"]},
        ],
        "notifiers": [{"name": "hook", "kind": "webhook", "url": receiver.url}],
    }  # fmt: skip
    app = make_app(engine, alerts)
    counts = evaluate_rules(app.engine, app.settings, now=NOW)
    assert counts["errors"] == 0 and counts["queued"] == 2
    deliver_outbox(app.engine, app.settings.alerts.notifiers, now=NOW)
    texts = {r.json()["title"]: r.json()["text"] for r in receiver.requests}
    category = next(t for title, t in texts.items() if "环境保护" in title)
    region = next(t for title, t in texts.items() if "湖南省" in title)
    assert "处置情况：该诉求类别已于 11月18日 官方回应（说明：生态环境局回应：已立案调查）。" in category
    assert "现场处置" not in category and "政策出台" not in category
    assert "处置情况：该地区「交通运输」诉求已于 11月17日 现场处置。" in region

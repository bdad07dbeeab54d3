"""What duty staff read: one plain-Chinese notification for a group of related alerts (pure).

Every alert in a notification says which topic or keyword, how far above normal (the rule's
summary carries the numbers), since when, up to three representative documents (their text was
masked before it was stored) and a link to the dashboard's alert page. When an event (政策出台 /
现场处置 / 官方回应, see ``storage/events.py``) was marked on the alert's topic, category or region
in the last seven days, the alert says so ("该议题已于 11月20日 官方回应"): duty staff then know
the issue is already being handled, and that it flares up again after the response. The Markdown
variant neutralises Markdown syntax in untrusted text (titles and posts come from the public), so
a post cannot inject links or formatting into a robot message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import quote

from alerts.notifiers.base import Notification
from alerts.rules import format_local
from kernel import labels

log = logging.getLogger(__name__)

ALERT_PAGE = "alerts"  # url_path of the 预警中心 page in dashboard/streamlit_app.py
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
EXCERPT_CHARS = 80
EVENT_DAYS = 7  # events marked this many days before the notification are mentioned
EVENT_NOTE_CHARS = 40
MAX_EVENTS = 3
EVENT_SUBJECTS = {"topic": "该议题", "category": "该诉求类别", "region": "该地区"}
TZ_LABELS = {"Asia/Shanghai": "北京时间"}
_NEUTRALISE = str.maketrans(
    {
        "[": "［",
        "]": "］",
        "(": "（",
        ")": "）",
        "*": "＊",
        "_": "＿",
        "#": "＃",
        "<": "＜",
        ">": "＞",
        "`": "｀",
        "|": "｜",
        "~": "～",
        "!": "！",
        "\\": "＼",
    }
)


def dashboard_base_url(settings: Any) -> str:
    """``dashboard.base_url`` or ``http://host:port`` (no trailing slash)."""
    dash = settings.dashboard
    return (dash.base_url or f"http://{dash.host}:{dash.port}").rstrip("/")


def alert_link(base_url: str, alert_id: int) -> str:
    """Link to the dashboard's alert page showing one alert."""
    return f"{base_url}/{quote(ALERT_PAGE)}?alert={alert_id}"


def neutralise_markdown(text: str) -> str:
    """Untrusted text made inert in Markdown: syntax characters become their full-width forms, one line."""
    return " ".join(text.split()).translate(_NEUTRALISE)


def excerpt(doc: Mapping[str, Any], chars: int = EXCERPT_CHARS) -> str:
    """``标题：正文开头…`` cut to ``chars`` characters, on one line."""
    title = " ".join(str(doc.get("title") or "").split())
    body = " ".join(str(doc.get("content") or doc.get("excerpt") or "").split())
    text = f"{title}：{body}" if title and not body.startswith(title) else body or title
    return text if len(text) <= chars else text[: chars - 1] + "…"


def _doc_line(doc: Mapping[str, Any], tz: str) -> str:
    where = labels.CHANNELS.get(str(doc.get("channel") or ""), str(doc.get("channel") or ""))
    when = doc.get("published_at")
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    stamp = format_local(when, tz) if isinstance(when, datetime) else ""
    return f"{doc.get('excerpt') or excerpt(doc)}（{'，'.join(p for p in (where, stamp) if p)}）"


def _at(value: Any) -> datetime:
    return datetime.fromisoformat(value) if isinstance(value, str) else value


def related_events(
    key: str, events: Sequence[Mapping[str, Any]], now: datetime, days: int = EVENT_DAYS
) -> list[Mapping[str, Any]]:
    """Events of the last ``days`` (up to ``now``) on the issue an alert key names, newest first.

    ``topic=3`` matches events on topic 3; ``category=环境保护`` events on that category (in any
    region or none); ``region=湖南省`` events on a category in that region. Other keys (total,
    channel, keyword watchlists, sources) name no issue an event can be marked on.
    """
    dimension, _, value = key.partition("=")
    if dimension not in EVENT_SUBJECTS or not value:
        return []
    since = now - timedelta(days=days)
    found = []
    for event in events:
        if not since <= _at(event["at"]) <= now:
            continue
        if dimension == "topic":
            hit = event.get("topic_id") is not None and str(event["topic_id"]) == value
        elif dimension == "category":
            hit = event.get("topic_id") is None and event.get("category") == value
        else:
            hit = event.get("topic_id") is None and event.get("province") == value
        if hit:
            found.append(event)
    return sorted(found, key=lambda e: (_at(e["at"]), e.get("id") or 0), reverse=True)


def describe_event(key: str, event: Mapping[str, Any], tz: str) -> str:
    """``该议题已于 11月20日 官方回应（说明：…）`` for an event related to the alert ``key``."""
    dimension = key.partition("=")[0]
    local = format_local(_at(event["at"]), tz).split(" ")[0]
    subject = EVENT_SUBJECTS[dimension]
    if dimension == "category" and event.get("province"):
        subject += f"在{event['province']}"
    elif dimension == "region" and event.get("category"):
        subject += f"「{event['category']}」诉求"
    note = " ".join(str(event.get("note") or "").split())
    if len(note) > EVENT_NOTE_CHARS:
        note = note[: EVENT_NOTE_CHARS - 1] + "…"
    return f"{subject}已于 {local} {event['kind']}" + (f"（说明：{note}）" if note else "")


def _event_item(event: Mapping[str, Any]) -> dict[str, Any]:
    """An event as JSON-safe data for machine receivers."""
    keys = ("id", "kind", "topic_id", "category", "province", "note")
    return {**{k: event.get(k) for k in keys}, "at": _at(event["at"]).isoformat()}


def top_severity(alerts: Sequence[Mapping[str, Any]]) -> str:
    """The most severe level among ``alerts``."""
    return max((a.get("severity") or "warning" for a in alerts), key=lambda s: SEVERITY_ORDER.get(s, 1))


def build_notification(
    alerts: Sequence[Mapping[str, Any]],
    *,
    idempotency_key: str,
    base_url: str,
    tz: str,
    created_at: datetime,
    reminder: bool = False,
    events: Sequence[Mapping[str, Any]] = (),
) -> Notification:
    """One notification for ``alerts`` (same rule, grouped by the lifecycle).

    Args:
        alerts: stored alert rows as dicts: id, rule, key, title, message, severity, first_seen,
            evidence (with ``since`` and ``documents``).
        idempotency_key: the outbox dedup key, repeated to receivers.
        base_url: dashboard base URL for the links.
        tz: display time zone.
        created_at: when the notification was queued.
        reminder: True for a re-notification of alerts still open and unacknowledged.
        events: recent ``events`` rows (kind, at, topic_id, category, province, note); those of the
            last seven days on an alert's topic, category or region are mentioned in it.
    """
    severity = top_severity(alerts)
    level = labels.SEVERITY.get(severity, severity)
    prefix = f"【{level}】" + ("【仍在持续，尚未处理】" if reminder else "")
    first = alerts[0]
    title = prefix + str(first["title"]) + (f" 等 {len(alerts)} 条预警" if len(alerts) > 1 else "")
    text_parts: list[str] = []
    md_parts: list[str] = [f"### {neutralise_markdown(title)}"]
    items: list[dict[str, Any]] = []
    if len(alerts) > 1:
        text_parts.append(f"规则「{first['rule']}」共有 {len(alerts)} 条相关预警：")
    for i, alert in enumerate(alerts, 1):
        evidence = dict(alert.get("evidence") or {})
        docs = list(evidence.get("documents") or [])[:3]
        link = alert_link(base_url, int(alert["id"]))
        since = evidence.get("since")
        since_text = format_local(datetime.fromisoformat(since), tz) if since else ""
        head = f"{i}. {alert['title']}" if len(alerts) > 1 else str(alert["title"])
        lines = [head, f"情况：{alert['message']}"]
        if since_text:
            lines.append(f"开始时间：{since_text}（{TZ_LABELS.get(tz, tz)}）")
        md = [f"**{neutralise_markdown(head)}**"] if len(alerts) > 1 else []
        md.append(f"> {neutralise_markdown(str(alert['message']))}")
        related = related_events(str(alert.get("key") or ""), events, created_at)[:MAX_EVENTS]
        if related:
            handled = "；".join(describe_event(str(alert["key"]), e, tz) for e in related)
            lines.append(f"处置情况：{handled}。")
            md.append(f"处置情况：{neutralise_markdown(handled)}。")
        if docs:
            lines.append("代表性内容：")
            md.append("代表性内容：")
            for j, doc in enumerate(docs, 1):
                lines.append(f"  {j}) {_doc_line(doc, tz)}")
                md.append(f"{j}. {neutralise_markdown(_doc_line(doc, tz))}")
        lines.append(f"查看详情：{link}")
        md.append(f"[查看详情]({link})")
        text_parts.append("\n".join(lines))
        md_parts.append("\n".join(md))
        items.append(
            {
                "id": int(alert["id"]),
                "rule": alert["rule"],
                "key": alert["key"],
                "title": alert["title"],
                "summary": alert["message"],
                "severity": alert.get("severity"),
                "value": alert.get("value"),
                "baseline": alert.get("baseline"),
                "since": since,
                "link": link,
                "documents": docs,
                "events": [_event_item(e) for e in related],
            }
        )
    return Notification(
        idempotency_key=idempotency_key,
        title=title,
        text="\n\n".join(text_parts),
        markdown="\n\n".join(md_parts),
        severity=severity,
        link=items[0]["link"],
        alerts=items,
        created_at=created_at.isoformat(),
    )

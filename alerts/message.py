"""What duty staff read: one plain-Chinese notification for a group of related alerts (pure).

Every alert in a notification says which topic or keyword, how far above normal (the rule's
summary carries the numbers), since when, up to three representative documents (their text was
masked before it was stored) and a link to the dashboard's alert page. The Markdown variant
neutralises Markdown syntax in untrusted text (titles and posts come from the public), so a post
cannot inject links or formatting into a robot message.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any
from urllib.parse import quote

from alerts.notifiers.base import Notification
from alerts.rules import CHANNEL_LABELS, SEVERITY_LABELS, format_local

log = logging.getLogger(__name__)

ALERT_PAGE = "alerts"  # url_path of the 预警中心 page in dashboard/streamlit_app.py
SEVERITY_ORDER = {"info": 0, "warning": 1, "critical": 2}
EXCERPT_CHARS = 80
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
    where = CHANNEL_LABELS.get(str(doc.get("channel") or ""), str(doc.get("channel") or ""))
    when = doc.get("published_at")
    if isinstance(when, str):
        when = datetime.fromisoformat(when)
    stamp = format_local(when, tz) if isinstance(when, datetime) else ""
    return f"{doc.get('excerpt') or excerpt(doc)}（{'，'.join(p for p in (where, stamp) if p)}）"


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
    """
    severity = top_severity(alerts)
    level = SEVERITY_LABELS.get(severity, severity)
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

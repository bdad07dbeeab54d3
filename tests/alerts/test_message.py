"""Notification text: plain Chinese, numbers, since when, three examples, dashboard link, inert Markdown."""

from __future__ import annotations

from typing import Any

from alerts.message import alert_link, build_notification, dashboard_base_url, neutralise_markdown
from kernel.settings import Settings
from tests.alerts.conftest import NOW


def alert(i: int, severity: str = "warning", docs: int = 4) -> dict[str, Any]:
    return {
        "id": i,
        "rule": "category_spike",
        "key": f"category=类别{i}",
        "title": f"诉求类别「类别{i}」发文量异常升高",
        "message": f"诉求类别「类别{i}」最近1小时 {40 + i} 条，同一时段常态约 8.0 条，是常态的 5.1 倍。",
        "severity": severity,
        "value": 40.0 + i,
        "baseline": 8.0,
        "evidence": {
            "since": NOW.isoformat(),
            "documents": [
                {
                    "id": 100 + j,
                    "excerpt": f"第{j}条 [点我](http://evil.example) **加粗**",
                    "channel": "social",
                    "published_at": NOW.isoformat(),
                }
                for j in range(docs)
            ],  # fmt: skip
        },
    }


def test_single_alert_says_what_how_much_since_and_links() -> None:
    note = build_notification(
        [alert(7)], idempotency_key="k1", base_url="http://h:8501", tz="Asia/Shanghai", created_at=NOW
    )
    assert note.title == "【警告】诉求类别「类别7」发文量异常升高"
    assert "最近1小时 47 条" in note.text and "是常态的 5.1 倍" in note.text
    assert "开始时间：11月20日 14:30（北京时间）" in note.text
    assert note.text.count("第") == 3 and "第3条" not in note.text  # top three examples only
    assert note.link == "http://h:8501/alerts?alert=7" and note.link in note.text
    assert note.alerts[0]["id"] == 7 and len(note.alerts[0]["documents"]) == 3


def test_grouped_reminder_takes_highest_severity() -> None:
    note = build_notification(
        [alert(1), alert(2, "critical")], idempotency_key="k2", base_url="http://h", tz="Asia/Shanghai",
        created_at=NOW, reminder=True,
    )  # fmt: skip
    assert note.severity == "critical" and note.title.startswith("【严重】【仍在持续，尚未处理】")
    assert note.title.endswith("等 2 条预警") and "共有 2 条相关预警" in note.text
    assert [a["id"] for a in note.alerts] == [1, 2]


def test_markdown_neutralises_untrusted_text() -> None:
    note = build_notification([alert(1)], idempotency_key="k", base_url="http://h", tz="UTC", created_at=NOW)
    assert "](http://evil" not in note.markdown and "**加粗**" not in note.markdown
    assert "［点我］（http://evil.example）" in note.markdown
    assert note.markdown.count("](http://h/") == 1  # our own link is the only Markdown link
    assert neutralise_markdown("a\n# b") == "a ＃ b"


def test_dashboard_base_url_falls_back_to_host_and_port() -> None:
    assert dashboard_base_url(Settings()) == "http://127.0.0.1:8501"
    custom = Settings.model_validate({"dashboard": {"base_url": "https://yq.gov.local/minsheng/"}})
    assert alert_link(dashboard_base_url(custom), 3) == "https://yq.gov.local/minsheng/alerts?alert=3"

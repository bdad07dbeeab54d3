"""The one vocabulary: Chinese display labels for stored codes, used by the dashboard, reports and alerts."""

from __future__ import annotations

# Stored codes of the model tags (the classifiers' label sets, in their trained order).
SENTIMENT_CODES: tuple[str, ...] = ("positive", "neutral", "negative")
EMOTION_CODES: tuple[str, ...] = ("neutral", "happy", "angry", "sad", "fear", "surprise")
CATEGORY_CODES: tuple[str, ...] = (
    "城乡建设",
    "环境保护",
    "交通运输",
    "教育文体",
    "劳动和社会保障",
    "商贸旅游",
    "卫生计生",
)
TASK_CODES: dict[str, tuple[str, ...]] = {
    "sentiment": SENTIMENT_CODES,
    "emotion": EMOTION_CODES,
    "category": CATEGORY_CODES,
}

UNKNOWN = "未知"
CHANNELS = {"social": "社交媒体", "news": "新闻", "hotline": "12345热线", "gov": "政务平台"}
SENTIMENTS = {"negative": "负面", "neutral": "中性", "positive": "正面"}
SENTIMENT_ORDER = ("negative", "neutral", "positive")
SENTIMENT_COLORS = {"负面": "#d62728", "中性": "#9e9e9e", "正面": "#2ca02c", UNKNOWN: "#cccccc"}
EMOTIONS = {
    "neutral": "平静",
    "happy": "喜悦",
    "angry": "愤怒",
    "sad": "悲伤",
    "fear": "恐惧",
    "surprise": "惊讶",
}
ALERT_STATUS = {"open": "未处理", "acknowledged": "已确认", "resolved": "已解除"}
SEVERITY = {"info": "提示", "warning": "警告", "critical": "严重"}
BRIEFING_KINDS = {"daily": "每日舆情要报", "weekly": "每周舆情要报"}
BRIEFING_STATUS = {"verified": "已核验", "fallback": "大模型稿未通过核验或未生成，显示模板概述"}
ALERT_EVENTS = {
    "fired": "触发",
    "updated": "更新",
    "notified": "已通知",
    "acknowledged": "确认",
    "resolved": "解除",
    "silenced": "静默",
    "reopened": "重新触发",
    "delivered": "通知已送达",
    "delivery_expired": "通知送达失败",
}
ROLES = {"official": "领导", "analyst": "分析员", "duty": "值班员", "admin": "管理员"}
RUN_STATUS = {"ok": "成功", "partial": "部分成功", "failed": "失败", "running": "运行中"}
WEB_SKIP_REASONS = {  # why the web collector skipped a page (ingest.sources.web)
    "robots": "robots.txt 禁止",
    "robots_unavailable": "robots.txt 无法读取",
    "fetch_failed": "抓取失败（将重试）",
    "http_error": "HTTP 错误",
    "undecodable": "无法解码",
    "extract_failed": "正文抽取失败",
    "empty_article": "无正文",
    "list_failed": "列表页失败",
}
HEAT_COMPONENTS = {
    "volume": "声量",
    "growth": "增长",
    "spread": "扩散",
    "engagement": "互动",
    "negativity": "负面",
    "persistence": "持续",
}
FIELDS = {"sentiment": "情感", "emotion": "情绪", "category": "诉求类别"}  # correctable tags
TIERS = {
    "fast": "快速模型（n-gram）",
    "encoder": "编码模型（encoder）",
}  # which models gave a document's tags
REPLY_COMPONENTS = {
    "relevance": "相关性",
    "completeness": "完整性",
    "policy": "政策依据",
    "timeliness": "及时性",
    "tone": "态度",
}
REPLY_GROUPS = {"unit": "承办单位", "category": "诉求类别", "province": "地区"}
TABLES = {
    "channel": CHANNELS,
    "sentiment": SENTIMENTS,
    "emotion": EMOTIONS,
    "status": ALERT_STATUS,
    "severity": SEVERITY,
    "role": ROLES,
    "field": FIELDS,
    "tier": TIERS,
}


def label(kind: str, code: object) -> str:
    """The Chinese label of ``code`` in table ``kind``; ``''``/None is 未知, an unknown code stays as is."""
    if code is None or code == "" or code == -1:
        return UNKNOWN
    table = TABLES.get(kind, {})
    return table.get(str(code), str(code))


def tag(field: str, value: object) -> str:
    """A tag value of a correctable ``field`` for display (categories are already Chinese)."""
    return place(value) if field == "category" else label(field, value)


def place(value: object) -> str:
    """A category or region value for display (``''`` means unknown)."""
    return UNKNOWN if value in (None, "") else str(value)

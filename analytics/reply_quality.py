"""Reply quality (答复评价) of government answers to hotline / 问政 messages: pure, rule-based.

Each component is a score in [0, 1]; the total is their weighted mean on a 0-100 scale.

* relevance: character-bigram cosine similarity between message and reply (0.5), whether the
  reply names the places of the message (0.25), and whether it repeats the message's key terms
  from its title (0.25) — i.e. it addresses this demand, in this place.
* completeness: a quarter each for naming a handling unit (…局 / …办 / 街道 / 公司 …), a
  concrete action or result (已 / 责成 / 整改 / 完成 / 现场 …), a contact or follow-up path
  (电话 / 联系 / 热线 / a phone number), and a date.
* policy: cites a policy, law or regulation (《…条例》, 根据 … 规定, 第 N 条 …).
* timeliness: reply delay in days; 1.0 within the first band, one step less per later band.
* tone: courteous (您好 / 感谢 / 谢谢) and not merely dismissive (不属于 … 管辖 with no referral).

What it cannot judge: whether the facts in the reply are true, whether the action was
actually carried out, or whether the citizen was satisfied; see docs/REPLY_QUALITY.md.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime

SCORER_VERSION = "reply-rules-1"

UNIT_RE = re.compile(
    r"(?:[A-Z]\d*[市区县])?[\u4e00-\u9fa5]{1,14}?(?:人民政府|委员会|管理局|分局|局|办公室|办事处|街道|"
    r"社区|中心|派出所|公司|医院|大队|支队|委|办(?!法|理)|厅)(?![\u4e00-\u9fa5]{0,1}法)"
)
# Words that start a clause rather than a unit's name ("经我局调查", "您所反映").
UNIT_LEAD_RE = re.compile(
    r"^(?:经|由|据|向|对|将|请|已|现|并|被|在|是|的|关于|针对|根据|按照|协调|联系|转交|交由|会同|组织|责成|督促|要求)+"
)
PRONOUN_UNITS = {
    "我局",
    "我办",
    "我委",
    "本局",
    "我中心",
    "我街道",
    "我社区",
    "我公司",
    "我厅",
    "市局",
    "区局",
    "县局",
}


def find_unit(reply: str) -> str | None:
    """The handling unit a reply names (e.g. "A市住房和城乡建设局"), or None."""
    best: str | None = None
    for m in UNIT_RE.finditer(reply):
        name, prev = m.group(0), ""
        while name != prev:  # strip every leading clause word ("已转交县住建局" -> "县住建局")
            prev, name = name, UNIT_LEAD_RE.sub("", name)
        if len(name) < 3 or name in PRONOUN_UNITS or name[0] in "我您你本该此其":
            continue
        if best is None or len(name) > len(best):
            best = name
            if len(best) >= 6:
                break
    return best


# A concrete handling step or result, not "已收悉" / "已转相关部门" acknowledgements.
ACTION_RE = re.compile(
    r"责成|督促|整改|查处|约谈|拆除|维修|修复|关停|取缔|暂扣|下达|召开|开展|签订|解决|落实|处置|处罚|立案|"
    r"清理|更换|安装|调解|巡查|抄牌|(?:已|立即|迅速)(?:安排|组织|要求|派|对|完成|进行|启动|将)|完成了?"
)
# A way for the citizen to follow up: a phone number or an explicit "ask / contact ... here".
CONTACT_RE = re.compile(
    r"电话|热线|详询|来电|来访|1[3-9]\d{9}|0\d{2,3}-\d{7,8}|"
    r"(?:可|请|建议您?)(?:直接)?(?:向|到|与|拨打|前往|来|通过)?[^。；]{0,20}?(?:咨询|联系|反映|查询|反馈)"
)
DATE_RE = re.compile(r"\d{4}年\d{1,2}月\d{1,2}日|\d{1,2}月\d{1,2}日|\d{4}[-/]\d{1,2}[-/]\d{1,2}")
POLICY_RE = re.compile(
    r"《[^》]{2,40}(?:法|条例|规定|办法|意见|通知|细则|规范|标准|政策|方案)》|"
    r"(?:根据|依据|按照)[^。；，]{0,30}(?:规定|政策|条例|法律|法规|文件|标准)|第[一二三四五六七八九十百零\d]+条"
)
POLITE_RE = re.compile(r"您好|你好|感谢|谢谢|欢迎|理解|支持")
DISMISS_RE = re.compile(r"不属于[^。]{0,20}(?:管辖|职责|范围)|无法(?:处理|解决)|不予受理")
REFERRAL_RE = re.compile(r"请(?:向|到|与|拨打)|建议您|可(?:向|到|拨打|联系)")
PLACE_RE = re.compile(r"[A-Z]\d*[市区县镇]|[\u4e00-\u9fa5]{2,6}(?:街道|社区|小区|花园|苑|村|路|大道)")
TITLE_TERM_RE = re.compile(r"[\u4e00-\u9fa5]{2,}")


@dataclass(frozen=True)
class ReplyScore:
    """Component scores in [0, 1], the 0-100 total, the delay and the handling unit named."""

    relevance: float
    completeness: float
    policy: float
    timeliness: float
    tone: float
    total: float
    delay_days: float | None
    unit: str | None

    def components(self) -> dict[str, float]:
        d = asdict(self)
        return {k: round(d[k], 4) for k in ("relevance", "completeness", "policy", "timeliness", "tone")}


def _bigrams(text: str) -> Counter[str]:
    chars = [c for c in text if not c.isspace()]
    return Counter(a + b for a, b in zip(chars, chars[1:], strict=False))


def cosine_similarity(a: str, b: str) -> float:
    """Cosine similarity of character-bigram counts."""
    ca, cb = _bigrams(a), _bigrams(b)
    if not ca or not cb:
        return 0.0
    dot = sum(v * cb.get(k, 0) for k, v in ca.items())
    return dot / (math.sqrt(sum(v * v for v in ca.values())) * math.sqrt(sum(v * v for v in cb.values())))


def delay_score(delay_days: float | None, bands: list[float]) -> float:
    """1.0 within the first band, one equal step less per later band, 0 beyond the last."""
    if delay_days is None:
        return 0.0
    for i, bound in enumerate(bands):
        if delay_days <= bound:
            return 1.0 - i / len(bands)
    return 0.0


def reply_checks(reply: str) -> dict[str, bool]:
    """The yes/no checks behind completeness and policy grounding (validated by hand, see docs)."""
    return {
        "unit": find_unit(reply) is not None or any(u in reply for u in PRONOUN_UNITS),
        "action": bool(ACTION_RE.search(reply)),
        "contact": bool(CONTACT_RE.search(reply)),
        "date": bool(DATE_RE.search(reply)),
        "policy": bool(POLICY_RE.search(reply)),
    }


def score_reply(
    message: str,
    reply: str,
    *,
    title: str = "",
    asked_at: datetime | None = None,
    replied_at: datetime | None = None,
    weights: dict[str, float] | None = None,
    bands: list[float] | None = None,
) -> ReplyScore:
    """Score one reply to one message."""
    weights = weights or {
        "relevance": 0.3,
        "completeness": 0.3,
        "policy": 0.1,
        "timeliness": 0.2,
        "tone": 0.1,
    }
    bands = bands or [3, 7, 15, 30, 90]
    reply = reply or ""
    similarity = min(1.0, cosine_similarity(f"{title}{message}", reply) / 0.5)
    places = set(PLACE_RE.findall(f"{title}{message}"))
    place_hit = 1.0 if not places else float(any(p in reply for p in places))
    terms = [t for t in TITLE_TERM_RE.findall(title) if len(t) >= 2]
    grams = {t[i : i + 2] for t in terms for i in range(len(t) - 1)}
    term_hit = 1.0 if not grams else sum(g in reply for g in grams) / len(grams)
    relevance = 0.5 * similarity + 0.25 * place_hit + 0.25 * term_hit
    unit = find_unit(reply)
    checks = reply_checks(reply)
    completeness = (checks["unit"] + checks["action"] + checks["contact"] + checks["date"]) / 4
    policy = float(checks["policy"])
    delay = None
    if asked_at is not None and replied_at is not None:
        delay = max(0.0, (replied_at - asked_at).total_seconds() / 86400)
    timeliness = delay_score(delay, bands)
    dismissive = bool(DISMISS_RE.search(reply)) and not REFERRAL_RE.search(reply)
    tone = 0.5 * bool(POLITE_RE.search(reply)) + 0.5 * (not dismissive)
    if len(reply.strip()) < 5:
        relevance = completeness = policy = tone = 0.0
    parts = {
        "relevance": relevance,
        "completeness": completeness,
        "policy": policy,
        "timeliness": timeliness,
        "tone": tone,
    }
    weight_sum = sum(weights.values()) or 1.0
    total = 100 * sum(weights[k] * parts[k] for k in parts) / weight_sum
    return ReplyScore(**parts, total=round(total, 2), delay_days=delay, unit=unit)


def reply_scorer(
    weights: dict[str, float], bands: list[float]
) -> Callable[[str, str, str, datetime | None, datetime | None], ReplyScore]:
    """:func:`score_reply` with fixed weights and delay bands, as the store's scoring pass calls it."""

    def score(
        message: str, reply: str, title: str, asked_at: datetime | None, replied_at: datetime | None
    ) -> ReplyScore:
        return score_reply(
            message,
            reply,
            title=title,
            asked_at=asked_at,
            replied_at=replied_at,
            weights=weights,
            bands=bands,
        )

    return score

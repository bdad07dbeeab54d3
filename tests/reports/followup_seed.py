"""Replies (scored by the real job) and events on top of ``tests.seed``, for the follow-up sections.

``seed_followup(engine, facts, settings)`` answers about two thirds of the seeded hotline and
问政 first copies with replies of varied quality from six handling units (one of them answers
only twice in week 2026-W47, below the ranking threshold), runs ``score_replies``, then adds one
reply the scorer has not seen yet, an analyst's category correction on an answered document and
four events (three in the week, one the week before). It returns :class:`FollowupFacts`: plain
Python records from which the tests compute every expected figure with the pure scorer.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Engine, update

from analytics.reply_quality import ReplyScore, score_reply
from sensing.jobs import score_replies
from storage import schema as s
from storage.db import write_tx
from storage.events import add_event
from tests.reports.conftest import END, PREV, START
from tests.seed import SeedDoc, SeedFacts

UNITS = ("A市住房和城乡建设局", "A2区城市管理局", "A市生态环境局", "A7县教育局", "A市交通运输局")
RARE_UNIT = "A市信访局"
TEMPLATES = (  # (weight, text): {unit} {place} {date} are filled in
    (
        3,
        "您好！您反映的{place}有关问题已收悉。经{unit}现场调查，已责成责任单位整改，并于{date}完成。"
        "根据《西地省城市管理条例》第十二条规定，我们将加强巡查。如有疑问请拨打0731-88886666咨询。感谢您的支持。",
    ),
    (3, "您好，{unit}已安排工作人员到{place}巡查，发现问题将及时处置。谢谢。"),
    (2, "{unit}回复：经核实，{place}相关问题已于{date}处理完毕。如仍有问题，请拨打13812345678联系。"),
    (2, "您的留言已收悉，已转相关部门处理。"),
    (1, "该事项不属于{unit}管辖范围，无法处理。值班电话13912345678。"),
)
DELAYS_DAYS = (0.2, 0.8, 2.5, 5.0, 9.0, 20.0)
CORRECTED_CATEGORY = "卫生计生"


@dataclass(frozen=True)
class SeedReply:
    """One seeded reply with the score the pure scorer gives it."""

    doc: SeedDoc
    text: str
    replied_at: datetime
    score: ReplyScore | None  # None: added after the scoring job ran
    category: str  # the category the report must use ('' unknown; an analyst's correction wins)
    province: str  # '' unknown

    @property
    def unit(self) -> str | None:
        return None if self.score is None else self.score.unit


@dataclass
class FollowupFacts:
    replies: list[SeedReply]
    events: list[dict[str, Any]] = field(default_factory=list)

    def answered(self, start: datetime = START, end: datetime = END) -> list[SeedReply]:
        return [r for r in self.replies if start <= r.replied_at < end]

    def scored(self, start: datetime = START, end: datetime = END) -> list[SeedReply]:
        return [r for r in self.answered(start, end) if r.score is not None]


def _where(doc: SeedDoc) -> tuple[str, str]:
    """(category, province) as stored: an untagged document has neither."""
    return (doc.category, doc.province) if doc.tagged else ("", "")


def _write_reply(engine: Engine, doc_id: int, text: str, at: datetime) -> None:
    with write_tx(engine) as conn:
        conn.execute(update(s.documents).where(s.documents.c.id == doc_id).values(reply=text, replied_at=at))


def seed_followup(engine: Engine, facts: SeedFacts, settings: Any) -> FollowupFacts:
    """Write replies, score them with the real job, then the late reply, a correction and the events."""
    rng = random.Random(47)
    cfg = settings.reply_quality
    weights = {k: getattr(cfg, k) for k in ("relevance", "completeness", "policy", "timeliness", "tone")}
    plans: list[tuple[SeedDoc, str, datetime]] = []
    rare_left = 2
    for doc in sorted(facts.docs, key=lambda d: d.id):
        if doc.channel not in ("hotline", "gov") or doc.dup_of is not None or rng.random() > 0.7:
            continue
        at = (doc.published_at + timedelta(days=rng.choice(DELAYS_DAYS))).replace(microsecond=0)
        if at > facts.now:
            continue
        template = rng.choices([t for _, t in TEMPLATES], weights=[w for w, _ in TEMPLATES])[0]
        unit = rng.choice(UNITS)
        if rare_left and START <= at < END and template == TEMPLATES[0][1]:
            unit, rare_left = RARE_UNIT, rare_left - 1
        local = at.astimezone(UTC) + timedelta(hours=8)
        text = template.format(
            unit=unit, place=f"{doc.city or 'A市'}{doc.district}", date=f"{local.month}月{local.day}日"
        )
        plans.append((doc, text, at))
    assert rare_left == 0, "the seed must give the rare unit two replies in the week"
    for doc, text, at in plans:
        _write_reply(engine, doc.id, text, at)
    assert score_replies(engine, settings) == len(plans)

    replies = []
    for doc, text, at in plans:
        sc = score_reply(
            doc.content,
            text,
            title=doc.title,
            asked_at=doc.published_at,
            replied_at=at,
            weights=weights,
            bands=list(cfg.delay_bands_days),
        )
        replies.append(SeedReply(doc, text, at, sc, *_where(doc)))
    # A reply the scoring job has not seen yet: counted as waiting, never in the means.
    answered = {r.doc.id for r in replies}
    late = next(
        d
        for d in sorted(facts.docs, key=lambda d: d.id)
        if d.channel == "hotline"
        and d.id not in answered
        and START <= d.published_at < END - timedelta(days=1)
    )
    late_at = late.published_at + timedelta(hours=6)
    _write_reply(engine, late.id, "您好，已收悉。", late_at)
    replies.append(SeedReply(late, "您好，已收悉。", late_at, None, *_where(late)))
    # An analyst corrects the category of one answered document of the week.
    target = next(r for r in replies if r.score is not None and START <= r.replied_at < END)
    with write_tx(engine) as conn:
        conn.execute(
            s.corrections.insert().values(
                document_id=target.doc.id,
                field="category",
                value=CORRECTED_CATEGORY,
                user="ana",
                created_at=END,
            )
        )
    replies[replies.index(target)] = SeedReply(
        target.doc, target.text, target.replied_at, target.score, CORRECTED_CATEGORY, target.province
    )

    specs = [  # (kind, at, where, note)
        (
            "官方回应",
            datetime(2026, 11, 19, 4, 0, tzinfo=UTC),
            {"topic_id": 1},
            "区住建局回应：电梯本周内完成维修",
        ),
        (
            "现场处置",
            datetime(2026, 11, 17, 2, 0, tzinfo=UTC),
            {"category": "城乡建设", "province": "广东省"},
            None,
        ),
        ("官方回应", datetime(2026, 11, 21, 12, 0, tzinfo=UTC), {"topic_id": 5}, "教育局发布划片说明"),
        ("政策出台", PREV + timedelta(days=2), {"category": "环境保护"}, "上周的事件，不入本周报告"),
    ]
    events = []
    for kind, at, where, note in specs:
        event_id = add_event(engine, kind, at, "ana", note=note, **where)
        events.append({"id": event_id, "kind": kind, "at": at, "note": note, **where})
    return FollowupFacts(replies, events)

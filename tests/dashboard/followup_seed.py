"""Scored government replies on the seed's hotline messages, for the 答复质量 page tests.

The scores are written directly (not by the scorer, whose own tests cover it), from a fixed random
stream, so the expected rankings are computed here in plain Python from :class:`SeededReply`.
The newest message's reply carries HTML and Markdown on purpose and scores lowest: nothing may
render it.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine, insert, update

from storage import schema as s
from storage.db import write_tx
from tests.seed import SeedFacts

UNITS = ("市住房和城乡建设局", "区城市管理局", "市生态环境局", "街道办事处", None)  # None: not recognised
COMPONENTS = ("relevance", "completeness", "policy", "timeliness", "tone")
HTML_REPLY = "<b>已处理</b> **请知悉** [详情](http://example.invalid)"
N_REPLIES = 60


@dataclass(frozen=True)
class SeededReply:
    """One scored reply with the tags of its message."""

    id: int
    published_at: datetime
    replied_at: datetime
    unit: str  # '' when not recognised
    category: str
    province: str
    total: float
    delay_days: float
    components: dict[str, float]
    reply: str


def seed_replies(engine: Engine, facts: SeedFacts, now: datetime) -> list[SeededReply]:
    """Give up to :data:`N_REPLIES` tagged hotline first copies a reply and a score."""
    rng = random.Random(11)
    messages = sorted(
        (d for d in facts.docs if d.channel == "hotline" and d.tagged and d.dup_of is None),
        key=lambda d: d.id,
    )[:N_REPLIES]
    newest = max(messages, key=lambda d: d.published_at).id  # in every period: the hostile, worst reply
    out = []
    for i, doc in enumerate(messages):
        delay = round(rng.uniform(0.2, 40.0), 2)
        replied = min(doc.published_at + timedelta(days=delay), now)
        unit = UNITS[rng.randrange(len(UNITS))]
        parts = {k: round(rng.random(), 2) for k in COMPONENTS}
        text = f"您好！{unit or '我单位'}已安排人员现场核查并处理，联系电话0731-****{i:04d}。"
        total = round(rng.uniform(15, 95), 1)
        if doc.id == newest:
            text, total = HTML_REPLY, 5.0
        out.append(
            SeededReply(
                id=doc.id, published_at=doc.published_at, replied_at=replied, unit=unit or "",
                category=doc.category, province=doc.province, total=total,
                delay_days=delay, components=parts, reply=text,
            )
        )  # fmt: skip
    with write_tx(engine) as conn:
        for r in out:
            conn.execute(
                update(s.documents)
                .where(s.documents.c.id == r.id)
                .values(reply=r.reply, replied_at=r.replied_at)
            )
        conn.execute(
            insert(s.reply_scores),
            [
                {"document_id": r.id, "total": r.total, "components": r.components, "delay_days": r.delay_days,
                 "unit": r.unit or None, "scorer_version": "test-1", "scored_at": now,
                 "published_at": r.published_at}
                for r in out
            ],
        )  # fmt: skip
    return out

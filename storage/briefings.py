"""The large model's call log and the stored briefings: writes and reads.

``record_llm_call`` stores one :class:`kernel.llm.CallRecord`; ``save_briefing`` stores a briefing
as published after verification, with the facts the model was given and the verification result;
``latest_briefing`` and ``briefing_frame`` read them back for the dashboard, the report and audits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import Engine, desc, select

from kernel.llm import CallRecord
from storage import schema as s
from storage.db import write_tx
from storage.types import utcnow


@dataclass(frozen=True)
class StoredBriefing:
    """One row of ``briefings``."""

    id: int
    kind: str
    period: str
    period_start: datetime
    period_end: datetime
    created_at: datetime
    requested_by: str
    model: str
    status: str
    text: str
    draft: str | None
    facts: dict[str, Any]
    verification: dict[str, Any]
    llm_call_id: int | None

    @property
    def checked_figures(self) -> int:
        return int(self.verification.get("checked_figures", 0))


def record_llm_call(engine: Engine, record: CallRecord) -> int:
    """Store one call to the model; returns its id."""
    with write_tx(engine) as conn:
        return int(
            conn.execute(
                s.llm_calls.insert()
                .values(
                    called_at=utcnow(),
                    purpose=record.purpose,
                    model=record.model[:128],
                    prompt_hash=record.prompt_hash,
                    prompt_tokens=record.prompt_tokens,
                    completion_tokens=record.completion_tokens,
                    latency_ms=record.latency_ms,
                    attempts=record.attempts,
                    outcome=record.outcome,
                    error=record.error,
                )
                .returning(s.llm_calls.c.id)
            ).scalar_one()
        )


def save_briefing(
    engine: Engine,
    *,
    kind: str,
    period: str,
    period_start: datetime,
    period_end: datetime,
    requested_by: str,
    model: str,
    status: str,
    text: str,
    draft: str | None,
    facts: dict[str, Any],
    verification: dict[str, Any],
    llm_call_id: int | None,
) -> int:
    """Store a briefing; returns its id."""
    with write_tx(engine) as conn:
        return int(
            conn.execute(
                s.briefings.insert()
                .values(
                    kind=kind,
                    period=period,
                    period_start=period_start,
                    period_end=period_end,
                    created_at=utcnow(),
                    requested_by=requested_by[:64],
                    model=model[:128],
                    status=status,
                    text=text,
                    draft=draft,
                    facts=facts,
                    verification=verification,
                    llm_call_id=llm_call_id,
                )
                .returning(s.briefings.c.id)
            ).scalar_one()
        )


def _row(row: Any) -> StoredBriefing:
    return StoredBriefing(**{k: row._mapping[k] for k in StoredBriefing.__dataclass_fields__})


def latest_briefing(
    engine: Engine, kind: str | None = None, period: str | None = None
) -> StoredBriefing | None:
    """The newest briefing (of ``kind`` and ``period`` when given), or None."""
    query = select(s.briefings).order_by(desc(s.briefings.c.created_at), desc(s.briefings.c.id)).limit(1)
    if kind is not None:
        query = query.where(s.briefings.c.kind == kind)
    if period is not None:
        query = query.where(s.briefings.c.period == period)
    with engine.connect() as conn:
        row = conn.execute(query).first()
    return None if row is None else _row(row)


def llm_calls_frame(engine: Engine, limit: int = 100) -> pd.DataFrame:
    """The latest calls to the model, newest first."""
    query = select(s.llm_calls).order_by(desc(s.llm_calls.c.id)).limit(limit)
    with engine.connect() as conn:
        return pd.DataFrame(
            [dict(r._mapping) for r in conn.execute(query)], columns=list(s.llm_calls.c.keys())
        )

"""Briefings (舆情要报) written by the office's own large model and checked before anyone sees them.

:func:`write_briefing` reads a day or an ISO week (the same figures as the weekly report, against
the period before), numbers them as facts (:mod:`reports.briefing_facts`), asks the model configured
in ``llm`` for a briefing in four sections citing those facts, verifies every sentence
(:mod:`analytics.briefing_check`) and stores what is published with the model, the facts and the
verification result (``storage.briefings``).

Outcomes (``status``): ``verified`` — the model's checked sentences, failing ones listed under
未通过核验; ``fallback`` — too much failed, or the model could not be reached / refused / timed
out: the template narrative the weekly report uses is published instead, with the reason. With the
``llm`` section unset, :class:`BriefingError` is raised before anything is read or contacted.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import httpx
from sqlalchemy import Engine

from analytics.briefing_check import APPENDIX_TITLE, Verification, verify_text
from kernel.llm import CallRecord, ChatClient, LlmError
from kernel.settings import LlmSettings, Settings, resolve_secret
from reports.briefing_facts import BriefingFacts, build_facts
from reports.model import WeeklyReport
from reports.weekly import ReportError, build_period_report, last_complete_week, parse_week, week_bounds
from storage.briefings import record_llm_call, save_briefing
from storage.types import iso_week

log = logging.getLogger(__name__)
Kind = Literal["daily", "weekly"]
KIND_WORDS = {"daily": "每日", "weekly": "每周"}
PERIOD_WORDS = {"daily": ("本日", "前一日"), "weekly": ("本周", "上周")}


class BriefingError(ValueError):
    """A briefing cannot be requested: no ``llm`` section, or a bad kind or date."""


@dataclass
class Briefing:
    """A briefing as stored: the published text, what was removed and why, the facts used."""

    id: int
    kind: str
    period: str
    status: str
    model: str
    text: str
    facts: BriefingFacts
    verification: dict[str, Any]
    error: str | None = None
    removed: list[dict[str, str]] = field(default_factory=list)

    def as_json(self) -> dict[str, Any]:
        """The ``--json`` object: ``text``, ``removed`` with reasons, and the ``facts`` used."""
        return {
            "id": self.id,
            "kind": self.kind,
            "period": self.period,
            "status": self.status,
            "model": self.model,
            "text": self.text,
            "removed": self.removed,
            "checked_figures": self.verification.get("checked_figures", 0),
            "error": self.error,
            "facts": self.facts.facts,
            "documents": {str(k): v for k, v in self.facts.documents.items()},
        }


def period_bounds(kind: str, when: str | None, now: datetime, tz: str) -> tuple[str, str, datetime, datetime]:
    """(label, previous label, start, end) of the day (``YYYY-MM-DD``) or ISO week (or a day in it).

    Without ``when``: yesterday, or the last complete week, in the app time zone.
    """
    zone = ZoneInfo(tz)
    if kind == "daily":
        try:
            day = date.fromisoformat(when) if when else now.astimezone(zone).date() - timedelta(days=1)
        except ValueError:
            raise BriefingError(f"not a date like 2026-11-22: {when!r}") from None
        start = datetime(day.year, day.month, day.day, tzinfo=zone)
        end_day = day + timedelta(days=1)
        return (
            day.isoformat(),
            (day - timedelta(days=1)).isoformat(),
            start,
            datetime(end_day.year, end_day.month, end_day.day, tzinfo=zone),
        )
    if kind != "weekly":
        raise BriefingError(f"unknown briefing kind {kind!r}; expected daily or weekly")
    if when is None:
        week = last_complete_week(now, tz)
    elif "W" in when.upper():
        try:
            parse_week(when)
        except ReportError as exc:
            raise BriefingError(str(exc)) from None
        week = when.strip().upper()
    else:
        try:
            week = iso_week(date.fromisoformat(when))
        except ValueError:
            raise BriefingError(f"not an ISO week like 2026-W47 or a date: {when!r}") from None
    start, end = week_bounds(week, tz)
    return week, iso_week(start.date() - timedelta(days=7)), start, end


def prompt_messages(facts: BriefingFacts, max_chars: int) -> tuple[list[dict[str, str]], BriefingFacts]:
    """The chat messages, and the facts actually sent (those past ``max_chars`` are left out)."""
    system = (
        f"你是政务舆情分析助手，为本单位撰写{KIND_WORDS[facts.kind]}舆情要报。只能使用用户给出的事实 [F…] "
        "与文档 [D…]，不得使用其他数字或信息。要求：\n"
        "1. 分四部分，依次以单独一行的标题「态势概述」「重点议题」「风险提示」「处置建议」开头。\n"
        "2. 凡出现数字、诉求分类、地域、渠道或文档内容的句子，须在句末用方括号注明所依据的编号，"
        "如 [F3] 或 [F3, D4711]。\n"
        "3. 数字照抄事实中的写法和单位（条、%、个百分点、分、倍、小时），不要自行计算、换算或改写数值。\n"
        "4. 不得编造事实中没有的数字、日期、排名或编号；事实写「无」的，不要给出数值。\n"
        "5. 处置建议具体可行，并引用所依据的事实。全文不超过 800 字。"
    )
    sent = BriefingFacts(kind=facts.kind, period=facts.period, start=facts.start, end=facts.end)
    sent.entities = facts.entities
    lines = ["事实："]
    budget = max_chars - len(system) - 200
    for fid, text in facts.facts.items():
        line = f"[{fid}] {text}"
        if budget - len(line) < 0 and sent.facts:
            break
        budget -= len(line) + 1
        sent.facts[fid] = text
        lines.append(line)
    lines.append("代表性文档（已脱敏）：")
    for did, text in facts.documents.items():
        line = f"[D{did}] {text}"
        if budget - len(line) < 0:
            break
        budget -= len(line) + 1
        sent.documents[did] = text
        lines.append(line)
    lines.append(f"请撰写 {facts.period} 的{KIND_WORDS[facts.kind]}舆情要报。")
    return [{"role": "system", "content": system}, {"role": "user", "content": "\n".join(lines)}], sent


def template_text(report: WeeklyReport, kind: str) -> str:
    """The weekly report's own template narrative (sections 态势概述, 重点议题, 风险提示), worded for the period."""
    this, last = PERIOD_WORDS.get(kind, PERIOD_WORDS["weekly"])
    parts = {
        "态势概述": report.narrative.get("overview", []),
        "重点议题": [s for s in report.narrative.get("issues", []) if not s.startswith("热度指数")]
        + report.narrative.get("categories", []),
        "风险提示": report.narrative.get("sentiment", []) + report.narrative.get("alerts", []),
    }
    out = []
    for title, sentences in parts.items():
        if sentences:
            out.append(f"【{title}】\n" + "".join(sentences))
    return "\n\n".join(out).replace("本周", this).replace("上周", last)


def _appendix(verification: Verification) -> str:
    if not verification.removed:
        return ""
    return f"\n\n【{APPENDIX_TITLE}】\n" + "\n".join(
        f"{i}. {s.text}（原因：{s.reason}）" for i, s in enumerate(verification.removed, start=1)
    )


def write_briefing(
    engine: Engine,
    settings: Settings,
    kind: str,
    when: str | None = None,
    *,
    requested_by: str = "system",
    now: datetime | None = None,
    transport: httpx.BaseTransport | None = None,
) -> Briefing:
    """Build, ask, verify and store one briefing (see the module docstring for the outcomes).

    Raises:
        BriefingError: the ``llm`` section is unset, or ``kind`` / ``when`` is invalid.
    """
    llm: LlmSettings | None = settings.llm
    if llm is None:
        raise BriefingError("no large model is configured (the llm section of the configuration is unset)")
    label, prev_label, start, end = period_bounds(kind, when, now or datetime.now(UTC), settings.app.timezone)
    report = build_period_report(engine, settings, start, end, label, prev_label)
    all_facts = build_facts(report, kind)
    messages, facts = prompt_messages(all_facts, llm.max_prompt_chars)
    call_ids: list[int] = []
    record: Callable[[CallRecord], None] = lambda rec: call_ids.append(record_llm_call(engine, rec))  # noqa: E731
    draft: str | None = None
    error: str | None = None
    model = llm.model
    with ChatClient(llm, resolve_secret(llm.api_key), record=record, transport=transport) as client:
        try:
            answer = client.chat(messages, purpose=f"briefing.{kind}")
            draft, model = answer.text, answer.model
        except LlmError as exc:
            error = f"{exc.outcome}: {exc}"
    verification = verify_text(
        draft or "", facts.facts, facts.documents, facts.entities, facts.period_fact, llm.max_failed_share
    )
    if error is not None:
        status = "fallback"
        text = f"（大模型未生成要报：{error}。以下为系统按模板生成的概述。）\n\n" + template_text(
            report, kind
        )
    elif verification.fallback:
        status = "fallback"
        text = (
            f"（大模型撰写的要报有 {len(verification.removed)} 句未通过核验，超过允许比例，"
            "以下为系统按模板生成的概述。）\n\n" + template_text(report, kind) + _appendix(verification)
        )
    else:
        status = "verified"
        text = verification.published_text()
    result = verification.as_dict()
    briefing_id = save_briefing(
        engine,
        kind=kind,
        period=label,
        period_start=start.astimezone(UTC),
        period_end=end.astimezone(UTC),
        requested_by=requested_by,
        model=model,
        status=status,
        text=text,
        draft=draft,
        facts=facts.as_dict(),
        verification={**result, "error": error},
        llm_call_id=call_ids[-1] if call_ids else None,
    )
    log.info(
        "briefing %s %s: %s, %d figures checked, %d sentences removed",
        kind,
        label,
        status,
        verification.checked_figures,
        len(verification.removed),
    )
    return Briefing(
        id=briefing_id,
        kind=kind,
        period=label,
        status=status,
        model=model,
        text=text,
        facts=facts,
        verification=result,
        error=error,
        removed=result["removed"],
    )

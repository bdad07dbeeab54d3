"""Subjects (专题): definitions (audited), backfill through the keyword index, and the filter."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine, select

from analytics.subjects import SubjectSpec, compile_subject
from storage import queries as q
from storage import schema as s
from storage import search_index as si
from storage.subjects import (
    Subject,
    SubjectError,
    backfill_subject,
    create_subject,
    list_subjects,
    set_active,
    update_subject,
)
from tests.seed import SeedDoc, seed_database

NOW = datetime(2026, 11, 20, 12, 0, tzinfo=UTC)


def spec_of(subject: Subject) -> SubjectSpec:
    return SubjectSpec(
        subject.id, subject.expression, subject.exclude, subject.channels, subject.source_ids,
        subject.regions, subject.categories,
    )  # fmt: skip


def backfill(engine: Engine, subject: Subject) -> tuple[int, list[tuple[int, int]]]:
    matcher = compile_subject(spec_of(subject))
    steps: list[tuple[int, int]] = []
    result = backfill_subject(
        engine,
        subject,
        matcher.matches,
        matcher.prefilter(),
        batch=50,
        progress=lambda d, t: steps.append((d, t)),
    )
    return result.matched, steps


def matched_ids(engine: Engine, subject_id: int) -> set[int]:
    sd = s.subject_documents
    with engine.connect() as conn:
        return set(conn.execute(select(sd.c.document_id).where(sd.c.subject_id == subject_id)).scalars())


def expected(docs: list[SeedDoc], test: object) -> set[int]:
    return {d.id for d in docs if test(d)}  # type: ignore[operator]


def test_subject_lifecycle_backfill_and_filter(engine: Engine) -> None:
    facts = seed_database(engine, NOW)
    si.create_index(engine)
    si.index_documents(engine)
    gas = create_subject(engine, "燃气安全", "燃气 AND (泄漏 OR 检查)", "ana", exclude=["演习"])
    n, steps = backfill(engine, gas)
    want = expected(
        facts.docs, lambda d: "燃气" in d.content + d.title and ("泄漏" in d.content or "检查" in d.content)
    )
    assert want and matched_ids(engine, gas.id) == want and n == len(want)
    assert steps[-1] == (len(want), len(want)) and len(steps) == -(-len(want) // 50)  # candidates only

    # Edit: a region filter drops the documents elsewhere (and those untagged), keeping the others.
    edited = update_subject(engine, "燃气安全", "ana", regions=["广东省"])
    backfill(engine, edited)
    assert matched_ids(engine, gas.id) == {
        d.id for d in facts.docs if d.id in want and d.province == "广东省" and d.tagged
    }

    # Filter: a read with the subject equals a recount of its documents.
    start, end = facts.period(14)
    f = q.QueryFilters(start=start, end=end, subject_id=gas.id)
    mine = [
        d
        for d in facts.docs
        if d.id in matched_ids(engine, gas.id) and d.tagged and start <= d.published_at < end
    ]
    assert q.total(engine, f)["n"] == len(mine) > 0
    by_channel = q.aggregate(engine, f, ["channel"]).set_index("channel")["n"].to_dict()
    assert by_channel == {c: sum(d.channel == c for d in mine) for c in {d.channel for d in mine}}

    rows = {r["name"]: r for r in list_subjects(engine)}
    assert rows["燃气安全"]["matched"] == len(matched_ids(engine, gas.id)) and rows["燃气安全"][
        "regions"
    ] == ("广东省",)
    assert set_active(engine, "燃气安全", "ana", False).active is False
    assert list_subjects(engine, include_archived=False) == []
    with pytest.raises(SubjectError, match="already exists"):
        create_subject(engine, "燃气安全", "燃气", "ana")
    with pytest.raises(SubjectError, match="no subject"):
        update_subject(engine, "没有", "ana", expression="x")
    with engine.connect() as conn:
        actions = list(
            conn.execute(
                select(s.audit_log.c.action).where(s.audit_log.c.target == "subject:燃气安全")
            ).scalars()
        )
    assert actions == ["subject.create", "subject.edit", "subject.archive"]


def test_backfill_without_index_and_with_negation_only(engine: Engine) -> None:
    facts = seed_database(engine, NOW)
    sub = create_subject(engine, "非电梯", "NOT 电梯", "ana", channels=["hotline"])
    backfill(engine, sub)
    assert matched_ids(engine, sub.id) == expected(
        facts.docs, lambda d: d.channel == "hotline" and "电梯" not in d.content + d.title
    )
    sub2 = create_subject(engine, "学位", '"划片 政策" OR 学位', "ana", exclude=["紧张"])
    backfill(engine, sub2)
    assert matched_ids(engine, sub2.id) == set()  # every 学位 text says 紧张


def test_an_event_on_a_subject_reads_the_subjects_own_series(engine: Engine) -> None:
    from datetime import timedelta

    from storage.events import add_event, issue_series, list_events

    facts = seed_database(engine, NOW)
    si.create_index(engine)
    si.index_documents(engine)
    gas = create_subject(engine, "燃气安全", "燃气", "ana")
    backfill(engine, gas)
    mine = [d for d in facts.docs if d.id in matched_ids(engine, gas.id) and d.dup_of is None]
    assert mine
    at = NOW - timedelta(days=2)
    event_id = add_event(engine, "官方回应", at, "ana", subject_id=gas.id, note="约谈燃气公司")
    (event,) = list_events(engine, subject_id=gas.id)
    assert event["id"] == event_id and list_events(engine, subject_id=gas.id + 1) == []
    hours = 72
    series = issue_series(engine, event, hours)
    lo, hi = at - timedelta(hours=2 * hours), at + timedelta(hours=2 * hours)
    window = [d for d in mine if lo <= d.published_at < hi]
    assert int(series["n"].sum()) == len(window) > 0  # first copies of the subject, not of its topics
    negative = sum(d.sentiment == "negative" for d in window if d.tagged)
    assert int(series["neg"].sum()) == negative
    assert series.index.tz is not None and series.index.min() >= lo.replace(minute=0)

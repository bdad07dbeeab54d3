"""Daily and monthly rollup levels: every read through them equals the same read over the documents."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pandas as pd
import pytest
from sqlalchemy import Engine, func, insert, select

from analytics.heat import heat_input
from storage import queries as q
from storage import schema as s
from storage.corrections import add_correction
from storage.db import write_tx
from storage.rollups import levels as lv
from storage.rollups import reads
from storage.rollups.refresh import refresh_rollups

TZ = "Asia/Shanghai"
NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DAYS = 80
CATEGORIES = ["城乡建设", "环境保护", "交通运输", None]
PLACES = [
    ("广东省", "广州市", "天河区"),
    ("广东省", "深圳市", None),
    ("北京市", None, None),
    (None, None, None),
]
SENTIMENTS = ["negative", "neutral", "positive"]
EMOTIONS = ["angry", "sad", "happy", "neutral", None]


def build_store(engine: Engine, n: int = 1200) -> list[str]:
    """Documents over DAYS days with tags in every dimension, a fifth of them copies; returns source names."""
    rng = random.Random(11)
    names = ["weibo", "news"]
    with write_tx(engine) as conn:
        for name, channel in zip(names, ("social", "news"), strict=True):
            conn.execute(
                insert(s.sources).values(
                    name=name, kind="demo", channel=channel, cursor={}, created_at=NOW, updated_at=NOW
                )
            )
        ids = dict(conn.execute(select(s.sources.c.name, s.sources.c.id)).all())
    docs, first_ids = [], []
    for i in range(n):
        source = rng.choice(names)
        published = NOW - timedelta(seconds=rng.randrange(DAYS * 86400))
        docs.append({
            "source_id": ids[source], "channel": "social" if source == "weibo" else "news",
            "external_id": f"x{i}", "title": None, "content": f"反映{rng.choice(['电梯', '噪音', '路灯'])}问题 {i}",
            "published_at": published, "fetched_at": NOW, "likes": rng.randrange(9), "reposts": rng.randrange(3),
            "comments": rng.randrange(4), "reads": rng.randrange(100), "content_hash": f"h{i}", "dup_count": 0,
            "dup_of": None, "simulated": True, "archived": False,
        })  # fmt: skip
    with write_tx(engine) as conn:
        for doc in docs:
            if first_ids and rng.random() < 0.2:
                doc["dup_of"] = rng.choice(first_ids)
            new_id = conn.execute(insert(s.documents).values(**doc).returning(s.documents.c.id)).scalar_one()
            if doc["dup_of"] is None:
                first_ids.append(new_id)
            province, city, district = rng.choice(PLACES)
            conn.execute(
                insert(s.doc_tags).values(
                    document_id=new_id, published_at=doc["published_at"], channel=doc["channel"],
                    sentiment=rng.choice(SENTIMENTS), emotion=rng.choice(EMOTIONS), category=rng.choice(CATEGORIES),
                    province=province, city=city, district=district, topic_id=rng.choice([1, 2, 3, None]),
                    pipeline_version="p", model_versions={}, tagged_at=NOW,
                )
            )  # fmt: skip
    refresh_rollups(engine, full=True)
    assert lv.ensure_levels(engine, TZ) > 0
    return names


@pytest.fixture
def store(engine: Engine) -> list[str]:
    return build_store(engine)


def raw(f: q.QueryFilters, sources: list[str]) -> q.QueryFilters:
    """The same filters read from the documents (every source selected unless ``f`` names some)."""
    return q.QueryFilters(**{**f.__dict__, "sources": f.sources or tuple(sources), "from_documents": True})


def period(days: float, end: datetime = NOW) -> q.QueryFilters:
    start, stop = q.last_hours(end, int(days * 24))
    return q.QueryFilters(start=start, end=stop)


def sorted_frame(frame: pd.DataFrame, keys: list[str]) -> pd.DataFrame:
    return frame.sort_values(keys).reset_index(drop=True) if keys else frame.reset_index(drop=True)


def test_plan_period_covers_the_period_with_aligned_pieces() -> None:
    end = datetime(2026, 11, 1, 1, tzinfo=UTC)
    for hours in (5, 24, 168, 720, 8760):
        start = end - timedelta(hours=hours)
        for pieces in (
            lv.plan_period(start, end, TZ),
            lv.plan_period(start, end, TZ, months=False, coarse_before=end - timedelta(days=14)),
        ):
            assert pieces[0].start == start and pieces[-1].end == end
            assert all(a.end == b.start for a, b in zip(pieces, pieces[1:], strict=False))
            for p in pieces:
                local = p.start.astimezone(ZoneInfo(TZ))
                if p.level != "hour":
                    assert (local.hour, local.minute) == (0, 0)
                if p.level == "month":
                    assert local.day == 1
    year = lv.plan_period(end - timedelta(days=365), end, TZ)
    assert [p.level for p in year] == ["hour", "day", "month", "hour"]
    bucketed = lv.plan_period(
        end - timedelta(days=365), end, TZ, months=False, coarse_before=end - timedelta(days=14)
    )
    assert "month" not in {p.level for p in bucketed} and bucketed[-1].end - bucketed[-1].start >= timedelta(
        days=14
    )


@pytest.mark.parametrize("days", [1, 10, 45, 79.5])
@pytest.mark.parametrize(
    ("by", "filters"),
    [
        ((), {}),
        (("sentiment",), {"categories": ("城乡建设", "")}),
        (("topic_id", "province"), {"sentiments": ("negative",)}),
        (("channel", "category", "sentiment"), {"provinces": ("广东省",)}),
        (("category", "sentiment"), {"sources": ("weibo",)}),
        (("topic_id", "province"), {"sources": ("news",), "sentiments": ("negative",)}),
    ],
)
def test_levels_equal_the_documents(
    engine: Engine, store: list[str], days: float, by: tuple[str, ...], filters: dict[str, tuple[str, ...]]
) -> None:
    f = q.QueryFilters(**{**period(days).__dict__, **filters})
    assert not f.needs_documents  # a source is a rollup dimension too
    from_levels = sorted_frame(q.aggregate(engine, f, list(by)), list(by))
    from_docs = sorted_frame(q.aggregate(engine, raw(f, store), list(by)), list(by))
    assert from_levels.equals(from_docs)
    assert int(from_levels["n"].sum()) > 0


def test_bucketed_reads_are_hourly_at_the_end_and_local_days_before(engine: Engine, store: list[str]) -> None:
    f = period(60)
    levels = q.aggregate(engine, f, ["bucket", "channel"])
    docs = q.aggregate(engine, raw(f, store), ["bucket", "channel"])
    local = levels["bucket"].dt.tz_convert(TZ)
    first_midnight = pd.Timestamp(f.start).tz_convert(TZ).normalize() + pd.Timedelta(days=1)
    tail_midnight = pd.Timestamp(f.end - reads.HOURLY_TAIL).tz_convert(TZ).normalize()
    old = (local >= first_midnight) & (local < tail_midnight)
    assert old.any() and (local[old].dt.hour == 0).all() and not (local[~old].dt.hour == 0).all()
    day = {"bucket": lambda fr: fr["bucket"].dt.tz_convert(TZ).dt.date}
    by_day = [fr.assign(**day).groupby(["bucket", "channel"])["n"].sum() for fr in (levels, docs)]
    assert by_day[0].equals(by_day[1])


def test_emotions_regions_counts_and_activity_equal_the_documents(engine: Engine, store: list[str]) -> None:
    sourced = q.QueryFilters(**{**period(40).__dict__, "sources": ("news",)})
    for f in (
        period(3),
        period(50),
        q.QueryFilters(**{**period(70).__dict__, "categories": ("环境保护",)}),
        sourced,
    ):
        assert q.emotion_mix(engine, f).equals(q.emotion_mix(engine, raw(f, store)))
        assert q.emotion_mix(engine, f, 2).equals(q.emotion_mix(engine, raw(f, store), 2))
        assert q.region_table(engine, f).equals(q.region_table(engine, raw(f, store)))
        for collapse in (False, True):
            expected = q.document_count(engine, raw(f, store), topic_id=1, collapse_duplicates=collapse)
            assert q.document_count(engine, f, topic_id=1, collapse_duplicates=collapse) == expected
        activity = q.topic_activity(engine, f, timedelta(days=7))
        wide = f.with_period(f.start - timedelta(days=7), f.end)
        expected_n = q.aggregate(engine, raw(wide, store), ["topic_id"])
        expected_n = expected_n.loc[expected_n["topic_id"] >= 0].set_index("topic_id")["n"]
        assert activity.groupby("topic_id")["n"].sum().sort_index().equals(expected_n.sort_index())
        window = activity.loc[activity["bucket"] >= pd.Timestamp(f.start), "n"].sum()
        assert window == q.aggregate(engine, f, ["topic_id"]).query("topic_id >= 0")["n"].sum()


def test_an_incremental_rebuild_keeps_the_levels_in_step(engine: Engine, store: list[str]) -> None:
    f = period(70)
    with engine.connect() as conn:
        doc_id, published = conn.execute(
            select(s.doc_tags.c.document_id, s.doc_tags.c.published_at).where(
                s.doc_tags.c.sentiment == "positive"
            )
        ).first()  # type: ignore[misc]
    add_correction(engine, doc_id, "sentiment", "negative", "analyst")
    refresh_rollups(engine)  # no zone given: the levels are kept in step in the zone they were built for
    assert lv.levels_timezone(engine) == TZ
    from_levels = q.aggregate(engine, f, ["sentiment"])
    assert from_levels.equals(q.aggregate(engine, raw(f, store), ["sentiment"]))
    assert lv.ensure_levels(engine, TZ) == 0  # already built for this zone
    assert lv.ensure_levels(engine, "UTC") > 0 and lv.levels_timezone(engine) == "UTC"
    assert q.aggregate(engine, f, ["sentiment"]).equals(from_levels)


def test_levels_built_with_other_grouping_sets_are_rebuilt(engine: Engine, store: list[str]) -> None:
    """A store whose levels predate the current grouping sets reads the hourly rollups (still
    right) until the next refresh rebuilds the levels."""
    from storage.state import set_state

    f = period(60)
    by = ["topic_id", "province"]
    expected = sorted_frame(q.aggregate(engine, raw(f, store), by), by)
    with write_tx(engine) as conn:
        set_state(conn, engine, lv.LAYOUT_STATE, "0:channel,category,province,topic_id,sentiment,emotion")
    assert lv.levels_timezone(engine) is None
    assert sorted_frame(q.aggregate(engine, f, by), by).equals(expected)
    refresh_rollups(engine)
    assert lv.levels_timezone(engine) == TZ
    assert lv.pick_grouping(by) == 5
    assert sorted_frame(q.aggregate(engine, f, by), by).equals(expected)


def heat_params(f: q.QueryFilters, baseline_days: int) -> Any:
    """The dashboard's heat parameters for ``f``: the period is the window, a week at most persists."""
    from analytics.heat import HeatParams

    hours = int((f.end - f.start).total_seconds() // 3600)
    return HeatParams(window_hours=hours, baseline_days=baseline_days, persistence_buckets=min(hours, 168))


def test_agenda_activity_ranks_like_hourly_rows(engine: Engine, store: list[str]) -> None:
    """agenda_activity sums the lookback and the period before its hourly tail; agenda ranking
    (sums, and active hours in the last week) comes out as from hourly rows over the documents."""
    from analytics.heat import rank_agenda

    keys = ["category", "province", "channel", "sentiment"]
    lookback = timedelta(days=14)

    def ranked(frame: pd.DataFrame, f: q.QueryFilters) -> pd.DataFrame:
        cells = heat_input(frame, ["category", "province"])
        out = rank_agenda(cells, now=pd.Timestamp(f.end), params=heat_params(f, 14), region="province")
        return out.sort_values(["category", "province"]).reset_index(drop=True)

    for f in (period(3), period(10), period(50)):
        fast = q.agenda_activity(engine, f, lookback)
        wide = raw(f.with_period(f.start - lookback, f.end), store)
        hourly = q.aggregate(engine, wide, ["bucket", *keys])
        assert len(fast) < len(hourly)
        expected = ranked(hourly, f)
        assert len(expected) > 3 and expected["persistence"].gt(0).any() and expected["growth"].gt(0).any()
        pd.testing.assert_frame_equal(ranked(fast, f), expected, check_dtype=False)


def test_topic_activity_ranks_and_finds_emerging_topics_like_hourly_rows(
    engine: Engine, store: list[str]
) -> None:
    """topic_activity sums all but its hourly tail; heat ranking (sums, active hours in the last week)
    and emerging topics (the last day against the week before it) come out as from hourly rows."""
    from analytics.emerging import EmergingParams, find_emerging
    from analytics.heat import HeatWeights, rank_heat

    keys = ["topic_id", "channel", "sentiment"]
    lookback, recent = timedelta(days=7), 24
    tail = lookback + timedelta(hours=recent)  # as dashboard.data.topic_activity passes it

    def ranked(frame: pd.DataFrame, f: q.QueryFilters) -> pd.DataFrame:
        topics = heat_input(frame, ["topic_id"])
        out = rank_heat(topics, HeatWeights(), pd.Timestamp(f.end), heat_params(f, 7), ("topic_id",))
        return out.sort_values("topic_id").reset_index(drop=True)

    def emerging(frame: pd.DataFrame, f: q.QueryFilters) -> pd.DataFrame:
        hours = min(recent, int((f.end - f.start).total_seconds() // 3600))
        params = EmergingParams(
            recent_hours=hours, history_days=7, min_count=1, min_ratio=1.0, z_threshold=0.0
        )
        out = find_emerging(frame, pd.Timestamp(f.end), params, key="topic_id")
        # first_seen is shown only for new topics (inside the recent window, so hourly)
        return out.assign(first_seen=out["first_seen"].where(out["reason"] == "new"))

    found_any = 0
    for f in (period(0.5), period(3), period(8.5), period(10), period(50)):
        fast = q.topic_activity(engine, f, lookback, tail)
        wide = raw(f.with_period(f.start - lookback, f.end), store)
        hourly = q.aggregate(engine, wide, ["bucket", *keys]).query("topic_id >= 0")
        if f.end - f.start > timedelta(days=2):
            assert len(fast) < len(hourly)
        expected = ranked(hourly, f)
        assert len(expected) == 3 and expected["persistence"].gt(0).any() and expected["growth"].gt(0).any()
        pd.testing.assert_frame_equal(ranked(fast, f), expected, check_dtype=False)
        found = emerging(hourly, f)
        found_any += len(found)
        pd.testing.assert_frame_equal(emerging(fast, f), found, check_dtype=False)
    assert found_any > 0


def test_the_source_migration_empties_the_rollups_and_the_next_refresh_rebuilds_them(
    engine: Engine, store: list[str]
) -> None:
    """Revision c4a8e2d9f153 recreates the rollup tables with ``source_id``; the next refresh rebuilds
    the hourly rollups and the levels from the tags, to the same sums."""
    from alembic import command

    from storage.migrate import alembic_config

    f = period(60)
    by = ["channel", "category", "sentiment"]
    before = sorted_frame(q.aggregate(engine, f, by), by)
    cfg = alembic_config(engine)
    # back to before it, then up again to the newest revision (later tests share this database)
    for target in ("9d3f6b2c1e07", "head"):
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            (command.downgrade if target == "9d3f6b2c1e07" else command.upgrade)(cfg, target)
    with engine.connect() as conn:
        assert conn.execute(select(func.count()).select_from(s.rollups)).scalar_one() == 0
    assert lv.levels_timezone(engine) is None
    refresh_rollups(engine, tz=TZ)
    assert lv.levels_timezone(engine) == TZ
    assert sorted_frame(q.aggregate(engine, f, by), by).equals(before)
    sourced = q.QueryFilters(**{**f.__dict__, "sources": ("weibo",)})
    assert sorted_frame(q.aggregate(engine, sourced, by), by).equals(
        sorted_frame(q.aggregate(engine, raw(sourced, store), by), by)
    )

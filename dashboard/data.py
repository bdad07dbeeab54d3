"""Cached loaders: the only way pages get data (they call :mod:`storage.queries` and analytics).

Every loader takes the database URL and the filters as its first arguments, so Streamlit's
cache is keyed on them; entries live :data:`TTL` seconds. The settings and the engine are cached
as resources, keyed on the configuration file and the ``SENSING_*`` environment.
"""

from __future__ import annotations

import logging
import math
import os
from datetime import UTC, datetime, time, timedelta
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine

from analytics.emerging import EmergingParams, find_emerging
from analytics.forecast import forecast_volume
from analytics.heat import HeatParams, HeatWeights, heat_input, rank_agenda, rank_heat
from kernel.settings import Settings, load_settings
from storage import alert_queries, corrections
from storage import events as ev
from storage import queries as q
from storage import reply_queries as rq
from storage.db import engine_from_settings
from storage.types import iso_week

log = logging.getLogger(__name__)
TTL = 60
LOOKBACK_DAYS = 7  # history before the period that heat growth compares with
RECENT_HOURS = 24  # emerging topics: the last hours of the period, against the LOOKBACK_DAYS before them


@st.cache_resource(show_spinner=False)
def _settings(config_path: str | None, env: tuple[tuple[str, str], ...]) -> Settings:
    return load_settings(config_path, environ=dict(env))


def settings() -> Settings:
    """The validated configuration (``$SENSING_CONFIG`` or ./config.yaml plus ``SENSING_*`` overrides).

    Only variables naming a configuration section are passed on as overrides: ``SENSING_CONFIG``
    (the file) and secrets such as ``SENSING_ADMIN_PASSWORD`` are not configuration keys.
    """
    sections = {name.upper() for name in Settings.model_fields}
    env = tuple(
        sorted(
            (k, v)
            for k, v in os.environ.items()
            if k.startswith("SENSING_") and k.removeprefix("SENSING_").split("__")[0] in sections
        )
    )
    return _settings(os.environ.get("SENSING_CONFIG"), env)


@st.cache_resource(show_spinner=False)
def _engine(url: str, _settings_obj: Settings) -> Engine:
    return engine_from_settings(_settings_obj)


def engine() -> Engine:
    cfg = settings()
    return _engine(cfg.database.url, cfg)


def db_url() -> str:
    """The cache key of the database."""
    return settings().database.url


def clear_caches() -> None:
    """Forget cached data (after a write, so the next run shows it)."""
    st.cache_data.clear()


# -- summaries and breakdowns ----------------------------------------------------------------
@st.cache_data(ttl=TTL, show_spinner=False)
def kpis(url: str, f: q.QueryFilters) -> dict[str, Any]:
    return q.kpi_summary(engine(), f)


@st.cache_data(ttl=TTL, show_spinner=False)
def breakdown(url: str, f: q.QueryFilters, by: tuple[str, ...]) -> pd.DataFrame:
    """Measures summed over the period by the given dimensions (rollups)."""
    return q.aggregate(engine(), f, list(by))


def freq_for(f: q.QueryFilters) -> str:
    """Hourly points for periods up to three days, daily points beyond."""
    return "h" if f.end - f.start <= timedelta(days=3) else "D"


@st.cache_data(ttl=TTL, show_spinner=False)
def trend(url: str, f: q.QueryFilters, by: str | None, tz: str, topic_id: int | None = None) -> pd.DataFrame:
    """Documents per local hour or day (``bucket``, tz-naive local time) and ``by``, zeros filled."""
    dims = ["bucket", by] if by else ["bucket"]
    frame = q.aggregate(engine(), f, dims, topic_ids=[topic_id] if topic_id is not None else None)
    freq = freq_for(f)
    start = pd.Timestamp(f.start).tz_convert(tz).tz_localize(None).floor(freq)
    end = pd.Timestamp(f.end - timedelta(seconds=1)).tz_convert(tz).tz_localize(None).floor(freq)
    index = pd.date_range(start, end, freq=freq, name="bucket")
    if frame.empty:
        return pd.DataFrame({"bucket": index, "n": 0, **({by: ""} if by else {})}).iloc[0:0]
    frame["bucket"] = frame["bucket"].dt.tz_convert(tz).dt.tz_localize(None).dt.floor(freq)
    if not by:
        series = frame.groupby("bucket")["n"].sum().reindex(index, fill_value=0)
        return series.reset_index()
    table = frame.pivot_table(index="bucket", columns=by, values="n", aggfunc="sum", fill_value=0)
    table = table.reindex(index, fill_value=0)
    return table.reset_index().melt(id_vars="bucket", var_name=by, value_name="n")


@st.cache_data(ttl=TTL, show_spinner=False)
def emotions(url: str, f: q.QueryFilters, topic_id: int | None = None) -> pd.DataFrame:
    return q.emotion_mix(engine(), f, topic_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def region_table(url: str, f: q.QueryFilters) -> pd.DataFrame:
    return q.region_table(engine(), f)


@st.cache_data(ttl=TTL, show_spinner=False)
def options(url: str) -> dict[str, list[str]]:
    return q.filter_options(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def newest_data(url: str) -> datetime | None:
    """Publication time of the newest tagged document (None for an empty store)."""
    from storage.extent import data_extent

    return data_extent(engine())[1]


# -- topics and heat -------------------------------------------------------------------------
@st.cache_data(ttl=TTL, show_spinner=False)
def topics(url: str) -> pd.DataFrame:
    return q.topics_frame(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def topic_activity(url: str, f: q.QueryFilters) -> pd.DataFrame:
    """Rollup rows of every topic over the period and the :data:`LOOKBACK_DAYS` before it: the input of
    both heat ranking and emerging-topic detection (read once for the two), hourly where either
    needs it."""
    hourly_tail = max(q.HEAT_HOURLY_TAIL, timedelta(days=LOOKBACK_DAYS, hours=RECENT_HOURS))
    return q.topic_activity(engine(), f, timedelta(days=LOOKBACK_DAYS), hourly_tail)


def heat_params(f: q.QueryFilters) -> HeatParams:
    hours = max(1, int((f.end - f.start).total_seconds() // 3600))
    return HeatParams(window_hours=hours, baseline_days=LOOKBACK_DAYS, persistence_buckets=min(hours, 168))


@st.cache_data(ttl=TTL, show_spinner=False)
def hot_topics(url: str, f: q.QueryFilters, weights: tuple[tuple[str, float], ...]) -> pd.DataFrame:
    """Topics ranked by heat for the period, with ``label`` and each component's contribution (c_* columns)."""
    raw = topic_activity(url, f)
    labels = topics(url).set_index("id")["label"].to_dict()
    ranked = rank_heat(
        heat_input(raw, ["topic_id"]),
        HeatWeights(**dict(weights)),
        pd.Timestamp(f.end),
        heat_params(f),
        ("topic_id",),
    )
    if ranked.empty:
        return ranked.assign(label=pd.Series(dtype=str))
    ranked["topic_id"] = ranked["topic_id"].astype("int64")
    ranked["label"] = [labels.get(int(t), f"话题 {t}") for t in ranked["topic_id"]]
    ranked["neg_ratio"] = ranked["neg"] / ranked["n"].where(ranked["n"] > 0)
    return ranked


@st.cache_data(ttl=TTL, show_spinner=False)
def agenda(url: str, f: q.QueryFilters) -> pd.DataFrame:
    """Category x region cells ranked by agenda priority, explained."""
    raw = q.agenda_activity(engine(), f, timedelta(days=LOOKBACK_DAYS))
    raw = raw.rename(columns={"province": "region"})
    return rank_agenda(
        heat_input(raw, ["category", "region"]), now=pd.Timestamp(f.end), params=heat_params(f)
    )


@st.cache_data(ttl=TTL, show_spinner=False)
def topic_forecast(
    url: str, f: q.QueryFilters, topic_id: int, tz: str
) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A topic's volume per local bucket and its forecast (None when there is nothing to forecast).

    The forecast (``bucket``, ``mean``, ``lower``, ``upper``; 90 % interval) covers the next day in
    hourly buckets for periods up to three days, else the next three days.
    """
    return with_forecast(trend(url, f, None, tz, topic_id), freq_for(f))


def with_forecast(history: pd.DataFrame, freq: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """``history`` (``bucket``, ``n``) and its forecast: the next day hourly (``freq`` h), else 3 days."""
    if history.empty or history["n"].sum() == 0:
        return history, None
    try:
        predicted = forecast_volume(
            history.set_index("bucket")["n"], horizon=24 if freq == "h" else 3, freq=freq
        )
    except Exception:  # noqa: BLE001 - a forecast failure must not break the page
        log.warning("forecast failed", exc_info=True)
        return history, None
    return history, predicted.rename(columns={"ts": "bucket"})


@st.cache_data(ttl=TTL, show_spinner=False)
def emerging_topics(url: str, f: q.QueryFilters) -> pd.DataFrame:
    """New and fast-rising topics in the last 24 hours of the period."""
    raw = topic_activity(url, f)
    hours = max(1, min(RECENT_HOURS, int((f.end - f.start).total_seconds() // 3600)))
    params = EmergingParams(recent_hours=hours, history_days=LOOKBACK_DAYS)
    found = find_emerging(raw, now=pd.Timestamp(f.end), params=params, key="topic_id")
    labels = topics(url).set_index("id")["label"].to_dict()
    found["label"] = [str(labels.get(int(k), f"话题 {k}")) for k in found["key"]]
    found.attrs["hours"] = hours
    return found


@st.cache_data(ttl=TTL, show_spinner=False)
def topic_documents(url: str, f: q.QueryFilters, topic_id: int, limit: int = 5) -> pd.DataFrame:
    return q.topic_documents(engine(), f, topic_id, limit)


@st.cache_data(ttl=TTL, show_spinner=False)
def latest_briefing(url: str) -> Any:
    """The newest model-written briefing (``storage.briefings.StoredBriefing``) or None."""
    from storage.briefings import latest_briefing as read

    return read(engine())


# -- alerts, search, health, reports ---------------------------------------------------------
@st.cache_data(ttl=TTL, show_spinner=False)
def alerts(url: str, f: q.QueryFilters | None, include_resolved: bool = True) -> pd.DataFrame:
    return q.alerts_frame(engine(), f, include_resolved=include_resolved)


@st.cache_data(ttl=TTL, show_spinner=False)
def replayed_alerts(url: str, f: q.QueryFilters) -> pd.DataFrame:
    """Replayed alerts (回溯) active in the period."""
    from storage.alert_replays import replayed_alerts as read

    return read(engine(), f.start, f.end)


@st.cache_data(ttl=TTL, show_spinner=False)
def alert_events(url: str, alert_id: int) -> pd.DataFrame:
    return q.alert_events_frame(engine(), alert_id)


@st.cache_data(ttl=TTL, show_spinner=False)
def silences(url: str, minute: datetime) -> pd.DataFrame:
    return q.active_silences(engine(), minute)


@st.cache_data(ttl=TTL, show_spinner=False)
def search(url: str, f: q.QueryFilters, text: str, page: int, page_size: int, collapse: bool) -> pd.DataFrame:
    return q.search_documents(engine(), f, text, page=page, page_size=page_size, collapse_duplicates=collapse)


@st.cache_data(ttl=TTL, show_spinner=False)
def search_count(url: str, f: q.QueryFilters, text: str, collapse: bool) -> int:
    return q.document_count(engine(), f, text, collapse_duplicates=collapse)


@st.cache_data(ttl=TTL, show_spinner=False)
def source_health(url: str, minute: datetime) -> pd.DataFrame:
    return q.source_health_frame(engine(), minute)


@st.cache_data(ttl=TTL, show_spinner=False)
def web_crawl(url: str, minute: datetime) -> pd.DataFrame:
    from storage.health import web_crawl_stats

    return web_crawl_stats(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def backlog(url: str) -> int:
    return q.tagging_backlog(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def encoder_backlog(url: str, minute: datetime) -> dict[str, Any]:
    """The encoder tier's state and backlog per priority class at ``minute``: priority channels, then
    the hot topics (ranked as 热点话题 ranks them over the last 7 days) and open alerts, then the rest."""
    from storage.encoder_backlog import HOT_PERIOD, Priority, open_alert_scopes
    from storage.encodings import encoder_status

    cfg = settings()
    enc = cfg.nlp.encoder
    since = minute - HOT_PERIOD
    ranked = hot_topics(
        url, q.QueryFilters(start=since, end=minute), tuple(cfg.analytics.heat_weights.model_dump().items())
    )
    if "n" in ranked.columns:
        ranked = ranked.loc[ranked["n"] > 0]
    priority = Priority(
        channels=tuple(enc.priority_channels),
        topic_ids=tuple(int(t) for t in ranked["topic_id"].head(enc.hot_topics)) if enc.hot_topics else (),
        topics_since=since,
        alerts=tuple(open_alert_scopes(engine(), minute)),
    )
    return {"enabled": enc.enabled, **encoder_status(engine(), priority)}


@st.cache_data(ttl=TTL, show_spinner=False)
def job_runs(url: str) -> pd.DataFrame:
    from storage.health import recent_job_runs

    return recent_job_runs(engine(), 30)


@st.cache_data(ttl=TTL, show_spinner=False)
def report_runs(url: str) -> pd.DataFrame:
    return q.report_runs_frame(engine())


def minute_of(now: datetime) -> datetime:
    """``now`` truncated to the minute (a cache key that changes once a minute)."""
    return now.replace(second=0, microsecond=0)


def pct(value: float | None) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1%}"


GEOJSON = os.path.join(os.path.dirname(__file__), "assets", "china_provinces.geojson")


@st.cache_resource(show_spinner=False)
def china_geojson() -> dict[str, Any]:
    """The shipped province GeoJSON (see dashboard/assets/README.md)."""
    import json

    with open(GEOJSON, encoding="utf-8") as fh:
        return dict(json.load(fh))


@st.cache_data(ttl=TTL, show_spinner=False)
def documents_by_ids(url: str, ids: tuple[int, ...]) -> pd.DataFrame:
    return q.documents_by_ids(engine(), ids)


# -- closing the loop: reply quality, corrections, events, drift -------------------------------
DRIFT_TTL = 900  # weekly figures over every tag: slow to compute, slow to change


@st.cache_data(ttl=TTL, show_spinner=False)
def replies(url: str, f: q.QueryFilters) -> pd.DataFrame:
    return rq.load_replies(engine(), f)


@st.cache_data(ttl=TTL, show_spinner=False)
def worst_replies(url: str, f: q.QueryFilters, limit: int) -> pd.DataFrame:
    return rq.worst_replies(engine(), f, limit)


@st.cache_data(ttl=TTL, show_spinner=False)
def review_queue(url: str, field: str, limit: int) -> pd.DataFrame:
    """Uncorrected first copies the model is least sure about for ``field``, least sure first."""
    cols = ["id", "title", "content", "channel", "published_at", "label", "score", "tier"]
    frame = pd.DataFrame(corrections.review_queue(engine(), limit, field), columns=cols)
    frame["published_at"] = pd.to_datetime(frame["published_at"], utc=True)
    return frame


def drift_since(now: datetime, weeks: int | None) -> datetime | None:
    """Monday 00:00 UTC starting the oldest of the last ``weeks`` ISO weeks, the current one included
    (the drift weeks are UTC ISO weeks); None for every week."""
    if weeks is None:
        return None
    day = now.astimezone(UTC).date()
    monday = day - timedelta(days=day.weekday(), weeks=weeks - 1)
    return datetime.combine(monday, time.min, tzinfo=UTC)


@st.cache_data(ttl=DRIFT_TTL, show_spinner=False)
def drift(url: str, field: str, low_confidence: float, since: datetime | None = None) -> pd.DataFrame:
    """Per source and ISO week from ``since`` (a Monday, UTC; None: every week): documents, low-confidence
    share, label mix and ``shift`` from the week before (read too, so the first week shown has one).

    The counts come from the per-day tag-quality table (0.2 s for every week of a 1 M-document
    store) unless ``low_confidence`` differs from the threshold it was built for; then every tag in
    the span is read, which the page's default of recent weeks keeps bounded.
    """
    start = since - timedelta(weeks=1) if since is not None else None
    weekly = corrections.drift_by_source_week(engine(), field, low_confidence, start)
    if weekly.empty:
        return weekly.assign(shift=pd.Series(dtype=float))
    out = weekly.merge(corrections.label_shift(weekly), on=["source", "week"], how="left")
    if since is not None:
        out = out.loc[out["week"] >= iso_week(since)].reset_index(drop=True)
    return out


@st.cache_data(ttl=TTL, show_spinner=False)
def events(
    url: str,
    topic_id: int | None = None,
    category: str | None = None,
    province: str | None = None,
    subject_id: int | None = None,
) -> list[dict[str, Any]]:
    """Events on a topic, a 专题, or a category (x province; None: the whole category), newest first."""
    if subject_id is not None:
        return ev.list_events(engine(), subject_id=subject_id)
    found = ev.list_events(engine(), topic_id=topic_id, category=category)
    if topic_id is None:
        found = [e for e in found if e["topic_id"] is None and (e["province"] or None) == province]
    return found


@st.cache_data(ttl=TTL, show_spinner=False)
def issue_series(url: str, event_id: int, hours: int) -> pd.DataFrame:
    """Hourly ``n`` and ``neg`` of an event's issue, ``2 x hours`` either side (UTC index)."""
    event = ev.get_event(engine(), event_id)
    if event is None:
        return pd.DataFrame(columns=["n", "neg"], index=pd.DatetimeIndex([], tz="UTC"))
    return ev.issue_series(engine(), event, hours)


@st.cache_data(ttl=TTL, show_spinner=False)
def alerts_by_ids(url: str, ids: tuple[int, ...]) -> pd.DataFrame:
    return alert_queries.alerts_by_ids(engine(), ids)


# -- subjects (专题) ---------------------------------------------------------------------------
@st.cache_data(ttl=TTL, show_spinner=False)
def subjects(url: str) -> list[dict[str, Any]]:
    """Every subject with its matched-document count (archived ones too)."""
    from storage.subjects import list_subjects

    return list_subjects(engine())


@st.cache_data(ttl=TTL, show_spinner=False)
def subject_forecast(url: str, f: q.QueryFilters, tz: str) -> tuple[pd.DataFrame, pd.DataFrame | None]:
    """A subject's volume per local bucket (``f.subject_id``) and its forecast, as for a topic."""
    return with_forecast(trend(url, f, None, tz), freq_for(f))


@st.cache_data(ttl=TTL, show_spinner=False)
def subject_spread(url: str, f: q.QueryFilters, limit: int = 10) -> dict[str, Any]:
    """The spread view's reads (see :mod:`storage.subject_queries`)."""
    from storage import subject_queries as sq

    eng = engine()
    return {
        "first": sq.first_appearance(eng, f),
        "sources": sq.source_spread(eng, f),
        "clusters": sq.duplicate_clusters(eng, f, limit),
        "accounts": sq.top_accounts(eng, f, limit),
        "documents": sq.top_documents(eng, f, limit),
    }


# -- the encoder tier: neighbours by meaning, retold cases, progress ---------------------------
@st.cache_data(ttl=TTL, show_spinner=False)
def similar_documents(url: str, document_id: int, k: int = 10) -> list[Any] | None:
    """The ``k`` documents nearest in meaning (``storage.similar.SimilarDocument``); None: not encoded."""
    from storage.similar import similar_documents as read

    return read(engine(), int(document_id), k)


@st.cache_data(ttl=TTL, show_spinner=False)
def meaning_duplicates(url: str, ids: tuple[int, ...]) -> dict[int, Any]:
    """Hotline / 问政 messages among ``ids`` that likely restate another case (``MeaningDuplicate``)."""
    from storage.similar import meaning_duplicates as read

    return read(engine(), list(ids))


@st.cache_data(ttl=TTL, show_spinner=False)
def encoder_pending(url: str) -> int:
    """Documents tagged by the fast tier and not encoded yet (the figure 数据源健康 and status show)."""
    from storage.encoder_backlog import count_encoder_backlog

    return count_encoder_backlog(engine()).total

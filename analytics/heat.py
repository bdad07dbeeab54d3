"""Explainable heat index per topic and agenda priority per category x region (pure pandas).

Input is a rollup-like frame with one row per (bucket, key..., channel): ``bucket`` (hourly, UTC),
the key column(s), ``channel`` (social / news / hotline / gov), ``n`` items, ``neg`` negative items
and the engagement sums ``likes``, ``reposts``, ``comments``, ``reads`` (missing ones count as 0).
The current window is ``[now - window_hours, now)``; the growth baseline is the ``baseline_days``
before it.

Six components, each in [0, 1]:

- volume      = log1p(n) / log1p(max n over keys)            (items in the window, log-scaled)
- growth      = clip(log((n + 1) / (expected + 1)) / log(growth_cap), 0, 1)
                expected = the key's own hourly rate in the baseline period x window_hours
- spread      = channels with items / number of known channels
- engagement  = log1p(E) / log1p(max E over keys),  E = likes + reposts + comments + reads_factor * reads
- negativity  = neg / (n + neg_prior)                        (shrunk towards 0 for small topics)
- persistence = active hourly buckets among the last persistence_buckets / persistence_buckets

Heat (0 to 100) = 100 * sum_i w_i * component_i / sum_i w_i. The output column ``c_<component>``
holds the term ``100 * w_i * component_i / sum w``, so the contributions add up to ``heat``
exactly and the UI can show why an item ranks where it does.

Agenda priority for category x region uses the same components, grouped:

    urgency = (growth + negativity) / 2
    scope   = (spread + regions) / 2,  regions = regions where the category is active / regions active
    impact  = (volume + engagement) / 2
    priority = 100 * (w_u * urgency + w_s * scope + w_i * impact) / (w_u + w_s + w_i)

with ``c_growth = 100 * w_u / W / 2 * growth`` etc., so again the six ``c_`` columns sum to priority
(and ``urgency``/``scope``/``impact`` columns hold the group subtotals in points).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

COMPONENTS = ("volume", "growth", "spread", "engagement", "negativity", "persistence")
_ENGAGEMENT = ("likes", "reposts", "comments", "reads")


class HeatInputError(ValueError):
    """The rollup frame lacks a required column or the weights are invalid."""


@dataclass(frozen=True)
class HeatWeights:
    """Weights of the six heat components (any non-negative scale; they are normalised)."""

    volume: float = 0.30
    growth: float = 0.20
    spread: float = 0.15
    engagement: float = 0.15
    negativity: float = 0.10
    persistence: float = 0.10


@dataclass(frozen=True)
class AgendaWeights:
    """Weights of the three agenda groups (normalised)."""

    urgency: float = 0.40
    scope: float = 0.25
    impact: float = 0.35


@dataclass(frozen=True)
class HeatParams:
    """Windows and scales shared by heat and agenda.

    Attributes:
        window_hours: length of the current window.
        baseline_days: history before the window used for the growth baseline.
        persistence_buckets: hourly buckets (ending at ``now``) checked for activity.
        growth_cap: growth ratio that maps to a full growth component.
        neg_prior: pseudo-count of non-negative items added to n in the negativity share.
        reads_factor: weight of one read relative to a like/repost/comment.
        channels: the known channels (spread denominator).
    """

    window_hours: int = 24
    baseline_days: int = 7
    persistence_buckets: int = 24
    growth_cap: float = 8.0
    neg_prior: float = 5.0
    reads_factor: float = 0.01
    channels: tuple[str, ...] = ("social", "news", "hotline", "gov")


def heat_input(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    """Rollup rows by sentiment -> the heat frame: ``n``, ``neg`` and engagement per bucket x keys x channel.

    The one way the dashboard and the reports turn rollup reads into what :func:`rank_heat` and
    :func:`rank_agenda` rank.
    """
    frame = frame.assign(neg=frame["n"].where(frame["sentiment"] == "negative", 0))
    cols = ["n", "neg", *_ENGAGEMENT]
    return frame.groupby(["bucket", *keys, "channel"], as_index=False)[cols].sum()


def _weight_total(weights: HeatWeights | AgendaWeights) -> float:
    values = [getattr(weights, f.name) for f in fields(weights)]
    if any(v < 0 for v in values) or sum(values) <= 0:
        raise HeatInputError(f"weights must be >= 0 with a positive sum, got {weights}")
    return float(sum(values))


def _prepare(frame: pd.DataFrame, keys: Sequence[str]) -> pd.DataFrame:
    missing = [c for c in ("bucket", "channel", "n", *keys) if c not in frame.columns]
    if missing:
        raise HeatInputError(f"rollup frame lacks column(s) {missing}; has {list(frame.columns)}")
    df = frame.copy()
    for col in ("n", "neg", *_ENGAGEMENT):
        df[col] = pd.to_numeric(df[col], errors="coerce").fillna(0.0) if col in df else 0.0
    bucket = pd.to_datetime(df["bucket"])
    df["bucket"] = bucket.dt.tz_localize("UTC") if bucket.dt.tz is None else bucket.dt.tz_convert("UTC")
    return df


def _norm_log(x: pd.Series) -> pd.Series:
    top = float(np.log1p(x.max())) if len(x) else 0.0
    return np.log1p(x) / top if top > 0 else x * 0.0


def compute_components(
    frame: pd.DataFrame,
    keys: Sequence[str] = ("key",),
    now: pd.Timestamp | None = None,
    params: HeatParams | None = None,
) -> pd.DataFrame:
    """Raw inputs and the six [0, 1] components for every key active in the current window.

    Returns:
        One row per key with the key columns, raw inputs (n, expected, growth_ratio, n_channels,
        channels, engagement, neg, neg_share, active_buckets) and one column per component.
    """
    params = params or HeatParams()
    keys = list(keys)
    df = _prepare(frame, keys)
    now = pd.Timestamp(now) if now is not None else df["bucket"].max() + pd.Timedelta(hours=1)
    now = now.tz_localize("UTC") if now.tzinfo is None else now.tz_convert("UTC")
    start = now - pd.Timedelta(hours=params.window_hours)
    hist_start = start - pd.Timedelta(days=params.baseline_days)
    cur = df[(df["bucket"] >= start) & (df["bucket"] < now)]
    cur = cur[cur["n"] > 0]
    if cur.empty:
        return pd.DataFrame(columns=[*keys, "n", *COMPONENTS])
    hist = df[(df["bucket"] >= hist_start) & (df["bucket"] < start)]
    g = cur.groupby(keys, sort=False)
    out = g[["n", "neg", *_ENGAGEMENT]].sum()
    out["n_channels"] = g["channel"].nunique()
    out["channels"] = g["channel"].agg(lambda c: ",".join(sorted(set(map(str, c)))))
    recent = df[(df["bucket"] >= now - pd.Timedelta(hours=params.persistence_buckets)) & (df["bucket"] < now)]
    active = recent[recent["n"] > 0].groupby(keys)["bucket"].nunique()
    out["active_buckets"] = active.reindex(out.index, fill_value=0)
    hist_n = hist.groupby(keys)["n"].sum().reindex(out.index, fill_value=0.0)
    out["expected"] = hist_n / (params.baseline_days * 24.0) * params.window_hours
    out["growth_ratio"] = (out["n"] + 1.0) / (out["expected"] + 1.0)
    out["engagement"] = out["likes"] + out["reposts"] + out["comments"] + params.reads_factor * out["reads"]
    out["neg_share"] = out["neg"] / (out["n"] + params.neg_prior)

    out["volume"] = _norm_log(out["n"])
    cap = np.log(max(params.growth_cap, 1.0 + 1e-9))
    out["growth"] = (np.log(out["growth_ratio"]) / cap).clip(0.0, 1.0)
    out["spread"] = (out["n_channels"] / max(len(params.channels), 1)).clip(upper=1.0)
    out["engagement_c"] = _norm_log(out["engagement"])
    out["negativity"] = out["neg_share"].clip(0.0, 1.0)
    out["persistence"] = (out["active_buckets"] / params.persistence_buckets).clip(upper=1.0)
    out = out.rename(columns={"engagement": "engagement_raw"}).rename(columns={"engagement_c": "engagement"})
    return out.reset_index()


def rank_heat(
    frame: pd.DataFrame,
    weights: HeatWeights | None = None,
    now: pd.Timestamp | None = None,
    params: HeatParams | None = None,
    keys: Sequence[str] = ("key",),
) -> pd.DataFrame:
    """Rank keys (topics, or category x region with ``keys=("category", "region")``) by heat.

    Args:
        frame: rollup-like rows (see module docstring).
        weights: component weights.
        now: end of the current window (default: one hour after the last bucket).
        params: windows and scales.
        keys: key column(s).

    Returns:
        Rows sorted by heat (descending) with the keys, ``heat``, ``c_<component>`` contributions
        summing to heat, the [0, 1] components and the raw inputs.
    """
    weights = weights or HeatWeights()
    total = _weight_total(weights)
    comp = compute_components(frame, keys, now, params)
    if comp.empty:
        return pd.DataFrame(columns=[*keys, "heat", *(f"c_{c}" for c in COMPONENTS)])
    for name in COMPONENTS:
        comp[f"c_{name}"] = 100.0 * getattr(weights, name) * comp[name] / total
    comp["heat"] = comp[[f"c_{c}" for c in COMPONENTS]].sum(axis=1)
    front = [*keys, "heat", *(f"c_{c}" for c in COMPONENTS)]
    comp = comp[front + [c for c in comp.columns if c not in front]]
    return comp.sort_values("heat", ascending=False, kind="stable").reset_index(drop=True)


_GROUPS = {
    "urgency": ("growth", "negativity"),
    "scope": ("spread", "regions"),
    "impact": ("volume", "engagement"),
}


def rank_agenda(
    frame: pd.DataFrame,
    weights: AgendaWeights | None = None,
    now: pd.Timestamp | None = None,
    params: HeatParams | None = None,
    category: str = "category",
    region: str = "region",
) -> pd.DataFrame:
    """Rank category x region cells by agenda priority (urgency, scope, impact; see module docstring).

    Returns:
        Rows sorted by ``priority`` with category, region, ``priority``, the group subtotals
        ``urgency``/``scope``/``impact`` (points), six ``c_`` contributions summing to priority,
        the [0, 1] components (including ``regions``) and the raw inputs.
    """
    weights = weights or AgendaWeights()
    total = _weight_total(weights)
    comp = compute_components(frame, (category, region), now, params)
    cols = [category, region, "priority", *_GROUPS, *(f"c_{c}" for grp in _GROUPS.values() for c in grp)]
    if comp.empty:
        return pd.DataFrame(columns=cols)
    per_cat = comp.groupby(category)[region].nunique()
    comp["n_regions"] = comp[category].map(per_cat)
    comp["regions"] = comp["n_regions"] / max(comp[region].nunique(), 1)
    comp["priority"] = 0.0
    for group, members in _GROUPS.items():
        share = 100.0 * getattr(weights, group) / total / len(members)
        comp[group] = 0.0
        for member in members:
            comp[f"c_{member}"] = share * comp[member]
            comp[group] += comp[f"c_{member}"]
        comp["priority"] += comp[group]
    comp = comp[cols + [c for c in comp.columns if c not in cols]]
    return comp.sort_values("priority", ascending=False, kind="stable").reset_index(drop=True)


def explain_row(row: pd.Series, score: str = "heat") -> str:
    """One-line explanation, e.g. ``heat 62.0 = volume 25.1 + growth 14.2 + ...`` (largest first)."""
    parts = sorted(((c[2:], float(row[c])) for c in row.index if c.startswith("c_")), key=lambda p: -p[1])
    return f"{score} {float(row[score]):.1f} = " + " + ".join(f"{name} {val:.1f}" for name, val in parts)

"""The 答复质量 section: quality of the week's hotline / 问政 replies (pure: frames in, tables out).

Input frames come from :func:`reports.followup_data.load_replies`: one row per document answered
in the week, with its reply score (``total`` 0–100 and five components in [0, 1], see
``docs/REPLY_QUALITY.md``) or None when the scorer has not seen it yet. Every figure is over the
scored replies; waiting ones are counted as a gap. Evidence filters refer to the report's
「答复基础查询」 (``reports.model.REPLY_QUERY``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pandas as pd

from reports.followup_data import COMPONENTS
from reports.model import REPLY_QUERY, Column, Evidence, ReportTable
from reports.tables import UNKNOWN_CATEGORY, UNKNOWN_REGION, ids_of, local_time, sql_literal

COMPONENT_LABELS = {
    "relevance": "相关性",
    "completeness": "完整性",
    "policy": "政策依据",
    "timeliness": "及时性",
    "tone": "语气",
}
UNKNOWN_UNIT = "未识别承办单位"
MIN_UNIT_REPLIES = 3  # a unit is ranked from this many scored replies in the week
WORST_REPLIES = 5
MESSAGE_CHARS, REPLY_CHARS = 60, 90
GROUPS = {  # dimension -> (frame column, label, unknown-value row)
    "unit": ("unit", "承办单位", UNKNOWN_UNIT),
    "category": ("category", "诉求分类", UNKNOWN_CATEGORY),
    "province": ("province", "地域", UNKNOWN_REGION),
}


def reply_weights(settings: Any) -> dict[str, float]:
    """The configured component weights (``reply_quality`` section), as the scorer used them."""
    return {k: float(getattr(settings.reply_quality, k)) for k in COMPONENTS}


def worst_ids(cur: pd.DataFrame, limit: int = WORST_REPLIES) -> list[int]:
    """Ids of the lowest-scoring replies, lowest first (ties by id)."""
    return [int(i) for i in _scored(cur).sort_values(["total", "id"]).head(limit)["id"]]


def _cond(condition: str) -> str:
    return f"〔{REPLY_QUERY}〕{condition}"


def _scored(frame: pd.DataFrame) -> pd.DataFrame:
    return frame[frame["total"].notna()]


def _mean(values: pd.Series, digits: int) -> float | None:
    values = values.dropna()
    return round(float(values.mean()), digits) if len(values) else None


def _median(values: pd.Series) -> float | None:
    values = values.dropna()
    return round(float(values.median()), 2) if len(values) else None


def points_lost(sel: pd.DataFrame, weights: Mapping[str, float]) -> dict[str, float]:
    """Mean points (of 100) each component costs, 100 × w × (1 − mean) / Σw; they sum to 100 − mean total."""
    total = sum(weights.values()) or 1.0
    return {k: 100 * weights[k] * (1 - float(sel[k].mean())) / total for k in COMPONENTS}


def explain_loss(sel: pd.DataFrame, weights: Mapping[str, float], top: int = 2) -> str:
    """``完整性 −12.5、政策依据 −10.0``: the components that cost the most points."""
    lost = points_lost(sel, weights)
    worst = [k for k in sorted(lost, key=lambda k: (-lost[k], k)) if lost[k] >= 0.05][:top]
    return "、".join(f"{COMPONENT_LABELS[k]} −{lost[k]:.1f}" for k in worst) or "无明显失分"


def summary_table(cur: pd.DataFrame, prev: pd.DataFrame) -> ReportTable:
    """Counts, mean total, mean components and median delay, this week against last week."""
    table = ReportTable(
        "reply_summary",
        "答复质量概况（按答复时间，本周与上周对比）",
        [
            Column("metric", "指标"),
            Column("unit", "单位"),
            Column("this_week", "本周", "num"),
            Column("last_week", "上周", "num"),
            Column("change", "变化", "num"),
        ],
        note="总分 0–100，为五个分项（各 0–1）按配置 reply_quality 权重的加权平均 × 100；"
        "答复用时 = 答复时间 − 留言时间；待评分的答复不计入均值。",
    )
    sc, sp = _scored(cur), _scored(prev)

    def add(label: str, unit: str, this: float | None, last: float | None, ev: Evidence) -> None:
        diff = None if this is None or last is None else round(this - last, 4)
        table.add([label, unit, this, last, diff], ev)

    add(
        "答复数",
        "条",
        len(cur),
        len(prev),
        Evidence(_cond("TRUE（全部答复）"), ids_of(cur), previous_ids=ids_of(prev)),
    )
    add(
        "已评分",
        "条",
        len(sc),
        len(sp),
        Evidence(_cond("total IS NOT NULL"), ids_of(sc), previous_ids=ids_of(sp)),
    )
    waiting, waiting_prev = cur[cur["total"].isna()], prev[prev["total"].isna()]
    add(
        "待评分",
        "条",
        len(waiting),
        len(waiting_prev),
        Evidence(_cond("total IS NULL"), ids_of(waiting), previous_ids=ids_of(waiting_prev)),
    )
    scored_ev = Evidence(_cond("total IS NOT NULL"), ids_of(sc), previous_ids=ids_of(sp))
    add("平均总分", "分（0–100）", _mean(sc["total"], 2), _mean(sp["total"], 2), scored_ev)
    for key, label in COMPONENT_LABELS.items():
        add(f"平均{label}", "0–1", _mean(sc[key], 3), _mean(sp[key], 3), scored_ev)
    timed, timed_prev = sc[sc["delay_days"].notna()], sp[sp["delay_days"].notna()]
    add(
        "答复用时（中位数）",
        "天",
        _median(timed["delay_days"]),
        _median(timed_prev["delay_days"]),
        Evidence(
            _cond("total IS NOT NULL AND delay_days IS NOT NULL"),
            ids_of(timed),
            previous_ids=ids_of(timed_prev),
        ),
    )
    return table


def group_table(
    cur: pd.DataFrame, dim: str, weights: Mapping[str, float], min_n: int = MIN_UNIT_REPLIES
) -> ReportTable:
    """Units / categories / regions ranked by mean total (then median delay), with counts.

    Units with fewer than ``min_n`` scored replies are pooled into one unranked row, so the
    counts still add up to the week's scored replies; so is the row of replies naming no unit.
    """
    column, label, unknown = GROUPS[dim]
    title = {"unit": "承办单位", "category": "诉求分类", "province": "地域"}[dim]
    table = ReportTable(
        f"reply_{dim}",
        f"答复质量排名（按{title}）",
        [
            Column("group", label),
            Column("rank", "排名", "int"),
            Column("replies", "答复数", "int"),
            Column("mean_total", "平均总分", "float"),
            Column("median_delay", "用时中位数（天）", "float"),
            Column("max_delay", "最长用时（天）", "float"),
            Column("loss", "主要失分（分）"),
        ],
        note=(f"只对本周已评分答复不少于 {min_n} 条的单位排名，其余合并为一行；" if dim == "unit" else "")
        + "按平均总分从高到低排名，同分按用时中位数从短到长；「主要失分」为失分最多的两个分项，"
        "各分项失分之和 = 100 − 平均总分。",
    )
    sc = _scored(cur)
    names = sc[column].fillna(unknown)
    counts = names.value_counts()
    ranked = [n for n in counts.index if n != unknown and (dim != "unit" or counts[n] >= min_n)]
    stats = {
        n: (_mean(sc.loc[names == n, "total"], 2), _median(sc.loc[names == n, "delay_days"])) for n in ranked
    }
    ranked.sort(
        key=lambda n: (
            -(stats[n][0] or 0.0),
            stats[n][1] if stats[n][1] is not None else float("inf"),
            str(n),
        )
    )
    rows: list[tuple[int | None, str, pd.DataFrame, str]] = [
        (i, n, sc[names == n], f"{column} = {sql_literal(str(n))}") for i, n in enumerate(ranked, start=1)
    ]
    small = sorted(n for n in counts.index if n != unknown and n not in ranked)
    if small:
        cond = f"{column} IN ({', '.join(sql_literal(str(n)) for n in small)})"
        rows.append((None, f"其他单位（{len(small)} 个，各不足 {min_n} 条）", sc[names.isin(small)], cond))
    if unknown in counts.index:
        rows.append((None, unknown, sc[names == unknown], f"{column} IS NULL"))
    for rank, name, sel, cond in rows:
        delays = sel["delay_days"].dropna()
        table.add(
            [
                name,
                rank,
                len(sel),
                _mean(sel["total"], 2),
                _median(delays),
                round(float(delays.max()), 2) if len(delays) else None,
                explain_loss(sel, weights),
            ],
            Evidence(_cond(f"{cond} AND total IS NOT NULL"), ids_of(sel)),
        )
    return table


def _clip(text: Any, chars: int) -> str:
    from ingest.pii import mask_pii

    flat = mask_pii(" ".join(str(text or "").split()))  # stored text is masked already; twice is harmless
    return flat if len(flat) <= chars else flat[: chars - 1] + "…"


def worst_tables(
    cur: pd.DataFrame, texts: pd.DataFrame, tz: str, limit: int = WORST_REPLIES
) -> tuple[ReportTable, ReportTable]:
    """(scores, excerpts) of the lowest-scoring replies of the week, both keyed by document id."""
    scores = ReportTable(
        "reply_worst",
        f"得分最低的 {limit} 条答复：分项得分",
        [
            Column("document_id", "文档ID", "int"),
            Column("replied_at", "答复时间", "datetime"),
            Column("unit", "承办单位"),
            Column("total", "总分", "float"),
            *(Column(k, v, "float") for k, v in COMPONENT_LABELS.items()),
            Column("delay_days", "用时（天）", "float"),
        ],
        note="总分从低到高，同分按文档ID；分项 0–1，总分 0–100。",
    )
    excerpts = ReportTable(
        "reply_worst_text",
        f"得分最低的 {limit} 条答复：留言与答复摘要",
        [
            Column("document_id", "文档ID", "int"),
            Column("message", "留言摘要（已脱敏）"),
            Column("reply", "答复摘要（已脱敏）"),
        ],
        note="文本在入库时已脱敏，输出前再次脱敏。",
    )
    worst = _scored(cur).set_index("id").loc[worst_ids(cur, limit)].reset_index()
    by_id = texts.set_index("id") if not texts.empty else texts
    for row in worst.to_dict("records"):
        doc_id = int(row["id"])
        text = by_id.loc[doc_id] if doc_id in by_id.index else {}
        evidence = Evidence(f"documents.id = {doc_id}", (doc_id,))
        scores.add(
            [
                doc_id,
                local_time(row["replied_at"], tz),
                UNKNOWN_UNIT if pd.isna(row["unit"]) else str(row["unit"]),
                round(float(row["total"]), 2),
                *(round(float(row[k]), 2) for k in COMPONENTS),
                None if pd.isna(row["delay_days"]) else round(float(row["delay_days"]), 2),
            ],
            evidence,
        )
        title, body = str(text.get("title") or ""), str(text.get("content") or "")
        message = body if not title or body.startswith(title) else f"{title}：{body}"
        excerpts.add([doc_id, _clip(message, MESSAGE_CHARS), _clip(text.get("reply"), REPLY_CHARS)], evidence)
    return scores, excerpts


def narrate_replies(
    say: Any, tables: Mapping[str, ReportTable], weights: Mapping[str, float], versions: list[str]
) -> None:
    """Plain-Chinese sentences of the section, every number read from its tables."""
    summary = tables["reply_summary"]
    n, scored = summary.lookup("答复数", "this_week"), summary.lookup("已评分", "this_week")
    if not n:
        say("本周没有答复时间落在本周内的热线 / 问政答复。")
        return
    mean, last = summary.lookup("平均总分", "this_week"), summary.lookup("平均总分", "last_week")
    delay = summary.lookup("答复用时（中位数）", "this_week")
    text = f"本周共答复热线 / 问政留言 {int(n):,} 条，已评分 {int(scored):,} 条"
    if mean is not None:
        text += f"，平均总分 {mean:.1f}" + (f"（上周 {last:.1f}）" if last is not None else "")
    text += f"，答复用时中位数 {delay:.1f} 天" if delay is not None else ""
    waiting = summary.lookup("待评分", "this_week")
    say(text + (f"；另有 {int(waiting)} 条尚待评分。" if waiting else "。"))
    if mean is not None:
        comps = {k: summary.lookup(f"平均{v}", "this_week") for k, v in COMPONENT_LABELS.items()}
        lost = {k: 100 * weights[k] * (1 - comps[k]) / (sum(weights.values()) or 1.0) for k in COMPONENTS}
        worst = max(sorted(lost), key=lambda k: lost[k])
        say(
            f"失分最多的分项为「{COMPONENT_LABELS[worst]}」：均值 {comps[worst]:.2f}，平均每条失 {lost[worst]:.1f} 分。"
        )
    units = [r for r in tables["reply_unit"].rows if r[1] is not None]  # ranked units only
    if len(units) >= 2:
        best, low = units[0], units[-1]
        say(
            f"在答复不少于 {MIN_UNIT_REPLIES} 条的承办单位中，平均总分最高的为「{best[0]}」（{best[3]:.1f} 分，{best[2]} 条），"
            f"最低的为「{low[0]}」（{low[3]:.1f} 分，{low[2]} 条，主要失分：{low[6]}）。"
        )
    formula = "、".join(f"{COMPONENT_LABELS[k]} {weights[k]:.2f}" for k in COMPONENTS)
    say(
        f"总分 = 100 × Σ 权重 × 分项 / Σ 权重，权重取自配置 reply_quality：{formula}；"
        f"评分规则版本：{'、'.join(versions) or '—'}。"
    )
    say(
        "评分规则见 docs/REPLY_QUALITY.md：按规则判断答复是否切题、要素是否齐全、有无政策依据、是否及时、语气是否得体，"
        "不能判断答复内容是否属实、处置是否落实以及群众是否满意。"
    )

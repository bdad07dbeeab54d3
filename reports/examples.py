"""Representative documents for the report: the most engaged first copies of each hot issue (pure).

The stored text was masked at ingestion; the excerpt is masked again on the way out, which is
harmless for masked text and protects against anything stored before masking existed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import pandas as pd

from reports.model import Column, Evidence, ReportTable
from reports.tables import SENTIMENT_LABELS, channel_label, local_time

EXAMPLES_PER_ISSUE = 2
EXCERPT_CHARS = 100


def alert_document_ids(evidence_json: Any) -> tuple[int, ...]:
    """Document ids an alert's stored evidence names (``documents`` items or ``document_ids``)."""
    if not isinstance(evidence_json, Mapping):
        return ()
    found: list[int] = []
    for item in list(evidence_json.get("documents") or []) + list(evidence_json.get("document_ids") or []):
        value = item.get("id") if isinstance(item, Mapping) else item
        if isinstance(value, int) or (isinstance(value, str) and value.isdigit()):
            found.append(int(value))
    return tuple(sorted(set(found)))


def pick_examples(cur: pd.DataFrame, hot: ReportTable) -> list[tuple[str, int]]:
    """(issue, document id) pairs: the most engaged first copies of each of the top 5 issues.

    Without topics, the largest demand categories stand in for issues.
    """
    first = cur[cur["dup_of"].isna()].copy()
    first["engagement"] = first["likes"] + first["reposts"] + first["comments"]
    groups: Iterable[tuple[str, pd.DataFrame]]
    if hot.rows:
        groups = [(str(r[1]), first[first["topic_id"] == r[2]]) for r in hot.rows[:5]]
    else:
        counts = cur["category"].dropna().value_counts()
        names = sorted(counts.index, key=lambda k: (-int(counts[k]), str(k)))[:5]
        groups = [(n, first[first["category"] == n]) for n in names]
    picks: list[tuple[str, int]] = []
    for name, sel in groups:
        best = sel.sort_values(["engagement", "id"], ascending=[False, True]).head(EXAMPLES_PER_ISSUE)
        picks += [(name, int(i)) for i in best["id"]]
    return picks


def examples_table(
    cur: pd.DataFrame, picks: list[tuple[str, int]], texts: pd.DataFrame, tz: str
) -> ReportTable:
    """Representative documents with a masked excerpt."""
    from ingest.pii import mask_pii

    table = ReportTable(
        "examples",
        "代表性文档",
        [
            Column("issue", "议题"),
            Column("document_id", "文档ID", "int"),
            Column("channel", "渠道"),
            Column("published_at", "发布时间", "datetime"),
            Column("sentiment", "情感"),
            Column("engagement", "互动量", "int"),
            Column("excerpt", "内容摘要（已脱敏）"),
        ],
    )
    by_id = cur.set_index("id")
    text_by_id = texts.set_index("id") if not texts.empty else texts
    for issue, doc_id in picks:
        doc = by_id.loc[doc_id]
        raw = ""
        if doc_id in text_by_id.index:
            t = text_by_id.loc[doc_id]
            raw = " ".join(str(x) for x in (t["title"], t["content"]) if isinstance(x, str) and x)
        excerpt = mask_pii(" ".join(raw.split()))  # stored text is masked already; masking twice is harmless
        excerpt = excerpt[:EXCERPT_CHARS] + ("…" if len(excerpt) > EXCERPT_CHARS else "")
        table.add(
            [
                issue,
                doc_id,
                channel_label(doc["channel"]),
                local_time(doc["published_at"], tz),
                SENTIMENT_LABELS.get(doc["sentiment"], "未标注") if doc["sentiment"] else "未标注",
                int(doc["likes"] + doc["reposts"] + doc["comments"]),
                excerpt,
            ],
            Evidence(f"documents.id = {doc_id}", (doc_id,)),
        )
    return table

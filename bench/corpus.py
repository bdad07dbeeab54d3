"""Real texts from ``../shared/data`` for benchmarks and the store generator (read-only)."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pandas as pd

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("SENSING_SHARED_DATA", REPO.parent / "shared" / "data"))


def load_pool(limit_per_source: int = 20_000, seed: int = 7) -> pd.DataFrame:
    """A pool of real texts with their natural channel: columns title, content, channel."""
    parts = []
    smp = SHARED / "smp2020_ewect"
    for name in ("usual_train.txt", "virus_train.txt"):
        rows = json.loads((smp / name).read_text(encoding="utf-8"))
        parts.append(
            pd.DataFrame({"title": None, "content": [r["content"] for r in rows], "channel": "social"})
        )
    hot = pd.read_csv(SHARED / "weibo_hot_search_hourly" / "topics.csv.gz", usecols=["title", "description"])
    hot = hot[hot["description"].notna()]
    parts.append(
        pd.DataFrame(
            {"title": hot["title"], "content": hot["title"] + "。" + hot["description"], "channel": "social"}
        )
    )
    news = pd.read_csv(SHARED / "xinwenlianbo_news" / "items.csv.gz", keep_default_na=False)
    is_gov = news["title"].str.contains("国务院|政府|部门|政策|通知|条例", regex=True)
    for flag, channel in ((False, "news"), (True, "gov")):
        part = news[is_gov == flag]
        parts.append(
            pd.DataFrame(
                {"title": part["title"], "content": part["content"].str.slice(0, 600), "channel": channel}
            )
        )
    tip = SHARED / "tipdm2020_c"
    for name in (
        "fujian3_messages_votes.xlsx",
        "fujian4_messages_replies.xlsx",
        "fujian2_testdata_unlabeled.xlsx",
    ):
        df = pd.read_excel(tip / name)
        body = df["留言详情"].astype(str).str.split().str.join(" ")
        parts.append(
            pd.DataFrame({"title": df["留言主题"].astype(str), "content": body, "channel": "hotline"})
        )
    pool = pd.concat(
        [p.sample(min(len(p), limit_per_source), random_state=seed) for p in parts], ignore_index=True
    )
    pool = pool[pool["content"].str.len() > 0].drop_duplicates("content").reset_index(drop=True)
    return pool

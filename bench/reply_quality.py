"""Agreement of the reply-quality checks with hand labels (rules written first, then labelled).

Usage: python -m bench.reply_quality [--data ../shared/data]
Prints per-check agreement and Cohen's kappa on the development sample (30 replies, used while
writing the rules) and on the held-out sample (20 replies, labelled after the rules were frozen),
then score statistics over all 2,816 TIPDM replies.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import pandas as pd
from sklearn.metrics import cohen_kappa_score

from analytics.reply_quality import reply_checks, score_reply

REPO = Path(__file__).resolve().parents[1]


def agreement(replies: pd.Series, labels: pd.DataFrame) -> pd.DataFrame:
    pred = pd.DataFrame(
        [{k: int(v) for k, v in reply_checks(str(replies[i])).items()} for i in labels.index],
        index=labels.index,
    )
    rows = []
    for col in labels.columns:
        rows.append(
            {
                "check": col,
                "agreement": (pred[col] == labels[col]).mean(),
                "kappa": cohen_kappa_score(labels[col], pred[col]),
            }
        )
    return pd.DataFrame(rows).set_index("check")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--data", default=str(REPO.parent / "shared" / "data"))
    args = parser.parse_args()
    df = pd.read_excel(Path(args.data) / "tipdm2020_c" / "fujian4_messages_replies.xlsx").set_index(
        "留言编号"
    )
    replies = df["答复意见"]
    for name in ("reply_quality_labels.csv", "reply_quality_labels_heldout.csv"):
        labels = pd.read_csv(REPO / "tests" / "data" / name).set_index("id")
        print(f"{name} (n={len(labels)}):")
        print(agreement(replies, labels).round(2).to_string())
    start = time.perf_counter()
    totals = [
        score_reply(
            str(r.留言详情), str(r.答复意见), title=str(r.留言主题),
            asked_at=pd.to_datetime(r.留言时间, format="mixed"), replied_at=pd.to_datetime(r.答复时间, format="mixed"),
        ).total
        for r in df.itertuples()
    ]  # fmt: skip
    secs = time.perf_counter() - start
    print(pd.Series(totals).describe().round(1).to_string())
    held = agreement(
        replies, pd.read_csv(REPO / "tests" / "data" / "reply_quality_labels_heldout.csv").set_index("id")
    )
    print(f"replies_per_s: {len(totals) / secs:.0f}")
    print(f"heldout_mean_agreement: {held['agreement'].mean():.3f}")


if __name__ == "__main__":
    main()

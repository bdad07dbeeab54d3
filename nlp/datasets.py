"""Readers for the shared labelled corpora used to train and evaluate the classifiers.

Every reader returns a list of ``(text, label)`` pairs with labels already in the task's label set
(see ``nlp.base``). The corpora are read in place from the shared data directory; nothing is
copied into the repository. The directory is ``$SENSING_SHARED_DATA`` or ``<repo>/../shared/data``.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import zipfile
from collections.abc import Iterable
from pathlib import Path

from kernel.corpora import shared_data_dir

logger = logging.getLogger(__name__)

Example = tuple[str, str]

#: SMP2020-EWECT emotion -> 3-way sentiment; ``surprise`` is ambiguous and is excluded (None).
EMOTION_TO_SENTIMENT: dict[str, str | None] = {
    "happy": "positive",
    "neutral": "neutral",
    "angry": "negative",
    "sad": "negative",
    "fear": "negative",
    "surprise": None,
}

SMP_DOMAINS = ("usual", "virus")


class DatasetNotFoundError(FileNotFoundError):
    """A shared corpus file is missing."""


def _path(*parts: str) -> Path:
    path = shared_data_dir().joinpath(*parts)
    if not path.exists():
        raise DatasetNotFoundError(f"shared corpus file not found: {path}")
    return path


def read_smp(domain: str, split: str) -> list[Example]:
    """Read an SMP2020-EWECT file with its 6 emotion labels.

    Args:
        domain: ``usual`` or ``virus``.
        split: ``train`` or ``eval`` (``eval`` reads ``*_eval_labeled.txt``).
    """
    if domain not in SMP_DOMAINS:
        raise ValueError(f"unknown SMP domain {domain!r}; expected one of {SMP_DOMAINS}")
    name = f"{domain}_train.txt" if split == "train" else f"{domain}_{split}_labeled.txt"
    rows = json.loads(_path("smp2020_ewect", name).read_text(encoding="utf-8"))
    return [(str(r["content"]), str(r["label"])) for r in rows]


def to_sentiment(examples: Iterable[Example]) -> list[Example]:
    """Map SMP emotion labels to sentiment labels, dropping ``surprise``."""
    out: list[Example] = []
    for text, label in examples:
        mapped = EMOTION_TO_SENTIMENT[label]
        if mapped is not None:
            out.append((text, mapped))
    return out


def _read_binary_csv(path: Path, text_col: str) -> list[Example]:
    with path.open(encoding="utf-8-sig", newline="") as fh:
        rows = list(csv.DictReader(fh))
    return [
        (r[text_col].lstrip("\ufeff"), "positive" if r["label"].strip() == "1" else "negative")
        for r in rows
        if r.get(text_col)
    ]


def read_weibo_senti() -> list[Example]:
    """Read the 2,400-row weibo_senti_100k sample (binary positive/negative)."""
    return _read_binary_csv(_path("weibo_senti_100k_sample2400", "weibo_senti_100k_sample2400.csv"), "review")


def read_waimai() -> list[Example]:
    """Read waimai_10k food-delivery reviews (binary positive/negative)."""
    return _read_binary_csv(_path("waimai_10k", "waimai_10k.csv"), "review")


def read_chnsenticorp(split: str = "train") -> list[Example]:
    """Read ChnSentiCorp (``train`` or ``validation``; binary positive/negative)."""
    return _read_binary_csv(_path("chnsenticorp_12k", f"{split}.csv"), "text")


def read_online_shopping() -> list[Example]:
    """Read online_shopping_10_cats reviews from its zip (binary positive/negative)."""
    with zipfile.ZipFile(_path("online_shopping_10_cats", "online_shopping_10_cats.zip")) as zf:
        raw = zf.read("online_shopping_10_cats.csv").decode("utf-8-sig")
    rows = csv.DictReader(io.StringIO(raw))
    return [
        (r["review"], "positive" if r["label"].strip() == "1" else "negative")
        for r in rows
        if r.get("review")
    ]


def read_tipdm_segmented() -> list[Example]:
    """Read the TipDM 2020 C segmented 问政 messages: (space-joined jieba tokens, level-1 label)."""
    path = _path("tipdm2020_c", "fujian2_segmented_labeled.csv")
    with path.open(encoding="utf-8", newline="") as fh:
        return [(r["tokens"], r["label"]) for r in csv.DictReader(fh) if r.get("tokens")]


def read_tipdm_unlabeled(name: str = "fujian4_messages_replies.xlsx") -> list[str]:
    """Read raw 问政 messages (title + body) from one of the unlabelled TipDM spreadsheets."""
    import pandas as pd  # heavy import kept local: only needed for the optional raw check

    frame = pd.read_excel(_path("tipdm2020_c", name))
    return [f"{t}\n{b}" for t, b in zip(frame["留言主题"], frame["留言详情"], strict=True)]

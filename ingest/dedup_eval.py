"""Measuring near-duplicate detection on real texts with controlled edits (the harness of ``bench/dedup.py``).

The pool is first cleared of texts that already have a twin in it (same dedup key, or the same
first or last 12 key characters), a check independent of MinHash. A stream is then fed through
``lookup_or_add`` in order: originals and background texts first, then, shuffled together, edited
copies of the originals (positives: the answer must be the original's id) and further distinct
texts (negatives: the answer must be None). Edits: repost prefixes and chains, punctuation
changes, 1-3 characters inserted/deleted/replaced, sentence reordering, truncation with
``...全文``, added URL/mention/emoji/HTML, and combinations.
"""

from __future__ import annotations

import json
import random
import re
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from ingest.clean import normalize_text
from ingest.dedup import NearDuplicateIndex, dedup_key
from kernel.corpora import shared_data_dir

NAMES = (
    "小鱼儿爱吃鱼",
    "微博用户8812",
    "人民日报",
    "长沙发布",
    "Tiger_2020",
    "一只小可爱",
    "老王不在家",
    "新闻哥",
)
COMMENTS = (
    "转发",
    "说得好",
    "支持！",
    "太过分了",
    "怎么回事？",
    "关注",
    "[doge]",
    "顶",
    "希望早日解决",
    "同问",
)
CJK = "的一是不了人我在有他这中大来上个国到说们为子和你地出道也时年得就那要下以生会自着去之过家学对可里后"


def _repost(t: str, r: random.Random) -> str:
    name = r.choice(NAMES)
    return r.choice(
        [
            f"转发微博 //@{name}: {t}",
            f"{r.choice(COMMENTS)}//@{name}:{t}",
            f"{t}//@{name}:转发微博",
            f"回复@{name}:{t}",
            f"{r.choice(COMMENTS)}//@{name}:{r.choice(COMMENTS)}//@{r.choice(NAMES)}:{t}",
        ]
    )


def _punctuation(t: str, r: random.Random) -> str:
    swaps = {"，": ",", "。": "！", "！": "!!", "？": "?", ",": "，", "、": " "}
    out = "".join(swaps.get(ch, ch) if r.random() < 0.7 else ch for ch in t)
    return out + r.choice(["", "！！！", "。", "~"])


def _char_edits(t: str, r: random.Random) -> str:
    chars = list(t)
    for _ in range(r.randint(1, 3)):
        op = r.choice("idr")
        pos = r.randrange(len(chars)) if chars else 0
        if op == "i":
            chars.insert(pos, r.choice(CJK))
        elif op == "d" and len(chars) > 1:
            del chars[pos]
        elif chars:
            chars[pos] = r.choice(CJK)
    return "".join(chars)


def _reorder(t: str, r: random.Random) -> str:
    parts = [p for p in re.split(r"(?<=[。！？!?；;])", t) if p]
    if len(parts) < 2:
        parts = [p for p in re.split(r"(?<=[，,])", t) if p]
    if len(parts) < 2:
        return _char_edits(t, r)
    r.shuffle(parts)
    return "".join(parts)


def _truncate(t: str, r: random.Random) -> str:
    return t[: max(1, int(len(t) * r.uniform(0.6, 0.9)))] + r.choice(["...全文", "…", "...展开全文c", ""])


def _decorate(t: str, r: random.Random) -> str:
    return r.choice(
        [
            f"{t} http://t.cn/A6{r.randint(1000, 9999)}xY",
            f"@{r.choice(NAMES)} {t}",
            f"{t}[哈哈][哈哈]",
            f"<p>{t}</p><br/>",
            f"{t} 😂😂",
            f"{t} O网页链接",
        ]
    )


def _combined(t: str, r: random.Random) -> str:
    return _repost(_char_edits(_punctuation(t, r), r), r)


EDITS: dict[str, Callable[[str, random.Random], str]] = {
    "repost": _repost,
    "punctuation": _punctuation,
    "char_edits": _char_edits,
    "reorder": _reorder,
    "truncate": _truncate,
    "decorate": _decorate,
    "combined": _combined,
}


@dataclass(frozen=True)
class DedupCase:
    """One stream item: ``expected`` is the original's id for a copy, None for a distinct text."""

    doc_id: str
    text: str
    expected: str | None
    category: str  # edit name, or "distinct"


def load_texts(
    *, tipdm: bool = True, smp_files: Sequence[str] = ("usual_train.txt", "virus_train.txt")
) -> list[str]:
    """Weibo posts and (optionally) TIPDM message bodies and replies, normalised."""
    data = shared_data_dir()
    texts = [
        row["content"]
        for name in smp_files
        for row in json.loads((data / "smp2020_ewect" / name).read_text("utf-8"))
    ]
    if tipdm:
        import pandas as pd

        for name, cols in (
            ("fujian3_messages_votes.xlsx", ["留言详情"]),
            ("fujian4_messages_replies.xlsx", ["留言详情", "答复意见"]),
        ):
            frame = pd.read_excel(data / "tipdm2020_c" / name, usecols=cols)
            texts += [str(v) for col in cols for v in frame[col].dropna()]
    return [normalize_text(t) for t in texts]


def clean_pool(texts: Sequence[str], min_key: int = 15) -> list[str]:
    """Keep texts with a key of ``min_key``+ characters and no twin (same key, head or tail)."""
    seen: set[str] = set()
    keys = [dedup_key(t) for t in texts]
    counts = Counter(k for key in keys for k in (key, "h:" + key[:12], "t:" + key[-12:]))
    out = []
    for text, key in zip(texts, keys, strict=True):
        if len(key) < min_key or key in seen:
            continue
        seen.add(key)
        if counts[key] == 1 and counts["h:" + key[:12]] == 1 and counts["t:" + key[-12:]] == 1:
            out.append(text)
    return out


def build_stream(
    pool: Sequence[str], n_orig: int, n_background: int, n_neg: int, seed: int
) -> tuple[list[DedupCase], list[DedupCase]]:
    """Return (warm items, query items); queries are edited copies and distinct texts, shuffled."""
    rng = random.Random(seed)
    texts = list(pool)
    rng.shuffle(texts)
    if len(texts) < n_orig + n_background + n_neg:
        raise ValueError(f"pool of {len(texts)} texts is too small")
    warm = [DedupCase(f"o{i}", t, None, "original") for i, t in enumerate(texts[:n_orig])]
    warm += [
        DedupCase(f"b{i}", t, None, "background") for i, t in enumerate(texts[n_orig : n_orig + n_background])
    ]
    rng.shuffle(warm)
    queries = []
    edit_names = list(EDITS)
    for i, text in enumerate(texts[:n_orig]):
        name = edit_names[i % len(edit_names)]
        queries.append(DedupCase(f"q{i}", EDITS[name](text, rng), f"o{i}", name))
    start = n_orig + n_background
    queries += [DedupCase(f"n{i}", t, None, "distinct") for i, t in enumerate(texts[start : start + n_neg])]
    rng.shuffle(queries)
    return warm, queries


@dataclass
class DedupScore:
    """Outcome of :func:`run_stream`."""

    precision: float
    recall: float
    f1: float
    items_per_second: float
    recall_by_edit: dict[str, float]
    wrong: list[tuple[DedupCase, str | None]]


def run_stream(warm: Sequence[DedupCase], queries: Sequence[DedupCase], **index_kwargs: object) -> DedupScore:
    """Feed everything through ``lookup_or_add``; score the answers to the queries."""
    index = NearDuplicateIndex(**index_kwargs)  # type: ignore[arg-type]
    t0 = time.process_time()
    index.lookup_or_add_many([(case.doc_id, case.text) for case in warm])
    answers = index.lookup_or_add_many([(case.doc_id, case.text) for case in queries])
    elapsed = time.process_time() - t0
    tp = fp = 0
    per_edit: Counter[str] = Counter()
    per_edit_total: Counter[str] = Counter()
    wrong: list[tuple[DedupCase, str | None]] = []
    for case, got in zip(queries, answers, strict=True):
        if case.expected is not None:
            per_edit_total[case.category] += 1
        if got is None:
            if case.expected is not None:
                wrong.append((case, got))
            continue
        if got == case.expected:
            tp += 1
            per_edit[case.category] += 1
        else:
            fp += 1
            wrong.append((case, str(got)))
    positives = sum(per_edit_total.values())
    precision = tp / (tp + fp) if tp + fp else 1.0
    recall = tp / positives if positives else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return DedupScore(
        precision,
        recall,
        f1,
        (len(warm) + len(queries)) / elapsed,
        {k: per_edit[k] / per_edit_total[k] for k in per_edit_total},
        wrong,
    )

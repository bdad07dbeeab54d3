"""Precision, recall and speed of ingest.dedup.NearDuplicateIndex on real texts with controlled edits.

Texts: SMP2020 Weibo posts (usual + virus, the latter all on one topic) and TIPDM 问政 messages and
government replies (one domain, heavy boilerplate), read in place from the shared data directory.
The pool is first cleared of texts that already have a twin in it (same dedup key, or the same
first or last 12 key characters), a check independent of MinHash.

A stream is then fed through ``lookup_or_add`` in order: originals and background texts first,
then, shuffled together, edited copies of the originals (positives: the answer must be the
original's id) and further distinct texts (negatives: the answer must be None). Edits: repost
prefixes and chains, punctuation changes, 1-3 characters inserted/deleted/replaced, sentence
reordering, truncation with ``...全文``, added URL/mention/emoji/HTML, and combinations.

Speeds are items per second of CPU time of this process (``time.process_time``), so they mean
"on one core" even when the machine is shared.

Run: ``.venv/bin/python bench/dedup.py [--originals 4000]``. Last line: ``near_dup_f1: X``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machine: stay single-threaded
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # run as a script: python bench/x.py
    sys.path.insert(0, _ROOT)

from ingest.dedup import NearDuplicateIndex  # noqa: E402
from ingest.dedup_eval import build_stream, clean_pool, load_texts, run_stream  # noqa: E402


def measure_speed(texts: Sequence[str], **index_kwargs: object) -> float:
    """Items per second of ``lookup_or_add`` over ``texts`` (one core)."""
    index = NearDuplicateIndex(**index_kwargs)  # type: ignore[arg-type]
    t0 = time.process_time()
    index.lookup_or_add_many(enumerate(texts))
    return len(texts) / (time.process_time() - t0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--originals", type=int, default=4000)
    parser.add_argument("--background", type=int, default=20000)
    parser.add_argument("--negatives", type=int, default=4000)
    parser.add_argument("--threshold", type=float, default=0.8)
    parser.add_argument("--num-perm", type=int, default=64)
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args()
    kwargs = {"threshold": args.threshold, "num_perm": args.num_perm}

    weibo = load_texts(tipdm=False)
    speed = measure_speed(weibo, **kwargs)
    mean_len = sum(map(len, weibo)) / len(weibo)
    print(
        f"speed: {len(weibo)} Weibo posts (mean {mean_len:.0f} chars), lookup_or_add: {speed:,.0f} items/s (CPU time)"
    )

    pool = clean_pool(load_texts())
    warm, queries = build_stream(pool, args.originals, args.background, args.negatives, args.seed)
    print(
        f"pool {len(pool)} texts; warm {len(warm)}; queries {len(queries)} "
        f"({args.originals} edited copies, {args.negatives} distinct)"
    )
    score = run_stream(warm, queries, **kwargs)
    for name, value in sorted(score.recall_by_edit.items()):
        print(f"  recall {name:<12} {value:.3f}")
    for case, got in score.wrong[:10]:
        print(f"  {'MISS' if got is None else 'WRONG'} {case.category}: {case.text[:60]!r} -> {got}")
    print(f"precision: {score.precision:.4f}")
    print(f"recall: {score.recall:.4f}")
    print(f"items_per_s: {score.items_per_second:,.0f} (CPU time; mixed stream incl. long 问政 texts)")
    print(f"near_dup_f1: {score.f1:.4f}")


if __name__ == "__main__":
    main()

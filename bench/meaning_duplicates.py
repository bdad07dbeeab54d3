"""How well cosine similarity of the stored e5 embeddings finds messages that restate one case.

The TipDM 问政 corpus (``tipdm2020_c/fujian2_segmented_labeled.csv``) holds re-posts of one message,
often under another title or with an edited opening: :func:`nlp.train_data.group_near_duplicates`
groups rows that share their first 8 or last 12 tokens. A fixed sample of those groups plus
messages with no twin is embedded as the encoder tier embeds a document (text cut to 160
characters, packed to int8 and unpacked, as :mod:`storage.similar` reads it), and every pair is
scored: "same group" is the truth, ``cosine >= threshold`` the guess.

The truth is a lower bound on the real precision: two citizens describing one case in their own
words are "different groups" here, and the worst such pairs are printed for a person to read.
"Reworded" pairs are same-group pairs whose first 8 tokens differ (another title or opening):
the case the hint exists for; the others start alike and are near-certain.

Vectors are cached under ``--cache-dir`` (the encoder runs at about 15 texts/s on one core).
Run: ``python -m bench.meaning_duplicates [--groups 180 --singles 220]``.
Last line: ``meaning_duplicate_precision: X`` at :data:`storage.similar.MEANING_DUPLICATE_THRESHOLD`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machine: stay single-threaded
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # run as a script: python bench/x.py
    sys.path.insert(0, str(_ROOT))

import numpy as np  # noqa: E402

from nlp import datasets as ds  # noqa: E402
from nlp.encoder import TextEncoder, embed_cached, pack, unpack  # noqa: E402
from nlp.train_data import group_near_duplicates  # noqa: E402
from storage.similar import MEANING_DUPLICATE_THRESHOLD  # noqa: E402


def sample_rows(groups: list[int], n_groups: int, n_singles: int, seed: int) -> list[int]:
    """Row indexes: every member of ``n_groups`` random multi-row groups, then ``n_singles`` loners."""
    members: dict[int, list[int]] = defaultdict(list)
    for i, g in enumerate(groups):
        members[g].append(i)
    multi = sorted(g for g, m in members.items() if len(m) > 1)
    singles = sorted(m[0] for m in members.values() if len(m) == 1)
    rng = random.Random(seed)
    picked = rng.sample(multi, min(n_groups, len(multi)))
    rows = [i for g in sorted(picked) for i in members[g]]
    return rows + sorted(rng.sample(singles, min(n_singles, len(singles))))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--groups", type=int, default=180, help="multi-row groups sampled")
    parser.add_argument("--singles", type=int, default=220, help="messages without a twin sampled")
    parser.add_argument("--seed", type=int, default=21)
    parser.add_argument("--cache-dir", type=Path, default=_ROOT / "var" / "cache" / "meaning_duplicates")
    args = parser.parse_args()

    segmented = ds.read_tipdm_segmented()
    tokens = [t for t, _ in segmented]
    groups = group_near_duplicates(tokens)
    rows = sample_rows(groups, args.groups, args.singles, args.seed)
    texts = ["".join(tokens[i].split()) for i in rows]  # raw-like: the segmented tokens glued back
    label = np.array([groups[i] for i in rows])
    head = [tuple(tokens[i].split()[:8]) for i in rows]
    print(f"corpus {len(segmented)} rows; sample {len(rows)} texts ({len(set(label))} groups)")

    t0 = time.process_time()
    encoder: TextEncoder | None = None

    def embed(chunk: Sequence[str]) -> np.ndarray:
        nonlocal encoder
        encoder = encoder or TextEncoder()
        return encoder.embed(chunk)

    vectors = embed_cached(texts, args.cache_dir, embed, chunk=100)
    print(f"embedded (or read from {args.cache_dir}) in {time.process_time() - t0:.1f} s CPU")
    stored = unpack(pack(vectors))  # what storage reads back: int8, re-normalised

    sims = stored @ stored.T
    iu = np.triu_indices(len(rows), k=1)
    cos = sims[iu]
    same = label[iu[0]] == label[iu[1]]
    reworded = same & np.array([head[a] != head[b] for a, b in zip(*iu, strict=True)])
    print(
        f"pairs {len(cos):,}: same case {int(same.sum())} ({int(reworded.sum())} reworded), "
        f"different {int((~same).sum()):,}"
    )
    print(
        f"cosine of same-case pairs: median {np.median(cos[same]):.3f}, min {cos[same].min():.3f}; "
        f"reworded median {np.median(cos[reworded]):.3f}; different: median {np.median(cos[~same]):.3f}, "
        f"99.9th pct {np.quantile(cos[~same], 0.999):.3f}, max {cos[~same].max():.3f}"
    )
    print(f"{'threshold':>9} {'flagged':>8} {'precision':>9} {'recall':>7} {'reworded':>8} {'f1':>6}")
    results = {}
    for threshold in np.round(np.arange(0.86, 0.985, 0.01), 2):
        hit = cos >= threshold
        tp = int((hit & same).sum())
        precision = tp / int(hit.sum()) if hit.any() else 1.0
        recall = tp / int(same.sum())
        rw = int((hit & reworded).sum()) / max(int(reworded.sum()), 1)
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        results[float(threshold)] = precision
        print(f"{threshold:>9.2f} {int(hit.sum()):>8} {precision:>9.3f} {recall:>7.3f} {rw:>8.3f} {f1:>6.3f}")

    chosen = MEANING_DUPLICATE_THRESHOLD
    hit = cos >= chosen
    false = np.flatnonzero(hit & ~same)
    print(f"\nfalse positives at {chosen:.2f} ({len(false)}), most similar first:")
    for k in false[np.argsort(-cos[false])][:8]:
        a, b = iu[0][k], iu[1][k]
        print(f"  {cos[k]:.3f}  {texts[a][:40]!r}\n         {texts[b][:40]!r}")
    missed = np.flatnonzero(~hit & reworded)
    print(f"reworded pairs missed at {chosen:.2f} ({len(missed)}), least similar first:")
    for k in missed[np.argsort(cos[missed])][:5]:
        a, b = iu[0][k], iu[1][k]
        print(f"  {cos[k]:.3f}  {texts[a][:40]!r}\n         {texts[b][:40]!r}")
    tp = int((hit & same).sum())
    precision = tp / int(hit.sum()) if hit.any() else 1.0
    print(f"meaning_duplicate_recall: {tp / int(same.sum()):.4f}")
    print(
        f"meaning_duplicate_reworded_recall: {int((hit & reworded).sum()) / max(int(reworded.sum()), 1):.4f}"
    )
    print(f"meaning_duplicate_precision: {precision:.4f}")


if __name__ == "__main__":
    main()

"""Recall and false-positive rate of ingest.pii.mask_pii on real sentences with planted values.

Real carrier sentences (TIPDM 问政 messages and replies, SMP2020 Weibo posts, read in place from the
shared data directory) get one planted value each: a generated, valid personal datum (positive) or
a hard negative (order numbers, dates, times, prices, service numbers, long digit strings failing
checks, credit codes, name cues without a name, numbered things that are no address ...). IDs with a
wrong check digit are positives: hotline staff mistype them. A positive counts as found when one
match covers its core (the digits or name that must be hidden); a negative is a false positive
when any match touches it.

Names and addresses are also counted where they occur naturally: the unmodified carriers (TIPDM
messages hold real names and home addresses after 我叫 / 举报人 / 家住 ...) are searched and the
matches printed, so they can be read and judged; ``name_address_fire_rate`` is the share of
carrier sentences where name or address masking fires at all (an upper bound of its false
positives there).

Run: ``.venv/bin/python bench/pii.py [--n 12000] [--seed 7]``. Last line: ``pii_recall: X %``.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import time
from collections import Counter
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machine: stay single-threaded
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:  # run as a script: python bench/x.py
    sys.path.insert(0, _ROOT)

from ingest.pii import find_pii  # noqa: E402
from ingest.pii_eval import (  # noqa: E402
    CUE_KINDS,
    CUE_NEGATIVES,
    POSITIVES,
    build_cases,
    load_carriers,
    random_digits,
    score_cases,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=12000, help="positives and negatives each")
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--show", type=int, default=40, help="natural name/address matches to print")
    args = parser.parse_args()

    t0 = time.perf_counter()
    carriers = load_carriers(40000, args.seed)
    cases = build_cases(carriers, args.n, args.n, args.seed)
    print(
        f"carriers: {len(carriers)} sentences; cases: {args.n} positives, {args.n} negatives "
        f"(built in {time.perf_counter() - t0:.1f} s)"
    )

    # Matches in the unmodified carriers: real contact numbers in government replies, mostly, and
    # the names and home addresses citizens give in their messages.
    native_matches = [(text, m) for text in carriers for m in find_pii(text)]
    native = Counter(m.kind for _text, m in native_matches)
    print("matches in unmodified carriers:", dict(native) or "none")
    cue_matches = [(text, m) for text, m in native_matches if m.kind in CUE_KINDS]
    fired = len({id(text) for text, _m in cue_matches})
    for text, m in cue_matches[: args.show]:
        print(f"  native {m.kind:<7} {m.text!r:<24} in {text[max(0, m.start - 10) : m.end + 8]!r}")

    t0 = time.process_time()
    score = score_cases(cases)
    elapsed = time.process_time() - t0
    for category, (hits, total) in sorted(score.by_category.items()):
        label = "recall" if category in POSITIVES else "fp"
        print(f"  {category:<18} {label:<6} {hits / total:7.2%}  ({hits}/{total})")
    for case in score.misses[:8] + score.false_positives[:8]:
        print(
            f"  {'MISS' if case.kind else 'FP  '} {case.category}: {case.text[max(0, case.start - 12) : case.end + 6]!r}"
        )
    print(f"throughput: {len(cases) / elapsed:,.0f} texts/s (find_pii, CPU time, one core)")

    # Not in the headline: bare random digit strings with no context. Those that pass Luhn with a
    # card-scheme prefix (or the ID check) cannot be told from real numbers and are masked by design.
    rng = random.Random(args.seed + 1)
    bare = [random_digits(rng, rng.randint(12, 19)) for _ in range(5000)]
    masked = sum(1 for s in bare if find_pii(f"号码{s}。"))
    print(
        f"info: bare random 12-19 digit strings masked: {masked / len(bare):.2%} (by design, see docstring)"
    )
    cue_pos = [score.by_category[c] for c in CUE_KINDS]
    cue_neg = [score.by_category[c] for c in CUE_NEGATIVES]
    print(
        f"name_address_recall: {sum(h for h, _ in cue_pos) / sum(t for _, t in cue_pos):.2%} (planted, after a cue)"
    )
    print(f"name_address_fp_rate: {sum(h for h, _ in cue_neg) / sum(t for _, t in cue_neg):.2%} (planted)")
    print(
        f"name_address_fire_rate: {fired / len(carriers):.3%} of {len(carriers)} unmodified sentences "
        f"({len(cue_matches)} matches, listed above for review)"
    )
    print(f"pii_fp_rate: {score.fp_rate:.2%}")
    print(f"pii_recall: {score.recall * 100:.2f} %")


if __name__ == "__main__":
    main()

"""Backfill time of a subject (专题) over a generated store, through the keyword index.

Creating or editing a subject checks the whole store against it (``storage.subjects.backfill_subject``):
the keyword index (SQLite: the FTS5 bigram table; PostgreSQL: the GIN bigram index) gives the
candidates for the expression's words, which are then read and checked in batches. This script
builds the index if needed (timed apart), then backfills subjects of different reach: a rare
phrase, a medium issue, a common OR group (a tenth of the store), and negation-only expressions
(no index help: every document in the channel, or in the store, is a candidate). First, the plain-Python reading: every document read and
matched in Python (what a backfill without the index would do), in the same process.

Usage: ``OMP_NUM_THREADS=1 python -m bench.subjects_backfill [--db var/bench.db | --url URL]``
(build the store first: ``python -m bench.generate --n 1000000``).
Last line: ``subject_backfill_s: N s`` (the slowest indexed subject).
"""

from __future__ import annotations

import argparse
import time

from sqlalchemy import Engine, delete, func, select

from analytics.subjects import compile_subject, spec_from
from bench import machine
from storage import schema as s
from storage import search_index as si
from storage.db import make_engine, write_tx
from storage.subjects import Subject, backfill_subject, create_subject, get_subject

SUBJECTS = [  # name, expression, channels
    ("bench-rare", '"核酸 检测" OR 排队', ()),
    ("bench-medium", "(疫情 OR 新冠 OR 隔离) NOT 演习", ()),
    ("bench-common", "今天 OR 我们 OR 中国 OR 喜欢", ()),
    ("bench-negation", "NOT 疫情", ("news",)),
    ("bench-everything", "NOT 疫情", ()),
]


def _fresh(engine: Engine, name: str, expression: str, channels: tuple[str, ...]) -> Subject:
    with write_tx(engine) as conn:
        conn.execute(delete(s.subjects).where(s.subjects.c.name == name))
    return create_subject(engine, name, expression, "bench", channels=list(channels))


def _full_scan(engine: Engine, subject: Subject) -> tuple[int, float]:
    """The naive backfill: read every document (with its tags) and match it in Python."""
    matcher = compile_subject(spec_from(subject))
    d, t = s.documents, s.doc_tags
    cols = [d.c.id, d.c.title, d.c.content, d.c.channel, d.c.source_id, t.c.province, t.c.city,
            t.c.district, t.c.category]  # fmt: skip
    start, hits = time.perf_counter(), 0
    with engine.connect() as conn:
        result = conn.execution_options(yield_per=20_000).execute(
            select(*cols).select_from(d.outerjoin(t, t.c.document_id == d.c.id))
        )
        for row in result:
            hits += matcher.matches(dict(row._mapping))
    return hits, time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", default="var/bench.db")
    parser.add_argument("--url", default=None, help="database URL (default: sqlite file --db)")
    args = parser.parse_args()
    engine = make_engine(args.url or f"sqlite:///{args.db}")
    with engine.connect() as conn:
        n_docs = int(conn.execute(select(func.count()).select_from(s.documents)).scalar_one())
    print(f"{machine.describe()}; store: {n_docs} documents ({engine.dialect.name})")
    if engine.dialect.name == "sqlite":
        t0 = time.perf_counter()
        si.create_index(engine)
        indexed = si.index_documents(engine, batch=20_000)
        print(f"keyword index: {indexed} documents indexed now in {time.perf_counter() - t0:.1f}s")
    medium = _fresh(engine, *SUBJECTS[1])
    hits, secs = _full_scan(engine, medium)
    print(f"plain Python (read every document, match in Python): {secs:.2f}s, {hits} matched ({medium.name})")
    worst = 0.0
    for name, expression, channels in SUBJECTS:
        subject = _fresh(engine, name, expression, channels)
        matcher = compile_subject(spec_from(subject))
        result = backfill_subject(engine, subject, matcher.matches, matcher.prefilter())
        again = backfill_subject(
            engine, get_subject(engine, name) or subject, matcher.matches, matcher.prefilter()
        )
        assert again.matched == result.matched and again.added == 0
        indexed = matcher.prefilter() is not None
        if indexed:
            worst = max(worst, result.seconds)
        print(
            f"  {name:<15} {expression!r:<32} candidates {result.candidates:>8}, matched {result.matched:>7}:"
            f" {result.seconds:6.2f}s (again: {again.seconds:5.2f}s){'' if indexed else '  [no index: NOT only]'}"
        )
    with write_tx(engine) as conn:
        conn.execute(delete(s.subjects).where(s.subjects.c.name.like("bench-%")))
    print(f"subject_backfill_s: {worst:.2f} s")


if __name__ == "__main__":
    main()

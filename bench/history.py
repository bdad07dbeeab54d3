"""Time and peak memory to give an imported archive the full treatment (``sensing process --history``).

Builds a temporary SQLite store from the shared 12345 / 问政 exports (TipDM 2020 C 附件3 +
附件4: 7,142 messages 2011-2020, 2,816 with replies) with ``sensing import``, then runs the
history processing in a child process, phase by phase, as ``sensing process --history`` does:
tagging the backlog, topics on sliding windows over the whole range
(:func:`nlp.history_topics.fit_history_topics`), reply-quality scores, rollups. It prints each
phase's seconds, the child's peak RSS, how many first copies got a topic and how many weeks with
at least 30 documents have ranked hot issues (the weekly report's ranking, :mod:`reports.ranking`).

Run: ``python -m bench.history [--window-days 14] [--keep DIR]``.
Last line: ``history_process_seconds: X s``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("OMP_NUM_THREADS", "1")  # shared 2-core machine: stay single-threaded
_ROOT = Path(__file__).resolve().parents[1]
if str(_ROOT) not in sys.path:  # run as a script: python bench/x.py
    sys.path.insert(0, str(_ROOT))

from bench import machine  # noqa: E402
from kernel.corpora import shared_data_dir  # noqa: E402

FILES = ("fujian3_messages_votes.xlsx", "fujian4_messages_replies.xlsx")

# Runs in the child, so its peak RSS is the history processing's own.
CHILD = """
import json, resource, sys, time
from datetime import timedelta
from sensing.app import load_app
from nlp.jobs import build_tagger, tag_batch
from nlp.history_topics import fit_history_topics
from sensing.jobs import score_replies
from storage.rollups.refresh import refresh_rollups

app = load_app(sys.argv[1])
out = {}
t = time.perf_counter()
tagger = build_tagger(app.settings)
tagged = 0
while (n := tag_batch(app.engine, tagger, app.settings.nlp.batch_size)) != 0:
    tagged += max(n, 0)
out["tagging"] = time.perf_counter() - t; out["tagged"] = tagged
out["rss_after_tagging_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
out["topics_counts"] = fit_history_topics(app.engine, app.settings)
out["topics"] = time.perf_counter() - t
out["rss_after_topics_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
t = time.perf_counter()
out["scored"] = score_replies(app.engine, app.settings)
out["replies"] = time.perf_counter() - t
t = time.perf_counter()
refresh_rollups(app.engine, tz=app.settings.app.timezone, low_confidence=app.settings.nlp.low_confidence)
out["rollups"] = time.perf_counter() - t
out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""

# Weeks with >= 30 documents and how many of them the weekly report ranks hot issues for.
WEEKS = """
import json, sys
from collections import Counter
from datetime import UTC
from sqlalchemy import select
from sensing.app import load_app
from reports.ranking import rank_topics
from reports.weekly import week_bounds
from storage import schema as s
from storage.types import iso_week
from zoneinfo import ZoneInfo

app = load_app(sys.argv[1])
tz = app.settings.app.timezone
with app.engine.connect() as conn:
    stamps = [r[0] for r in conn.execute(select(s.doc_tags.c.published_at))]
weeks = Counter(iso_week(t.astimezone(ZoneInfo(tz)).date()) for t in stamps)
busy = sorted(w for w, n in weeks.items() if n >= 30)
ranked = 0
for week in busy:
    start, end = (t.astimezone(UTC) for t in week_bounds(week, tz))
    ranked += int(not rank_topics(app.engine, app.settings, start, end).empty)
print(json.dumps({"busy_weeks": len(busy), "ranked_weeks": ranked}))
"""


def sensing(config: Path, *args: str) -> None:
    code = "import sys; from sensing.cli import main; sys.argv[0] = 'sensing'; main()"
    cmd = [sys.executable, "-c", code, "--config", str(config), *args]
    subprocess.run(cmd, check=True, cwd=_ROOT, stdout=subprocess.DEVNULL)


def child(script: str, config: Path) -> dict[str, Any]:
    done = subprocess.run(
        [sys.executable, "-c", script, str(config)], cwd=_ROOT, capture_output=True, text=True
    )
    if done.returncode != 0:
        sys.exit(f"the child process failed:\n{done.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--window-days", type=int, default=14, help="nlp.topics.window_days (default 14)")
    parser.add_argument("--keep", type=Path, default=None, help="build the store in DIR and keep it")
    args = parser.parse_args()
    print(machine.describe())
    data = shared_data_dir() / "tipdm2020_c"
    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-history-"))
    folder.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("BENCH_AUTHOR_KEY", "bench-history")
    config = folder / "config.yaml"
    config.write_text(
        f"app: {{data_dir: {folder / 'var'}, author_hash_key: $env:BENCH_AUTHOR_KEY}}\n"
        f'database: {{url: "sqlite:///{folder / "store.db"}"}}\n'
        "logging: {level: WARNING, json_logs: false}\n"
        f"nlp: {{topics: {{window_days: {args.window_days}}}}}\n"
        "sources:\n"
        f"  - {{name: wenzheng, kind: hotline_files, channel: hotline, options: {{folder: {folder / 'in'}}}}}\n",
        encoding="utf-8",
    )
    start = time.perf_counter()
    sensing(config, "init")
    for name in FILES:
        sensing(config, "import", str(data / name), "--source", "wenzheng", "--no-progress")
    print(f"import of {' + '.join(FILES)}: {time.perf_counter() - start:.1f} s")
    out = child(CHILD, config)
    counts = out["topics_counts"]
    assert isinstance(counts, dict)
    total = sum(float(out[k]) for k in ("tagging", "topics", "replies", "rollups"))
    print(
        f"tagging {out['tagged']} documents: {float(out['tagging']):.1f} s; "
        f"topics over {counts['windows']} windows: {float(out['topics']):.1f} s "
        f"({counts['assigned']} of {counts['documents']} first copies in a topic); "
        f"reply scores ({out['scored']}): {float(out['replies']):.1f} s; "
        f"rollups: {float(out['rollups']):.1f} s"
    )
    weeks = child(WEEKS, config)
    print(
        f"weeks with >= 30 documents: {weeks['busy_weeks']}, with ranked hot issues: {weeks['ranked_weeks']}"
    )
    print(
        f"peak RSS after tagging: {out['rss_after_tagging_mb']:.0f} MB, after topics: "
        f"{out['rss_after_topics_mb']:.0f} MB, at the end: {out['peak_rss_mb']:.0f} MB"
    )
    print(f"history_peak_memory: {float(out['peak_rss_mb']):.0f} MB")
    print(f"history_process_seconds: {total:.1f} s")


if __name__ == "__main__":
    main()

"""Article extraction on labelled real pages: title, publication time, body recall and precision.

Reads a labels folder (``labels.jsonl`` + ``pages/<id>.html``, default ``<shared data>/web_pages``)
and runs two extractors on every page: trafilatura's defaults (the baseline) and
:func:`ingest.web.extract.extract_article`, the extraction the ``web`` collector and
``sensing extract`` use. Per extractor it prints

* title accuracy: the extracted title equals the label (whitespace ignored);
* published accuracy: same minute, or same day where the label shows no time (source zone
  Asia/Shanghai), and beside it the same day only (``(day)``: trafilatura gives no time of day);
* body recall: the share of ``with`` snippets found in the text (whitespace runs collapsed to one
  space, as the labels were checked: a sentence split into lines by inline markup is a miss);
* body precision: the share of pages whose text holds none of the ``without`` snippets (whitespace
  ignored, so a leak is counted however it is spaced);

for two halves of the sites (split by a hash of the site name, not by hand: ``dev`` is the half
the rules were developed on, ``check`` the other) and for all pages. The last line is
``web_extraction_score: X``, the mean of the four figures of our extractor on all pages.

Run: ``python -m bench.web_extraction [--labels DIR] [--show-failures]``.
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

os.environ.setdefault("OMP_NUM_THREADS", "1")
_ROOT = str(Path(__file__).resolve().parents[1])
if _ROOT not in sys.path:
    sys.path.insert(0, _ROOT)

from bench.machine import describe  # noqa: E402
from ingest.web.evaluate import run  # noqa: E402
from nlp.datasets import shared_data_dir  # noqa: E402


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", type=Path, default=None, help="folder with labels.jsonl and pages/")
    parser.add_argument("--show-failures", action="store_true", help="print our misses page by page")
    args = parser.parse_args(argv)
    folder = args.labels or shared_data_dir() / "web_pages"
    print(describe())
    results = run(folder, args.show_failures)
    print(f"labels: {folder.name} ({int(results['minsheng']['all']['pages'])} pages)")
    print(
        f"{'extractor':22} {'split':6} {'pages':>5} {'title':>6} {'publ.':>6} {'(day)':>6} "
        f"{'recall':>6} {'prec.':>6} {'mean':>6}"
    )
    for name, splits in results.items():
        for split, figures in splits.items():
            mean = sum(figures[k] for k in ("title", "published", "recall", "precision")) / 4
            print(
                f"{name:22} {split:6} {int(figures['pages']):5d} {figures['title']:6.2f} "
                f"{figures['published']:6.2f} {figures['day']:6.2f} {figures['recall']:6.2f} {figures['precision']:6.2f} {mean:6.3f}"
            )
        print(f"{name:22} {splits['all']['ms_per_page']:.0f} ms per page")
    ours = results["minsheng"]["all"]
    score = sum(ours[k] for k in ("title", "published", "recall", "precision")) / 4
    print(f"web_extraction_score: {score:.3f}")


if __name__ == "__main__":
    main()

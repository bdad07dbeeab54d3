"""Scoring article extraction on labelled pages (the harness of ``bench/web_extraction.py``).

Title accuracy, published-time accuracy (same minute, or same day where no time is shown), body recall
(share of ``with`` snippets found) and body precision (share of pages with none of the ``without``
snippets), for our extractor and for trafilatura's defaults.
"""

from __future__ import annotations

import json
import re
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from ingest.web.decode import decode_html
from ingest.web.extract import extract_article

ZONE = ZoneInfo("Asia/Shanghai")
_WS = re.compile(r"\s+")


@dataclass
class Extracted:
    title: str | None
    published: datetime | None
    text: str


Extractor = Callable[[str, str | None], Extracted]


def _squash(text: str | None) -> str:
    """Whitespace removed (titles: a headline broken by ``<br>`` still matches)."""
    return _WS.sub("", (text or "").replace("\u3000", "").replace("\xa0", ""))


def _collapse(text: str | None) -> str:
    """Whitespace runs (U+3000, NBSP too) as one space: how the labels' snippets were checked."""
    return _WS.sub(" ", (text or "").replace("\u3000", " ").replace("\xa0", " ")).strip()


def split_of(site: str) -> str:
    """``dev`` or ``check``: a fixed hash of the site name, so a site is wholly in one half."""
    return "dev" if zlib.crc32(site.encode("utf-8")) % 3 else "check"


def trafilatura_defaults(html: str, url: str | None) -> Extracted:
    """The baseline: ``trafilatura.bare_extraction`` with its defaults and metadata."""
    import trafilatura

    doc = trafilatura.bare_extraction(html, url=url, with_metadata=True)
    if doc is None:
        return Extracted(None, None, "")
    data = doc.as_dict() if hasattr(doc, "as_dict") else dict(doc)
    published = None
    if data.get("date"):
        try:
            published = datetime.fromisoformat(str(data["date"])).replace(tzinfo=ZONE)
        except ValueError:
            published = None
    return Extracted(data.get("title"), published, str(data.get("text") or ""))


def minsheng(html: str, url: str | None) -> Extracted:
    """The collector's extraction (:func:`ingest.web.extract.extract_article`)."""
    article = extract_article(html, url=url, tz="Asia/Shanghai")
    return Extracted(article.title, article.published, article.text)


def _time_ok(label: str | None, got: datetime | None) -> bool:
    if not label:
        return got is None
    if got is None:
        return False
    local = got.astimezone(ZONE)
    if len(label.strip()) <= 10:
        return local.strftime("%Y-%m-%d") == label.strip()
    return local.strftime("%Y-%m-%d %H:%M") == label.strip()


def score_page(label: dict[str, Any], got: Extracted) -> dict[str, float]:
    """The four figures of one page (recall as a share of its ``with`` snippets)."""
    body = _collapse(got.text)
    found = [s for s in label["with"] if _collapse(s) in body]
    leaked = [s for s in label["without"] if _squash(s) in _squash(got.text)]  # leaks: any spacing
    return {
        "title": float(_squash(got.title) == _squash(label["title"])),
        "published": float(_time_ok(label.get("published"), got.published)),
        "day": float(_time_ok((label.get("published") or "")[:10] or None, got.published)),
        "recall": len(found) / max(1, len(label["with"])),
        "precision": float(not leaked),
    }


def load_labels(folder: Path) -> list[dict[str, Any]]:
    with (folder / "labels.jsonl").open(encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def page_html(folder: Path, label: dict[str, Any]) -> str:
    data = (folder / "pages" / f"{label['id']}.html").read_bytes()
    return decode_html(data).text


def _mean(rows: list[dict[str, float]], key: str) -> float:
    return sum(r[key] for r in rows) / len(rows) if rows else float("nan")


def run(folder: Path, show_failures: bool = False) -> dict[str, dict[str, dict[str, float]]]:
    labels = load_labels(folder)
    extractors: dict[str, Extractor] = {"trafilatura defaults": trafilatura_defaults, "minsheng": minsheng}
    results: dict[str, dict[str, dict[str, float]]] = {}
    for name, extractor in extractors.items():
        per_split: dict[str, list[dict[str, float]]] = {"dev": [], "check": [], "all": []}
        started = time.perf_counter()
        for label in labels:
            html = page_html(folder, label)
            got = extractor(html, label.get("url"))
            row = score_page(label, got)
            per_split[split_of(label["site"])].append(row)
            per_split["all"].append(row)
            if show_failures and name == "minsheng" and min(row.values()) < 1:
                print(
                    f"  {label['id']}: {row} title={got.title!r} published={got.published} "
                    f"label=({label['title']!r}, {label.get('published')!r})"
                )
        elapsed = time.perf_counter() - started
        results[name] = {
            split: {k: _mean(rows, k) for k in ("title", "published", "day", "recall", "precision")}
            | {"pages": float(len(rows))}
            for split, rows in per_split.items()
        }
        results[name]["all"]["ms_per_page"] = elapsed / max(1, len(labels)) * 1000
    return results

"""What one run of one source did: the counts behind its ``ingest_runs`` health row."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any


@dataclass
class RunReport:
    """What one run of one source did (also stored as its ``ingest_runs`` row)."""

    source: str
    run_id: int | None = None
    status: str = "running"
    fetched: int = 0
    new: int = 0
    duplicates: int = 0  # already stored: same source and external id
    exact_copies: int = 0  # new rows linked to a first copy with the same content hash
    near_copies: int = 0  # new rows linked to a near-duplicate first copy
    skipped: Counter[str] = field(default_factory=Counter)
    flagged: Counter[str] = field(default_factory=Counter)
    dead_lettered: int = 0  # items set aside in dead_letters (see ``sensing deadletter``)
    errors: int = 0
    error: str | None = None
    batches: int = 0
    latency_ms: int = 0

    @property
    def n_skipped(self) -> int:
        return sum(self.skipped.values())

    def skip_reasons(self) -> dict[str, int]:
        """Skipped items by reason, plus flagged (kept) items as ``flagged:<reason>``."""
        out = dict(self.skipped)
        out.update({f"flagged:{k}": v for k, v in self.flagged.items()})
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready counts (what the scheduler records for the job)."""
        return {
            "source": self.source,
            "status": self.status,
            "fetched": self.fetched,
            "new": self.new,
            "duplicates": self.duplicates,
            "exact_copies": self.exact_copies,
            "near_copies": self.near_copies,
            "skipped": self.n_skipped,
            "skip_reasons": self.skip_reasons(),
            "dead_lettered": self.dead_lettered,
            "errors": self.errors,
            "error": self.error,
            "latency_ms": self.latency_ms,
        }

    def summary(self) -> str:
        line = (
            f"source {self.source}: {self.status}; fetched {self.fetched}, new {self.new} "
            f"({self.exact_copies} exact + {self.near_copies} near copies linked), "
            f"already stored {self.duplicates}, skipped {self.n_skipped}"
        )
        if self.skipped:
            line += " (" + ", ".join(f"{k} {v}" for k, v in self.skipped.most_common()) + ")"
        if self.flagged:
            line += "; flagged " + ", ".join(f"{k} {v}" for k, v in self.flagged.most_common())
        if self.dead_lettered:
            line += f"; dead-lettered {self.dead_lettered}"
        line += f"; errors {self.errors}; {self.latency_ms} ms"
        if self.error:
            line += f"; last error: {self.error}"
        return line

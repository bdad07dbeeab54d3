"""Alert replay (回溯): run the configured rules over history and store what would have fired.

:func:`replay_rules` evaluates every enabled rule at each step of ``[start, end)`` as if it were
that moment, with the same rule functions (the ``minsheng.rules`` entry points) and the same
evaluation context as the live engine, so analysts can see how a past event would have been
caught and tune the rules on their own data. Consecutive firings of a rule x key (no longer apart
than the step plus the rule's auto-resolve hold) make one episode, stored in ``alert_replays``
(:mod:`storage.alert_replays`). Nothing is notified: no ``alerts`` row, no outbox row.

Rules about the present are not replayed: ``source_silence`` (collectors' last runs) and
``model_drift`` (analysts' corrections) describe the system now, not the documents then.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from alerts.engine import EvaluationContext, with_documents
from alerts.lifecycle import hold_for
from kernel import plugins
from kernel.errors import describe_error
from kernel.settings import Settings
from storage.alert_replays import store_replays
from storage.types import utcnow

log = logging.getLogger(__name__)

PRESENT_ONLY = ("source_silence", "model_drift")
DEFAULT_STEP = timedelta(hours=1)


def replay_rules(
    engine: Engine,
    settings: Settings,
    start: datetime,
    end: datetime,
    *,
    step: timedelta = DEFAULT_STEP,
    on_step: Callable[[int, int], None] | None = None,
) -> dict[str, Any]:
    """Evaluate the enabled rules at ``start + step``, ``start + 2 step`` ... up to ``end``.

    Args:
        engine: the store.
        settings: the app settings (``alerts.rules``, the time zone).
        start: the replay's first moment (aware).
        end: its last (aware); must be after ``start``.
        step: time between two evaluations (the scheduler evaluates every minute; an hour is the
            rollups' resolution).
        on_step: called with ``(done, total)`` steps, for a progress bar.

    Returns:
        ``rules`` replayed, ``skipped`` (present-only kinds), ``steps``, ``errors``, ``replayed``
        (episodes stored) and ``by_rule`` (episodes per rule).
    """
    if end <= start:
        raise ValueError(f"the replay must end after it starts ({start.isoformat()} .. {end.isoformat()})")
    enabled = [r for r in settings.alerts.rules if r.enabled]
    rules = [r for r in enabled if r.kind not in PRESENT_ONLY]
    total = max(1, int((end - start) / step))
    episodes: dict[tuple[str, str], dict[str, Any]] = {}
    done_rows: list[dict[str, Any]] = []
    errors = 0
    replayed_at = utcnow()
    for i in range(1, total + 1):
        now = min(start + i * step, end)
        ctx = EvaluationContext(engine, settings, now)
        for rule in rules:
            try:
                candidates = plugins.load(plugins.RULES, rule.kind)(ctx, rule)
            except Exception as exc:  # as live: a failing rule is logged and the others go on
                errors += 1
                log.warning(
                    "replayed rule failed",
                    extra={"rule": rule.name, "at": str(now), "error": describe_error(exc)},
                )
                continue
            gap = step + hold_for(rule)
            for c in candidates:
                key = (rule.name, c.key)
                ep = episodes.get(key)
                if ep is not None and now - ep["last_seen"] > gap:  # the earlier episode had ended
                    done_rows.append(episodes.pop(key))
                    ep = None
                if ep is None:
                    c = with_documents(engine, c, now)
                    episodes[key] = {
                        "rule": rule.name,
                        "key": c.key,
                        "severity": c.severity,
                        "title": c.title,
                        "message": c.summary,
                        "evidence": {**c.evidence, "since": c.since.isoformat()},
                        "value": c.value,
                        "baseline": c.baseline,
                        "first_seen": now,
                        "last_seen": now,
                        "replayed_at": replayed_at,
                    }
                else:
                    ep.update(last_seen=now, value=max(ep["value"] or 0.0, c.value))
        if on_step is not None:
            on_step(i, total)
    rows = sorted([*done_rows, *episodes.values()], key=lambda r: (r["first_seen"], r["rule"], r["key"]))
    stored = store_replays(engine, [r.name for r in rules], start, end + step, rows)
    by_rule: dict[str, int] = {}
    for row in rows:
        by_rule[row["rule"]] = by_rule.get(row["rule"], 0) + 1
    counts = {
        "rules": len(rules),
        "skipped": len(enabled) - len(rules),
        "steps": total,
        "errors": errors,
        "replayed": stored,
        "by_rule": by_rule,
    }
    log.info("alert rules replayed", extra={k: v for k, v in counts.items() if k != "by_rule"})
    return counts

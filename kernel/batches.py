"""Splitting a failing batch until the items at fault are alone, so that the rest still go through.

The NLP worker, the encoder worker and the ingest writer all do this: one bad document or row
must not hold back its batch.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")
R = TypeVar("R")


def isolate_failures(
    items: Sequence[T],
    attempt: Callable[[Sequence[T]], Sequence[R]],
    isolate: Callable[[Exception], bool] = lambda exc: True,
    on_split: Callable[[int, Exception], None] | None = None,
) -> tuple[list[R], list[tuple[T, Exception]]]:
    """Run ``attempt`` on ``items``; when it raises, retry each half, until every failing item is alone.

    Args:
        items: the batch.
        attempt: processes a part of the batch (all or nothing) and returns its results.
        isolate: which errors an item can be at fault for; any other error propagates at once.
        on_split: told the part's size and the error before a part is split (for a log line).

    Returns:
        The results of the parts that went through, in order, and ``(item, error)`` of every item
        that failed alone.
    """
    if not items:
        return [], []
    try:
        return list(attempt(items)), []
    except Exception as exc:  # noqa: BLE001 - ``isolate`` decides which errors an item can cause
        if not isolate(exc):
            raise
        if len(items) == 1:
            return [], [(items[0], exc)]
        if on_split is not None:
            on_split(len(items), exc)
    mid = len(items) // 2
    left, left_failed = isolate_failures(items[:mid], attempt, isolate, on_split)
    right, right_failed = isolate_failures(items[mid:], attempt, isolate, on_split)
    return left + right, left_failed + right_failed

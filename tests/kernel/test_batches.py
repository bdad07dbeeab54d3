"""Splitting a failing batch until the items at fault are alone."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from kernel.batches import isolate_failures


def test_only_the_bad_items_fail_and_the_rest_go_through_in_order() -> None:
    seen: list[list[int]] = []
    splits: list[int] = []

    def attempt(part: Sequence[int]) -> list[int]:
        seen.append(list(part))
        if any(i in (3, 6) for i in part):
            raise ValueError(f"bad item in {list(part)}")
        return [i * 10 for i in part]

    done, failed = isolate_failures(list(range(8)), attempt, on_split=lambda n, exc: splits.append(n))
    assert done == [0, 10, 20, 40, 50, 70]
    assert [i for i, _ in failed] == [3, 6] and all(isinstance(e, ValueError) for _, e in failed)
    assert seen[0] == list(range(8)) and splits == [8, 4, 2, 4, 2]


def test_an_error_no_item_can_cause_propagates_at_once() -> None:
    def attempt(part: Sequence[int]) -> list[int]:
        raise ConnectionError("database gone")

    with pytest.raises(ConnectionError):
        isolate_failures([1, 2, 3], attempt, lambda exc: isinstance(exc, ValueError))


def test_an_empty_batch_is_not_attempted() -> None:
    assert isolate_failures([], lambda part: pytest.fail("attempted")) == ([], [])

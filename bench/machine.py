"""The machine a benchmark ran on: core count and how fast it ran plain Python at the time.

These machines are shared and their speed varies by 2-3x from day to day (``sum(range(1000))``
took 8.9 us on one day and 17.6-30 us on another), so every benchmark prints this line next to
its figures: compare figures only between runs with a similar reading, or run the baseline in
the same process.
"""

from __future__ import annotations

import os
import timeit


def python_speed_us(rounds: int = 5, number: int = 2000) -> float:
    """Microseconds per ``sum(range(1000))``: the best of ``rounds`` timings of ``number`` calls."""
    best = min(timeit.repeat("sum(range(1000))", repeat=rounds, number=number))
    return best / number * 1e6


def describe() -> str:
    """``cores: N; Python: X us per sum(range(1000))``."""
    return f"cores: {os.cpu_count()}; Python: {python_speed_us():.1f} us per sum(range(1000))"

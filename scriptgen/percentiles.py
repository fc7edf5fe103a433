"""Percentiles of step durations: exact over a short window, approximate over a long history.

The monitor judges a step against the p95 of its kind's recent calls (a few hundred values: a
sorted copy is cheap) and reports p50/p95 over everything since the process started, which is
unbounded: there a :class:`LogHistogram` keeps counts in buckets that grow by a fixed ratio,
so any percentile is known to within a relative error (1 % by default) in a memory bounded by
the range of the values, not their number (a few hundred buckets from a millisecond to an hour).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = ["LogHistogram", "nearest_rank"]


def nearest_rank(ordered: Sequence[float], q: float) -> float:
    """The ``q`` quantile (0 < q <= 1) of values sorted ascending: the smallest value with at
    least ``q`` of them at or below it (nearest rank; no interpolation, so it is always a value
    that was seen)."""
    if not ordered:
        raise ValueError("no values")
    return ordered[max(0, math.ceil(q * len(ordered)) - 1)]


class LogHistogram:
    """Counts of positive values in buckets ``(g**(i-1), g**i]``, with ``g = (1+a)/(1-a)``.

    Every value of bucket ``i`` is within ``a`` (relative) of ``2 g**i / (g + 1)``, which is
    what a quantile reports (clamped to the smallest and largest values seen, kept exactly).
    Values at or below :attr:`FLOOR` (a nanosecond) count as zero.
    """

    FLOOR = 1e-9

    __slots__ = ("_buckets", "_gamma", "_inv_log_gamma", "count", "max", "min", "zeros")

    def __init__(self, accuracy: float = 0.01) -> None:
        if not 0 < accuracy < 1:
            raise ValueError(f"accuracy must be between 0 and 1, not {accuracy}")
        self._gamma = (1 + accuracy) / (1 - accuracy)
        self._inv_log_gamma = 1 / math.log(self._gamma)
        self._buckets: dict[int, int] = {}
        self.count = 0
        self.zeros = 0
        self.min = math.inf
        self.max = -math.inf

    def add(self, value: float) -> None:
        self.count += 1
        if value < self.min:
            self.min = value
        if value > self.max:
            self.max = value
        if value <= self.FLOOR:
            self.zeros += 1
            return
        index = math.ceil(math.log(value) * self._inv_log_gamma)
        buckets = self._buckets
        buckets[index] = buckets.get(index, 0) + 1

    def quantile(self, q: float) -> float:
        """The nearest-rank ``q`` quantile, within the accuracy; 0.0 when nothing was added."""
        if self.count == 0:
            return 0.0
        rank = max(1, math.ceil(q * self.count))
        if rank <= self.zeros:
            return max(self.min, 0.0)
        seen = self.zeros
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                estimate = 2 * self._gamma**index / (self._gamma + 1)
                return min(max(estimate, self.min), self.max)
        return self.max  # unreachable: the buckets hold every value above the floor

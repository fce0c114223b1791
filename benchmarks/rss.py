"""Memory growth of a long run from RSS marks, shared by the storage and GUI benchmarks."""

from __future__ import annotations

import math


def rss_growth(marks: list[tuple[float, float]]) -> dict[str, float]:
    """Growth between the first and last of ``marks`` ((hours, RSS MB), oldest first).

    Returns the growth in MB, its rate per hour, and the rate over the second half alone: what is
    left once start-up buffers and caches have filled. Rates are NaN over a zero span.
    """
    (t0, rss0), (t1, rss1) = marks[0], marks[-1]
    mid_t, mid_rss = next(m for m in marks if m[0] >= (t0 + t1) / 2.0)
    growth = rss1 - rss0
    per_h = growth / (t1 - t0) if t1 > t0 else math.nan
    late_per_h = (rss1 - mid_rss) / (t1 - mid_t) if t1 > mid_t else math.nan
    return {"growth_mb": growth, "per_h": per_h, "second_half_per_h": late_per_h}

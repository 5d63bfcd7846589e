"""A tenant's recent burn rate: a least-squares line through its tokens a second in minute
buckets, and the tokens it comes to over a span ahead (controller.core.spend's forecast for
the hours its hour-of-day profile does not know yet).

The line is followed where it falls, until it reaches zero; a rise is never projected (the
rate now is kept). Its slope is only known within its standard error, so the tokens expected
are the mean over the slope's normal spread (SPREAD): a fall the data barely shows counts for
little, and the forecast moves smoothly as the evidence does. And it is read no further ahead
than it was seen (`Burn.seen`): a rate seen for an hour says what the next hour may bring,
not what the rest of the day will; the forecast reads it again each minute, so its reach
moves on with the clock.
"""

from __future__ import annotations

import math
from collections import deque
from statistics import NormalDist
from typing import Final, NamedTuple

BUCKET_S: Final = 60.0
BUCKETS: Final = 120
"""The burn rate's window: the last two hours, a minute a bucket. (An hour of bursty traffic
left the slope of a day's steady fall within its noise half of the time.)"""
MIN_BUCKETS = 10
"""Buckets (minutes) seen before the burn rate is read."""
SPREAD = tuple(NormalDist().inv_cdf((i + 0.5) / 16) for i in range(16))
"""The slope's normal spread, as 16 equally likely values (in standard errors)."""


class Burn(NamedTuple):
    """The line through the recent burn rate: its mean (tokens a second) at `centre` (an
    instant), its slope (tokens a second, each second) and the slope's standard error."""

    mean: float
    centre: float
    slope: float
    error: float
    seen: float
    """Seconds of spend behind the line (up to BUCKETS minutes): how far ahead it is read."""

    def at(self, now: float) -> float:
        """The rate now along the line where it falls, else the mean (a rise not projected)."""
        return max(0.0, self.mean + min(self.slope, 0.0) * (now - self.centre))

    def expected(self, start: float, end: float) -> float:
        """Tokens from `start` to `end` (instants from now on): the mean over the slope's
        spread of the line followed where it falls (to zero at most), held at the mean where
        it rises, as `at` reads it. A rise is not followed even up to now: held for the hours
        to the reset, a burst's steep rise would pace a day that fits its budget."""
        total = 0.0
        mean, centre = self.mean, self.centre
        for z in SPREAD:
            slope = self.slope + z * self.error
            if slope >= 0:
                total += mean * (end - start)
                continue
            stop = min(end, centre - mean / slope)  # where the line reaches zero
            if stop > start:
                total += (
                    mean * (stop - start)
                    + slope * ((stop - centre) ** 2 - (start - centre) ** 2) / 2
                )
        return total / len(SPREAD)


def fit(tokens: deque[float], seconds: deque[float], end: float) -> Burn | None:
    """The least-squares line through the rates of the complete buckets seen for at least
    half their length (the last one, filling, starts at `end`)."""
    points = [
        (end - (len(tokens) - 1 - i) * BUCKET_S + BUCKET_S / 2, tokens[i] / seconds[i])
        for i in range(len(tokens) - 1)
        if seconds[i] >= BUCKET_S / 2
    ]
    n = len(points)
    if n < MIN_BUCKETS:
        return None
    mean_x = sum(x for x, _ in points) / n
    mean_y = sum(y for _, y in points) / n
    sxx = sum((x - mean_x) ** 2 for x, _ in points)
    sxy = sum((x - mean_x) * (y - mean_y) for x, y in points)
    slope = sxy / sxx
    residual = sum((y - mean_y - slope * (x - mean_x)) ** 2 for x, y in points)
    error = math.sqrt(residual / (n - 2) / sxx)
    first = points[0][0] - BUCKET_S / 2
    return Burn(mean=mean_y, centre=mean_x, slope=slope, error=error, seen=end - first)

"""The hour-of-day profile of a tenant's spend (controller.core.spend.TenantSpend): its budget
day cut into hours from the reset, each hour's tokens a second over past days, folded in at
each reset, and how today compares with it so far.

Pure arithmetic over the profile's lists, which `TenantSpend` holds (and the spend handover
writes, controller.coordination.spend_handover).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Final

BIN_S: Final = 3600.0
DAY_BINS: Final = 25
"""Hours from the reset: a day where clocks go back has 25."""
MIN_BIN_S: Final = 1800.0
"""An hour seen for less than this today does not fold into its bin."""
NEWEST_DAY: Final = 0.25
"""A bin's weight for the newest day: a day's traffic counts, and four days make most of it."""
MAX_DAYS: Final = 1000
"""Days counted behind a bin (only shown)."""


def hours(origin: float, start: float, end: float) -> Iterator[tuple[int, float, float]]:
    """(hour from the reset at `origin`, from, to) for each hour's part of [start, end)."""
    k = int((start - origin) // BIN_S)
    while start < end and k < DAY_BINS:
        high = min(origin + (k + 1) * BIN_S, end)
        if high > start:
            yield k, start, high
        start, k = high, k + 1


def bin_of(origin: float, now: float) -> int:
    """The hour from the reset at `origin` that `now` falls in."""
    return min(int((now - origin) // BIN_S), DAY_BINS - 1)


def fold(
    bins: list[float | None],
    days: list[int],
    today_tokens: list[float],
    today_seconds: list[float],
) -> None:
    """A day's hours, each seen for MIN_BIN_S at least, fold into the profile's bins."""
    for k in range(DAY_BINS):
        seen = today_seconds[k]
        if seen >= MIN_BIN_S:
            rate = max(0.0, today_tokens[k] / seen)
            old = bins[k]
            bins[k] = rate if old is None else old + NEWEST_DAY * (rate - old)
            days[k] = min(days[k] + 1, MAX_DAYS)


def today_scale(
    bins: list[float | None],
    today_tokens: list[float],
    today_seconds: list[float],
    through: int,
) -> float:
    """Today's tokens over what the profile expected for its hours seen so far (up to hour
    `through`), shrunk towards 1 by one average hour of the profile."""
    known = [rate for rate in bins if rate is not None]
    if not known:
        return 1.0
    prior = sum(known) / len(known) * BIN_S
    seen = expected = 0.0
    for k in range(through + 1):
        learned = bins[k]
        if learned is not None:
            seen += today_tokens[k]
            expected += learned * today_seconds[k]
    # Today's tokens so far can count below zero where a queue's tokens fell faster than
    # tokens were spent (its tasks valued at the tenant's mean tokens a task, cheaper than
    # that): no day asks for fewer than none.
    seen = max(seen, 0.0)
    return (seen + prior) / (expected + prior) if expected + prior > 0 else 1.0

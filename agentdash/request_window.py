"""Where a request log's times start, and which of its days become the trace.

A trace's `t` counts from midnight UTC of its first day and spans at most 31 days. A log of
dates and times counts from the midnight before its earliest row, wherever that row is in
the file; a log of offsets from its own zero; a log of offsets that are all Unix times (past
2001-09-09, as a log of epoch milliseconds is) is read as one of dates. A log longer than 31
days is refused unless `--days` says which of its days to keep (`--from-day` the first).
"""

from __future__ import annotations

import math
import operator
from array import array
from dataclasses import dataclass
from datetime import date, timedelta
from itertools import islice

from agentdash.request_logs import Log
from controller.core.config import ConfigError
from controller.core.config_types import DAY
from controller.simulate.trace import MAX_TRACE_SECONDS

UNIX_TIMES = 1e9
"""Seconds from a log's zero past which every time of it is read as a Unix time: 2001-09-09,
31 years, where a log of offsets counts hours or days."""
MAX_DAYS = round(MAX_TRACE_SECONDS / DAY)
EPOCH = date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Placed:
    """The requests a trace keeps, in time order, and where its t = 0 is."""

    order: array[int] | range
    """Indices into the log's columns, in time order (file order among equal times)."""
    start: float
    """The log's time that becomes t = 0."""
    day0: date | None
    """The date of t = 0, for a log of dates and times (or of Unix times)."""
    first_day: int
    """The day of the log (0 its first) that t = 0 begins."""
    last_day: int
    """The last day of the log kept."""
    log_days: int
    """Days the log spans, counted from its first."""
    unix: bool
    """The log's offsets were read as Unix times."""
    total: int
    """The log's requests, those left out included."""

    @property
    def left_out(self) -> int:
        return self.total - len(self.order)


def place(
    log: Log, source: str, from_day: int = 0, days: int | None = None, on: date | None = None
) -> Placed:
    """The requests of `log` from its day `from_day` on (or from the date `on`, for a log of
    dates), `days` of them (all, when None: a log past 31 days is then refused), with the
    time that becomes t = 0."""
    times = log.times
    if not times:
        said = "expected at least one request, got none"
        if log.unmatched:
            said = f"expected a request of --only's values, got none of {log.unmatched:,}"
        raise ConfigError(source, "", said)
    low, high = min(times), max(times)
    unix = log.day0 is None and low >= UNIX_TIMES
    unix_day0 = 0 if unix else log.day0
    zero = math.floor(low / DAY) * DAY if unix_day0 is not None else 0.0
    if on is not None:
        if unix_day0 is None:
            said = "expected a log of dates and times: one of offsets has no calendar to start on"
            raise ConfigError(source, "--start", f"{said} (--from-day counts its days)")
        from_day = (on - EPOCH).days - unix_day0 - round(zero / DAY)
    start = zero + from_day * DAY
    log_days = math.floor((high - zero) / DAY) + 1
    if days is None and high - start > MAX_TRACE_SECONDS:
        since = "the log's start" if unix_day0 is None else "the log's first day"
        _refuse_long(log, source, start, log_days, f"{on} (--start)" if on else since)
    end = start + days * DAY if days is not None else math.inf
    order = _order(times, start, end, low, high)
    if not order:
        _refuse_empty(source, from_day, days, log_days, on)
    day0 = None
    if unix_day0 is not None:
        day0 = EPOCH + timedelta(days=unix_day0 + round(start / DAY))
    last_day = min(log_days, from_day + days) - 1 if days is not None else log_days - 1
    return Placed(order, start, day0, from_day, last_day, log_days, unix, len(times))


def _order(
    times: array[float], start: float, end: float, low: float, high: float
) -> array[int] | range:
    """The indices of the times from `start` to before `end`, in time order (file order
    among equal times): a log in time order, whole, is not sorted at all."""
    if low >= start and high < end:
        whole = range(len(times))
        if all(map(operator.le, times, islice(times, 1, None))):
            return whole
        return array("I", sorted(whole, key=times.__getitem__))
    kept = [k for k, t in enumerate(times) if start <= t < end]
    return array("I", sorted(kept, key=times.__getitem__))


def _refuse_empty(
    source: str, from_day: int, days: int | None, log_days: int, on: date | None
) -> None:
    """No request in the days asked for: the log's days said, as the flag counts them."""
    if on is None:
        asked = f"from day {from_day} on"
        if days is not None:
            asked = f"in days {from_day} to {from_day + days - 1}"
        said = f"expected requests {asked}, got none: the log's days are 0 to {log_days - 1:,}"
        raise ConfigError(source, "--from-day", said)
    first = on - timedelta(days=from_day)
    asked = f"from {on} on" if days is None else f"in {on} to {on + timedelta(days=days - 1)}"
    log_dates = f"{first} to {first + timedelta(days=log_days - 1)}"
    raise ConfigError(
        source, "--start", f"expected requests {asked}, got none: the log's days are {log_dates}"
    )


def _refuse_long(log: Log, source: str, start: float, log_days: int, since: str) -> None:
    """The first row, in file order, past 31 days of the trace's start: named, with the flags
    that import a part of the log."""
    k = next(k for k, t in enumerate(log.times) if t - start > MAX_TRACE_SECONDS)
    said = (
        f"expected a time within {MAX_DAYS} days of {since} (a trace's longest), in a log of "
        f"{log_days:,} days: import {MAX_DAYS} days or fewer of it at a time, with --days "
        "(and --from-day)"
    )
    raise ConfigError(source, f"line {log.lines[k]}: {log.time_field}", said)

"""What `agentdash import requests` says on stderr of the log it read: its requests and the
`--start` of their calendar first, then a line for each thing about them that a replay's
numbers follow and the trace alone would not show (requests left out, failures kept, the
latencies that are the log's own)."""

from __future__ import annotations

import math
from datetime import timedelta

from agentdash.request_logs import Log
from agentdash.request_window import Placed
from controller.core.wording import plural, rounded_span


def said(source: str, log: Log, placed: Placed, pool: str) -> list[str]:
    order, times = placed.order, log.times
    span = times[order[-1]] - times[order[0]]
    count = f"{plural(len(order), 'request')} ({log.format})"
    first = f"{source}: {count} as pool {pool}'s tasks, {rounded_span(span)}"
    if placed.day0 is not None:
        day = placed.day0.isoformat()
        first += f"; t = 0 is {day} 00:00 UTC (simulate and tune: --start {day})"
    lines = [first]
    if placed.unix:
        lines.append(f"{source}: its timestamps are past 2001, read as Unix times")
    if log.unmatched:
        lines.append(
            f"{source}: {plural(log.unmatched, 'request')} of other values than --only's left out"
        )
    if placed.left_out:
        lines.append(f"{source}: {_days_kept(placed)}; {plural(placed.left_out, 'request')} "
                     "outside them left out")  # fmt: skip
    unknown = _latencies_unknown(log, placed)
    if unknown is not None:
        lines.append(
            f"{source}: work_s is each request's own Elapsed time"
            + (f"; {unknown:,} without one estimated from tokens" if unknown else "")
        )
    failed = _no_completion(log, placed)
    if failed:
        why = " (BurstGPT's failed requests)" if log.format == "burstgpt" else ""
        lines.append(
            f"{source}: {plural(failed, 'request')} with no completion tokens{why} kept, as "
            "tasks of their prompt alone"
        )
    repeated = _repeated(log, placed)
    if repeated:
        lines.append(
            f"{source}: {plural(repeated, 'request')} the same as an earlier one (its time and "
            "tokens) kept: a row written twice is replayed twice"
        )
    return lines


def _days_kept(placed: Placed) -> str:
    """The days kept of the log's: by date in a log of dates (--start may name one before
    its first), by number in a log of offsets."""
    if placed.day0 is None:
        kept = f"days {placed.first_day} to {placed.last_day}"
        return f"{kept} of its {placed.log_days} kept (0 its first)"
    first = placed.day0 - timedelta(days=placed.first_day)
    last = placed.day0 + timedelta(days=placed.last_day - placed.first_day)
    log_last = first + timedelta(days=placed.log_days - 1)
    return f"{placed.day0} to {last} kept of its {first} to {log_last} (UTC days)"


def _latencies_unknown(log: Log, placed: Placed) -> int | None:
    """The requests kept whose row has no latency; None for a log without the column."""
    if log.elapsed is None:
        return None
    elapsed = log.elapsed
    return sum(1 for k in placed.order if math.isnan(elapsed[k]))


def _repeated(log: Log, placed: Placed) -> int:
    """The requests kept that another kept request before them repeats: at its time, with its
    tokens (and latency). Requests at one time are neighbours in time order."""
    times, context, generated = log.times, log.context, log.generated
    elapsed = log.elapsed
    count, at = 0, math.nan
    seen: set[tuple[int, int, float]] = set()
    for k in placed.order:
        if times[k] != at:
            at = times[k]
            seen.clear()
        took = elapsed[k] if elapsed is not None else 0.0
        row = (context[k], generated[k], -1.0 if math.isnan(took) else took)
        if row in seen:
            count += 1
        seen.add(row)
    return count


def _no_completion(log: Log, placed: Placed) -> int:
    if not placed.left_out:
        return log.generated.count(0)
    generated = log.generated
    return sum(1 for k in placed.order if generated[k] == 0)

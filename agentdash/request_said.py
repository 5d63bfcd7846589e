"""What `agentdash import requests` says on stderr of the log it read: its requests and the
`--start` of their calendar first, then a line for each thing about them that a replay's
numbers follow and the trace alone would not show (requests left out, failures kept, the
latencies that are the log's own)."""

from __future__ import annotations

import math

from agentdash.request_logs import Log
from agentdash.request_window import Placed
from controller.core.wording import plural


def said(source: str, log: Log, placed: Placed, pool: str) -> list[str]:
    order, times = placed.order, log.times
    span = times[order[-1]] - times[order[0]]
    count = f"{plural(len(order), 'request')} ({log.format})"
    first = f"{source}: {count} as pool {pool}'s tasks, {span / 3600:.1f} h"
    if placed.day0 is not None:
        day = placed.day0.isoformat()
        first += f"; t = 0 is {day} 00:00 UTC (simulate and tune: --start {day})"
    lines = [first]
    if placed.unix:
        lines.append(f"{source}: its timestamps are past 2001, read as Unix times")
    if placed.left_out:
        lines.append(
            f"{source}: days {placed.first_day} to {placed.last_day} of its {placed.log_days} "
            f"kept (0 its first); {plural(placed.left_out, 'request')} outside them left out"
        )
    unknown = _latencies_unknown(log, placed)
    if unknown is not None:
        lines.append(
            f"{source}: work_s is each request's own Elapsed time"
            + (f"; {unknown:,} without one estimated from tokens" if unknown else "")
        )
    failed = _no_completion(log, placed)
    if failed:
        lines.append(
            f"{source}: {plural(failed, 'request')} with no completion tokens (failed, in "
            "BurstGPT's logs) kept, as tasks of their prompt alone"
        )
    return lines


def _latencies_unknown(log: Log, placed: Placed) -> int | None:
    """The requests kept whose row has no latency; None for a log without the column."""
    if log.elapsed is None:
        return None
    elapsed = log.elapsed
    return sum(1 for k in placed.order if math.isnan(elapsed[k]))


def _no_completion(log: Log, placed: Placed) -> int:
    if not placed.left_out:
        return log.generated.count(0)
    generated = log.generated
    return sum(1 for k in placed.order if generated[k] == 0)

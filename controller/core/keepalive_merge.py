"""How a pool's learned keep-alive takes in another process's (a handover: the leader before,
or the history a new leader restores), field by field: each band's later use, and the longer
memory of its gaps and wakes. A band in use here stays as it is: this process sees it now."""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING

from controller.core.keepalive_levels import KEPT_GAPS

if TYPE_CHECKING:
    from controller.core.keepalive import KeepAlive


def take_in(mine: KeepAlive, other: KeepAlive) -> None:
    """Merge `other`'s levels, wakes, price and tail into `mine` (its plans are made again by
    the caller)."""
    while len(mine.levels) < min(len(other.levels), len(mine.edges)):
        mine.levels.append(mine.band(len(mine.levels)))
    for level, theirs in zip(mine.levels, other.levels, strict=False):
        if level.in_use or level.replicas != theirs.replicas:
            continue
        used = other.latest if theirs.in_use else theirs.last_used
        if used is not None and (level.last_used is None or used > level.last_used):
            level.last_used, level.peak = used, theirs.peak
            if theirs.share is not None:  # released there: priced as they priced it
                level.plan, level.share = None, theirs.share
        if len(theirs.gaps) > len(level.gaps):
            level.remember(theirs.gaps)
    if len(other.wakes.heads) > len(mine.wakes.heads):
        mine.wakes.heads = deque(other.wakes.heads, maxlen=KEPT_GAPS)
        if mine.levels:
            mine.levels[0].plan = None
    if mine.taken is None and other.taken is not None:
        mine.taken = other.taken
        for level in mine.levels:
            level.plan = None
    mine.tail.merge(other.tail)
    if other.started is not None and (mine.started is None or other.started < mine.started):
        mine.started = other.started
    mine.reached = max(mine.reached, other.reached)

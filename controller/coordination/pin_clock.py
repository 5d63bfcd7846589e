"""When a shared pin or pool pause ends: its span, from when the NATS server stored it.

Whoever sets a pin writes when it ends (`until`) on its own clock. A dashboard runs on an
operator's machine, whose clock may be minutes off: its pins held for the span asked plus its
skew on the leader (a clock 10 minutes slow ended a 5-minute pin at once). Its span, `until -
at`, is right whatever its clock, as both are read off it at once; the server stamps each
revision it stores. So each process reads a pin's end as the time the server stored the
revision that first carried it, plus its span; its own clock is taken to agree with the
server's, as the daemon's does in the cluster (a dashboard whose clock is off counts a pin's
time left by it, off by as much, but the leader ends the pin on time).

A write waits NATS out: one that lands late carries what is left of the span then, by its
writer's clock (`as_written`), not a whole span from a time its writer counted the pin over.

The document keeps what its writer wrote: an older agentdash reads it as before, and the
span stays what the operator asked. A pin with no `at` (written by hand), or one already in the
oldest revision of a full history (it may be older), ends as written.
"""

from __future__ import annotations

import contextlib
import datetime
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import replace
from typing import Any, NamedTuple, TypeVar

from controller.coordination.overrides_bucket import HISTORY, KEY
from controller.coordination.overrides_document import read_shared
from controller.core.config import ConfigError
from controller.core.model import Overrides, Pin, PoolPause

_Held = TypeVar("_Held", Pin, PoolPause)
Key = tuple[str, str]
"""("pin" or "pause", pool)."""


class HeldEnd(NamedTuple):
    """A pin or pool pause in force, and its end on the server's clock."""

    value: Pin | PoolPause
    end: float | None
    """None: it ends as written."""


class ServerTimedEnds:
    """The end of each pin and pool pause in force, as the revisions read say it."""

    def __init__(self) -> None:
        self._ends: dict[Key, HeldEnd] = {}
        """What each override is, and its end on the server's clock (None: as written)."""

    def see(self, everything: Overrides, stored_at: datetime.datetime | None) -> None:
        """A revision read, in the order stored; `stored_at`: when the server stored it (None:
        not known, and a pin first seen in it ends as written)."""
        stored = None if stored_at is None else stored_at.timestamp()
        ends: dict[Key, HeldEnd] = {}
        held: Iterable[tuple[Key, Pin | PoolPause]] = [
            *((("pin", pool), pin) for pool, pin in everything.pins.items()),
            *((("pause", pool), pause) for pool, pause in everything.paused_pools.items()),
        ]
        for key, value in held:
            known = self._ends.get(key)
            if known is not None and known.value == value:
                ends[key] = known
            else:
                ends[key] = HeldEnd(value=value, end=_end(value, stored))
        self._ends = ends

    def learn(self, entries: list[Any]) -> None:
        """The key's revisions a start reads (KV entries), oldest first. The bucket keeps
        HISTORY: where it holds as many, what the oldest holds may be older than it."""
        full = len(entries) >= HISTORY
        for n, (everything, stored_at) in enumerate(_documents(entries)):
            self.see(everything, None if n == 0 and full else stored_at)

    def timed(self, overrides: Overrides) -> Overrides:
        """`overrides` with each pin's and pool pause's end on the server's clock, where known."""
        pins = _timed(overrides.pins, "pin", self._ends)
        pauses = _timed(overrides.paused_pools, "pause", self._ends)
        if pins is overrides.pins and pauses is overrides.paused_pools:
            return overrides
        return replace(overrides, pins=pins, paused_pools=pauses)


def _documents(entries: list[Any]) -> Iterator[tuple[Overrides, datetime.datetime | None]]:
    """What each revision holds, whatever the config, with when it was stored: a delete holds
    nothing; one not valid is passed by (the start counts it as it reads it)."""
    for entry in entries:
        if entry.operation in ("DEL", "PURGE") or not entry.value:
            yield Overrides(), entry.created
            continue
        with contextlib.suppress(ConfigError):
            yield read_shared(entry.value, KEY).everything(), entry.created


def _end(value: Pin | PoolPause, stored: float | None) -> float | None:
    if stored is None or value.until is None or value.at is None:
        return None
    return stored + max(0.0, value.until - value.at)


def _timed(
    held: Mapping[str, _Held],
    kind: str,
    ends: Mapping[Key, HeldEnd],
) -> Mapping[str, _Held]:
    moved: dict[str, _Held] = {}
    for pool, value in held.items():
        known = ends.get((kind, pool))
        if known is not None and known.value == value and known.end is not None:
            moved[pool] = replace(value, until=known.end)
    return {**held, **moved} if moved else held


def as_written(changed: Overrides, was: Overrides, now: float) -> Overrides:
    """`changed` as a write tried at `now` (the writer's clock) holds it: each pin and pool
    pause it adds to `was`, set earlier, dated `now` with what is left of its span (none once
    that is past: it ends as it lands). Its span is timed from when NATS stores it, and a
    write waits NATS out: one that lands late would hold for its whole span from then, after
    its writer counted it over."""
    pins = _as_of(changed.pins, was.pins, now)
    pauses = _as_of(changed.paused_pools, was.paused_pools, now)
    if pins is changed.pins and pauses is changed.paused_pools:
        return changed
    return replace(changed, pins=pins, paused_pools=pauses)


def _as_of(held: Mapping[str, _Held], was: Mapping[str, _Held], now: float) -> Mapping[str, _Held]:
    moved: dict[str, _Held] = {}
    for pool, value in held.items():
        before = was.get(pool)
        if before is not None and same(before, value):
            continue  # not this write's: as it was
        if value.at is not None and value.until is not None and value.at < now:
            moved[pool] = replace(value, at=min(now, max(value.at, value.until)))
    return {**held, **moved} if moved else held


def same(value: Pin | PoolPause, other: Pin | PoolPause) -> bool:
    """Whether two are one pin (or pause), whatever end each was read with: who set it,
    when, and to what."""
    if value.at is None or other.at is None:
        return value == other
    return (value.replicas, value.by, value.at) == (other.replicas, other.by, other.at)

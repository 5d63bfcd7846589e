"""Pools whose producers' tasks JetStream stores none of: seen on the pool's subject, never in
its consumer, read after read.

A stream that refuses every publish (its server's disk full, its `max_bytes` reached with
`discard: new`, sealed) leaves the consumers as they were: each pool reads idle, its lag 0
and its arrivals dropped as not stored (controller.sources.arrivals), and nothing said more
than the bad messages' line a minute, while every producer's publish failed. With a disk
full, /healthz said 200 and the dashboard showed every pool idle for as long as it lasted.
A few refused arrivals are usual (a retry that repeats a stored task's Nats-Msg-Id, which
JetStream drops): a pool is named only once its arrivals have been refused, and none stored,
for REFUSED_S, and it is named until a read shows one stored or none is refused for as long.
"""

from __future__ import annotations

REFUSED_S = 20.0
"""How long a pool's arrivals must all have been refused before it is named."""


class RefusedTasks:
    """Per pool, since when every task seen on its subject has not been stored. No I/O."""

    def __init__(self) -> None:
        self._since: dict[str, float] = {}
        """Per pool, when a read first showed tasks refused and none stored."""
        self._last: dict[str, float] = {}
        """Per pool, when a read last showed tasks refused."""

    def note(self, pool: str, *, refused: int, stored: int, now: float) -> None:
        """What a read of the pool's consumer showed: tasks seen and not stored, and stored."""
        if stored > 0:
            self._since.pop(pool, None)
            self._last.pop(pool, None)
        elif refused > 0:
            if now - self._last.get(pool, now) > REFUSED_S:
                # None refused for as long: a span of refusals begins anew, else a lone
                # duplicate after an idle hour read as an hour of tasks refused.
                self._since[pool] = now
            self._since.setdefault(pool, now)
            self._last[pool] = now

    def problem(self, now: float) -> str | None:
        """The pools whose tasks JetStream has refused for REFUSED_S and still refuses, in
        words; None if none."""
        named = [
            pool
            for pool, since in sorted(self._since.items())
            if now - self._last[pool] <= REFUSED_S <= self._last[pool] - since
        ]
        if not named:
            return None
        # The same words while the same pools are named: health says a problem again when
        # its words change.
        return (
            f"JetStream stores none of the tasks published for {', '.join(named)} (for"
            f" {REFUSED_S:g} s or more): its stream refuses them (full, its server's disk full,"
            " sealed), or they repeat a stored task's Nats-Msg-Id"
        )

"""So many at once, then one every so often: a token bucket, for what an outsider may make
agentdash do (audit a held report, read a report). No I/O; `now` is passed in, so that a
test or the simulator can run it in its own time."""

from __future__ import annotations


class Allowance:
    """`at_once` to begin with; one more every `every` seconds, never more than `at_once`."""

    def __init__(self, at_once: float, every: float) -> None:
        if at_once < 1 or every <= 0:
            raise ValueError("at_once must be at least 1 and every above 0")
        self.at_once = at_once
        self.every = every
        self._room = at_once
        self._since: float | None = None
        """When `_room` was last brought up to date (None: never used, so full)."""

    def take(self, now: float) -> bool:
        """One, if there is one now."""
        self._refill(now)
        if self._room < 1:
            return False
        self._room -= 1
        return True

    def wait(self, now: float) -> float:
        """Seconds from `now` until there is one (0 if there is one now)."""
        self._refill(now)
        return max(0.0, (1 - self._room) * self.every)

    def _refill(self, now: float) -> None:
        if self._since is not None:
            self._room = min(self.at_once, self._room + (now - self._since) / self.every)
        self._since = now

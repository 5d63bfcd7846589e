"""What the loop cannot trust right now: the sources that fail (the cluster, the queue, a
pool's scale call) and the pools held for want of data. Each change is told once, as a log
line and a HealthEvent, and told again only when it changes; the dashboard's header and the
daemon's /healthz read the standing picture.

A failing source stalls every pool it feeds, so its pools' staleness is not told pool by
pool: one line for the source says it. Only a pool's own reasons (a consumer or a Deployment
gone, a pool never seen) are told per pool.
"""

from __future__ import annotations

import logging

from controller.core.events import EventBus, HealthEvent

log = logging.getLogger("agentdash.loop")

SOURCES = ("cluster", "queue")
"""The problems that stall every pool (and slow the loop down with backoff)."""


class SourceHealth:
    """The failing sources and the held pools, as of the last tick, and their events."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.problems: dict[str, str] = {}
        """Source name (or "scale <pool>") -> what is wrong with it, while it is."""
        self.stale: dict[str, str] = {}
        """Pool -> why its data cannot be trusted (so it is held), as of the last tick."""
        self._told: dict[str, str] = {}
        """Pools whose own staleness was told (a health event and a log line), and why."""

    def healthy(self, source: str, now: float) -> None:
        """`source` answered: if it was failing, say it recovered."""
        if self.problems.pop(source, None) is not None:
            log.info("%s source recovered", source)
            self.bus.publish(HealthEvent(ts=now, source=source, ok=True, detail="recovered"))

    def unhealthy(self, source: str, detail: str, now: float) -> None:
        """`source` failed, for this reason: said once, and again when the reason changes."""
        if self.problems.get(source) != detail:
            log.warning("%s source failing: %s", source, detail)
            self.bus.publish(HealthEvent(ts=now, source=source, ok=False, detail=detail))
        self.problems[source] = detail

    def source_problem(self) -> str | None:
        """Why every pool's reading is stale (the cluster or the queue fails), or None."""
        return self.problems.get("cluster") or self.problems.get("queue")

    def sources_failing(self) -> bool:
        """Whether a source that stalls every pool fails (the loop backs off while it does)."""
        return any(source in self.problems for source in SOURCES)

    def track_stale(self, pool: str, why: str | None, now: float) -> None:
        """Whether `pool` is held for want of data (`why`), or fresh (None); a line on each
        change of a pool's own reason."""
        stale, told = self.stale, self._told
        if why is None:
            stale.pop(pool, None)
            if told.pop(pool, None) is not None:
                log.info("pool %s: data fresh again", pool)
                self.bus.publish(
                    HealthEvent(ts=now, source=f"pool {pool}", ok=True, detail="recovered")
                )
            return
        stale[pool] = why
        if told.get(pool) == why or why in self._source_reasons():
            return
        if why == self.problems.get(f"scale {pool}"):
            told[pool] = why  # its scale call's failure, told as such: once, not twice
            return
        log.warning("pool %s held, its data is stale: %s", pool, why)
        self.bus.publish(HealthEvent(ts=now, source=f"pool {pool}", ok=False, detail=why))
        told[pool] = why

    def report(self, pools: int) -> dict[str, str]:
        """The failing sources, and a line for the pools held for their own missing data (of
        `pools` in all): the header names every reason a pool is held, not only a source's."""
        problems = dict(self.problems)
        sources = self._source_reasons()
        own = [(pool, why) for pool, why in self.stale.items() if why not in sources]
        if own:
            pool, why = own[0]
            more = f" (and {len(own) - 1} more)" if len(own) > 1 else ""
            problems["pools"] = f"{len(own)} of {pools} held: {pool}: {why}{more}"
        return problems

    def _source_reasons(self) -> set[str]:
        problems = self.problems
        return {problems[s] for s in SOURCES if s in problems}

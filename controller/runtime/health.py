"""What the loop cannot trust right now: the sources that fail (the cluster, the queue, a
pool's scale call) and the pools held for want of data. Each change is told once, as a log
line and a HealthEvent, and told again only when it changes; the dashboard's header and the
daemon's /healthz read the standing picture.

A failing source stalls every pool it feeds, so its pools' staleness is not told pool by
pool: one line for the source says it. Only a pool's own reasons (a consumer or a Deployment
gone, a pool never seen, its scale call failing) are told per pool, and with hysteresis: a
pool's own problem is told, and counts against readiness, once it has lasted STEADY_S, and
its end once the pool has been fine that long. A pool that flips on every other read is not
news, and a readiness probe must not flip with it. The pool is still held at once: missing
data never scales a pool down, however briefly it is missing.

Lines about pools are grouped (controller.runtime.pool_lines): with 500 pools, one problem
is one line every 10 s with a count and examples, not 500 lines.
"""

from __future__ import annotations

import logging

from controller.core.events import EventBus, HealthEvent
from controller.runtime.pool_lines import PoolLines

log = logging.getLogger("agentdash.loop")

SOURCES = ("cluster", "queue")
"""The problems that stall every pool (and slow the loop down with backoff)."""
TOKENS = "tokens"
"""The token counts' source (Prometheus; the workers' reports are never stale): while it
fails, the budgets hold their last known values and no pool is held."""
TASKS = "tasks"
"""Tasks the queue refuses to store (controller.sources.refused_tasks): told and shown, not
counted against readiness. A producer can send publishes the stream refuses (headers over
its 64 KiB), and a producer must not hold up a rollout of agentdash."""
STEADY_S = 5.0
"""How long a pool's own problem, or its end, must last to be told and to count."""
SCALE = "scale "
"""The prefix of a pool's scale call's problem: `scale <pool>`."""


class SourceHealth:
    """The failing sources and the held pools, as of the last tick, and their events."""

    def __init__(self, bus: EventBus) -> None:
        self.bus = bus
        self.problems: dict[str, str] = {}
        """Source name (or "scale <pool>") -> what is wrong with it, while it is."""
        self.stale: dict[str, str] = {}
        """Pool -> why its data cannot be trusted (so it is held), as of the last tick."""
        self._since: dict[str, float] = {}
        """Pool or "scale <pool>" -> when its problem began (it counts after STEADY_S)."""
        self._told: dict[str, str] = {}
        """Pools whose own staleness was told (a health event and a log line), and why."""
        self._fine_since: dict[str, float] = {}
        """Told pools and scale calls fine again, and since when (told after STEADY_S)."""
        self.left: dict[str, str] = {}
        """Pools another autoscaler scales, as their config lets it, and why: no problem."""
        self._now = 0.0
        self.lines = PoolLines(log)

    def healthy(self, source: str, now: float) -> None:
        """`source` answered: if it was failing, say it recovered (a pool's scale call once
        it has been fine STEADY_S)."""
        self._now = now
        if source not in self.problems:
            return
        if source.startswith(SCALE):
            pool = source.removeprefix(SCALE)
            if self.stale.get(pool) == self.problems[source]:
                self._hand_to_pool(source, pool)
                return
            self._fine_since.setdefault(source, now)
            return
        del self.problems[source]
        log.info("%s source recovered", source)
        self.bus.publish(HealthEvent(ts=now, source=source, ok=True, detail="recovered"))

    def _hand_to_pool(self, source: str, pool: str) -> None:
        """The call failed for a reason that now holds its pool (a 403, a Deployment gone):
        no call is made while it does, which is not the call working again. The problem is
        the pool's from now on, as told by the call's failure; its end is told as the pool's."""
        del self.problems[source]
        self._fine_since.pop(source, None)
        began = self._since.pop(source, None)
        if began is not None:  # red for as long as it was: no flicker at the handover
            self._since[pool] = min(self._since.get(pool, began), began)
        self._told[pool] = self.stale[pool]

    def unhealthy(self, source: str, detail: str, now: float) -> None:
        """`source` failed, for this reason: said once, and again when the reason changes."""
        self._now = now
        self._fine_since.pop(source, None)
        if self.problems.get(source) != detail:
            if source.startswith(SCALE):
                self._since.setdefault(source, now)
                self.lines.warning("scale call failing", detail, source.removeprefix(SCALE), now)
            else:
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
        """Whether `pool` is held for want of data (`why`), or fresh (None). Told by `flush`,
        once the change has lasted STEADY_S."""
        self._now = now
        if why is None:
            if self.stale.pop(pool, None) is not None:
                del self._since[pool]
            if pool in self._told:
                self._fine_since.setdefault(pool, now)
            return
        self.stale[pool] = why
        self._since.setdefault(pool, now)
        self._fine_since.pop(pool, None)

    def left_alone(self, pool: str, why: str | None, now: float) -> None:
        """Whether another autoscaler scales `pool`, as its config lets it (`why`), or no
        longer (None). Told once, not counted against readiness: an operator who leaves a
        pool to KEDA or an HPA while moving a fleet over has a working daemon, and a
        rollout of it must not wait on that pool."""
        if why is None:
            if self.left.pop(pool, None) is not None:
                self.lines.info("scaled by agentdash again", "", pool, now)
            return
        if self.left.get(pool) != why:
            self.left[pool] = why
            self.lines.warning("left to another autoscaler", why, pool, now)

    def flush(self, now: float) -> None:
        """Tell what has lasted STEADY_S: pools held for their own reasons, pools fresh
        again, scale calls that work again; then the grouped lines that are due."""
        self._now = now
        sources = self._source_reasons()
        for pool, why in self.stale.items():
            if self._told.get(pool) == why or why in sources or not self._lasted(pool, now):
                continue
            self._told[pool] = why
            if why == self.problems.get(f"{SCALE}{pool}"):
                continue  # its scale call's failure, told as such: once, not twice
            self.lines.warning("held, data stale", why, pool, now)
            self.bus.publish(HealthEvent(ts=now, source=f"pool {pool}", ok=False, detail=why))
        for name, since in list(self._fine_since.items()):
            if now - since >= STEADY_S:
                del self._fine_since[name]
                self._recovered(name, now)
        self.lines.flush(now)

    def _recovered(self, name: str, now: float) -> None:
        if name.startswith(SCALE):
            self.problems.pop(name, None)
            self._since.pop(name, None)
            self.lines.info("scale call works again", "", name.removeprefix(SCALE), now)
            self.bus.publish(HealthEvent(ts=now, source=name, ok=True, detail="recovered"))
        elif self._told.pop(name, None) is not None:
            self.lines.info("data fresh again", "", name, now)
            self.bus.publish(
                HealthEvent(ts=now, source=f"pool {name}", ok=True, detail="recovered")
            )

    def _lasted(self, name: str, now: float) -> bool:
        return now - self._since.get(name, now) >= STEADY_S

    def ready(self) -> bool:
        """No source fails (tasks refused aside: TASKS), no pool's own problem has lasted
        STEADY_S (as of the last tick)."""
        now = self._now
        for source in self.problems:
            if source == TASKS:
                continue
            if not source.startswith(SCALE) or self._lasted(source, now):
                return False
        return not any(self._lasted(pool, now) for pool in self.stale)

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

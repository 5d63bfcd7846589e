"""Log lines about pools, grouped: one line per problem per GROUP_S.

With hundreds of pools, one cause (the API server's budget, a namespace forbidden) reaches
every pool within a second; a line each would be thousands of lines that say one thing. The
first pool with a problem is told at once; the pools that meet the same problem within
GROUP_S are told together when it ends, counted, with the first few named.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

GROUP_S = 10.0
NAMED = 3
"""Pools a grouped line names; the rest are counted."""


@dataclass(slots=True)
class _Group:
    told_at: float
    pools: list[str] = field(default_factory=list)
    """Met the problem since it was last told, not told yet."""


@dataclass(frozen=True, slots=True)
class _Problem:
    level: int
    what: str
    """What happened to the pool: `held, data stale`."""
    why: str
    """Its reason, the same for every pool of the group ('' for none)."""


class PoolLines:
    """The grouped lines of one logger; `flush` tells what waited its turn."""

    def __init__(self, log: logging.Logger) -> None:
        self._log = log
        self._groups: dict[_Problem, _Group] = {}

    def warning(self, what: str, why: str, pool: str, now: float) -> None:
        self._say(_Problem(logging.WARNING, what, why), pool, now)

    def info(self, what: str, why: str, pool: str, now: float) -> None:
        self._say(_Problem(logging.INFO, what, why), pool, now)

    def _say(self, problem: _Problem, pool: str, now: float) -> None:
        group = self._groups.get(problem)
        if group is not None and now - group.told_at < GROUP_S:
            group.pools.append(pool)
            return
        self._groups[problem] = _Group(told_at=now)
        self._tell(problem, [pool])

    def flush(self, now: float) -> None:
        """Tell each group whose GROUP_S is up; forget those with nothing more to tell."""
        for problem, group in list(self._groups.items()):
            if now - group.told_at < GROUP_S:
                continue
            if group.pools:
                self._tell(problem, group.pools)
                self._groups[problem] = _Group(told_at=now)
            else:
                del self._groups[problem]

    def _tell(self, problem: _Problem, pools: list[str]) -> None:
        because = f": {problem.why}" if problem.why else ""
        if len(pools) == 1:
            self._log.log(problem.level, "pool %s: %s%s", pools[0], problem.what, because)
            return
        named = ", ".join(pools[:NAMED])
        more = f" and {len(pools) - NAMED} more" if len(pools) > NAMED else ""
        self._log.log(
            problem.level, "%d pools: %s%s (%s%s)", len(pools), problem.what, because, named, more
        )

"""The shared ceilings in the engine: what every claim asks of them (`Demand`), and, while
one is short, the grants `allocate` makes over the pools that draw on it.

While every shared ceiling has room for all the claims, each claim gets what it asks alone
(controller.core.allocation.Demand) and nothing here runs. While one is short, `share` runs
`allocate` over the pools that draw on a short ceiling, in groups that share none (they do not
compete), and only for a group with a claim made again that bids differently (`Bid`): the
grants are written into the claims, so nothing is copied.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import NamedTuple

from controller.core.allocation import Claim, Demand, allocate_short
from controller.core.config import Config
from controller.core.model import Reason
from controller.core.tracked import TrackedPool


class SharedCeilings:
    def __init__(self, config: Config, pools: list[TrackedPool]) -> None:
        self.config = config
        self.pools = pools
        """The engine's pools, in config order (shared with it, never copied)."""
        self.demand = Demand(config)
        self.members: list[list[int]] = [[] for _ in self.demand.shape.ceilings]
        """Per shared ceiling, the pools that draw on it."""
        for i, pool in enumerate(pools):
            for k in self.demand.shape.drawn[pool.name]:
                self.members[k].append(i)
        self.outcome: dict[int, tuple[int, tuple[Reason, ...]]] = {}
        """While a shared ceiling is short, per pool that draws on one: what `allocate` granted
        and the reasons it added (written into the pool's claim, after `base` of its own)."""
        self.bids: dict[int, Bid] = {}
        """What `allocate` read of each such claim when it last ran."""
        self.short: tuple[int, ...] = ()
        """The shared ceilings short at the last step."""
        self.groups: list[list[int]] = []
        """The pools that draw on a short ceiling, split into groups that share none: each is
        allocated on its own, and again only when one of its claims changed."""
        self.group_of: dict[int, int] = {}

    def fit(self) -> bool:
        """Whether every claim gets what it asks alone: every ceiling has room for all, now
        and at the last step."""
        return self.demand.fits() and not self.short

    def share(self, changed: set[int]) -> Iterable[int]:
        """Grants when some shared ceiling is (or was) short: allocate() over the claims that
        draw on a short ceiling, one group at a time (pools that share no short ceiling do not
        compete), and only for the groups with a claim made again. The others get what they
        ask alone: the ceilings they draw on have room for every claim at once, and no grant
        exceeds what its claim asks alone. Returns the pools whose grant or reasons moved
        (with the claims made again this step, `_settle` has all that may differ)."""
        demand, outcome = self.demand, self.outcome
        moved: set[int] = set()
        short = () if demand.fits() else tuple(demand.short())
        group_of = self.group_of
        if short == self.short:
            again = {group_of[i] for i in changed if i in group_of}
        else:  # new groups: allocate those not seen before; the pools left out ask alone
            self.short = short
            known = set(map(tuple, self.groups))
            self.groups = self._groups(short)
            self.group_of = group_of = {i: g for g, pools in enumerate(self.groups) for i in pools}
            for i in outcome.keys() - group_of.keys():
                del outcome[i], self.bids[i]
                pool = self.pools[i]
                made = pool.claimed
                if i not in changed:  # a claim not made again: take back allocate's reasons
                    del made.reasons[pool.base :]
                pool.desired = made.alone
                moved.add(i)
            new = {g for g, pools in enumerate(self.groups) if tuple(pools) not in known}
            for g in new:
                self._allocate(self.groups[g], changed, moved, new=True)
            again = {group_of[i] for i in changed if i in group_of} - new
        for g in again:
            self._allocate(self.groups[g], changed, moved)
        return moved

    def _allocate(
        self, group: list[int], changed: set[int], moved: set[int], new: bool = False
    ) -> None:
        """allocate() over one group's claims, in place: each claim made again gets its grant
        and reasons anew, each other one loses those of the last run first. When the group is
        as before and every claim made again bids as before (the other claims are the same),
        the last run's outcome stands without running it."""
        pools, outcome, bids = self.pools, self.outcome, self.bids
        fresh = [i for i in group if i in changed or i not in outcome]
        if not new and all(i in outcome and _bid(pools[i].claimed) == bids[i] for i in fresh):
            for i in fresh:
                pool = pools[i]
                made = pool.claimed
                pool.base = len(made.reasons)
                made.granted, added = outcome[i]
                made.reasons.extend(added)
                pool.desired = made.granted
            return
        run = []
        for i in group:
            pool = pools[i]
            made = pool.claimed
            if i in changed or i not in outcome:
                pool.base = len(made.reasons)
            else:
                del made.reasons[pool.base :]
            made.granted = made.goal = 0
            if made.current or made.alone:  # else it has nothing and asks nothing: 0, no reason
                run.append(made)
        allocate_short(self.config, run)
        for i in group:
            pool = pools[i]
            made = pool.claimed
            now = (made.granted, tuple(made.reasons[pool.base :]))
            if outcome.get(i) != now:
                outcome[i] = now
                moved.add(i)
            pool.desired = made.granted
        for i in fresh:
            bids[i] = _bid(pools[i].claimed)

    def _groups(self, short: tuple[int, ...]) -> list[list[int]]:
        """The pools that draw on the `short` ceilings, in groups joined by a shared one
        (each group in pool order)."""
        parent = {k: k for k in short}

        def root(k: int) -> int:
            while parent[k] != k:
                parent[k] = k = parent[parent[k]]
            return k

        for i in set().union(*(self.members[k] for k in short)):
            drawn = [k for k in sorted(self.demand.shape.drawn[self.pools[i].name]) if k in parent]
            for k in drawn[1:]:
                parent[root(k)] = root(drawn[0])
        groups: dict[int, list[int]] = {}
        for k in short:
            groups.setdefault(root(k), []).extend(self.members[k])
        return [sorted(set(group)) for group in groups.values()]


class Bid(NamedTuple):
    """What `allocate` reads of a claim (besides its pool's name and config): a claim whose
    bid did not change needs no new pass over the shared ceilings it is under."""

    current: int
    floor: int
    want: int
    held: bool
    busy: int
    steady: int | None
    peer_steady: int | None
    kept: int


def _bid(claim: Claim) -> Bid:
    return Bid(
        current=claim.current,
        floor=claim.floor,
        want=claim.want,
        held=claim.held,
        busy=claim.busy,
        steady=claim.steady,
        peer_steady=claim.peer_steady,
        kept=claim.kept,
    )

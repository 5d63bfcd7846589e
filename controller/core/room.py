"""The room left under each shared ceiling during one allocation
(controller.core.allocation.allocate_short): replicas granted from it, set aside for what
pools have, given back, and water-filled between claims (max-min fair by tier weight)."""

from __future__ import annotations

import heapq
import math
from typing import TYPE_CHECKING, Final, NamedTuple

if TYPE_CHECKING:
    from controller.core.allocation import Claim
    from controller.core.layout import Layout

EPS: Final = 1e-9
"""Float slack when room is compared with a replica's cost."""
Costs = tuple[tuple[int, float], ...]
"""A pool's (ceiling index, cost of one replica there), as Layout.costs holds them."""


class Turn(NamedTuple):
    """A claim's place in the queue for its next replica (`Room._water_fill`): compared
    field by field, the lowest goes first."""

    level: float
    """Replicas per weight it would have with it."""
    moved: bool
    """Whether the replica would be a pod moved or started (False: one it has running)."""
    unmet: int
    """Minus the replicas it still wants: the larger unmet demand first."""
    name: str
    position: int
    """The claim's place in the list being filled."""


class Room:
    """One allocation: the room left under each ceiling."""

    def __init__(self, shape: Layout) -> None:
        self.shape = shape
        self.room = [c.capacity for c in shape.ceilings]
        tiers = len(shape.tiers)
        self.tier_units = [[0] * tiers for _ in shape.ceilings]
        """Per ceiling, the replicas granted so far under it to each tier's pools
        (`Layout.tiers` order): a tier's first replica under a short ceiling is counted
        among the pools that draw on it alone, as an allocation of just those pools would."""

    def grant(self, claim: Claim, units: int) -> None:
        claim.granted += units
        room, tier, counted = self.room, self.shape.tier_of[claim.name], self.tier_units
        for i, cost in self.shape.costs[claim.name]:
            room[i] -= units * cost
            counted[i][tier] += units

    def set_aside(self, parts: list[tuple[Claim, int]]) -> list[float]:
        """Set aside, from the room, the given replicas of each claim (a count of 0 or less
        sets nothing aside)."""
        reserve = [0.0] * len(self.room)
        costs = self.shape.costs
        for claim, units in parts:
            if units > 0:
                for i, cost in costs[claim.name]:
                    reserve[i] += units * cost
        return self.reserve_again(reserve)

    def unreserve(self, reserve: list[float], claims: list[Claim]) -> None:
        """Give back to the room what is still set aside of these claims' current replicas
        up to their goal (for them to keep)."""
        room, costs = self.room, self.shape.costs
        for claim in claims:
            goal = claim.goal if claim.goal < claim.current else claim.current
            part = goal - claim.granted
            if part <= 0:
                continue
            for i, cost in costs[claim.name]:
                amount = part * cost
                if amount > reserve[i]:
                    amount = reserve[i]
                reserve[i] -= amount
                room[i] += amount

    def reserve_again(self, wanted: list[float]) -> list[float]:
        """Set aside up to `wanted` of what room is left (after `release`)."""
        room = self.room
        kept = [0.0] * len(room)
        for i, amount in enumerate(wanted):
            if amount > 0:
                there = room[i] if room[i] > 0 else 0.0
                kept[i] = amount if amount < there else there
                room[i] -= kept[i]
        return kept

    def release(self, reserve: list[float]) -> None:
        """Give what `reserve` set aside back to the room (and empty it)."""
        room = self.room
        for i, amount in enumerate(reserve):
            room[i] += amount
            reserve[i] = 0.0

    def fits(self, claim: Claim) -> bool:
        room = self.room
        return all(room[i] + EPS >= cost for i, cost in self.shape.costs[claim.name])

    def fill(self, claims: list[Claim]) -> None:
        """Raise each claim toward its goal, max-min fair under the ceilings."""
        costs, drawn, room = self.shape.costs, self.shape.drawn, self.room
        need: dict[int, float] = {}  # only the ceilings these claims draw on (of maybe many)
        active = []
        for claim in claims:
            extra = claim.goal - claim.granted
            if extra > 0:
                active.append(claim)
                for i, cost in costs[claim.name]:
                    need[i] = need.get(i, 0.0) + extra * cost
        short = {i for i, n in need.items() if n > room[i] + EPS}
        bound = []
        for claim in active:
            if short and not short.isdisjoint(drawn[claim.name]):
                bound.append(claim)
            else:
                self.grant(claim, claim.goal - claim.granted)
        for group in self._groups(bound, short):
            self._water_fill(group, short)

    def _groups(self, claims: list[Claim], short: set[int]) -> list[list[Claim]]:
        """Split claims into groups that share no short ceiling (union-find)."""
        if len(short) == 1:  # the usual case: one ceiling short, all bound by it
            return [claims] if claims else []
        parent: dict[int, int] = {}

        def root(key: int) -> int:
            while parent.setdefault(key, key) != key:
                parent[key] = parent[parent[key]]
                key = parent[key]
            return key

        keys = {c.name: [i for i, _ in self.shape.costs[c.name] if i in short] for c in claims}
        # (each claim here draws on at least one short ceiling: fill() bound it by one)
        for drawn in keys.values():
            for key in drawn[1:]:
                parent[root(key)] = root(drawn[0])
        groups: dict[int, list[Claim]] = {}
        for claim in claims:
            groups.setdefault(root(keys[claim.name][0]), []).append(claim)
        return list(groups.values())

    def _water_fill(self, claims: list[Claim], short: set[int]) -> None:
        """Raise the claims one replica at a time, each to the claim lowest in replicas per
        weight, while its ceilings have room: weighted max-min fairness, once every tier has
        its first replica (`_first_seats`). Between claims at the same level, the next
        replica goes first to one that has it running already (a pod moved is a task cut
        short and a cold start, and two pools short of one replica would trade it back and
        forth every tick), then to the larger unmet demand, then by name. Room only shrinks
        here, so a claim that no longer fits is done. `_level_up` grants the bulk of it
        first, the same replicas the queue would."""
        self._first_seats([c for c in claims if c.granted < c.goal and self.fits(c)], short)
        active = [c for c in claims if c.granted < c.goal and self.fits(c)]
        if not active:
            return
        self._level_up(active)
        queue = [
            self._next(c, k) for k, c in enumerate(active) if c.granted < c.goal and self.fits(c)
        ]
        heapq.heapify(queue)
        while queue:
            k = heapq.heappop(queue).position
            claim = active[k]
            if not self.fits(claim):
                continue
            self.grant(claim, 1)
            if claim.granted < claim.goal:
                heapq.heappush(queue, self._next(claim, k))

    def _first_seats(self, claims: list[Claim], short: set[int]) -> None:
        """A tier that has no replica yet gets one before any tier gets more, highest tier
        first, to the claim whose turn it would be: a short ceiling leaves no tier with
        nothing, whatever the weights. By weight alone, a starter tier (weight 1) got its
        first replica only once each enterprise pool (weight 4) had four, so under a cluster
        cap of 3 its one idle pod went to every enterprise burst and came back a cold start
        later, and its tasks waited half an hour."""
        tier_of, drawn, counted = self.shape.tier_of, self.shape.drawn, self.tier_units
        turns = sorted((tier_of[c.name], self._next(c, k)) for k, c in enumerate(claims))
        for tier, turn in turns:
            claim = claims[turn.position]
            under = short.intersection(drawn[claim.name])
            if all(counted[i][tier] == 0 for i in under) and self.fits(claim):
                self.grant(claim, 1)

    def _next(self, claim: Claim, position: int) -> Turn:
        """The turn of `claim` (at `position` in the list) for its next replica."""
        return Turn(
            level=(claim.granted + 1) / self.shape.weights[claim.name],
            moved=claim.granted >= claim.current,
            unmet=claim.granted - claim.goal,
            name=claim.name,
            position=position,
        )

    def _level_up(self, claims: list[Claim]) -> None:
        """Grant every replica up to the highest level (replicas per weight) at which all the
        claims together still fit every ceiling. The queue of `_water_fill` grants replicas in
        order of level, so it would grant each of these before any other, and none of them
        would fail to fit: this only saves it one step per replica."""
        weights, costs = self.shape.weights, self.shape.costs
        rows = [(weights[c.name], c.granted, c.goal, costs[c.name]) for c in claims]
        low = min(granted / weight for weight, granted, _, _ in rows)
        high = max(goal / weight for weight, _, goal, _ in rows)
        if self._fits_at(rows, high):
            low = high
        else:
            # Levels that matter are multiples of 1 / weight: stop well below the finest.
            finest = 0.25 / max(weight for weight, _, _, _ in rows)
            while high - low > finest:
                middle = (low + high) / 2
                if self._fits_at(rows, middle):
                    low = middle
                else:
                    high = middle
        for claim, (weight, granted, goal, _) in zip(claims, rows, strict=True):
            extra = _at_level(weight, granted, goal, low) - granted
            if extra > 0:
                self.grant(claim, extra)

    def _fits_at(self, rows: list[tuple[float, int, int, Costs]], level: float) -> bool:
        """Whether every claim (weight, granted, goal, costs) raised to `level` fits every
        ceiling at once."""
        used = [0.0] * len(self.room)
        for weight, granted, goal, drawn in rows:
            extra = _at_level(weight, granted, goal, level) - granted
            if extra > 0:
                for i, cost in drawn:
                    used[i] += extra * cost
        return all(room + EPS >= amount for room, amount in zip(self.room, used, strict=True))


def _at_level(weight: float, granted: int, goal: int, level: float) -> int:
    """The replicas a claim has at `level` (replicas per weight): never fewer than granted,
    never more than its goal."""
    units = math.floor(level * weight + 1e-9)
    if units < granted:
        return granted
    return units if units < goal else goal

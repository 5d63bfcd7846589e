"""The behaviors `agentdash tune` searches: a grid of values per knob, and moves on it.

A `Setting` is one group's `behavior` and `cooldown_seconds` (a group: one pool, or every pool
of a tier); a `Candidate` gives each group a setting or None (its configured values). The grid
holds what an operator would write, in the ranges the HPA's users find sensible.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any, Literal

from controller.config import Behavior, Config, PoolConfig, ScalingRule
from controller.simulate.trace import Trace

UP_WINDOW = (0, 5, 10, 15, 30, 45, 60)
UP_PERCENT = (50, 100, 200, 300, 400)
UP_PODS = (1, 2, 4, 6, 10, 15, 20)
PERIOD = (15, 30, 45, 60)
DOWN_WINDOW = (30, 60, 90, 120, 180, 240, 300, 420, 600)
DOWN_PERCENT = (10, 20, 35, 50, 75, 100)
COOLDOWN = (0, 30, 60, 120, 180, 300, 450, 600)


@dataclass(frozen=True, slots=True)
class Setting:
    """One group's behavior: up, at most max(up_percent %, up_pods pods) per up_period after an
    up window; down, at most down_percent % per down_period after a down window; then
    cooldown seconds of zero lag before going to zero. Tolerances stay as configured."""

    up_window: int
    up_percent: int
    up_pods: int
    up_period: int
    down_window: int
    down_percent: int
    down_period: int
    cooldown: int

    def rules(self, given: Behavior) -> dict[str, dict[str, Any]]:
        """The `behavior` mapping as the YAML writes it, every field explicit."""
        up, down = given.scale_up, given.scale_down
        return {
            "scale_up": {
                "stabilization_seconds": self.up_window,
                "select_policy": "Max",
                "tolerance": up.tolerance,
                "policies": [
                    _policy("Percent", self.up_percent, self.up_period),
                    _policy("Pods", self.up_pods, self.up_period),
                ],
            },
            "scale_down": {
                "stabilization_seconds": self.down_window,
                "select_policy": "Max",
                "tolerance": down.tolerance,
                "policies": [_policy("Percent", self.down_percent, self.down_period)],
            },
        }

    def apply(self, pool: PoolConfig) -> PoolConfig:
        behavior = Behavior.model_validate(self.rules(pool.behavior))
        return pool.model_copy(update={"behavior": behavior, "cooldown_seconds": self.cooldown})

    def describe(self) -> str:
        return (
            f"up {self.up_window} s, max({self.up_percent}%, {self.up_pods} pods) / "
            f"{self.up_period} s; down {self.down_window} s, {self.down_percent}% / "
            f"{self.down_period} s; cooldown {self.cooldown} s"
        )


def _policy(kind: str, value: int, period: int) -> dict[str, Any]:
    return {"type": kind, "value": value, "period_seconds": period}


GRID: dict[str, tuple[int, ...]] = {
    "up_window": UP_WINDOW, "up_percent": UP_PERCENT, "up_pods": UP_PODS, "up_period": PERIOD,
    "down_window": DOWN_WINDOW, "down_percent": DOWN_PERCENT, "down_period": PERIOD,
    "cooldown": COOLDOWN,
}  # fmt: skip
KNOBS = tuple(f.name for f in fields(Setting))


def _snap(grid: tuple[int, ...], value: float) -> int:
    return min(grid, key=lambda g: (abs(g - value), g))


def _first(rule: ScalingRule, kind: str) -> int | None:
    return next((p.value for p in rule.policies if p.type == kind), None)


def nearest(pool: PoolConfig) -> Setting:
    """The grid's setting closest to a pool's configured behavior: where mutating its
    configured values starts from (a Pods scale-down limit counts as a share of max_replicas)."""
    up, down = pool.behavior.scale_up, pool.behavior.scale_down
    down_pods = _first(down, "Pods")
    down_percent = _first(down, "Percent") or (
        100 * down_pods / pool.max_replicas if down_pods else 100
    )
    return Setting(
        _snap(UP_WINDOW, up.stabilization_seconds),
        _snap(UP_PERCENT, _first(up, "Percent") or 100),
        _snap(UP_PODS, _first(up, "Pods") or 4),
        _snap(PERIOD, up.longest_period or 15),
        _snap(DOWN_WINDOW, down.stabilization_seconds),
        _snap(DOWN_PERCENT, down_percent),
        _snap(PERIOD, down.longest_period or 15),
        _snap(COOLDOWN, pool.cooldown_seconds),
    )


@dataclass(frozen=True, slots=True)
class Group:
    """What one setting applies to: a pool, or every pool of a tier."""

    name: str
    pools: tuple[str, ...]


def groups(config: Config, trace: Trace, by: Literal["pool", "tier"]) -> list[Group]:
    """The groups to tune: those with at least one task in the trace (there is no evidence
    about the others), in config order (tiers: highest priority first)."""
    busy = {trace.pools[i] for i in set(trace.pool)}
    if by == "pool":
        return [Group(name, (name,)) for name in config.pools if name in busy]
    tiers = sorted(config.tiers, key=lambda t: (-config.tiers[t].priority, t))
    found = []
    for tier in tiers:
        pools = tuple(name for name in config.pools if config.tier_of[name] == tier)
        if any(name in busy for name in pools):
            found.append(Group(tier, pools))
    return found


Candidate = tuple[Setting | None, ...]
"""One entry per group: a setting, or None for the group's configured values."""


def configure(config: Config, tuned: Sequence[Group], candidate: Candidate) -> Config:
    pools = dict(config.pools)
    for group, setting in zip(tuned, candidate, strict=True):
        if setting is not None:
            for name in group.pools:
                pools[name] = setting.apply(pools[name])
    return config.model_copy(update={"pools": pools})


def random_setting(rng: random.Random) -> Setting:
    return Setting(*(rng.choice(GRID[knob]) for knob in KNOBS))


def mutate(setting: Setting, rng: random.Random) -> Setting:
    """One knob moved, now and then two: mostly to a neighbouring grid value, sometimes
    anywhere else on its grid."""
    values = {knob: getattr(setting, knob) for knob in KNOBS}
    for knob in rng.sample(KNOBS, rng.choice((1, 1, 2))):
        grid = GRID[knob]
        if rng.random() < 0.3:
            values[knob] = rng.choice([value for value in grid if value != values[knob]])
            continue
        i = grid.index(values[knob])
        step = rng.choice((-1, 1))
        if not 0 <= i + step < len(grid):
            step = -step
        values[knob] = grid[i + step]
    return Setting(**values)

"""The behaviors `agentdash tune` searches: a grid of values per knob, and moves on it.

A `Setting` is one group's `behavior`, `cooldown_seconds` and `keep_alive.wait_weight` (a
group: one pool, or every pool of a tier); a `Candidate` gives each group a setting or None (its
configured values). The grid holds what an operator would write, in the ranges the HPA's users
find sensible. A setting with a down rule or a cooldown puts its pools on the fixed rules, where
the learned keep-alive's weight means nothing: half the random settings keep the learned
keep-alive and move only its weight and the up rule.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any, Literal

from controller.core.behavior import ScalingRule
from controller.core.config import Config, KeepAliveConfig, PoolConfig
from controller.core.wording import plural
from controller.simulate.trace import Trace

UP_WINDOW = (0, 5, 10, 15, 30, 45, 60)
UP_PERCENT = (50, 100, 200, 300, 400)
UP_PODS = (1, 2, 4, 6, 10, 15, 20)
PERIOD = (15, 30, 45, 60)
DOWN_WINDOW = (30, 60, 90, 120, 180, 240, 300, 420, 600)
DOWN_PERCENT = (10, 20, 35, 50, 75, 100)
COOLDOWN = (0, 30, 60, 120, 180, 300, 450, 600)
WAIT_WEIGHT = (50, 75, 100, 150, 200, 300, 500)
"""keep_alive.wait_weight, in hundredths."""
FIXED_RULES = {"behavior.scale_down", "cooldown_seconds"}
"""The fields that put a pool on the fixed scale-down rules (PoolConfig.learns_keep_alive)."""


@dataclass(frozen=True, slots=True)
class Up:
    """Scale up: after `window` s, at most max(`percent` %, `pods` pods) per `period` s."""

    window: int
    percent: int
    pods: int
    period: int

    def rule(self, tolerance: float) -> dict[str, Any]:
        return {
            "stabilization_seconds": self.window,
            "select_policy": "Max",
            "tolerance": tolerance,
            "policies": [
                _policy("Percent", self.percent, self.period),
                _policy("Pods", self.pods, self.period),
            ],
        }

    def describe(self) -> str:
        pods = plural(self.pods, "pod")
        return f"up {self.window} s, max({self.percent}%, {pods}) / {self.period} s"


@dataclass(frozen=True, slots=True)
class Down:
    """Scale down: after `window` s, at most `percent` % per `period` s."""

    window: int
    percent: int
    period: int

    def rule(self, tolerance: float) -> dict[str, Any]:
        return {
            "stabilization_seconds": self.window,
            "select_policy": "Max",
            "tolerance": tolerance,
            "policies": [_policy("Percent", self.percent, self.period)],
        }

    def describe(self) -> str:
        return f"down {self.window} s, {self.percent}% / {self.period} s"


@dataclass(frozen=True, slots=True)
class Keep:
    """The learned keep-alive's weight of waiting, in hundredths (keep_alive.wait_weight)."""

    weight: int

    @property
    def wait_weight(self) -> float:
        return self.weight / 100

    def describe(self) -> str:
        return f"learned keep-alive, waiting weighs {self.wait_weight:g}"


def _policy(kind: str, value: int, period: int) -> dict[str, Any]:
    return {"type": kind, "value": value, "period_seconds": period}


@dataclass(frozen=True, slots=True)
class Setting:
    """One group's scale-up rule, scale-down rule and cooldown; a part left None stays as
    configured. Tolerances always stay as configured."""

    up: Up | None = None
    down: Down | None = None
    cooldown: int | None = None
    keep: Keep | None = None

    @property
    def parts(self) -> int:
        """How many of the four it changes."""
        return sum(part is not None for part in (self.up, self.down, self.cooldown, self.keep))

    def fields(self, pool: PoolConfig) -> dict[str, Any]:
        """What it changes in a pool's YAML, by dotted path (as `agentdash tune` writes it
        into the file): the parts that differ from the pool's own."""
        behavior, found = pool.behavior, dict[str, Any]()
        if self.up is not None:
            rule = self.up.rule(behavior.scale_up.tolerance)
            if ScalingRule.model_validate(rule) != behavior.scale_up:
                found["behavior.scale_up"] = rule
        if self.down is not None:
            rule = self.down.rule(behavior.scale_down.tolerance)
            if ScalingRule.model_validate(rule) != behavior.scale_down:
                found["behavior.scale_down"] = rule
        if self.cooldown is not None and self.cooldown != pool.cooldown_seconds:
            found["cooldown_seconds"] = self.cooldown
        # A pool put on the fixed rules (here or in its config) has no keep-alive to weigh.
        learns = pool.learns_keep_alive and not found.keys() & FIXED_RULES
        weight = None if self.keep is None else self.keep.wait_weight
        if learns and weight is not None and weight != pool.keep_alive.wait_weight:
            found["keep_alive.wait_weight"] = weight
        return found

    def apply(self, pool: PoolConfig) -> PoolConfig:
        behavior, rules = pool.behavior, dict[str, ScalingRule]()
        fields = self.fields(pool)
        for path, value in fields.items():
            if path.startswith("behavior."):
                rules[path.removeprefix("behavior.")] = ScalingRule.model_validate(value)
        update: dict[str, Any] = {"behavior": behavior.model_copy(update=rules)} if rules else {}
        if self.cooldown is not None:
            update["cooldown_seconds"] = self.cooldown
        if "keep_alive.wait_weight" in fields:
            update["keep_alive"] = KeepAliveConfig(wait_weight=fields["keep_alive.wait_weight"])
        return pool.model_copy(update=update)

    def describe(self) -> str:
        cooldown = "as configured" if self.cooldown is None else f"{self.cooldown} s"
        parts = [
            self.up.describe() if self.up else "up as configured",
            self.down.describe() if self.down else "down as configured",
            f"cooldown {cooldown}",
        ]
        if self.keep is not None:
            parts.append(self.keep.describe())
        return "; ".join(parts)


GRID: dict[str, tuple[int, ...]] = {
    "up.window": UP_WINDOW,
    "up.percent": UP_PERCENT,
    "up.pods": UP_PODS,
    "up.period": PERIOD,
    "down.window": DOWN_WINDOW,
    "down.percent": DOWN_PERCENT,
    "down.period": PERIOD,
    "cooldown": COOLDOWN,
    "keep.weight": WAIT_WEIGHT,
}
KNOBS = tuple(GRID)
"""Each knob as `part.field` (or `cooldown`), with its grid."""


def knob(setting: Setting, name: str) -> int | None:
    part, _, field = name.partition(".")
    value = getattr(setting, part)
    return value if not field or value is None else int(getattr(value, field))


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
        Up(
            _snap(UP_WINDOW, up.stabilization_seconds),
            _snap(UP_PERCENT, _first(up, "Percent") or 100),
            _snap(UP_PODS, _first(up, "Pods") or 4),
            _snap(PERIOD, up.longest_period or 15),
        ),
        Down(
            _snap(DOWN_WINDOW, down.stabilization_seconds),
            _snap(DOWN_PERCENT, down_percent),
            _snap(PERIOD, down.longest_period or 15),
        ),
        _snap(COOLDOWN, pool.cooldown_seconds),
        Keep(_snap(WAIT_WEIGHT, 100 * pool.keep_alive.wait_weight)),
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
    """Every knob drawn; half the time only the up rule and the keep-alive's weight, which
    leave a pool that learns its keep-alive learning it."""
    values: dict[str, int | None] = {name: rng.choice(GRID[name]) for name in KNOBS}
    if rng.random() < 0.5:
        values.update({name: None for name in KNOBS if name.startswith(("down.", "cooldown"))})
    else:
        values["keep.weight"] = None
    return _build(values)


def mutate(setting: Setting, start: Setting, rng: random.Random) -> Setting:
    """One knob moved, now and then two: mostly to a neighbouring grid value, sometimes
    anywhere else on its grid. A part left as configured is first taken from `start` (its
    nearest point on the grid)."""
    values = {name: knob(setting, name) for name in KNOBS}
    for name in rng.sample(KNOBS, rng.choice((1, 1, 2))):
        part = name.partition(".")[0]
        if values[name] is None:  # the whole part from `start`
            values.update({k: knob(start, k) for k in KNOBS if k.partition(".")[0] == part})
        grid, value = GRID[name], values[name]
        assert value is not None
        if rng.random() < 0.3:
            values[name] = rng.choice([g for g in grid if g != value])
            continue
        i = grid.index(value)
        step = rng.choice((-1, 1))
        if not 0 <= i + step < len(grid):
            step = -step
        values[name] = grid[i + step]
    return _build(values)


def revert(setting: Setting, part: str) -> Setting | None:
    """The setting with one part as configured (None: nothing left to change)."""
    less = replace(setting, **{part: None})
    return less if less.parts else None


PARTS = ("up", "down", "cooldown", "keep")


def _build(values: dict[str, int | None]) -> Setting:
    up, down, keep = _part(values, "up"), _part(values, "down"), _part(values, "keep")
    return Setting(
        Up(**up) if up else None,
        Down(**down) if down else None,
        values["cooldown"],
        Keep(**keep) if keep else None,
    )


def _part(values: dict[str, int | None], name: str) -> dict[str, int] | None:
    """A part's fields from `values`; None when they are not set."""
    found: dict[str, int] = {}
    for key, value in values.items():
        if key.startswith(name + "."):
            if value is None:
                return None
            found[key.partition(".")[2]] = value
    return found

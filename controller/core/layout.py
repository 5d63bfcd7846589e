"""The shape of a config's shared ceilings, built once per config: which ceilings there are
(the cluster's max_pods, each tenant's max_pods, each provider's rpm), what one replica of each
pool costs under each, the tiers in priority order and their weights
(controller.core.allocation shares a short ceiling by them)."""

from __future__ import annotations

from dataclasses import dataclass

from controller.core.config import Config
from controller.core.room import EPS


@dataclass(frozen=True, slots=True)
class Ceiling:
    rule: str
    label: str
    capacity: float
    unit: str = "pods"


@dataclass(frozen=True, slots=True)
class Layout:
    """What does not change between ticks: the ceilings, who draws on which, tier order."""

    ceilings: tuple[Ceiling, ...]
    costs: dict[str, tuple[tuple[int, float], ...]]
    """Per pool: (ceiling index, cost of one replica there)."""
    drawn: dict[str, frozenset[int]]
    """Per pool: the ceilings it draws on (the indices of `costs`)."""
    tiers: tuple[tuple[str, tuple[str, ...]], ...]
    """(tier, its pools in config order), highest priority first."""
    weights: dict[str, float]
    """Per pool, its tier's weight under a short ceiling (`tier_weights`)."""
    tier_of: dict[str, int]
    """Per pool, its tier's place in `tiers`."""
    limits: tuple[float, ...]
    """Per ceiling, what a sum of replicas x cost may reach and still surely fit: sums of
    whole numbers are exact, others may drift, so they keep a margin."""


def _build_layout(config: Config) -> Layout:
    ceilings = [
        Ceiling(
            "cluster max_pods",
            f"cluster max_pods {config.cluster.max_pods}",
            config.cluster.max_pods,
        )
    ]
    index: dict[tuple[str, str], int] = {}

    def ceiling(key: tuple[str, str], make: Ceiling) -> int:
        if key not in index:
            index[key] = len(ceilings)
            ceilings.append(make)
        return index[key]

    costs: dict[str, tuple[tuple[int, float], ...]] = {}
    for name, pool in config.pools.items():
        drawn = [(0, 1.0)]
        cap = config.tenants[pool.tenant].max_pods
        if cap is not None:
            label = f"tenant {pool.tenant} max_pods {cap}"
            drawn.append(
                (ceiling(("tenant", pool.tenant), Ceiling("tenant max_pods", label, cap)), 1.0)
            )
        if pool.provider is not None and pool.rpm_per_replica > 0:
            rpm = config.providers[pool.provider].rpm
            headroom = config.providers[pool.provider].headroom
            allowed = rpm * headroom
            label = f"provider {pool.provider} rpm {rpm}" + (
                f" (x{headroom:g} headroom: {allowed:g})" if headroom != 1 else ""
            )
            made = Ceiling("provider rpm", label, allowed, "rpm")
            drawn.append((ceiling(("provider", pool.provider), made), pool.rpm_per_replica))
        costs[name] = tuple(drawn)
    order = sorted(config.tiers, key=lambda t: (-config.tiers[t].priority, t))
    tiers = tuple(
        (tier, tuple(p for p in config.pools if config.tier_of[p] == tier)) for tier in order
    )
    limits = []
    for i, made in enumerate(ceilings):
        exact = all(
            float(cost).is_integer() for drawn in costs.values() for j, cost in drawn if j == i
        )
        slack = EPS if exact else -1e-6 * max(1.0, made.capacity)
        limits.append(made.capacity + slack)
    drawing = {name: frozenset(i for i, _ in made) for name, made in costs.items()}
    weight = tier_weights(config)
    weights = {name: weight[config.tier_of[name]] for name in config.pools}
    return Layout(
        ceilings=tuple(ceilings),
        costs=costs,
        drawn=drawing,
        tiers=tiers,
        weights=weights,
        tier_of={name: k for k, (_, names) in enumerate(tiers) for name in names},
        limits=tuple(limits),
    )


MAX_DOUBLINGS = 60
"""Tiers further apart than this many priorities share as if strictly ordered."""


def tier_weights(config: Config) -> dict[str, float]:
    """Each tier's weight under a short ceiling: 1 for the lowest priority, twice that for
    each distinct priority above it (tiers of equal priority weigh the same)."""
    levels = sorted({tier.priority for tier in config.tiers.values()})
    rank = {priority: min(k, MAX_DOUBLINGS) for k, priority in enumerate(levels)}
    return {name: 2.0 ** rank[tier.priority] for name, tier in config.tiers.items()}


_layouts: dict[int, tuple[Config, Layout]] = {}


def layout(config: Config) -> Layout:
    """The config's layout, built once per config (the live loop keeps one for hours)."""
    cached = _layouts.get(id(config))
    if cached is None or cached[0] is not config:
        if len(_layouts) > 16:
            _layouts.clear()
        cached = _layouts[id(config)] = (config, _build_layout(config))
    return cached[1]

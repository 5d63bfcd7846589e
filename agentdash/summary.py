"""The one-screen summary that `agentdash check-config` prints."""

from __future__ import annotations

from collections import defaultdict

from controller.core.config import Config
from controller.core.layout import tier_weights
from controller.core.printable import printable
from controller.core.wording import plural


def _n(value: float) -> str:
    """A number as written, thousands marked, never in exponents (`10,000,000`, `1,500.5`)."""
    return f"{value:,.15g}"


def _table(rows: list[list[str]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]


def summarize(config: Config, source: str) -> str:
    pools_of: dict[str, list[str]] = defaultdict(list)
    for name, pool in config.pools.items():
        pools_of[pool.tenant].append(name)
    tiers = sorted(config.tiers.items(), key=lambda t: -t[1].priority)
    weight = tier_weights(config)
    lines = [
        f"{printable(source)}: OK: {plural(len(config.pools), 'pool')}, "
        f"{plural(len(config.tenants), 'tenant')}, {plural(len(config.tiers), 'tier')}",
        f"cluster: max {plural(config.cluster.max_pods, 'pod')}; "
        f"controller ticks every {config.controller.interval_seconds:g} s",
        "tiers (priority, weight under a short ceiling): "
        + ", ".join(f"{name} ({tier.priority}, x{weight[name]:g})" for name, tier in tiers),
    ]
    if config.providers:
        lines.append(
            "providers: "
            + ", ".join(f"{name} {p.rpm:,} rpm" for name, p in config.providers.items())
        )

    lines.append("tenants:")
    rows = [["TENANT", "TIER", "TOKENS/DAY", "WARN", "AT BUDGET", "MAX PODS", "POOLS"]]
    for name, tenant in config.tenants.items():
        budget = tenant.daily_token_budget
        rows.append(
            [
                name,
                tenant.tier,
                f"{budget:,}" if budget else "unlimited",
                f"{tenant.warn_at:.0%}" if budget else "-",
                ("scale to 0" if tenant.hard_cap else "no growth") if budget else "-",
                str(tenant.max_pods) if tenant.max_pods else "-",
                ", ".join(pools_of[name]) or "-",
            ]
        )
    lines += _table(rows)

    lines.append("pools:")
    rows = [["POOL", "TENANT", "REPLICAS", "LAG/REPLICA", "PROVIDER", "QUEUE", "DEPLOYMENT"]]
    for name, pool in config.pools.items():
        provider = f"{pool.provider} ({_n(pool.rpm_per_replica)} rpm)" if pool.provider else "-"
        rows.append(
            [
                name,
                pool.tenant,
                f"{pool.min_replicas:,}..{pool.max_replicas:,}",
                _n(pool.target_lag_per_replica),
                provider,
                f"{pool.queue.stream}/{pool.queue.consumer}",
                f"{pool.deployment.namespace}/{pool.deployment.name}",
            ]
        )
    lines += _table(rows)
    lines += [f"note: {n}" for n in notes(config)]
    return "\n".join(lines)


def notes(config: Config) -> list[str]:
    """Things that are valid but worth knowing before going live."""
    found = []
    total = sum(p.max_replicas for p in config.pools.values())
    if total > config.cluster.max_pods:
        found.append(
            f"pools may want up to {total:,} pods but cluster.max_pods is "
            f"{config.cluster.max_pods:,}: under a burst they share it by tier weight"
        )
    found += _floors_over_caps(config)
    for name, provider in config.providers.items():
        rpm = sum(
            p.max_replicas * p.rpm_per_replica for p in config.pools.values() if p.provider == name
        )
        allowed = provider.rpm * provider.headroom
        if rpm > allowed:
            headroom = (
                f" (x{provider.headroom:g} headroom: {_n(allowed)})"
                if allowed > provider.rpm
                else ""
            )
            found.append(
                f"at max_replicas the pools on {name} would make {_n(rpm)} rpm, over its "
                f"{provider.rpm:,}{headroom}: replicas are shared by tier weight"
            )
    for name, pool in config.pools.items():
        if pool.target_lag_per_replica < pool.concurrency:
            found.append(
                f"pool {name}: target_lag_per_replica {_n(pool.target_lag_per_replica)} is "
                f"below its concurrency {pool.concurrency:,}: the lag (tasks queued or in flight) "
                "asks for another replica before a replica's slots are full "
                f"(target_lag_per_replica: {pool.concurrency:,} fills them first)"
            )
    return found


_PAST_THE_CAP = (
    "the floors are filled tier by tier, highest priority first, up to it, and the pools left "
    "past it get less than their min_replicas, or none, even with tasks waiting"
)
"""controller.core.allocation's step 3, as a pool past the cap meets it."""


def _floors_over_caps(config: Config) -> list[str]:
    """The min_replicas that the cluster's or a tenant's max_pods cannot all hold."""
    found = []
    floors = sum(p.min_replicas for p in config.pools.values())
    if floors > config.cluster.max_pods:
        found.append(
            f"the pools' min_replicas add up to {floors:,}, over cluster.max_pods "
            f"{config.cluster.max_pods:,}: {_PAST_THE_CAP}"
        )
    for name, tenant in config.tenants.items():
        held = sum(p.min_replicas for p in config.pools.values() if p.tenant == name)
        if tenant.max_pods is not None and held > tenant.max_pods:
            found.append(
                f"tenant {name}: its pools' min_replicas add up to {held:,}, over its max_pods "
                f"{tenant.max_pods:,}: {_PAST_THE_CAP}"
            )
    return found

"""What `agentdash check-config` says of a valid config that will not do what it reads as."""

from __future__ import annotations

from typing import Any

from agentdash.summary import notes, summarize
from controller.core.config import Config, parse_config


def _fleet(max_pods: int, *floors: int, tenant_max_pods: int | None = None) -> Config:
    tenant: dict[str, Any] = {"tier": "gold"}
    if tenant_max_pods is not None:
        tenant["max_pods"] = tenant_max_pods
    pools = {
        f"p{n}": {
            "tenant": "acme",
            "deployment": {"name": f"p{n}"},
            "queue": {"stream": "S", "consumer": f"p{n}"},
            "min_replicas": floor,
            "max_replicas": 2,
        }
        for n, floor in enumerate(floors)
    }
    data = {
        "cluster": {"max_pods": max_pods},
        "tiers": {"gold": {"priority": 1}},
        "tenants": {"acme": tenant},
        "pools": pools,
    }
    return parse_config(data)


def test_one_pod_of_cluster_is_said_in_the_singular() -> None:
    assert "\ncluster: max 1 pod; " in summarize(_fleet(1, 0), "a.yaml")


def test_floors_over_the_cluster_are_noted() -> None:
    """min_replicas 2 and 2 under max_pods 1: the first pool took the one pod, the second
    never ran a task, and check-config said only that the pools may want up to 4 pods."""
    said = notes(_fleet(1, 2, 2))
    assert (
        "the pools' min_replicas add up to 4, over cluster.max_pods 1: the floors are filled "
        "tier by tier, highest priority first, up to it, and the pools left past it get less "
        "than their min_replicas, or none, even with tasks waiting"
    ) in said
    assert not any("min_replicas add up" in note for note in notes(_fleet(4, 2, 2)))


def test_floors_over_a_tenants_max_pods_are_noted() -> None:
    said = notes(_fleet(10, 2, 2, tenant_max_pods=3))
    assert (
        "tenant acme: its pools' min_replicas add up to 4, over its max_pods 3: the floors "
        "are filled tier by tier, highest priority first, up to it, and the pools left past it "
        "get less than their min_replicas, or none, even with tasks waiting"
    ) in said
    assert not any("tenant acme" in note for note in notes(_fleet(10, 2, 2, tenant_max_pods=4)))


def test_large_counts_are_said_with_thousands_marked() -> None:
    said = notes(_fleet(1_500, *[0] * 1_000))
    assert "pools may want up to 2,000 pods but cluster.max_pods is 1,500" in said[0]


def test_a_large_rpm_is_said_in_digits_not_in_exponents() -> None:
    """10,000 replicas at 1,000 rpm each were '1e+07 rpm, over its 1000000 (x1.5 headroom:
    1.5e+06)'."""
    data: dict[str, Any] = {
        "cluster": {"max_pods": 100_000},
        "tiers": {"gold": {"priority": 1}},
        "tenants": {"acme": {"tier": "gold"}},
        "providers": {"openai": {"rpm": 1_000_000, "headroom": 1.5}},
        "pools": {
            "a": {
                "tenant": "acme",
                "deployment": {"name": "a"},
                "queue": {"stream": "S", "consumer": "a"},
                "provider": "openai",
                "rpm_per_replica": 1000,
                "max_replicas": 10_000,
                "concurrency": 10_000,
                "target_lag_per_replica": 1500.5,
            }
        },
    }
    config = parse_config(data)
    said = summarize(config, "a.yaml")
    assert "\nproviders: openai 1,000,000 rpm\n" in said
    assert (
        "at max_replicas the pools on openai would make 10,000,000 rpm, over its 1,000,000 "
        "(x1.5 headroom: 1,500,000)"
    ) in said
    assert "pool a: target_lag_per_replica 1,500.5 is below its concurrency 10,000" in said
    assert "(target_lag_per_replica: 10,000 fills them first)" in said
    assert "  a     acme    0..10,000  1,500.5      openai (1,000 rpm)  " in said

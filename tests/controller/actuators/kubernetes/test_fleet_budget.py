"""What a fleet asks of the Kubernetes API against the client's budget, as the daemon says it
at start and in /healthz."""

from __future__ import annotations

from controller.actuators.kubernetes.fleet_budget import ApiBudget
from tests.support.factories import config, pool


def fleet(pools: int, **kubernetes: object) -> ApiBudget:
    return ApiBudget.of(
        config({f"p{n}": pool("acme") for n in range(pools)}, kubernetes=kubernetes or None)
    )


def test_a_small_fleet_fits_the_default_budget() -> None:
    budget = fleet(5)
    assert budget.fits
    assert budget.describe() == (
        "kubernetes.qps 5, burst 10: a change to every pool (5 x 2 calls) takes 0 s"
    )


def test_500_pools_on_the_default_budget_take_minutes_and_say_what_would_fit() -> None:
    budget = fleet(500)
    assert not budget.fits
    assert budget.every_pool_s > 180  # 990 calls past the burst, at under 5 a second
    assert budget.describe().endswith("past the 15 s the HPA takes; kubernetes.qps 67 fits")
    assert fleet(500, qps=67.0).fits  # what it says fits, does


def test_the_lease_and_the_annotation_come_out_of_the_same_budget() -> None:
    plain = fleet(100)
    annotated = fleet(100, annotate=True)
    assert annotated.calls == 300
    assert annotated.every_pool_s > plain.every_pool_s
    leased = fleet(100, lease={"namespace": "agentdash"})
    assert leased.reserved_qps > plain.reserved_qps
    assert leased.every_pool_s > plain.every_pool_s


def test_a_budget_the_lease_uses_up_never_changes_every_pool() -> None:
    budget = fleet(10, qps=1.0, lease={"namespace": "agentdash"})  # renewed every 1 s tick
    assert budget.as_dict()["seconds_for_every_pool"] is None
    assert not budget.fits
    assert "takes never" in budget.describe()

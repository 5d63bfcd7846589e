"""What a tenant may send a second on a subject: what its pools could, within bounds."""

from __future__ import annotations

import yaml

from controller.core.config import parse_config
from controller.sources.report_intake import MAX_RATE, MIN_RATE, report_rates
from tests.support.cli import EXAMPLE


def fleet(*pools: tuple[str, int, int]) -> dict[str, float]:
    return report_rates(parse_config({
        "tiers": {"t": {"priority": 1}},
        "tenants": {tenant: {"tier": "t"} for tenant, _, _ in pools},
        "pools": {f"p{n}": {"tenant": tenant, "max_replicas": most, "concurrency": each,
                            "deployment": {"name": f"p{n}"},
                            "queue": {"stream": "S", "consumer": f"p{n}"}}
                  for n, (tenant, most, each) in enumerate(pools)},
    }))  # fmt: skip


def test_a_tenant_may_send_two_reports_a_second_for_each_task_slot_of_its_pools() -> None:
    rates = fleet(("acme", 100, 2), ("acme", 60, 1), ("globex", 300, 1))
    assert rates == {"acme": 2 * (100 * 2 + 60), "globex": 2 * 300}


def test_a_small_fleet_may_still_burst_and_a_huge_one_costs_a_bounded_share() -> None:
    assert fleet(("acme", 1, 1)) == {"acme": MIN_RATE}
    assert fleet(("acme", 1000, 10)) == {"acme": MAX_RATE}


def test_the_example_tenants_each_have_a_rate() -> None:
    rates = report_rates(parse_config(yaml.safe_load(EXAMPLE.read_text())))
    assert set(rates) == {"acme", "globex", "initech"}

"""What the budget reads of each pool's price, kept by the engine as it reads
(controller.core.engine): each budgeted tenant's tasks in flight, each priced by its own
pool's tokens a task (controller.core.budget_price.in_flight), and the pools of hard-capped
tenants none of whose tasks has reported yet (controller.core.budget.unpriced_cap), which are
claimed again whenever what their cap reads moves: their tenant's tokens, its tokens a task,
its other pools' prices.
"""

from __future__ import annotations

from collections.abc import Mapping

from controller.core.budget_price import in_flight
from controller.core.config import Config
from controller.core.model import NOTHING_IN_FLIGHT, InFlight, PoolObservation


class PoolPrices:
    """Per budgeted tenant, what its pools may have in flight; and the unpriced pools."""

    def __init__(self, config: Config) -> None:
        self.config = config
        self.in_flight: dict[str, InFlight] = dict.fromkeys(config.tenants, NOTHING_IN_FLIGHT)
        """Per budgeted tenant, the most its pools may have in flight as read (what its
        budget rule reads: `Observations.in_flight`, `TenantTokens.in_flight`)."""
        self.unpriced: set[int] = set()
        """Pools of hard-capped tenants none of whose tasks has reported yet."""
        self._tenants = [pool.tenant for pool in config.pools.values()]
        self._capped = [
            config.tenants[t].hard_cap and bool(config.tenants[t].daily_token_budget)
            for t in self._tenants
        ]

    def read(
        self,
        i: int,
        before: PoolObservation | None,
        reading: PoolObservation | None,
        lag_moved: bool,
        readings: Mapping[str, PoolObservation],
    ) -> bool:
        """Pool i read anew (`readings` holding it already): whether what its budgeted
        tenant's pools may have in flight was counted again."""
        if reading is not None and reading.task_tokens is None and self._capped[i]:
            self.unpriced.add(i)
        else:
            self.unpriced.discard(i)
        tenant = self._tenants[i]
        if self.config.tenants[tenant].daily_token_budget is None:
            return False
        if not lag_moved and _price(before) == _price(reading):
            return False
        self.in_flight[tenant] = in_flight(self.config, self.config.pools_of[tenant], readings)
        return True

    def of(self, tenant: str) -> list[int]:
        """The tenant's unpriced pools."""
        return [i for i in self.unpriced if self._tenants[i] == tenant]


def _price(reading: PoolObservation | None) -> float | None:
    """A pool's tokens a task as read (what its tasks in flight are priced at)."""
    return None if reading is None else reading.task_tokens

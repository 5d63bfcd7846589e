"""What the budget reads of each pool's price, kept by the engine as it reads
(controller.core.engine): each budgeted tenant's tasks in flight, each priced by its own
pool's tokens a task (controller.core.budget_price.in_flight), and the pools of hard-capped
tenants none of whose tasks has reported yet (controller.core.budget_unpriced), which are
claimed again whenever what their cap reads moves: their tenant's tokens, its tokens a task,
its other pools' prices.
"""

from __future__ import annotations

from controller.core.budget_price import pool_in_flight
from controller.core.config import Config
from controller.core.model import NOTHING_IN_FLIGHT, InFlight, PoolObservation


class PoolPrices:
    """Per budgeted tenant, what its pools may have in flight; and the unpriced pools."""

    def __init__(self, config: Config) -> None:
        self.in_flight: dict[str, InFlight] = dict.fromkeys(config.tenants, NOTHING_IN_FLIGHT)
        """Per budgeted tenant, the most its pools may have in flight as read (what its
        budget rule reads: `Observations.in_flight`, `TenantTokens.in_flight`)."""
        self.unpriced: set[int] = set()
        """Pools of hard-capped tenants none of whose tasks has reported yet."""
        pools = list(config.pools.values())
        self._tenants = [pool.tenant for pool in pools]
        self._slots = [pool.max_replicas * pool.concurrency for pool in pools]
        budgets = {name: bool(t.daily_token_budget) for name, t in config.tenants.items()}
        self._budgeted = [budgets[tenant] for tenant in self._tenants]
        self._capped = [
            budgets[pool.tenant] and config.tenants[pool.tenant].hard_cap for pool in pools
        ]
        self._pools_of: dict[str, list[int]] = {name: [] for name in config.tenants}
        for i, tenant in enumerate(self._tenants):
            self._pools_of[tenant].append(i)
        self._prices: list[float | None] = [None] * len(pools)
        self._tokens = [0.0] * len(pools)
        self._tasks = [0] * len(pools)
        """Per pool, what it may have in flight (budget_price.pool_in_flight), summed per
        tenant in config order, as budget_price.in_flight sums them."""
        self._lags: list[int | None] = [None] * len(pools)
        """Per pool, its tasks queued or in flight as last read (None: unseen or stale): with
        its price, what pool_in_flight reads of a reading."""

    def read(self, i: int, reading: PoolObservation | None) -> bool:
        """Pool i read anew: whether its price, or what its budgeted tenant's pools may have
        in flight, moved (the latter counted again)."""
        price = None if reading is None else reading.task_tokens
        if price is None and reading is not None and self._capped[i]:
            self.unpriced.add(i)
        else:
            self.unpriced.discard(i)
        if not self._budgeted[i]:
            return False
        repriced = price != self._prices[i]
        self._prices[i] = price
        lag = None
        if reading is not None and reading.stale is None:
            lag = reading.pending + reading.ack_pending
        if lag == self._lags[i] and not repriced:
            return False  # a new reading of the same tasks at the same price: nothing moved
        self._lags[i] = lag
        part = pool_in_flight(self._slots[i], reading)
        if part.tokens == self._tokens[i] and part.tasks == self._tasks[i]:
            return repriced
        self._tokens[i], self._tasks[i] = part.tokens, part.tasks
        tenant = self._tenants[i]
        total, count = 0.0, 0
        for j in self._pools_of[tenant]:
            total += self._tokens[j]
            count += self._tasks[j]
        self.in_flight[tenant] = InFlight(tokens=total, tasks=count)
        return True

    def of(self, tenant: str) -> list[int]:
        """The tenant's unpriced pools."""
        return [i for i in self.unpriced if self._tenants[i] == tenant]

"""What the fleet asks of the Kubernetes API against the client's budget (`kubernetes.qps`,
`.burst`), said at start and in /healthz, with a warning when the fleet outgrows it.

The figure an operator can judge: how long the budget takes to change every pool once, as a
burst of traffic does. A scale change is the scale PATCH and its Event, and the annotation
where `annotate` is on. The Kubernetes Lease's renewals (one a tick) and the discovery lists
(HPAs and ScaledObjects, each namespace once a minute) come out of the same budget first.
Past DUE_S, the HPA's own sync period, a burst reaches the last pools later than the HPA
would have scaled them.

The default budget is client-go's (5 a second, bursts of 10): what one controller gets from
the API server's fair share without anyone raising it. KEDA's operator asks for 20 and 30,
for the many objects it manages; agentdash asks for no more than it needs, and says when a
fleet needs more.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from controller.core.config import Config

DUE_S = 15.0
"""How soon every pool's change should be out: the HPA's sync period."""
DISCOVERY_S = 60.0
"""How often the HPAs and the ScaledObjects are listed, in each namespace."""


@dataclass(frozen=True, slots=True)
class ApiBudget:
    qps: float
    burst: int
    pools: int
    calls_per_change: int
    """The scale PATCH and its Event, and the annotation where it is written."""
    reserved_qps: float
    """Taken first: the Kubernetes Lease's renewals and the discovery lists."""

    @classmethod
    def of(cls, config: Config) -> ApiBudget:
        kube = config.kubernetes
        namespaces = {pool.deployment.namespace for pool in config.pools.values()}
        lease = 1 / config.controller.interval_seconds if kube.lease is not None else 0.0
        return cls(
            qps=kube.qps,
            burst=kube.burst,
            pools=len(config.pools),
            calls_per_change=2 + kube.annotate,
            reserved_qps=lease + 2 * len(namespaces) / DISCOVERY_S,
        )

    @property
    def calls(self) -> int:
        """Calls to change every pool once."""
        return self.pools * self.calls_per_change

    @property
    def every_pool_s(self) -> float:
        """How long the budget takes to change every pool once (the burst goes at once)."""
        left = self.qps - self.reserved_qps
        return math.inf if left <= 0 else max(0, self.calls - self.burst) / left

    @property
    def fits(self) -> bool:
        return self.every_pool_s <= DUE_S

    @property
    def qps_needed(self) -> float:
        """The least qps that changes every pool within DUE_S, with this burst."""
        return math.ceil(max(0, self.calls - self.burst) / DUE_S + self.reserved_qps)

    def describe(self) -> str:
        took = "never" if math.isinf(self.every_pool_s) else f"{self.every_pool_s:.0f} s"
        said = (
            f"kubernetes.qps {self.qps:g}, burst {self.burst}: a change to every pool "
            f"({self.pools} x {self.calls_per_change} calls) takes {took}"
        )
        if self.fits:
            return said
        return (
            f"{said}, past the {DUE_S:g} s the HPA takes; kubernetes.qps {self.qps_needed:g} fits"
        )

    def as_dict(self) -> dict[str, object]:
        every = self.every_pool_s
        return {
            "qps": self.qps,
            "burst": self.burst,
            "calls_for_every_pool": self.calls,
            "seconds_for_every_pool": None if math.isinf(every) else round(every, 1),
            "fits": self.fits,
            "qps_needed": self.qps_needed,
        }

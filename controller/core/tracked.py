"""What the reconcile engine (controller.core.engine) keeps of one pool between steps.

One record per pool, found by the pool's index in the config (the order of `pools:`), which
is the one key a pool has inside the engine; shells name pools by `Engine.names[i]`.
"""

from __future__ import annotations

import math

from controller.core.allocation import Claim
from controller.core.config import PoolConfig
from controller.core.demand import Demanded, Footprint
from controller.core.history import PoolHistory
from controller.core.model import PoolObservation, ScaleDecision


class TrackedPool:
    """One pool's reading, its step 2, its claim and grant, and its bookkeeping."""

    __slots__ = (
        "base",
        "claim",
        "config",
        "demanded",
        "desired",
        "entry",
        "footprint",
        "lag",
        "lagging",
        "made",
        "name",
        "reading",
        "recorded",
        "replicas",
        "unseen",
        "wait",
    )

    def __init__(self, name: str, config: PoolConfig, wait: float | None) -> None:
        self.name = name
        self.config = config
        self.wait = wait
        """The tier's target_wait_seconds (step 2's square-root staffing), if any."""
        self.reading: PoolObservation | None = None
        """As the sources saw it last (None: not seen at all, so never scaled)."""
        self.demanded: Demanded | None = None
        """Step 2 of the reading, worked out once when read: every claim of it reuses it."""
        self.footprint: Footprint | None = None
        """The footprint the pool was last claimed for: a reading with another one (or, with
        exact reasons, any new reading) claims it again."""
        self.replicas = 0
        self.lag = 0
        """Replicas and tasks waiting as read (stale or unseen: no tasks), summed per tenant."""
        self.claim: Claim | None = None
        """Its bid as last made (None until the first step)."""
        self.desired = 0
        """What it is granted, as of the last step."""
        self.base = 0
        """While it draws on a short ceiling: how many of its claim's reasons are its own (the
        rest are allocate's)."""
        self.lagging: bool | None = None
        """Whether the reading its claim used had lag, which the history records as the pool
        busy (None: stale, not recorded)."""
        self.unseen = False
        """Whether its claim was made on a stale reading, which the history records as the
        pool busy at the replicas held (PoolHistory.unseen)."""
        self.recorded = -math.inf
        """When its recommendation was last written to the history."""
        self.entry: PoolHistory | None = None
        self.made: ScaleDecision | None = None
        """Its decision as last asked for (Engine.decision), until its claim changes."""

    @property
    def claimed(self) -> Claim:
        """Its claim, once the engine has stepped."""
        assert self.claim is not None, f"{self.name}: no claim before the first step"
        return self.claim

"""What a pool's work costs its tenant, for the budget's pace and landing
(controller.core.budget): the tokens a task and a replica's rounds, as far as they are known,
and the most replicas whose rounds what is left pays for."""

from __future__ import annotations

import math
from typing import NamedTuple

from controller.core.config import PoolConfig
from controller.core.model import PoolObservation
from controller.core.spend import SpendRead

PACE_MIN_REPLICA_SECONDS = 600.0
"""Below this much measured today, a tenant's cost per replica-second is too noisy to read."""
MAX_TASK_SECONDS = 7 * 86400.0
"""A week: above this a task time is not a measurement."""
LANDING_TASKS = 3
"""Tasks a replica's budget must cover: the one in flight, the next it takes before the pace is
read again, and as much again for the long tail of task times (a tokens-per-replica-second
average counts idle seconds too)."""


class Prices(NamedTuple):
    """What a pool's work costs its tenant, as far as it is known (0 or None: unknown)."""

    each: float
    """Tokens a task."""
    busy: float | None
    """Tokens a replica at work spends a second."""
    rounds: float
    """Tokens a replica spends on LANDING_TASKS rounds of its tasks."""
    concurrency: int = 1
    """Tasks a replica runs at once: at most its concurrency, at most the pool's lag."""


def prices(
    config: PoolConfig, obs: PoolObservation, spend: SpendRead | None, spent: float, used: int
) -> Prices:
    """From the tenant's tokens a task (its workers' reports) and the pool's task time; or,
    failing those, the tenant's tokens a replica-second today (idle seconds too, so lower).
    A replica runs at most `concurrency` tasks at once, and never more than its pool has: a
    round of a pool of 5,000 slots a pod with 8 tasks is 8 tasks, not 5,000."""
    concurrency = min(config.concurrency, max(1, obs.lag))
    per = used / spent if spent >= PACE_MIN_REPLICA_SECONDS else None
    task = obs.mean_task_seconds
    task = task if task is not None and 0 < task <= MAX_TASK_SECONDS else None
    reported = spend.per_task if spend is not None else None
    if reported is not None:
        busy = reported * concurrency / task if task else per
        rounds = LANDING_TASKS * reported * concurrency
        return Prices(each=reported, busy=busy, rounds=rounds, concurrency=concurrency)
    if per is not None and task is not None:
        each = per * task / concurrency
        rounds = LANDING_TASKS * per * task
        return Prices(each=each, busy=per, rounds=rounds, concurrency=concurrency)
    return Prices(each=0.0, busy=per, rounds=0.0, concurrency=concurrency)


def paid_replicas(left: int, share: float, price: Prices, in_flight: int) -> int | None:
    """The most replicas whose next LANDING_TASKS rounds of tasks the pool's share of what is
    left pays for, less what its `in_flight` tasks will spend, so that the tasks in flight
    when it runs out fit in it (None: the price of a round is not known)."""
    if not price.rounds:
        return None
    mine = left * share
    kept = math.floor(mine / price.rounds + 1e-9)
    beyond = in_flight - kept * price.concurrency
    if beyond <= 0 or not price.each:
        return kept  # the kept replicas' rounds count their tasks in flight
    # The replicas let go still finish their tasks: those are spent before the kept
    # replicas' rounds (each counting its own tasks in flight as its first).
    rest = mine - in_flight * price.each
    per = price.rounds - price.concurrency * price.each
    return max(0, min(kept, math.floor(rest / per + 1e-9))) if per > 0 else 0

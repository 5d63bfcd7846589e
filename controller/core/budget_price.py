"""What a pool's work costs its tenant, for the budget's pace and landing
(controller.core.budget): the tokens a task and a replica's rounds, as far as they are known,
the most replicas whose rounds what is left pays for, and the most a tenant's tasks in flight
may spend."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from typing import Final, NamedTuple

from controller.core.config import Config, PoolConfig
from controller.core.model import NOTHING_IN_FLIGHT, InFlight, PoolObservation
from controller.core.spend_read import SpendRead

PACE_MIN_REPLICA_SECONDS = 600.0
"""Below this much measured today, a tenant's cost per replica-second is too noisy to read."""
MAX_TASK_SECONDS: Final = 7 * 86400.0
"""A week: above this a task time is not a measurement."""
LANDING_ROUNDS = 2
"""Rounds of its tasks a replica's budget must cover where its pool's own tokens a task are
known: the one in flight, and the next it takes before the landing is read again."""
GUESSED_ROUNDS: Final = 3
"""The same where a task is priced by a guess: its tenant's tokens a task over all its pools
(one pool's tasks may cost ten times another's), or its tokens a replica-second (idle
seconds count too, and task times have a long tail). A round more."""


class Prices(NamedTuple):
    """What a pool's work costs its tenant, as far as it is known (0 or None: unknown)."""

    each: float
    """Tokens a task."""
    busy: float | None
    """Tokens a replica at work spends a second."""
    rounds: float
    """Tokens a replica spends on `round_count` rounds of its tasks."""
    round_count: int = GUESSED_ROUNDS
    """Rounds of its tasks a replica's budget must cover: LANDING_ROUNDS, or GUESSED_ROUNDS
    where the pool's own tokens a task are not known."""
    concurrency: int = 1
    """Tasks a replica runs at once: at most its concurrency, at most the pool's lag."""


def prices(
    config: PoolConfig, obs: PoolObservation, spend: SpendRead | None, spent: float, used: int
) -> Prices:
    """From the pool's own tokens a task (its workers' reports), else its tenant's, and the
    pool's task time; or, failing those, the tenant's tokens a replica-second today (idle
    seconds too, so lower). A tenant's mean would price a pool of 10,000-token tasks beside
    one of 1,000-token tasks at a tenth of what each costs.
    A replica runs at most `concurrency` tasks at once, and never more than its pool has: a
    round of a pool of 5,000 slots a pod with 8 tasks is 8 tasks, not 5,000."""
    concurrency = min(config.concurrency, max(1, obs.lag))
    per = used / spent if spent >= PACE_MIN_REPLICA_SECONDS else None
    task = obs.mean_task_seconds
    task = task if task is not None and 0 < task <= MAX_TASK_SECONDS else None
    reported, round_count = obs.task_tokens, LANDING_ROUNDS
    if reported is None and spend is not None:
        reported, round_count = spend.per_task, GUESSED_ROUNDS
    if reported is not None:
        busy = reported * concurrency / task if task else per
        rounds = round_count * reported * concurrency
        return Prices(
            each=reported,
            busy=busy,
            rounds=rounds,
            concurrency=concurrency,
            round_count=round_count,
        )
    if per is not None and task is not None:
        each = per * task / concurrency
        rounds = GUESSED_ROUNDS * per * task
        return Prices(each=each, busy=per, rounds=rounds, concurrency=concurrency)
    return Prices(each=0.0, busy=per, rounds=0.0, concurrency=concurrency)


def paid_replicas(left: int, share: float, price: Prices, in_flight: int) -> int | None:
    """The most replicas whose next rounds of tasks (`price.round_count`) the pool's share of
    what is left pays for, less what its tasks in flight will spend, so that the tasks in
    flight when it runs out fit in it (None: the price of a round is not known)."""
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


def in_flight(
    config: Config, pools: Iterable[str], readings: Mapping[str, PoolObservation]
) -> InFlight:
    """The most that `pools` (one tenant's) may have in flight at once, as read (each pool's
    `pool_in_flight`), summed in the order given (the engine and `decide` give config
    order)."""
    tokens, tasks = 0.0, 0
    for name in pools:
        spec = config.pools[name]
        part = pool_in_flight(spec.max_replicas * spec.concurrency, readings.get(name))
        tokens += part.tokens
        tasks += part.tasks
    return InFlight(tokens=tokens, tasks=tasks)


def pool_in_flight(most: int, obs: PoolObservation | None) -> InFlight:
    """The most one pool may have in flight, as read: at most `most` tasks (max_replicas x
    concurrency), never more than it holds (a pool of 5,000 slots a pod does not run 5,000
    tasks it does not have), in tokens at its own tokens a task where known, else in tasks.
    Nothing where it is unseen or stale."""
    if obs is None or obs.stale is not None:
        return NOTHING_IN_FLIGHT
    lag = obs.pending + obs.ack_pending
    held = most if most < lag else lag
    if obs.task_tokens is None:
        return InFlight(tokens=0.0, tasks=held)
    return InFlight(tokens=held * obs.task_tokens, tasks=0)

"""Step 2 of the policy: what a pool's observation asks for, before any rule of the operators,
the budget or the history, and why.

The larger of the backlog and the steady load: the lag (plus, while tasks wait, what arrives
beyond the ready pods' pace during a cold start) over target_lag_per_replica; and the arrival
rate x task time (Little's law, over what the rate window saw) at the same target, or
square-root staffing for a tier's target_wait_seconds. The engine works it out once a reading:
its `Footprint` is all that `claim` reads of the observation for its numbers.
"""

from __future__ import annotations

import math
from typing import Final

from controller.core.accounting import MAX_RATE, RATE_WINDOW_S
from controller.core.budget_price import MAX_TASK_SECONDS
from controller.core.config import PoolConfig
from controller.core.model import PoolObservation, Reason
from controller.core.record import Record

LANDING_SIGMAS: Final = 0.5
"""How far above the need a scale-down of a learned pool lands (`noise_top`), in standard
deviations of the arrivals' noise. Landing exactly on a reading taken as traffic falls sends
the next small rise back up within a minute: a reversal, and a cold start for nothing.
Measured in docs/policy.md, "The landing"."""
_AT_ZERO = "lag {} <= activation_lag {}: stay at zero"
_DEMAND = "lag {} (pending {} + ack_pending {}) / {:g} per replica -> {}"
_DEMAND_AHEAD = (
    "lag {} (pending {} + ack_pending {}) + {:g} arriving beyond the ready pods' pace "
    "during a {:g} s cold start, / {:g} per replica -> {}"
)
_KEEP_UP = (
    "below {} replicas, arrivals {:.2f}/s x {:.1f} s a task outpace concurrency {} while {} "
    "wait, and the cold-start lookahead would ask them back: {} -> {}"
)
_STAFFING = (
    "arrivals {:.2f}/s x {:.1f} s a task = {:.1f} busy; target wait {:g} s (square-root "
    "staffing, 95% within it) / concurrency {} -> {}"
)
_ARRIVAL = (
    "arrivals {:.2f}/s x {:.1f} s a task = {:.1f} in the system (Little's law) / {:g} per "
    "replica -> {}, served before a backlog builds"
)


class Footprint(Record):
    """What `claim` takes from an observation for its numbers. The incremental engine rests
    on it: two observations with the same footprint give the same claim numbers (the reasons
    quote the rest: pending, rate, ...), so a pool whose footprint did not change is not
    claimed again (controller.core.engine)."""

    FIELDS = ("stale", "replicas", "demand", "lagging", "busy", "top", "in_flight")
    __slots__ = FIELDS

    stale: bool
    replicas: int
    demand: int
    """Step 2: what the backlog and the arrivals ask for, before any rule (0 when stale)."""
    lagging: bool
    """Whether any task was pending or in flight (what the history records)."""
    busy: int
    """Replicas at work now (tasks in flight over concurrency), at most `replicas`."""
    top: int
    """Where a scale-down lands (controller.core.time_rules): the need, unrounded, and
    LANDING_SIGMAS of the arrivals' noise above it, rounded up to whole replicas; at least
    `demand`."""
    in_flight: bool
    """Whether the demand is the tasks in flight's alone: none pending, each running on a
    ready pod's slot, and the arrivals asking for no more (`_in_flight_only`). Nothing waits
    for a pod then, and controller.core.time_rules lets such a rise add pods only once it
    has lasted a cold start."""

    def __init__(
        self,
        *,
        stale: bool,
        replicas: int,
        demand: int,
        lagging: bool,
        busy: int,
        top: int = 0,
        in_flight: bool = False,
    ) -> None:
        self.stale = stale
        self.replicas = replicas
        self.demand = demand
        self.lagging = lagging
        self.busy = busy
        self.top = top
        self.in_flight = in_flight

    def __eq__(self, other: object) -> bool:
        """Field by field (Record's, by name, is slower; the engine compares a footprint at
        every reading)."""
        if not isinstance(other, Footprint):
            return NotImplemented
        return (
            self.demand == other.demand
            and self.busy == other.busy
            and self.replicas == other.replicas
            and self.top == other.top
            and self.lagging == other.lagging
            and self.stale == other.stale
            and self.in_flight == other.in_flight
        )


class Need(Record):
    """Step 2's demand, and the need it rounds up (in replicas, before rounding)."""

    FIELDS = ("replicas", "exact")
    __slots__ = FIELDS

    replicas: int
    exact: float

    def __init__(self, *, replicas: int, exact: float) -> None:
        self.replicas = replicas
        self.exact = exact


class Demanded(Record):
    """Step 2 for one observation, explained: what `claim` works out from the observation
    before any rule of the operators, the budget or the history. One is made per reading."""

    FIELDS = ("footprint", "reasons")
    __slots__ = FIELDS

    footprint: Footprint
    reasons: tuple[Reason, ...]
    """Why that demand (none for a stale observation, which has none)."""

    def __init__(self, *, footprint: Footprint, reasons: tuple[Reason, ...]) -> None:
        self.footprint = footprint
        self.reasons = reasons


def footprint(pool: PoolConfig, obs: PoolObservation, wait: float | None = None) -> Footprint:
    """The observation's footprint (`wait` is the tier's target_wait_seconds,
    Config.target_wait)."""
    return demanded(pool, obs, wait).footprint


def demanded(pool: PoolConfig, obs: PoolObservation, wait: float | None = None) -> Demanded:
    """`footprint`, with the reasons `claim` gives for the demand. A shell that holds one
    reading over several claims (controller.core.engine) works step 2 out once a reading,
    for both: whether to claim again, and the claim."""
    lag = obs.pending + obs.ack_pending
    replicas = obs.replicas
    if obs.stale is not None:
        mark = Footprint(stale=True, replicas=replicas, demand=0, lagging=lag > 0, busy=0)
        return Demanded(footprint=mark, reasons=())
    reasons: list[Reason] = []
    need = demand_of(pool, obs, lag, replicas, reasons, wait)
    mark = Footprint(
        stale=False,
        replicas=replicas,
        demand=need.replicas,
        lagging=lag > 0,
        busy=busy_of(pool, obs, replicas),
        top=noise_top(pool, need, obs.arrival_rate),
        in_flight=_in_flight_only(pool, obs, lag, need),
    )
    return Demanded(footprint=mark, reasons=tuple(reasons))


def _in_flight_only(pool: PoolConfig, obs: PoolObservation, lag: int, need: Need) -> bool:
    """Whether `need` is what the tasks in flight ask for alone: no task pending, each one in
    flight has a slot on a ready pod (none is stuck on a pod that is gone, waiting for its ack
    wait), and the arrivals' steady load asks for no more than the lag does."""
    if obs.pending or obs.ack_pending > obs.ready * pool.concurrency:
        return False
    return need.replicas <= math.ceil(lag / pool.target_lag_per_replica - 1e-9)


def noise_top(pool: PoolConfig, need: Need, rate: float | None = None) -> int:
    """`need` and LANDING_SIGMAS of the arrivals' noise above it, in whole replicas (at least
    its demand, at most max_replicas). As a Poisson count, the tasks a need of r replicas
    stands for (r x per: target_lag_per_replica or concurrency, whichever is larger) vary by
    their square root: sqrt(r / per) replicas. A need just under a whole replica lands one
    above it; a need well under the replicas it was rounded up to lands on them. With no
    arrival in the rate window, there is no noise to land above: the need is the tasks at
    hand (one task of two hours holds one replica, not two). `rate`: arrivals a second in the
    window (None: not known, so noise is assumed)."""
    if rate == 0:
        return need.replicas
    per = tasks_per_replica(pool)
    noisy = math.ceil(need.exact + LANDING_SIGMAS * math.sqrt(need.exact / per) - 1e-9)
    top = noisy if noisy > need.replicas else need.replicas
    return top if top < pool.max_replicas else pool.max_replicas


def tasks_per_replica(pool: PoolConfig) -> int | float:
    """The tasks a replica stands for in the steady load and its noise: target_lag_per_replica,
    or concurrency if larger (a replica never has more at work at once)."""
    per = pool.target_lag_per_replica
    return per if per > pool.concurrency else pool.concurrency


def busy_of(pool: PoolConfig, obs: PoolObservation, current: int) -> int:
    """Replicas at work now (tasks in flight over concurrency), at most the current ones."""
    busy = -(-obs.ack_pending // pool.concurrency)
    return busy if busy < current else current


def demand_of(
    pool: PoolConfig,
    obs: PoolObservation,
    lag: int,
    current: int,
    reasons: list[Reason],
    wait: float | None = None,
) -> Need:
    """Step 2, explained into `reasons`: the larger of

    - the backlog: lag, plus what will arrive beyond the ready pods' pace while a new pod
      starts (net inflow x cold start), over target_lag_per_replica;
    - the steady load: arrival rate x task time / concurrency (Little's law), with headroom
      for the tier's `target_wait_seconds` when it has one (square-root staffing)."""
    if current == 0 and lag <= pool.activation_lag:
        reasons.append(Reason(rule="demand", template=_AT_ZERO, args=(lag, pool.activation_lag)))
        return Need(replicas=0, exact=0.0)
    rate, seconds = obs.arrival_rate, obs.mean_task_seconds
    # The sources bound these; a value that still is not a measurement (NaN, inf, absurd)
    # is ignored here too, never let to overflow the pass: only the lag counts then.
    if rate is not None and not 0.0 <= rate <= MAX_RATE:
        rate = None
    if seconds is not None and not 0.0 <= seconds <= MAX_TASK_SECONDS:
        seconds = None
    backlog = _backlog(pool, obs, lag, current, rate, seconds, reasons)
    if rate and seconds:
        return _steady(pool, rate, seconds, backlog, reasons, wait)
    return backlog


def _backlog(
    pool: PoolConfig,
    obs: PoolObservation,
    lag: int,
    current: int,
    rate: float | None,
    seconds: float | None,
    reasons: list[Reason],
) -> Need:
    """The backlog's demand, explained into `reasons`: the lag, plus (while tasks wait) what
    arrives beyond the ready pods' pace during a cold start, over target_lag_per_replica;
    below `current` only as far as that lookahead would not ask back at once (`_kept_up`)."""
    args: tuple[object, ...]
    per_replica = pool.target_lag_per_replica
    ahead = 0
    keep = 0
    lookahead = bool(rate and seconds and pool.cold_start_seconds and obs.pending)
    if lookahead:
        # Net inflow: arrivals beyond what the ready pods finish. While tasks wait and it is
        # positive, the queue grows by that much for every second a new pod takes to start.
        ahead = _ahead(pool, rate or 0.0, seconds or 0.0, obs.ready)
    exact = (lag + ahead) / per_replica
    demand = math.ceil(exact - 1e-9)
    if lookahead and demand < current:
        keep = _kept_up(pool, rate or 0.0, seconds or 0.0, lag, demand, current)
    if ahead:
        args = (
            lag,
            obs.pending,
            obs.ack_pending,
            ahead,
            pool.cold_start_seconds,
            per_replica,
            demand,
        )
        reasons.append(Reason(rule="demand", template=_DEMAND_AHEAD, args=args))
    else:
        args = (lag, obs.pending, obs.ack_pending, per_replica, demand)
        reasons.append(Reason(rule="demand", template=_DEMAND, args=args))
    if keep > demand:
        args = (keep, rate, seconds, pool.concurrency, obs.pending, demand, keep)
        reasons.append(Reason(rule="demand", template=_KEEP_UP, args=args))
        demand = keep
        exact = float(keep)
    return Need(replicas=demand, exact=exact)


def _kept_up(
    pool: PoolConfig, rate: float, seconds: float, lag: int, demand: int, current: int
) -> int:
    """Down only as far as the lookahead would not ask back at once: with fewer ready pods
    the inflow turns positive, and a pool flapped 2 -> 1 -> 2 under a steady stream each
    time a window (or a pin) let go. The fewest replicas r from `demand` to `current` with
    ceil((lag + ahead at r) / target) <= r (it only falls as r grows: bisect)."""
    low, high = demand, current
    while low < high:
        middle = (low + high) // 2
        if _ahead_demand(pool, rate, seconds, lag, middle) <= middle:
            high = middle
        else:
            low = middle + 1
    return low


def _steady(
    pool: PoolConfig,
    rate: float,
    seconds: float,
    backlog: Need,
    reasons: list[Reason],
    wait: float | None,
) -> Need:
    """The `backlog`'s demand, or the steady load's where larger, explained into `reasons`.

    Little's law: the arrivals keep rate x task time tasks in the system, lag to come, held
    to the same target per replica as the lag (or concurrency, if larger: a replica never
    has more at work at once). Counted over what the rate window has seen: n arrivals in it
    never ask for more than n (a lone task is not a stream of them); the lag covers tasks
    that outlast the window, each one running in ack_pending."""
    concurrency = pool.concurrency
    inside = rate * (seconds if seconds < RATE_WINDOW_S else RATE_WINDOW_S)
    per = tasks_per_replica(pool)
    load = inside / per
    steady = math.ceil(load - 1e-9)
    demand = backlog.replicas
    exact = load if load > backlog.exact else backlog.exact
    if wait is not None and inside > 0:
        slots = _staffing(inside, seconds, wait)
        staffed = math.ceil(slots / concurrency - 1e-9)
        if staffed > steady and staffed > demand:
            args = (rate, seconds, inside, wait, concurrency, staffed)
            reasons.append(Reason(rule="latency objective", template=_STAFFING, args=args))
            return Need(replicas=staffed, exact=slots / concurrency)
    if steady > demand:
        reasons.append(
            Reason(rule="arrival", template=_ARRIVAL, args=(rate, seconds, inside, per, steady))
        )
        return Need(replicas=steady, exact=exact)
    return Need(replicas=demand, exact=exact)


def _ahead(pool: PoolConfig, rate: float, seconds: float, ready: int) -> int:
    """Tasks arriving beyond what `ready` pods finish while a new pod starts: whole tasks,
    and never more than the rate window saw arrive (a few arrivals are not a stream to
    project over a long cold start)."""
    net = rate - ready * pool.concurrency / seconds
    if net <= 0:
        return 0
    seen = rate * RATE_WINDOW_S
    coming = net * pool.cold_start_seconds
    return math.floor((coming if coming < seen else seen) + 1e-9)


def _ahead_demand(pool: PoolConfig, rate: float, seconds: float, lag: int, ready: int) -> int:
    """The backlog's demand with `ready` pods ready."""
    ahead = _ahead(pool, rate, seconds, ready)
    return math.ceil((lag + ahead) / pool.target_lag_per_replica - 1e-9)


def _staffing(load: float, seconds: float, wait: float) -> float:
    """Square-root staffing (Halfin-Whitt): the fewest slots a + b x sqrt(a) for an offered
    load of `a` busy slots such that at most 5% of tasks wait longer than `wait`, where
    P(wait > t) = P(wait) x exp(-(slots - a) x t / seconds)."""
    root = math.sqrt(load)
    low, high = 0.0, 8.0
    for _ in range(24):
        beta = (low + high) / 2
        if _late(beta, root, seconds, wait) <= 0.05:
            high = beta
        else:
            low = beta
    return load + high * root


def _late(beta: float, root: float, seconds: float, wait: float) -> float:
    """The Halfin-Whitt share of tasks waiting longer than `wait` at b = `beta`."""
    if beta <= 0:
        return 1.0
    density = math.exp(-beta * beta / 2) / math.sqrt(2 * math.pi)
    below = 0.5 * (1 + math.erf(beta / math.sqrt(2)))
    waits = 1 / (1 + beta * below / density)
    return waits * math.exp(-beta * root * wait / seconds)

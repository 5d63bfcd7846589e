"""What the simulated cluster is made of: tenants, providers, pools and pods, and the events of
its heap.

Records with slots, apart from the behaviour (controller.simulate.cluster says what is
modelled): the clock, the autoscalers' shell and the baselines read them too, and the compiled
hot path reads their fields as native attributes.
"""

from __future__ import annotations

from collections import deque

from controller.core.accounting import TokensATask

# Heap entries are (time, kind, tiebreak, pod); at one instant a budget day rolls over first, then
# tasks finish, then terminating pods' grace periods end, then pods turn ready, then a sample
# is taken. Arrivals and controller ticks at the same instant come after all of these (see
# controller.simulate.clock).
ROLL, DONE, KILL, READY, SAMPLE = 0, 1, 2, 3, 4

MICRO = 1_000_000
"""Requests a minute are counted in millionths, as integers: sums over millions of task
starts and ends stay exact."""
NO_LIMIT = 1 << 40
"""A tenant without `max_pods`."""


class Tenant:
    __slots__ = (
        "alive",
        "blocked",
        "budget",
        "creations",
        "done",
        "hard_cap",
        "max_pods",
        "name",
        "over",
        "pools",
        "reserved",
        "used",
    )

    def __init__(
        self, name: str, budget: int | None, hard_cap: bool, max_pods: int | None = None
    ) -> None:
        self.name = name
        self.budget = budget
        self.hard_cap = hard_cap
        self.used = 0
        """Tokens of tasks completed today."""
        self.done = 0
        """Tasks completed today (the workers' usage reports count them too)."""
        self.reserved = 0
        """Tokens of tasks in flight (counted only where budgets are gated)."""
        self.over = 0
        """Tokens spent beyond the budget, summed over the days."""
        self.pools: list[SimPool] = []
        self.blocked = 0
        """How many of `pools` the budget gate holds now (`SimPool.blocked`): counted up as
        each is blocked, back to 0 at the reset when all are released. With it a reader can
        tell "none blocked" or "all blocked" without scanning the pools."""
        self.max_pods = NO_LIMIT if max_pods is None else max_pods
        self.alive = 0
        """Pods of the tenant's pools that exist (terminating ones too): its quota's usage."""
        self.creations: deque[tuple[int, SimPool]] = deque()
        """Creations waiting for quota, oldest first, with the order they were asked in."""


class Provider:
    __slots__ = ("name", "rpm", "used", "waiting")

    def __init__(self, name: str, rpm: int) -> None:
        self.name = name
        self.rpm = rpm * MICRO
        self.used = 0
        """Requests a minute its running tasks make, in millionths."""
        self.waiting: list[tuple[int, int]] = []
        """A heap of (head task, pool index), oldest head first: pools whose head task waits
        for this provider's rpm. An entry goes stale when its pool's head moves or it has no
        free pod any more; `_admit` drops such entries as they come up."""


class SimPod:
    __slots__ = ("born", "busy", "gone", "listed", "pool", "ready", "ready_at", "terminating")

    def __init__(self, pool: SimPool, born: float) -> None:
        self.pool = pool
        self.born = born
        self.busy = 0
        self.ready = False
        self.ready_at = 0.0
        self.terminating = False
        """Chosen by a scale-down while busy: takes no new task, gone when done or killed."""
        self.gone = False
        self.listed = False
        """In the pool's `free` queue (which may also hold stale entries, skipped lazily)."""


class SimPool:
    __slots__ = (
        "arrived",
        "blocked",
        "cold_start",
        "concurrency",
        "creating",
        "demand",
        "free",
        "gate",
        "grace",
        "held",
        "index",
        "last_direction",
        "last_step_at",
        "mean_work",
        "name",
        "pods",
        "price",
        "provider",
        "queue",
        "ready",
        "running",
        "spec",
        "tenant",
        "throttled",
    )

    def __init__(self, index: int, name: str, tenant: Tenant, cold: float, conc: int) -> None:
        self.index = index
        self.name = name
        self.tenant = tenant
        self.gate: Tenant | None = None
        self.provider: Provider | None = None
        """The provider whose rpm binds the pool's tasks (None: nothing binds them)."""
        self.demand = 0
        """Requests a minute one running task makes to `provider`, in millionths."""
        self.throttled = False
        """In `provider.waiting` (with an entry for the current head of its queue)."""
        self.cold_start = cold
        self.concurrency = conc
        self.grace = 30.0
        """termination_grace_seconds."""
        self.queue: deque[int] = deque()
        self.free: deque[SimPod] = deque()
        self.pods: list[SimPod] = []
        """Live pods that count as replicas: starting or ready, not terminating."""
        self.spec = 0
        """The Deployment's replicas: live pods plus creations waiting for quota."""
        self.creating = 0
        self.ready = 0
        self.running = 0
        self.arrived = 0
        self.blocked = False
        """The budget gate holds the queue's head (until the budget resets)."""
        self.held = False
        """The autoscaler holds the pool back for a budget or a pause (its own reasons)."""
        self.mean_work: float | None = None
        self.price = TokensATask()
        """Its tokens a task, as its workers' reports would tell them."""
        self.last_direction = 0
        self.last_step_at = 0.0


Event = tuple[float, int, int, SimPod | None]

"""Synthetic traces for the backtest: bursty, diurnal and spiky workloads, seeded.

Every pool gets its own median task time (15-60 s, log-normal spread), its own tokens per
second of work, and an average arrival rate that would keep `utilization` of its
max_replicas x concurrency busy. The shapes then spread those arrivals differently:

- bursty: each pool alternates active stretches (40 min on average) and quiet ones (20 min);
  while active, 30% of its tasks trickle in and 70% come in bursts of 5-40 tasks at the same
  instant (the "CEO delegates 20 tasks" case);
- diurnal: a daily cycle, quiet at midnight and busiest at noon (the rate goes from 15% to
  185% of the mean), with a few small bursts (10% of the tasks, 3-10 at once);
- spiky: a light trickle (40%) and rare spikes of 50-200 tasks at once (60%).

Asked for a few `tasks`, a pool's bursts are no larger than half its share of them: a burst
of 40 cannot make "about 2", and a trace asked for 5 would be a spike or nothing. And a
trace is never empty: one that would be (a short one, or a few tasks all drawn away) gets
one task.

Pure and deterministic: the only randomness is `random.Random(seed)`.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from controller.core.config import Config
from controller.simulate.trace import Trace

SHAPES = ("bursty", "diurnal", "spiky")
DAY_S = 86400.0
_SIGMA = 0.6
"""Log-normal spread of task times: the slowest tasks take a few times the median."""


@dataclass(frozen=True, slots=True)
class _PoolLoad:
    index: int
    rate: float
    """Mean arrivals a second over the whole trace."""
    median_work: float
    tokens_per_s: float


MIN_HOURS = 0.001
"""The shortest trace made (3.6 s; arrivals are kept to the millisecond). Below some span the
arrival rate that puts `tasks` in it is no number: 5 tasks in 5e-324 hours overflowed to an
infinite rate, which no Poisson process advances from."""

Arrivals = Callable[[random.Random, float, float, int], list[float]]
"""(rng, mean rate, duration, largest burst) -> arrival times."""
_NO_CAP = 1 << 30


def generate(
    config: Config,
    shape: str,
    hours: float,
    seed: int,
    *,
    tasks: int | None = None,
    utilization: float = 0.3,
) -> Trace:
    """A trace over `hours` for the config's pools; `tasks` sets the expected total."""
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}: expected one of {', '.join(SHAPES)}")
    if not hours >= MIN_HOURS:  # (NaN too)
        raise ValueError(f"expected hours >= {MIN_HOURS:g}, got {hours!r}")
    rng = random.Random(seed)
    duration = hours * 3600.0
    loads = _loads(config, shape, rng, duration, tasks, utilization)
    arrivals: Arrivals = {"bursty": _bursty, "diurnal": _diurnal, "spiky": _spiky}[shape]
    level = _level(shape, duration)
    caps = [
        _NO_CAP if tasks is None else max(1, int(load.rate * duration * level / 2))
        for load in loads
    ]
    return Trace.build(config.pools, _tasks(rng, loads, caps, arrivals, duration))


def _tasks(
    rng: random.Random,
    loads: list[_PoolLoad],
    caps: list[int],
    arrivals: Arrivals,
    duration: float,
) -> Iterator[tuple[float, int, float, int]]:
    """Each pool's tasks in turn, made as the trace's columns take them: ten million tasks
    are their columns' 280 MB, not 3 GB of tuples held until the last is made."""
    made = 0
    for load, cap in zip(loads, caps, strict=True):
        for t in arrivals(rng, load.rate, duration, cap):
            made += 1
            yield _task(rng, t, load)
    if not made and loads:
        yield _task(rng, rng.uniform(0.0, duration), rng.choice(loads))


def _task(rng: random.Random, t: float, load: _PoolLoad) -> tuple[float, int, float, int]:
    work = _work(rng, load.median_work)
    tokens = round(work * load.tokens_per_s * rng.uniform(0.8, 1.2))
    return round(t, 3), load.index, work, tokens


def _loads(
    config: Config,
    shape: str,
    rng: random.Random,
    duration: float,
    tasks: int | None,
    utilization: float,
) -> list[_PoolLoad]:
    loads = []
    for index, pool in enumerate(config.pools.values()):
        median = rng.uniform(15.0, 60.0)
        mean_work = median * math.exp(_SIGMA**2 / 2)
        rate = utilization * pool.max_replicas * pool.concurrency / mean_work
        loads.append(_PoolLoad(index, rate, median, rng.uniform(40.0, 110.0)))
    expected = sum(load.rate for load in loads) * duration * _level(shape, duration)
    if tasks is not None and expected > 0:
        scale = tasks / expected
        loads = [
            _PoolLoad(ld.index, ld.rate * scale, ld.median_work, ld.tokens_per_s) for ld in loads
        ]
    return loads


def _level(shape: str, duration: float) -> float:
    """Mean arrival rate over [0, duration] as a share of the pool's mean rate: 1, except for
    a diurnal trace shorter than whole days (midnight is quiet)."""
    if shape != "diurnal" or duration <= 0:
        return 1.0
    x = 2 * math.pi * duration / DAY_S
    return 0.9 * (1 - 0.85 * math.sin(x) / x) + 0.1


def _work(rng: random.Random, median: float) -> float:
    work = rng.lognormvariate(math.log(median), _SIGMA)
    return round(min(max(work, 1.0), 20 * median), 1)


def _poisson(rng: random.Random, rate: float, start: float, end: float) -> list[float]:
    times: list[float] = []
    if rate <= 0:
        return times
    t = start + rng.expovariate(rate)
    while t < end:
        times.append(t)
        t += rng.expovariate(rate)
    return times


def _bursts(
    rng: random.Random, rate: float, start: float, end: float, sizes: tuple[int, int], cap: int
) -> list[float]:
    """Bursts whose tasks all arrive at one instant, at most `cap` at once; `rate` counts
    tasks, not bursts."""
    sizes = (min(sizes[0], cap), min(sizes[1], cap))
    mean_size = (sizes[0] + sizes[1]) / 2
    times = []
    for t in _poisson(rng, rate / mean_size, start, end):
        times.extend([t] * rng.randint(*sizes))
    return times


def _bursty(rng: random.Random, rate: float, duration: float, cap: int) -> list[float]:
    active_mean, quiet_mean = 2400.0, 1200.0
    active_share = active_mean / (active_mean + quiet_mean)
    busy_rate = rate / active_share  # while active, so that the mean over time is `rate`
    times: list[float] = []
    # pools do not all wake at midnight together, but within a trace shorter than a quiet spell
    t = rng.uniform(0, min(quiet_mean, duration))
    while t < duration:
        end = min(duration, t + rng.expovariate(1 / active_mean))
        times += _poisson(rng, 0.3 * busy_rate, t, end)
        times += _bursts(rng, 0.7 * busy_rate, t, end, (5, 40), cap)
        t = end + rng.expovariate(1 / quiet_mean)
    return times


def _diurnal(rng: random.Random, rate: float, duration: float, cap: int) -> list[float]:
    peak = 1.85 * 0.9 * rate
    times = []
    for t in _poisson(rng, peak, 0.0, duration):  # thinning to the daily curve
        level = 0.9 * rate * (1 - 0.85 * math.cos(2 * math.pi * t / DAY_S))
        if rng.random() * peak < level:
            times.append(t)
    return times + _bursts(rng, 0.1 * rate, 0.0, duration, (3, 10), cap)


def _spiky(rng: random.Random, rate: float, duration: float, cap: int) -> list[float]:
    return _poisson(rng, 0.4 * rate, 0.0, duration) + _bursts(
        rng, 0.6 * rate, 0.0, duration, (50, 200), cap
    )

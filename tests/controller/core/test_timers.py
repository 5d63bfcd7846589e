"""The engine's alarm clock (controller.core.timers): one time a pool, earliest first."""

from __future__ import annotations

import math

from controller.core.timers import Timers


def test_pools_come_due_in_time_order_once_each() -> None:
    timers = Timers(3)
    timers.set(0, 30.0)
    timers.set(1, 10.0)
    timers.set(2, 20.0)
    assert timers.earliest() == 10.0
    assert timers.due(5.0) == []
    assert timers.due(20.0) == [1, 2]
    assert timers.due(20.0) == []  # a time comes due once
    assert timers.due(100.0) == [0]
    assert timers.earliest() == math.inf


def test_a_time_set_again_replaces_the_old_one() -> None:
    timers = Timers(2)
    timers.set(0, 10.0)
    timers.set(0, 50.0)  # later: the pool is not due at 10
    timers.set(1, 40.0)
    timers.set(1, math.inf)  # none: never due
    assert timers.due(45.0) == []
    assert timers.due(50.0) == [0]
    timers.set(0, 60.0)
    timers.set(0, 55.0)  # earlier: due at 55, and not again at 60
    assert timers.due(60.0) == [0]
    assert timers.due(1000.0) == []


def test_a_time_within_float_noise_of_a_step_is_due_at_it() -> None:
    timers = Timers(1)
    timers.set(0, 0.1 + 0.2)
    assert timers.due(0.3) == [0]

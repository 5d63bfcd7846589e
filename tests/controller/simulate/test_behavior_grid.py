"""The grid the tuner searches: moves stay on it, and a part left as configured stays so."""

from __future__ import annotations

import random

from controller.simulate.behavior_grid import (
    GRID,
    KNOBS,
    Down,
    Setting,
    knob,
    mutate,
    nearest,
    revert,
)
from tests.support.tuning import wasteful


def test_mutations_stay_on_the_grid_from_the_configured_values_nearest_point() -> None:
    config = wasteful()
    pool = config.pools["hoarder"]
    start = nearest(pool)
    assert start.down is not None
    assert (start.down.window, start.cooldown) == (600, 600)  # the grid's longest
    rng = random.Random(3)
    setting = Setting()
    for _ in range(200):
        moved = mutate(setting, start, rng)
        assert moved != setting
        assert all(knob(moved, k) in (None, *GRID[k]) for k in KNOBS)
        setting = moved
    assert setting.up is not None
    assert setting.down is not None
    assert setting.cooldown is not None
    tuned = setting.apply(pool)
    assert tuned.cooldown_seconds == setting.cooldown
    assert tuned.behavior.scale_down.stabilization_seconds == setting.down.window
    assert tuned.behavior.scale_down.tolerance == pool.behavior.scale_down.tolerance


def test_a_part_left_as_configured_is_neither_applied_nor_written() -> None:
    pool = wasteful().pools["hoarder"]
    only_down = Setting(down=Down(120, 50, 30))
    tuned = only_down.apply(pool)
    assert tuned.behavior.scale_up == pool.behavior.scale_up
    assert tuned.cooldown_seconds == pool.cooldown_seconds
    assert list(only_down.fields(pool)) == ["behavior.scale_down"]
    assert Setting(cooldown=3600).fields(pool) == {}  # what it has already
    assert revert(only_down, "down") is None

"""The grid the tuner searches: moves stay on it, and a part left as configured stays so."""

from __future__ import annotations

import random

from controller.simulate.behavior_grid import (
    GRID,
    KNOBS,
    Down,
    Keep,
    Setting,
    Up,
    knob,
    mutate,
    nearest,
    random_setting,
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


def test_the_keep_alive_weight_is_written_only_where_the_pool_learns_its_keep_alive() -> None:
    config = wasteful()
    learning, fixed = config.pools["steady"], config.pools["hoarder"]
    heavier = Setting(keep=Keep(200))
    assert heavier.fields(learning) == {"keep_alive.wait_weight": 2.0}
    tuned = heavier.apply(learning)
    assert tuned.keep_alive.wait_weight == 2.0
    assert tuned.learns_keep_alive
    assert heavier.fields(fixed) == {}  # on the fixed rules a weight would do nothing
    with_down = Setting(down=Down(120, 50, 30), keep=Keep(200))
    assert list(with_down.fields(learning)) == ["behavior.scale_down"]
    assert nearest(learning).keep == Keep(100)
    assert revert(heavier, "keep") is None


def test_half_the_random_settings_leave_a_learning_pool_learning() -> None:
    rng = random.Random(5)
    drawn = [random_setting(rng) for _ in range(200)]
    learning = [s for s in drawn if s.down is None and s.cooldown is None]
    assert 70 < len(learning) < 130
    assert all(s.keep is not None and s.up is not None for s in learning)
    assert all(s.keep is None for s in drawn if s.down is not None)
    pool = wasteful().pools["steady"]
    assert all(s.apply(pool).learns_keep_alive for s in learning)


def test_a_rule_of_one_pod_says_pod() -> None:
    """tune's chosen settings read `max(300%, 1 pods) / 45 s`."""
    assert Up(0, 300, 1, 45).describe() == "up 0 s, max(300%, 1 pod) / 45 s"
    assert Up(0, 100, 4, 15).describe() == "up 0 s, max(100%, 4 pods) / 15 s"

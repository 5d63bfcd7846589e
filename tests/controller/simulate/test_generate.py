"""Synthetic traces: the shapes a person asked for, the same for the same seed."""

from __future__ import annotations

import itertools
import tracemalloc
from collections import Counter
from pathlib import Path

import pytest

from controller.core.config import load_config
from controller.simulate.generate import MIN_HOURS, SHAPES, generate

CONFIG = load_config(Path(__file__).parents[3] / "examples" / "agentdash.yaml")


@pytest.mark.parametrize("shape", SHAPES)
def test_the_same_seed_gives_the_same_trace_and_another_seed_another(shape: str) -> None:
    first = generate(CONFIG, shape, 2, seed=11)
    assert generate(CONFIG, shape, 2, seed=11) == first
    assert generate(CONFIG, shape, 2, seed=12) != first


@pytest.mark.parametrize("shape", SHAPES)
def test_every_task_is_valid_for_the_config_and_inside_the_hours(shape: str) -> None:
    trace = generate(CONFIG, shape, 3, seed=5)
    assert len(trace) > 100
    assert trace.t == sorted(trace.t)
    assert trace.t[0] >= 0
    assert trace.t[-1] < 3 * 3600
    assert set(trace.pool) <= set(range(len(CONFIG.pools)))
    assert all(w >= 1 for w in trace.work_s)
    assert all(n >= 0 for n in trace.tokens)


def largest_burst(shape: str, seed: int = 3) -> int:
    trace = generate(CONFIG, shape, 6, seed)
    return max(Counter(zip(trace.t, trace.pool, strict=True)).values())


def test_bursty_traces_have_many_tasks_at_once_and_quiet_stretches() -> None:
    assert largest_burst("bursty") >= 20  # "the CEO delegates 20 tasks"
    trace = generate(CONFIG, "bursty", 6, seed=3)
    research = [t for t, p in zip(trace.t, trace.pool, strict=True) if p == 0]
    gaps = [b - a for a, b in itertools.pairwise(research)]
    assert max(gaps) >= 600  # at least one quiet stretch of ten minutes or more


def test_spiky_traces_have_spikes_of_fifty_or_more() -> None:
    assert largest_burst("spiky") >= 50


def test_diurnal_traces_are_busier_at_noon_than_at_midnight() -> None:
    trace = generate(CONFIG, "diurnal", 24, seed=2)
    night = sum(1 for t in trace.t if t < 3 * 3600 or t >= 21 * 3600)
    noon = sum(1 for t in trace.t if 9 * 3600 <= t < 15 * 3600)
    assert noon > 3 * night


@pytest.mark.parametrize(("shape", "hours"), [("diurnal", 2), ("diurnal", 30), ("bursty", 24)])
def test_a_task_count_can_be_asked_for(shape: str, hours: float) -> None:
    counts = [len(generate(CONFIG, shape, hours, seed, tasks=5000)) for seed in (1, 2, 3)]
    assert 4250 <= sum(counts) / 3 <= 5750


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("tasks", [1, 2, 10])
def test_a_few_tasks_asked_for_are_about_that_many_and_never_none(shape: str, tasks: int) -> None:
    counts = [len(generate(CONFIG, shape, 4, seed, tasks=tasks)) for seed in range(1, 21)]
    assert min(counts) >= 1
    assert tasks / 2 <= sum(counts) / len(counts) <= tasks * 2


@pytest.mark.parametrize("shape", SHAPES)
def test_a_trace_shorter_than_a_quiet_spell_still_has_tasks(shape: str) -> None:
    assert all(len(generate(CONFIG, shape, 0.01, seed)) >= 1 for seed in range(1, 11))


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("hours", [0.0, 5e-324, 1e-300, MIN_HOURS / 2, -1.0])
def test_a_span_shorter_than_the_least_is_refused_by_name(shape: str, hours: float) -> None:
    """5 tasks in 5e-324 hours asked for an arrival rate that overflowed to infinity (an
    OverflowError, or a Poisson process that never advanced)."""
    with pytest.raises(ValueError, match="hours"):
        generate(CONFIG, shape, hours, seed=1, tasks=5)


@pytest.mark.parametrize("shape", SHAPES)
def test_the_least_span_makes_the_tasks_asked_for(shape: str) -> None:
    assert len(generate(CONFIG, shape, MIN_HOURS, seed=1, tasks=5)) >= 1


@pytest.mark.parametrize("shape", SHAPES)
def test_a_large_trace_is_made_straight_into_its_columns(shape: str) -> None:
    """`simulate --generate --tasks 10000000` took 3 GB when every task was a tuple held
    until the last was made; made into the trace's columns (28 bytes a task) and sorted by
    an index, it takes about 110 bytes a task at its peak."""
    tracemalloc.start()
    try:
        trace = generate(CONFIG, shape, 24, seed=1, tasks=100_000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(trace) > 90_000
    assert peak / len(trace) < 150  # a tuple a task held: 267

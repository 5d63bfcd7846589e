"""Which pools /healthz and the header name for tasks JetStream stores none of
(controller.sources.refused_tasks), from what each read of a pool's consumer showed."""

from __future__ import annotations

from controller.sources.refused_tasks import REFUSED_S, RefusedTasks


def test_refusals_read_after_read_for_refused_s_name_the_pool_until_one_is_stored() -> None:
    refused = RefusedTasks()
    for at in range(0, 21, 2):
        refused.note("research", refused=1, stored=0, now=at)
    problem = refused.problem(20)
    assert problem is not None
    assert "research" in problem
    refused.note("research", refused=0, stored=1, now=21)
    assert refused.problem(21) is None


def test_two_lone_duplicates_an_hour_apart_name_no_pool() -> None:
    """A retry that repeats a stored task's Nats-Msg-Id is refused, and an idle pool stores
    nothing after it: a second one an hour later named the pool at once, for 20 s, as if
    every task had been refused for the hour."""
    refused = RefusedTasks()
    refused.note("research", refused=1, stored=0, now=0)
    assert refused.problem(REFUSED_S + 1) is None
    refused.note("research", refused=1, stored=0, now=3600)
    assert refused.problem(3600) is None
    assert refused.problem(3610) is None

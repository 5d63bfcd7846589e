"""The backtest's scale calls (controller.simulate.scale_calls): the client's token bucket, and
the changes that wait for a token, made in pool order as the live client's limiter lets the
live loop's calls through."""

from __future__ import annotations

from controller.simulate.scale_calls import ScaleCalls


def test_the_bucket_holds_at_most_its_burst_and_refills_at_qps() -> None:
    calls = ScaleCalls(qps=0.5, burst=2.0)
    assert [calls.take(), calls.take()] == [True, True]
    assert not calls.take()  # empty: the third call waits
    calls.refill(1.0)  # half a token
    assert not calls.has_token()
    calls.refill(2.0)
    assert calls.take()
    calls.refill(3600.0)  # an idle hour fills it to its burst, no more
    assert [calls.take() for _ in range(3)] == [True, True, False]


def test_waiting_changes_come_first_in_pool_order_once_each() -> None:
    calls = ScaleCalls(qps=1.0, burst=1.0)
    for pool in (7, 2, 9, 2):
        calls.wait(pool)
    assert calls.waiting == 3
    assert calls.first() == 2
    calls.done(2)  # made
    assert calls.first() == 7
    assert calls.waiting == 2


def test_a_change_no_longer_wanted_is_passed_over() -> None:
    calls = ScaleCalls(qps=1.0, burst=1.0)
    calls.wait(3)
    calls.wait(5)
    calls.done(3)  # its decision changed back: nothing to make
    assert calls.first() == 5
    calls.wait(3)  # wanted again later: it waits in its place
    assert calls.first() == 3
    calls.done(3)
    calls.done(5)
    assert calls.first() is None
    assert calls.waiting == 0


def test_a_pool_that_waits_again_and_again_is_kept_once() -> None:
    """Its decision flipping while lower pools wait must not pile copies of it up: on 4 pools
    at qps 0.02 over 6 spiky hours, the heap reached 20 entries for at most 4 waiting."""
    calls = ScaleCalls(qps=1.0, burst=1.0)
    calls.wait(1)
    for _ in range(100):
        calls.wait(4)
        calls.done(4)
    calls.wait(4)
    assert len(calls._heap) == 2
    assert calls.first() == 1
    calls.done(1)
    assert calls.first() == 4

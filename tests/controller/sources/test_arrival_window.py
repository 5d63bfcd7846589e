"""A pool's arrivals, counted a second at a time (controller.sources.arrivals.Window)."""

from __future__ import annotations

from controller.sources.arrivals import BUCKET_S, Window


def test_a_flood_keeps_a_bucket_a_second_not_an_entry_an_arrival() -> None:
    window = Window()
    for n in range(300_000):  # 10,000 a second for 30 s: what a producer flood reads as
        window.add(n / 10_000)
    assert len(window) == 300_000
    assert len(window._buckets) <= 30 / BUCKET_S + 1


def test_arrivals_leave_the_window_with_their_bucket_never_before_they_are_due() -> None:
    window = Window()
    for at in (0.0, 0.5, 0.9, 1.2, 5.0):
        window.add(at)
    window.expire(0.6)  # the first bucket's newest, 0.9, is still inside
    assert len(window) == 5
    window.expire(0.9)
    assert len(window) == 2
    window.expire(5.0)
    assert len(window) == 0
    assert not window


def test_dropped_arrivals_are_taken_from_before_the_newest() -> None:
    window = Window()
    for at in (0.0, 0.1, 2.0, 2.1, 4.0):
        window.add(at)
    window.drop(3, after=1)  # 4.0 is newer than the read: it stays, with the oldest one
    assert len(window) == 2
    window.expire(0.05)
    assert len(window) == 2  # the oldest bucket still holds 0.0 (counts, not times)
    window.expire(3.9)
    assert len(window) == 1

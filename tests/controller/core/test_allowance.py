"""A token bucket: so many at once, then one every so often, never more than at once."""

from __future__ import annotations

import pytest

from controller.core.allowance import Allowance


def test_a_burst_takes_what_is_there_then_waits_its_turn() -> None:
    allowance = Allowance(at_once=3, every=0.5)
    assert [allowance.take(0.0) for _ in range(4)] == [True, True, True, False]
    assert allowance.wait(0.0) == pytest.approx(0.5)
    assert allowance.wait(0.2) == pytest.approx(0.3)
    assert allowance.take(0.5)
    assert not allowance.take(0.5)


def test_a_long_quiet_refills_up_to_the_burst_not_beyond() -> None:
    allowance = Allowance(at_once=2, every=1.0)
    assert allowance.take(0.0)
    later = 1000.0
    assert [allowance.take(later) for _ in range(3)] == [True, True, False]


def test_an_allowance_of_nothing_is_refused() -> None:
    with pytest.raises(ValueError, match="at_once"):
        Allowance(at_once=0, every=1.0)

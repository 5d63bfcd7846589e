"""The table sorted by a column (arrow in its header), at 80x24 and at 200x60."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.snapshots import AppFactory

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


def test_fleet_by_lag_descending(snap_compare: Any, make_app: AppFactory,
                                 size: tuple[int, int]) -> None:  # fmt: skip
    """shift+L twice: the most lag first; the cursor went down one row, to the second."""
    assert snap_compare(make_app(), press=["L", "L", "j"], terminal_size=size)


def test_pods_by_age(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    """All pods, youngest first, then G: the cursor on the oldest, at the bottom."""
    assert snap_compare(make_app(), press=["p", "a", "A", "G"], terminal_size=size)

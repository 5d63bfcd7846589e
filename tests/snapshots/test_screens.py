"""Every screen and modal, at 80x24 and at 200x60."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.snapshots import AppFactory

SIZES = {"80x24": (80, 24), "200x60": (200, 60)}


@pytest.fixture(params=list(SIZES))
def size(request: pytest.FixtureRequest) -> tuple[int, int]:
    return SIZES[request.param]


def test_fleet(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), terminal_size=size)


def test_why(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["down", "enter"], terminal_size=size)


def test_pods(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["p"], terminal_size=size)


def test_pods_of_all_pools(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["p", "a"], terminal_size=size)


def test_tenants(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["t"], terminal_size=size)


def test_events(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["e"], terminal_size=size)


def test_events_filtered(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    keys = ["e", "slash", *"rate limit", "enter"]
    assert snap_compare(make_app(), press=keys, terminal_size=size)


def test_help(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["question_mark"], terminal_size=size)


def test_pin_dialog(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["w"], terminal_size=size)


def test_confirmation(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["s"], terminal_size=size)


def test_fleet_read_only(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(read_only=True), terminal_size=size)


def test_fleet_filtered(snap_compare: Any, make_app: AppFactory, size: tuple[int, int]) -> None:
    assert snap_compare(make_app(), press=["slash", *"globex"], terminal_size=size)

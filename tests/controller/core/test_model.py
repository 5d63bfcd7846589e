"""How a time reads (controller.core.model.moment, utc): a time of day on the reader's day,
with its date on any other, so that tomorrow's 18:25 is not read as today's."""

from __future__ import annotations

import pytest

from controller.core.model import Reason, Utc, moment, utc

NOON = 1_795_953_600.0  # 2026-11-29 12:00:00 UTC


def test_a_time_on_the_same_day_is_a_time_of_day_another_day_has_its_date() -> None:
    assert moment(NOON + 6 * 3600, NOON) == "18:00:00"
    assert utc(NOON - 11 * 3600, NOON) == "01:00:00 UTC"
    assert utc(NOON + 13 * 3600, NOON) == "2026-11-30 01:00:00 UTC"  # within 24 h, not today
    assert utc(NOON + 365 * 86400, NOON) == "2027-11-29 12:00:00 UTC"  # not its SET time
    assert utc(NOON - 86400, NOON) == "2026-11-28 12:00:00 UTC"


def test_without_the_readers_day_a_time_always_has_its_date() -> None:
    assert utc(NOON) == "2026-11-29 12:00:00 UTC"


def test_a_time_rules_time_in_a_reason_stays_a_time_of_day() -> None:
    assert f"{Utc(NOON)}" == str(Utc(NOON)) == "12:00:00 UTC"


@pytest.mark.parametrize(
    ("template", "args", "read"),
    [
        ("{} replicas not needed; {} gaps known", (1, 1), "1 replica not needed; 1 gap known"),
        ("{} replicas, {} tasks", (11, 21), "11 replicas, 21 tasks"),
        ("pays for {} replicas, {:,} tokens", (0.1, 1000), "pays for 0.1 replicas, 1,000 tokens"),
        ("{} -> {}", (1, 2), "1 -> 2"),
    ],
)
def test_a_count_of_one_reads_singular(template: str, args: tuple[object, ...], read: str) -> None:
    """The templates say `{} replicas` for any count: a reason read "1 replicas not needed
    since 12:00:00 UTC; 1 gaps known"."""
    assert Reason(rule="rule", template=template, args=args).detail == read

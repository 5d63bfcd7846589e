"""What agentdash drops is counted per source and said in the log at most once a minute per
source, and per flooded subject (controller.core.bad_messages)."""

from __future__ import annotations

import logging

import pytest

from controller.core.bad_messages import BadMessages
from tests.support import FakeClock


def said(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "agentdash.bad_messages"]


def test_each_flooded_subject_is_named_within_the_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Two tenants flood in the same minute: the operator reads both names, where one line a
    # minute for every flood named the first and only counted the second.
    clock = FakeClock()
    bad = BadMessages(clock=clock)
    with caplog.at_level(logging.WARNING, logger="agentdash.bad_messages"):
        bad.drop("flood", "agentdash.usage.acme: 3,000 waited", count=3000, about="acme")
        clock.advance(10)
        bad.drop("flood", "agentdash.usage.globex: 2,600 waited", count=2600, about="globex")
        clock.advance(10)
        bad.drop("flood", "agentdash.usage.acme: 2,900 waited", count=2900, about="acme")
    lines = said(caplog)
    assert len(lines) == 2, lines
    assert "3,000 messages of a flood: agentdash.usage.acme" in lines[0]
    assert "2,600 messages of a flood: agentdash.usage.globex" in lines[1]
    assert bad.counts["flood"] == 8500


def test_a_source_says_once_a_minute_and_then_how_many_it_did_not_say(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = FakeClock()
    bad = BadMessages(clock=clock)
    with caplog.at_level(logging.WARNING, logger="agentdash.bad_messages"):
        for _ in range(5):
            bad.drop("usage", "tokens: expected a number")
        clock.advance(61)
        bad.drop("usage", "tokens: expected a number")
    lines = said(caplog)
    assert lines == [
        "dropped a bad usage message: tokens: expected a number",
        "dropped a bad usage message: tokens: expected a number (4 more dropped since the "
        "last line)",
    ]
    assert bad.counts["usage"] == 6

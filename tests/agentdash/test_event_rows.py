"""What a row of the Events list says of a source's health: each word once."""

from __future__ import annotations

from agentdash.tui.live import event_row
from controller.core.events import HealthEvent


def test_a_recovery_reads_recovered_once() -> None:
    _, cells = event_row(HealthEvent(ts=0.0, source="queue", ok=True, detail="recovered"), 1)
    assert cells[1:] == ("health", "queue", "recovered", "")


def test_a_failure_keeps_what_went_wrong() -> None:
    failing = HealthEvent(ts=0.0, source="queue", ok=False, detail="NATS: no answer within 2 s")
    _, cells = event_row(failing, 2)
    assert cells[1:] == ("health", "queue", "stale", "NATS: no answer within 2 s")

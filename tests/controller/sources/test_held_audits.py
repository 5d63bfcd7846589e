"""Which held usage reports are audited: a few at once per tenant, then one every
HELD_AUDIT_EVERY_S, and the next one audited says how many were not."""

from __future__ import annotations

from controller.sources.usage import HELD_AUDIT_EVERY_S, HELD_AUDITS_AT_ONCE, HeldAudits


def test_a_burst_is_audited_up_to_its_bound_then_counted() -> None:
    audits = HeldAudits()
    said = [audits.admit("acme", 0.0) for _ in range(HELD_AUDITS_AT_ONCE + 5)]
    assert said == [0] * HELD_AUDITS_AT_ONCE + [None] * 5
    # One more is audited a while later, and says how many were not.
    assert audits.admit("acme", HELD_AUDIT_EVERY_S) == 5
    assert audits.admit("acme", HELD_AUDIT_EVERY_S) is None


def test_each_tenant_has_its_own_bound() -> None:
    audits = HeldAudits()
    for _ in range(HELD_AUDITS_AT_ONCE + 1):
        audits.admit("acme", 0.0)
    assert audits.admit("globex", 0.0) == 0


def test_the_bound_refills_over_time_up_to_the_burst() -> None:
    audits = HeldAudits(at_once=2, every=10.0)
    assert [audits.admit("acme", 0.0) for _ in range(3)] == [0, 0, None]
    later = 1000.0  # long after: room for two again, not a hundred
    assert [audits.admit("acme", later) for _ in range(3)] == [1, 0, None]

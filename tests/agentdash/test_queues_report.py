"""`agentdash queues`' report of many pools, as printed: built from checks, no server."""

from __future__ import annotations

from agentdash.queues import report
from controller.sources.queue_plan import ConsumerSpec, QueueCheck, StreamSpec


def test_the_summary_marks_thousands_in_its_counts_as_in_its_totals() -> None:
    pools = [f"p{n}" for n in range(3000)]
    stream = StreamSpec("BIG", tuple(f"big.{p}" for p in pools))
    checks = [QueueCheck(stream, "in place")] + [
        QueueCheck(ConsumerSpec(p, "BIG", p, f"big.{p}", 30.0, 2), "missing") for p in pools
    ]
    checks[1] = QueueCheck(checks[1].spec, "in place")
    lines = report(checks, apply=False).splitlines()
    assert lines[-2] == "1 stream, 3,000 consumers: 2 in place, 2,999 missing"

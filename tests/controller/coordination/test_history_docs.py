"""A pool's history as the bucket keeps it: what a leader writes, its successor reads back."""

from __future__ import annotations

import pytest

from controller.coordination.history_docs import MAX_STEP, BadValue, PoolDoc, dump_doc, load_doc
from controller.core.history import History


def test_a_scale_from_the_most_a_deployment_can_say_is_read_back() -> None:
    """Someone set spec.replicas to 2,147,483,647 and the leader scaled it to max_replicas:
    the step was written, and the successor refused the pool's whole entry, so its windows
    were lost at the failover."""
    history = History()
    history.record_scale("batch", 100.0, MAX_STEP, 10)
    raw = dump_doc(history.pools["batch"], 101.0, live=True)
    doc = load_doc(PoolDoc, raw, now=102.0)
    assert doc.steps == [(100.0, 10 - MAX_STEP)]


def test_a_step_no_deployment_could_make_is_refused() -> None:
    history = History()
    history.record_scale("batch", 100.0, 2 * MAX_STEP, 10)
    raw = dump_doc(history.pools["batch"], 101.0, live=True)
    with pytest.raises(BadValue, match="steps"):
        load_doc(PoolDoc, raw, now=102.0)

"""What agentdash wants in JetStream, compared field by field with what is there.

The comparisons are pure (no server); `ensure_queues` runs against a real nats-server.
"""

from __future__ import annotations

from dataclasses import fields
from datetime import UTC, datetime
from typing import Any

import nats.js.errors
import pytest
from nats.aio.client import Client
from nats.js.api import (
    AckPolicy,
    ConsumerConfig,
    DiscardPolicy,
    PersistMode,
    RetentionPolicy,
    StorageType,
    StreamConfig,
    StreamConsumerLimits,
    StreamSource,
    SubjectTransform,
)

from controller.sources.jetstream_queues import QueueError, ensure_queues
from controller.sources.queue_fields_left import CONSUMER_FIELDS_LEFT, STREAM_FIELDS_LEFT
from controller.sources.queue_plan import (
    STREAM_BYTES,
    ConsumerSpec,
    StreamSpec,
    check_consumer,
    check_stream,
    consumer_fields,
    queue_specs,
    stream_fields,
)
from tests.support.factories import config, pool

NOW = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
RESEARCH = ConsumerSpec("research", "AGENT_TASKS", "research", "agent_tasks.research", 30.0, 10)
TASKS = StreamSpec("AGENT_TASKS", ("agent_tasks.research", "agent_tasks.support"))


CREATED = ConsumerConfig(
    durable_name="research",
    filter_subject="agent_tasks.research",
    ack_policy=AckPolicy.EXPLICIT,
    ack_wait=30.0,
    max_ack_pending=10,
    max_deliver=-1,
)
"""RESEARCH as the server reports it once `ensure_queues` made it."""
STREAM = StreamConfig(
    name="AGENT_TASKS",
    subjects=["agent_tasks.research", "agent_tasks.support"],
    retention=RetentionPolicy.WORK_QUEUE,
    storage=StorageType.FILE,
    max_msgs=-1,
    max_bytes=STREAM_BYTES,
    discard=DiscardPolicy.NEW,
    max_age=0.0,
)


def as_created(**changes: Any) -> ConsumerConfig:
    return CREATED.evolve(**changes)


def stream(**changes: Any) -> StreamConfig:
    return STREAM.evolve(**changes)


def test_one_stream_per_queue_stream_and_a_consumer_per_pool_sized_to_the_pool() -> None:
    cfg = config(
        {
            "research": pool("acme", max_replicas=8, concurrency=3),
            "support": pool(
                "acme", queue={"stream": "AGENT_TASKS", "consumer": "help", "subject": "help.desk"}
            ),
            "batch": pool("acme", max_replicas=2, queue={"stream": "BULK", "consumer": "batch"}),
        }
    )
    assert queue_specs(cfg, ack_wait=45.0) == [
        StreamSpec("AGENT_TASKS", ("agent_tasks.research", "help.desk")),
        StreamSpec("BULK", ("bulk.batch",)),
        ConsumerSpec("research", "AGENT_TASKS", "research", "agent_tasks.research", 45.0, 24),
        ConsumerSpec("support", "AGENT_TASKS", "help", "help.desk", 45.0, 10),
        ConsumerSpec("batch", "BULK", "batch", "bulk.batch", 45.0, 2),
    ]


def test_what_ensure_queues_makes_is_in_place_and_missing_is_missing() -> None:
    assert check_consumer(RESEARCH, as_created(), now=NOW).state == "in place"
    assert check_consumer(RESEARCH, None, now=NOW).state == "missing"
    assert check_stream(TASKS, stream()).state == "in place"
    assert check_stream(TASKS, None).state == "missing"


def test_a_consumer_whose_stream_lacks_its_subject_is_not_to_be_created() -> None:
    """A wildcard that takes the subject is as good as the subject itself."""
    for subjects in (["agent_tasks.research"], ["agent_tasks.>"], ["agent_tasks.*"]):
        check = check_consumer(RESEARCH, None, now=NOW, stream_subjects=subjects)
        assert (check.state, check.blocked) == ("missing", "")
    lacking = check_consumer(RESEARCH, None, now=NOW, stream_subjects=["agent_tasks.support"])
    assert lacking.state == "missing"
    assert lacking.blocked.startswith("stream AGENT_TASKS does not take agent_tasks.research")
    made = check_consumer(RESEARCH, as_created(), now=NOW, stream_subjects=["other.>"])
    assert (made.state, made.blocked) == ("in place", "")  # it exists: nothing to create
    assert made.details == (
        "stream AGENT_TASKS does not take agent_tasks.research: no task reaches this consumer "
        "until it does",
    )
    # Filtered on another subject, one the stream takes: it gets tasks; its filter differs.
    elsewhere = as_created(filter_subject="agent_tasks.old")
    moved = check_consumer(RESEARCH, elsewhere, now=NOW, stream_subjects=["agent_tasks.old"])
    assert moved.details == ("filter_subject: agent_tasks.old -> agent_tasks.research",)
    wide = check_consumer(RESEARCH, as_created(filter_subject="agent_tasks.>"), now=NOW,
                          stream_subjects=["agent_tasks.old"])  # fmt: skip
    assert wide.details == ("filter_subject: agent_tasks.> -> agent_tasks.research",)


def test_every_consumer_field_that_differs_is_one_line_existing_then_wanted() -> None:
    check = check_consumer(
        RESEARCH,
        as_created(filter_subject="agent_tasks.other", ack_policy=AckPolicy.ALL, ack_wait=5.0,
                   max_ack_pending=1000, max_deliver=3, backoff=[1.0, 10.0]),
        now=NOW,
    )  # fmt: skip
    assert check.state == "differs"
    assert check.details == (
        "filter_subject: agent_tasks.other -> agent_tasks.research",
        "ack_policy: all -> explicit",
        "ack_wait: 5 s -> 30 s",
        "backoff: 1 s, 10 s -> none",
        "max_ack_pending: 1000 -> 10",
        "max_deliver: 3 -> unlimited",
    )


def test_a_consumer_that_hands_out_bodiless_tasks_or_is_deleted_when_idle_differs() -> None:
    """headers_only: a worker gets a task without its body and acks it away. An inactive
    threshold: the server deletes the consumer once no worker fetched for that long."""
    check = check_consumer(RESEARCH, as_created(headers_only=True, inactive_threshold=5.0), now=NOW)
    assert check.details == ("headers_only: yes -> no", "inactive_threshold: 5 s -> none")


def test_a_push_consumer_or_one_on_every_subject_differs() -> None:
    push = check_consumer(RESEARCH, as_created(deliver_subject="inbox.research"), now=NOW)
    assert push.details == ("deliver_subject: inbox.research -> none (pull)",)
    unfiltered = check_consumer(RESEARCH, as_created(filter_subject=None), now=NOW)
    assert unfiltered.details == ("filter_subject: none (every subject) -> agent_tasks.research",)


def test_the_servers_forms_of_the_same_settings_match() -> None:
    """The plural filter_subjects with one subject, nanoseconds that round to the second."""
    same = as_created(filter_subject=None, filter_subjects=["agent_tasks.research"],
                      ack_wait=30.000000001)  # fmt: skip
    assert check_consumer(RESEARCH, same, now=NOW).state == "in place"


@pytest.mark.parametrize("subjects", [["agent_tasks.>"], ["agent_tasks.*"], ["*.research", "*.*"]])
def test_a_wildcard_that_takes_every_pools_subject_is_as_good(subjects: list[str]) -> None:
    assert check_stream(TASKS, stream(subjects=subjects)).state == "in place"


def test_a_stream_without_a_pools_subject_differs_naming_what_to_add() -> None:
    check = check_stream(TASKS, stream(subjects=["agent_tasks.research.>", "agent_tasks.research"]))
    assert check.details == (
        "subjects: agent_tasks.research.>, agent_tasks.research -> agent_tasks.research.>, "
        "agent_tasks.research, agent_tasks.support",
    )


def test_a_stream_that_could_drop_tasks_differs() -> None:
    check = check_stream(
        TASKS,
        stream(retention=RetentionPolicy.LIMITS, storage=StorageType.MEMORY, max_age=3600.0,
               max_msgs=1000, discard=DiscardPolicy.OLD),
    )  # fmt: skip
    assert check.details == (
        "retention: limits -> workqueue",
        "storage: memory -> file",
        "max_age: 3600 s -> none",
        "discard: old -> new",
    )
    # with no limit the stream is never full: which end it would discard does not matter,
    # but it may fill the account's disk, and the lease could no longer be written
    unbounded = check_stream(TASKS, stream(max_bytes=-1, discard=DiscardPolicy.OLD))
    assert unbounded.details == ("max_bytes: unlimited -> 8G",)
    assert check_stream(TASKS, stream(max_bytes=10**9)).state == "in place"  # within 8G
    assert check_stream(TASKS, stream(max_bytes=2 * STREAM_BYTES)).details == (
        "max_bytes: 16G -> 8G",
    )


def test_a_stream_that_purges_hides_or_refuses_tasks_or_deletes_idle_consumers_differs() -> None:
    check = check_stream(
        TASKS,
        stream(allow_rollup_hdrs=True,
               subject_transform=SubjectTransform(src="agent_tasks.>", dest="moved.>"),
               sealed=True, consumer_limits=StreamConsumerLimits(inactive_threshold=60.0)),
    )  # fmt: skip
    assert check.details == (
        "allow_rollup_hdrs: yes -> no",
        "subject_transform: agent_tasks.> to moved.> -> none",
        "sealed: yes -> no",
        "consumer_limits.inactive_threshold: 60 s -> none",
    )
    limits = StreamConsumerLimits(max_ack_pending=100)  # no idle limit: nothing is deleted
    assert check_stream(TASKS, stream(consumer_limits=limits)).state == "in place"


def test_a_stream_that_expires_dedups_for_long_or_copies_another_stream_differs() -> None:
    """A task a producer gave a TTL expires unrun; one published again with an ID seen in the
    last day is dropped; a mirror takes no producer's task; sources add another's."""
    check = check_stream(
        TASKS,
        stream(allow_msg_ttl=True, duplicate_window=86400.0, mirror=StreamSource(name="UPSTREAM"),
               sources=[StreamSource(name="A"), StreamSource(name="B")],
               persist_mode=PersistMode.ASYNC),
    )  # fmt: skip
    assert check.details == (
        "allow_msg_ttl: yes -> no",
        "duplicate_window: 86400 s -> 120 s",
        "mirror: stream UPSTREAM -> none",
        "sources: stream A, stream B -> none",
        "persist_mode: async -> default",
    )
    # the server's default window, or a shorter one (fewer tasks dropped), is as good
    for window in (None, 120.0, 30.0):
        assert check_stream(TASKS, stream(duplicate_window=window)).state == "in place"


def test_a_consumer_paused_until_later_differs_and_one_whose_pause_ran_out_does_not() -> None:
    """Paused, it delivers nothing: its workers wait while the lag grows."""
    later = check_consumer(RESEARCH, as_created(pause_until="2026-11-28T13:00:00Z"), now=NOW)
    assert later.details == ("pause_until: 2026-11-28T13:00:00Z -> none",)
    nanos = as_created(pause_until="2026-11-28T12:00:00.000000001Z")  # the server's form
    assert check_consumer(RESEARCH, nanos, now=NOW).state == "in place"  # to the microsecond
    over = as_created(pause_until="2026-11-28T11:59:59.5Z")
    assert check_consumer(RESEARCH, over, now=NOW).state == "in place"
    unreadable = check_consumer(RESEARCH, as_created(pause_until="soon"), now=NOW)
    assert unreadable.details == ("pause_until: soon -> none",)


def test_every_field_the_server_reports_is_compared_or_named_harmless() -> None:
    """A field nats.py adds (a way to lose tasks, as allow_msg_ttl was) fails this until it
    is compared or said to lose none."""
    compared = {name.split(".")[0] for name in stream_fields(TASKS, STREAM)}
    assert compared.isdisjoint(STREAM_FIELDS_LEFT)
    assert compared | set(STREAM_FIELDS_LEFT) == {f.name for f in fields(StreamConfig)}
    compared = set(consumer_fields(RESEARCH, CREATED, now=NOW))
    compared |= {"filter_subjects"}  # compared with filter_subject, as one
    assert compared.isdisjoint(CONSUMER_FIELDS_LEFT)
    assert compared | set(CONSUMER_FIELDS_LEFT) == {f.name for f in fields(ConsumerConfig)}


async def test_ensure_queues_creates_once_and_leaves_what_differs_alone(nc: Client) -> None:
    cfg = config({"research": pool("acme"), "support": pool("acme")})
    js = nc.jetstream()
    first = await ensure_queues(nc, cfg)
    assert [c.state for c in first] == ["created"] * 3
    info = await js.consumer_info("AGENT_TASKS", "research")
    assert info.config.max_ack_pending == 10
    await js.delete_consumer("AGENT_TASKS", "support")
    await js.add_consumer("AGENT_TASKS", durable_name="support",
                          filter_subject="agent_tasks.support", ack_policy=AckPolicy.EXPLICIT,
                          max_deliver=2)  # fmt: skip

    again = await ensure_queues(nc, cfg)
    assert [(c.spec.label, c.state) for c in again] == [
        ("stream AGENT_TASKS", "in place"),
        ("consumer AGENT_TASKS/research (pool research)", "in place"),
        ("consumer AGENT_TASKS/support (pool support)", "differs"),
    ]
    assert "max_deliver: 2 -> unlimited" in again[2].details
    assert (await js.consumer_info("AGENT_TASKS", "support")).config.max_deliver == 2
    assert (await js.consumer_info("AGENT_TASKS", "research")).created == info.created


async def test_a_refusal_raises_naming_what_could_not_be_made(nc: Client) -> None:
    await nc.jetstream().add_stream(name="OTHER", subjects=["agent_tasks.>"])
    with pytest.raises(QueueError, match=r"^stream AGENT_TASKS: the server refused: .*overlap"):
        await ensure_queues(nc, config({"research": pool("acme")}))
    with pytest.raises(nats.js.errors.NotFoundError):  # nothing half made
        await nc.jetstream().stream_info("AGENT_TASKS")


def test_a_stream_of_thousands_of_subjects_is_told_in_a_line_that_names_what_to_add() -> None:
    """One pool added beside 2,999: the line names the one subject the stream lacks, not the
    3,000 it should hold (64 KB on one line, the new one at its end)."""
    subjects = tuple(f"big.p{n}" for n in range(3000))
    spec = StreamSpec("BIG", subjects)
    check = check_stream(spec, stream(subjects=list(subjects[:2999]), max_consumers=6000))
    first = ", ".join(subjects[:10])
    assert check.details == (f"subjects: {first}, ... (2,999 in all) -> those and big.p2999",)
    assert spec.describe().startswith(f"subjects {first}, ... (3,000 in all); retention")
    small = check_stream(TASKS, stream(subjects=["agent_tasks.research"]))
    assert small.details == (
        "subjects: agent_tasks.research -> agent_tasks.research, agent_tasks.support",
    )

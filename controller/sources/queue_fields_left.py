"""The fields of a JetStream stream's and consumer's configuration that
controller.sources.queue_plan does not compare, each with why no task is lost by it: a field
nats.py adds is named here or compared (tests/controller/sources/test_queue_plan.py)."""

from __future__ import annotations

STREAM_FIELDS_LEFT = {
    "name": "what the stream is found by",
    "description": "words for people",
    "max_msgs": "a limit: full, the stream refuses new tasks (discard, compared)",
    "max_msgs_per_subject": "a limit: full, the stream refuses new tasks (discard, compared)",
    "discard_new_per_subject": "refuses a new task, and tells its publisher",
    "max_msg_size": "refuses a larger task, and tells its publisher",
    "num_replicas": "copies of each task: more keep them safer",
    "no_ack": "the publisher is not told a task was stored; a stored task is kept",
    "template_owner": "the stream template that made it",
    "placement": "where the stream is kept",
    "deny_delete": "forbids deleting a task: keeps tasks",
    "deny_purge": "forbids purging: keeps tasks",
    "first_seq": "the sequence the stream starts at",
    "republish": "publishes a copy of each task elsewhere; the task stays",
    "allow_direct": "reads tasks without a consumer; removes none",
    "mirror_direct": "reads a mirror's tasks without a consumer; removes none",
    "compression": "how each task is stored",
    "allow_msg_schedules": "a schedule publishes a producer's task when due; then it goes",
    "allow_atomic": "a producer's tasks stored all or none, and the producer is told",
    "allow_batched": "a producer's tasks stored in batches, and the producer is told",
    "allow_msg_counter": "counters need limits retention (compared)",
    "metadata": "words for people and tools",
    "subject_delete_marker_ttl": "marks a task removed by max_age (compared)",
}
"""Each StreamConfig field stream_fields does not compare, and why no task is lost by it:
a field nats.py adds is named here or compared (tests/controller/sources/test_queue_plan.py)."""
CONSUMER_FIELDS_LEFT = {
    "name": "what the consumer is found by",
    "durable_name": "what the consumer is found by",
    "description": "words for people",
    "deliver_policy": "all, as nats-server requires on a work-queue stream",
    "opt_start_seq": "a start other than all is refused on a work-queue stream",
    "opt_start_time": "a start other than all is refused on a work-queue stream",
    "replay_policy": "how fast stored tasks are delivered; each still is",
    "rate_limit_bps": "a push consumer's (deliver_subject, compared)",
    "sample_freq": "how often acks are sampled for metrics",
    "max_waiting": "fetches waiting at once; a worker past it is refused, and fetches again",
    "flow_control": "a push consumer's (deliver_subject, compared)",
    "idle_heartbeat": "a push consumer's (deliver_subject, compared)",
    "deliver_group": "a push consumer's (deliver_subject, compared)",
    "num_replicas": "copies of the consumer's state: more keep it safer",
    "mem_storage": "its state lost at a restart redelivers tasks; it drops none",
    "metadata": "words for people and tools",
}
"""Each ConsumerConfig field consumer_fields does not compare, and why no task is lost by it."""

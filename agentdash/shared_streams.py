"""A stream that holds the tasks of several tenants' pools: one warning line for each.

JetStream drops a task whose `Nats-Msg-Id` the stream stored within its duplicate window,
whatever its subject, and a full stream refuses every subject's tasks: whoever publishes for
one tenant can have another's tasks dropped or refused. agentdash goes on: an install whose
producers all trust each other may want one stream (docs/security.md)."""

from __future__ import annotations

import sys
from collections import defaultdict
from typing import TextIO

from controller.core.config import Config
from controller.core.printable import printable
from controller.core.wording import in_words


def shared_stream_warnings(config: Config) -> list[str]:
    """A warning line for each stream that holds the pools of more than one tenant."""
    tenants_of: dict[str, list[str]] = defaultdict(list)
    for pool in config.pools.values():
        if pool.tenant not in tenants_of[pool.queue.stream]:
            tenants_of[pool.queue.stream].append(pool.tenant)
    return [
        printable(
            f"agentdash: warning: stream {stream} holds the tasks of tenants {in_words(tenants)}: "
            "a producer for one can drop another's tasks by reusing their Nats-Msg-Id, or fill "
            "the stream; give each tenant a stream of its own (queue.stream)"
        )
        for stream, tenants in tenants_of.items()
        if len(tenants) > 1
    ]


def warn_shared_streams(config: Config, out: TextIO | None = None) -> None:
    for line in shared_stream_warnings(config):
        print(line, file=out or sys.stderr)

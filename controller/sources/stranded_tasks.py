"""Tasks a work-queue stream holds on subjects no consumer reads (`agentdash queues`).

Such a task is not lost, and it is never run either: the stream keeps it until a consumer
acks it, and none will. It is what a pool renamed, or given another subject, leaves behind
in the stream: the old consumer deleted, its tasks stay. The report names them, so that an
operator can publish them again on a pool's subject or purge them, knowingly.
"""

from __future__ import annotations

from collections.abc import Sequence

from nats.js.client import JetStreamContext

from controller.core.wording import plural
from controller.sources.queue_plan import covers
from controller.sources.stream_consumers import stream_consumers

SUBJECTS_NAMED = 3
"""Subjects named in the line; the rest are counted."""


async def stranded(js: JetStreamContext, stream: str, pool_subjects: Sequence[str]) -> str | None:
    """The line for the tasks `stream` holds that no consumer of it reads, or None. Asked
    only of a stream that holds tasks; its consumers are listed only when tasks lie outside
    the pools' subjects (a consumer made by hand may read them)."""
    held = (await js.stream_info(stream, subjects_filter=">")).state.subjects or {}
    unread = {s: n for s, n in held.items() if not any(covers(p, s) for p in pool_subjects)}
    if not unread:
        return None
    filters = await _filters(js, stream)
    if filters is None:
        return None
    unread = {s: n for s, n in unread.items() if not any(covers(f, s) for f in filters)}
    if not unread:
        return None
    named = sorted(unread, key=lambda s: (-unread[s], s))[:SUBJECTS_NAMED]
    where = ", ".join(f"{s} ({unread[s]:,})" for s in named)
    if len(unread) > len(named):
        where += f" and {plural(len(unread) - len(named), 'more subject')}"
    return (
        f"{plural(sum(unread.values()), 'task')} on subjects no consumer reads, kept and never "
        f"run: {where}; publish them again on a pool's subject, or purge them "
        f"(nats stream purge {stream} --subject SUBJECT)"
    )


async def _filters(js: JetStreamContext, stream: str) -> list[str] | None:
    """The subjects the stream's consumers read; None if one reads every subject."""
    consumers = await stream_consumers(js, stream)
    if any(not c.filters for c in consumers):
        return None
    return [f for c in consumers for f in c.filters]

"""The consumers of a stream and the subjects each reads, listed a page at a time: what
`agentdash queues` names when a consumer is in a pool's way, and what tells a task no
consumer reads (controller.sources.stranded_tasks)."""

from __future__ import annotations

from dataclasses import dataclass

from nats.js.client import JetStreamContext

PAGE = 256
"""The consumers JetStream lists in one answer (its API's page)."""
PAGES = 100
"""At most this many pages are read: 25,600 consumers, more than any fleet here holds."""


@dataclass(frozen=True, slots=True)
class StreamConsumer:
    name: str
    filters: tuple[str, ...]
    """The subjects it reads; none: every subject of its stream."""


async def stream_consumers(js: JetStreamContext, stream: str) -> list[StreamConsumer]:
    found: list[StreamConsumer] = []
    for _ in range(PAGES):
        page = await js.consumers_info(stream, offset=len(found))
        for info in page:
            config = info.config
            filters = config.filter_subjects or [config.filter_subject or ""]
            found.append(StreamConsumer(info.name, tuple(f for f in filters if f)))
        if len(page) < PAGE:
            break
    return found

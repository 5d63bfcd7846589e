"""The demo on a NATS server it did not start (--nats-url): refused where that server holds
anything the demo would mix with.

The demo publishes made-up tasks on its pools' subjects, takes whatever reaches them, and
reports made-up tokens and busy pods on agentdash's subjects. On a server where an agentdash
fleet runs, its workers would take that fleet's tasks and its reports would spend that fleet's
tenants' budgets. So it starts only on a server where no agentdash keeps its state (no bucket
of a daemon's or a dashboard's) and where the streams it would use hold no message yet.
"""

from __future__ import annotations

import nats.js.errors
from nats.aio.client import Client

from agentdash.errors import StartError
from controller.coordination import handover, lease, overrides_bucket, spend_handover
from controller.core.config import Config
from controller.core.printable import redacted

BUCKETS = (lease.BUCKET, overrides_bucket.BUCKET, handover.BUCKET, spend_handover.BUCKET)
"""The KV buckets a running agentdash keeps (each a stream named KV_<bucket>)."""


async def refuse_a_shared_server(nc: Client, config: Config, url: str) -> None:
    """Raise StartError, one line, if agentdash keeps its state on this server or a stream the
    demo would use holds messages."""
    js = nc.jetstream(timeout=5.0)
    where = f"NATS at {redacted(url)}"
    for bucket in BUCKETS:
        if await _messages(js, f"KV_{bucket}") is not None:
            raise StartError(
                f"{where}: agentdash already keeps its state here (the {bucket} bucket): the "
                "demo's made-up tasks and token reports would mix with that fleet's; give the "
                "demo a server of its own"
            )
    for stream in sorted({pool.queue.stream for pool in config.pools.values()}):
        held = await _messages(js, stream)
        if held:
            raise StartError(
                f"{where}: stream {stream} holds {held:,} messages, which the demo's workers "
                "would take as their own; give the demo an empty stream or a server of its own"
            )


async def _messages(js: nats.js.JetStreamContext, stream: str) -> int | None:
    """The messages in `stream` (None: there is no such stream)."""
    try:
        info = await js.stream_info(stream)
    except nats.js.errors.NotFoundError:
        return None
    return info.state.messages

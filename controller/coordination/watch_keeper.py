"""A KV watcher whose consumer the server lost while this process stayed connected is made
again within seconds (controller.coordination.shared follows the overrides bucket with one).

nats.py's KV watch is an ordered push consumer, held only in the server's memory. A process
that reconnects watches anew (`SharedOverrides.reconnected`), but the consumer can go with
no reconnection here: deleted (`nats consumer rm`, a script cleaning up), or by the server's
own hand. (A restart of the server holding a clustered bucket's stream does not lose it: the
cluster keeps the consumer's assignment, tried on three nodes.) nats.py then makes it again
only once two idle heartbeats (5 s apart, looked for every 10 s) have gone missing: an
operator's pin reached the daemon 17-19 s late, 10 s later again for each try that fails.
So the consumer itself is asked after, every `CHECK_EVERY_S`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import nats.errors
import nats.js.errors

log = logging.getLogger("agentdash.shared")

CHECK_EVERY_S = 2.0
"""How often a watcher's consumer is asked after: one small JetStream request a process."""


async def consumer_gone(watcher: Any) -> bool:
    """Whether the server says the watcher's consumer does not exist. NATS away or slow is
    no answer (False): the reconnection watches anew then."""
    try:
        await watcher._sub.consumer_info()
    except nats.js.errors.NotFoundError:
        return True
    except (nats.errors.Error, TimeoutError):
        return False
    return False


async def keep_watching(
    *, lost: Callable[[], Awaitable[bool]], renew: Callable[[], Awaitable[None]], what: str
) -> None:
    """For ever: every `CHECK_EVERY_S`, `renew` the watcher if it is `lost`; a renewal that
    fails is tried again at the next check, and said once."""
    said = False
    while True:
        await asyncio.sleep(CHECK_EVERY_S)
        if not await lost():
            said = False
            continue
        if not said:
            log.warning("%s: the watcher's consumer is gone; watching anew", what)
            said = True
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await renew()

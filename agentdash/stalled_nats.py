"""A NATS that stalls (its connections open, nothing answered: a server stopped or starved of
CPU, a network that holds packets back) comes back with no reconnection to say so. The loop,
backing off while the queues cannot be read, found it back only at its next tick, up to 8 s
later, the pools held and /healthz 503 meanwhile. So while the queues fail, NATS is asked
every second (JetStream's account info, a request every agentdash user may make); the first
answer after one that did not come ticks the loop at once, as a reconnection does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import nats.errors
from nats.aio.client import Client

ASK_EVERY_S = 1.0
QUESTION = "$JS.API.INFO"


async def tick_when_nats_answers_again(
    nc: Client,
    *,
    failing: Callable[[], bool],
    back: Callable[[], None],
    every: float = ASK_EVERY_S,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
) -> None:
    """Until cancelled: while `failing()` (the queues cannot be read) and the connection is
    up, ask NATS every `every` seconds; call `back` when it answers after a question it left
    unanswered. (Not a PING: nats.py's read loop ends on a PONG that comes after its flush
    gave up.)"""
    unanswered = False
    while True:
        await sleep(every)
        if not failing() or not nc.is_connected:
            unanswered = False  # a refused connection's return is told by the reconnection
            continue
        try:
            await nc.request(QUESTION, b"", timeout=every)
        except nats.errors.NoRespondersError:
            pass  # an answer all the same: NATS itself said no JetStream answers
        except TimeoutError:
            unanswered = True
            continue
        except nats.errors.Error:
            continue  # the connection broke meanwhile
        if unanswered:
            unanswered = False
            back()

"""The demo's embedded nats-server, started again if it dies (`kill -9`, the OOM killer): on its
port, which the clients reconnect to, over its store, which holds every queued task. Nothing
queued is lost to a dead server."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from agentdash.nats_server import NatsServer, NatsServerError

SERVER_CHECK_S = 0.5
"""How often the demo looks whether its embedded nats-server is still running."""


async def keep_running(server: NatsServer, tell: Callable[[str], None]) -> None:
    """Start `server` again whenever it has ended, and `tell` what happened: once a reason
    when it cannot start (a port taken meanwhile stays taken), and once when it runs again.
    Run on the loop's thread (the main one), where the first start was: the kernel ties the
    server's end to the thread that started it (`die_with_parent`)."""
    died: tuple[int | None, str] | None = None
    """The pid of the server that died and how, until one runs again."""
    failed = ""
    while True:
        await asyncio.sleep(SERVER_CHECK_S)  # a child's exit, looked at with poll()
        if died is None:
            ended = server.ended
            if ended is None:
                continue
            died = (server.pid, ended)
        pid, how = died
        try:
            server.restart()
        except NatsServerError as exc:
            if str(exc) != failed:
                failed = str(exc)
                tell(f"nats-server (pid {pid}) {how}; not started again: {exc}")
            continue
        tell(
            f"nats-server (pid {pid}) {how}: started again on {server.url} with its "
            f"store (pid {server.pid}); queued tasks are kept"
        )
        died, failed = None, ""

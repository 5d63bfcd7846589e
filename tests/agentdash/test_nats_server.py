"""The embedded nats-server's stop, as a dashboard's exit uses it from two threads at once:
the app stopping its fleet, and the exit watchdog ending a process that took too long."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

import pytest

from agentdash.nats_server import NatsServer
from tests.support.processes import alive


def eventually_sync(check: Callable[[], bool], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.001)  # polling another thread, with a deadline


@pytest.mark.e2e
@pytest.mark.parametrize("attempt", range(5))
def test_a_second_stop_returns_only_once_the_server_is_gone(attempt: int) -> None:
    """Repeated: the window (nats-server's own exit, after SIGTERM) is milliseconds wide."""
    server = NatsServer().start()
    pid = server.pid
    assert pid is not None
    first = threading.Thread(target=server.stop)  # the app's, waiting for SIGTERM to end it
    first.start()
    try:
        eventually_sync(lambda: not server.running)  # the first stop has it
        server.stop()  # the watchdog's, at the same moment: then it ends the process
        assert not alive(pid)
    finally:
        first.join()
        server.close()

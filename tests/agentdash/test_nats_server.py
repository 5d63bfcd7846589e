"""The embedded nats-server's stop, as a dashboard's exit uses it from two threads at once:
the app stopping its fleet, and the exit watchdog ending a process that took too long."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from agentdash.nats_server import NatsServer, NatsServerError
from tests.support.processes import alive, descendants


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


@pytest.mark.e2e
def test_a_server_that_cannot_start_says_why_in_its_own_words(tmp_path: Path) -> None:
    """Its fatal line, without the pid and time it was logged at: the same reason twice reads
    the same (the demo says it once while it tries again), not the log's last 300 characters."""
    with NatsServer() as first:
        second = NatsServer(tmp_path / "second", port=first.port)
        reasons = []
        for _ in range(2):
            with pytest.raises(NatsServerError) as raised:
                second.start()
            reasons.append(str(raised.value))
        second.close()
    where = f"127.0.0.1:{first.port}"
    said = f'Error listening on port: {where}, "listen tcp {where}: bind: address already in use"'
    assert reasons == [f"nats-server exited at start: {said}"] * 2


@pytest.mark.e2e
def test_a_start_that_fails_after_the_server_began_leaves_no_server(tmp_path: Path) -> None:
    """Its URL file cannot be written (a symlink there, which the token is never written
    through): start() fails, and the nats-server it had begun is stopped, not left running
    for a caller that was told it failed."""
    store = tmp_path / "store"
    store.mkdir()
    (store / "url").symlink_to(tmp_path / "elsewhere")
    before = set(descendants(os.getpid(), "nats-server"))
    with pytest.raises(OSError, match="Too many levels of symbolic links"):
        NatsServer(store).start()
    left = [pid for pid in descendants(os.getpid(), "nats-server") if pid not in before]
    assert [pid for pid in left if alive(pid)] == []
    assert not (tmp_path / "elsewhere").exists()

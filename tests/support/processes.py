"""Processes a test started, seen from outside: alive, gone, their NATS store."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from agentdash.nats_server import NatsServer


def ctrl_c_as_at_a_terminal() -> None:
    """A subprocess's preexec_fn: SIGINT at its default, as a shell gives a command it runs in
    the foreground. A test run started in the background by a shell script inherits SIGINT
    ignored, and so would the command, which then never hears a Ctrl-C."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def alive(pid: int) -> bool:
    """Whether a process runs (a zombie, dead but not yet reaped by its new parent, does not)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def store_of(pid: int) -> Path:
    """The store directory of a running nats-server (its -sd is <store>/jetstream)."""
    command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    return Path(command[command.index(b"-sd") + 1].decode()).parent


def gone_within(pid: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while alive(pid):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)  # polling another process's state, with a deadline
    return True


def descendants(pid: int, name: str) -> list[int]:
    """The pids of the processes called `name` under `pid` (children, theirs, and so on)."""
    found = []
    children = subprocess.run(["pgrep", "-P", str(pid)], capture_output=True, text=True)
    for child in map(int, children.stdout.split()):
        command = subprocess.run(["ps", "-o", "comm=", "-p", str(child)],
                                 capture_output=True, text=True).stdout.strip()  # fmt: skip
        found += [child] if command == name else descendants(child, name)
    return found


def embedded_servers() -> set[int]:
    """PIDs of nats-servers that an embedded demo started (their store is agentdash-nats-*)."""
    found = subprocess.run(["pgrep", "-f", "agentdash-nats-"], capture_output=True, text=True)
    return {int(pid) for pid in found.stdout.split()}


def kill_hard(server: NatsServer) -> None:
    """kill -9 a test's nats-server, as a crash would (its store stays); `server.start()`
    brings it back on the same port."""
    pid = server.pid
    assert pid is not None, "the server does not run"
    os.kill(pid, signal.SIGKILL)
    assert gone_within(pid, 10), f"nats-server {pid} survived SIGKILL"
    server.stop()  # reaps it


@contextmanager
def stalled(server: NatsServer) -> Iterator[None]:
    """A test's nats-server stopped (SIGSTOP) for the block, then let go on (SIGCONT): its
    connections stay open and nothing answers, as a server stalled by its host or a network
    that drops packets. Let go on whatever happens in the block."""
    pid = server.pid
    assert pid is not None, "the server does not run"
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def signalled_while_connecting(command: list[str], sig: int) -> subprocess.CompletedProcess[str]:
    """`command` run with `--nats-url` at a server that takes the connection and never
    answers, and sent `sig` once it connects (its signal handlers are set by then): how it
    ended, with what it wrote. Nothing is left running, whatever happens."""
    with socket.create_server(("127.0.0.1", 0)) as silent:
        silent.settimeout(30)
        url = f"nats://127.0.0.1:{silent.getsockname()[1]}"
        process = subprocess.Popen(
            [*command, "--nats-url", url],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        try:
            connection, _ = silent.accept()
            with connection:
                process.send_signal(sig)
                out, err = process.communicate(timeout=30)
        finally:
            if process.poll() is None:  # a test that failed midway
                process.kill()
                process.wait()
    return subprocess.CompletedProcess(command, process.returncode, out, err)

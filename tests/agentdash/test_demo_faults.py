"""The demo under faults, with real processes: NATS down or stalled mid-run, a closed SSH
session (SIGHUP), `kill -9` of the demo. It counts every task truly and leaves no server."""

from __future__ import annotations

import json
import os
import queue
import re
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from agentdash.nats_server import NatsServer
from tests.support.cli import AGENTDASH
from tests.support.processes import alive, gone_within, store_of

pytestmark = pytest.mark.e2e

OUTAGE_S = 4.0


class Demo:
    """`agentdash demo --headless` as a subprocess, its output read line by line as it comes."""

    def __init__(self, *args: str | Path) -> None:
        self.process = subprocess.Popen(
            [AGENTDASH, "demo", "--headless", *map(str, args)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def __enter__(self) -> Demo:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.process.poll() is None:  # a test that failed midway: leave nothing running
            self.process.kill()
            self.process.wait()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self._queue.put(line)

    def wait_for(self, text: str, timeout: float = 30.0) -> str:
        """The first line (from now on) that contains `text`, within `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._queue.get(timeout=left)
            except queue.Empty:
                break
            self.lines.append(line)
            if text in line:
                return line
        raise AssertionError(f"no {text!r} within {timeout:g} s:\n{''.join(self.lines)}")

    def server_pid(self) -> int:
        """The embedded nats-server's pid, from the demo's first line."""
        found = re.search(r"\(pid (\d+)\)", self.wait_for("agentdash demo:"))
        assert found, self.lines
        return int(found.group(1))

    def finish(self, timeout: float) -> tuple[int, str, str]:
        """Exit code, the rest of stdout, and stderr, once the demo exits."""
        self.process.wait(timeout=timeout)
        self._reader.join(timeout=timeout)
        assert self.process.stderr is not None
        err = self.process.stderr.read()
        while not self._queue.empty():
            self.lines.append(self._queue.get())
        return self.process.returncode, "".join(self.lines), err


def summary_of(events: Path) -> dict[str, object]:
    summary: dict[str, object] = json.loads(events.read_text().splitlines()[-1])
    assert summary["type"] == "summary"
    return summary


def assert_every_task_counted(summary: dict[str, object]) -> None:
    assert summary["lost"] == 0
    assert summary["queue_read"] is True
    assert summary["published"] == (
        summary["completed"] + summary["unconfirmed"] + summary["remaining"]  # type: ignore[operator]
    )


FAST = ("--speed", "4", "--cold-start", "0.2", "--seed", "3")


@pytest.mark.parametrize("fault", ["restart", "stall"])
def test_drain_finishes_after_a_nats_outage_and_loses_nothing(
    tmp_path: Path, nats_server: NatsServer, fault: str
) -> None:
    """NATS restarted (down for OUTAGE_S) or stalled (SIGSTOP for OUTAGE_S) mid-run: acks
    whose confirmation timed out are sent again, and --drain still ends with empty queues."""
    events = tmp_path / "events.jsonl"
    where = ("--nats-url", nats_server.url) if fault == "restart" else ()
    with Demo("--duration", "40", "--drain", "--events", events, *FAST, *where) as demo:
        pid = nats_server.pid if fault == "restart" else demo.server_pid()
        assert pid is not None
        for _ in range(3):  # three scale events: the burst is on, workers hold tasks
            demo.wait_for("->")
        if fault == "restart":
            nats_server.stop()
            demo.wait_for("NATS disconnected")
            time.sleep(OUTAGE_S)  # the outage itself: how long NATS stays down
            nats_server.start()
            demo.wait_for("NATS reconnected")
        else:
            os.kill(pid, signal.SIGSTOP)
            time.sleep(OUTAGE_S)  # the stall itself: how long NATS answers nothing
            os.kill(pid, signal.SIGCONT)
        # Said as the failure was, on stdout with the time: not a failure left standing.
        demo.wait_for("queue source recovered")
        code, out, err = demo.finish(timeout=180)
    assert code == 0, out + err
    assert "Traceback" not in err
    assert re.search(r"^\d\d:\d\d:\d\d  queue source failing: ", out, re.MULTILINE), out
    summary = summary_of(events)
    assert_every_task_counted(summary)
    assert summary["remaining"] == 0  # drained
    assert summary["published"] > 50  # type: ignore[operator]
    assert "lost 0" in out


def test_its_own_server_killed_is_started_again_and_drain_loses_nothing(tmp_path: Path) -> None:
    """`kill -9` of the embedded nats-server (the OOM killer, an operator's mistake): the demo
    says so, starts it again on its port over its store, where the queued tasks are, and
    --drain ends with every task done. Before, it said "reconnecting" for ever, and removed
    the store with the tasks in it at exit."""
    events = tmp_path / "events.jsonl"
    with Demo("--duration", "40", "--drain", "--events", events, *FAST) as demo:
        pid = demo.server_pid()
        for _ in range(3):  # three scale events: the burst is on, tasks are queued
            demo.wait_for("->")
        os.kill(pid, signal.SIGKILL)
        said = demo.wait_for(f"nats-server (pid {pid}) was killed by SIGKILL")
        demo.wait_for("NATS reconnected")
        code, out, err = demo.finish(timeout=180)
    found = re.search(r": started again on nats://\S+ with its store \(pid (\d+)\); queued", said)
    assert found, said
    assert code == 0, out + err
    assert "Traceback" not in err
    summary = summary_of(events)
    assert_every_task_counted(summary)
    assert summary["remaining"] == 0  # drained: the queued tasks came back with the store
    assert not alive(int(found.group(1)))  # the server started again stops with the demo


def test_sighup_stops_the_demo_like_sigterm_and_its_server_with_it(tmp_path: Path) -> None:
    """Closing the SSH session: the same orderly stop and summary, and no nats-server left."""
    events = tmp_path / "events.jsonl"
    with Demo("--duration", "600", "--events", events, *FAST) as demo:
        pid = demo.server_pid()
        store = store_of(pid)
        for _ in range(3):  # tasks are flowing
            demo.wait_for("->")
        demo.process.send_signal(signal.SIGHUP)
        code, out, err = demo.finish(timeout=30)
    assert code == 0, out + err
    assert "lost 0" in out
    summary = summary_of(events)
    assert summary["published"] > 0  # type: ignore[operator]
    assert_every_task_counted(summary)
    assert not alive(pid)
    assert not store.exists()  # an orderly stop: the server's temporary store is removed


def test_kill_9_of_the_demo_takes_its_server_down_too() -> None:
    """Nothing can clean up after kill -9 but the kernel: the server dies with the demo, and
    the next embedded server removes the store that was left behind."""
    with Demo("--duration", "600", "--cold-start", "0.2") as demo:
        pid = demo.server_pid()
        store = store_of(pid)
        demo.wait_for("->")
        demo.process.kill()
        demo.process.wait(timeout=10)
        assert gone_within(pid, timeout=10), f"nats-server {pid} outlived kill -9 of the demo"
    assert store.exists()
    NatsServer().close()
    assert not store.exists()


def test_stopping_while_nats_is_stalled_ends_in_order_and_loses_nothing(tmp_path: Path) -> None:
    """SIGTERM while the server answers nothing: the demo still stops, within a deadline,
    says it could not check the queue, and counts no task as lost."""
    events = tmp_path / "events.jsonl"
    with Demo("--duration", "600", "--events", events, *FAST) as demo:
        pid = demo.server_pid()
        for _ in range(3):  # tasks are flowing
            demo.wait_for("->")
        os.kill(pid, signal.SIGSTOP)
        demo.process.send_signal(signal.SIGTERM)
        code, out, err = demo.finish(timeout=60)
    assert code == 0, out + err
    assert "(not checked: NATS unreachable)" in out
    summary = summary_of(events)
    assert summary["lost"] == 0
    assert summary["published"] == (
        summary["completed"] + summary["unconfirmed"] + summary["remaining"]  # type: ignore[operator]
    )
    assert not alive(pid)


def test_stopping_while_nats_is_down_ends_in_order_and_loses_nothing(
    tmp_path: Path, nats_server: NatsServer
) -> None:
    """SIGTERM while the demo's NATS server is gone (not stalled: its port refuses): closing
    the client meets a connection that was reset under what it buffered, which is no reason
    for a traceback. The stop is in order, exit 0, and no task is counted lost."""
    events = tmp_path / "events.jsonl"
    where = ("--nats-url", nats_server.url)
    with Demo("--duration", "600", "--events", events, *where, *FAST) as demo:
        for _ in range(3):  # tasks are flowing
            demo.wait_for("->")
        nats_server.stop()
        demo.wait_for("NATS disconnected")
        demo.process.send_signal(signal.SIGTERM)
        code, out, err = demo.finish(timeout=60)
    assert (code, err) == (0, ""), out + err
    assert "(not checked: NATS unreachable)" in out
    summary = summary_of(events)
    assert summary["lost"] == 0
    assert summary["published"] == (
        summary["completed"] + summary["unconfirmed"] + summary["remaining"]  # type: ignore[operator]
    )

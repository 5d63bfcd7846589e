"""The daemon's JSON lines, written by a thread: in order, never waiting for the reader, the
lines it has no room for dropped, counted and told where they would have been."""

from __future__ import annotations

import contextlib
import json
import os
import select
import threading
import time
from collections.abc import Callable
from typing import Any

import pytest

from agentdash import standard_output
from agentdash.line_writer import LineWriter, write_line, writing

WAIT_S = 10.0
"""Far longer than the writer's thread takes to reach a write."""
TS = 1_700_000_000.0


class Reader:
    """The other end of stdout, `at_most` bytes a write. Stalled, each write waits (as on a
    full pipe) until it is let through, one at a time, or until the reader resumes."""

    def __init__(self, at_most: int = 1 << 20) -> None:
        self.at_most = at_most
        self.read = bytearray()
        self.writes = 0
        self._flowing = threading.Event()
        self._flowing.set()
        self._let = threading.Semaphore(0)

    def stall(self) -> None:
        self._flowing.clear()

    def let_one(self) -> None:
        self._let.release()

    def resume(self) -> None:
        self._flowing.set()
        self._let.release()  # the write waiting now, if any

    def write(self, data: memoryview) -> int:
        self.writes += 1
        if not self._flowing.is_set():
            self._let.acquire()
        taken = bytes(data[: self.at_most])
        self.read += taken
        return len(taken)

    def lines(self) -> list[str]:
        return self.read.decode().splitlines()


def until(check: Callable[[], bool]) -> None:
    deadline = time.monotonic() + WAIT_S
    while not check():
        assert time.monotonic() < deadline, "never came"
        time.sleep(0.001)  # another thread's to do: polled, with a deadline


def notice(dropped: str) -> str:
    return json.dumps(
        {
            "type": "log",
            "ts": TS,
            "level": "warning",
            "logger": "agentdash.stdout",
            "message": f"stdout blocked: {dropped} dropped",
        }
    )


def writer_of(reader: Reader, capacity: int = 1 << 20, **kwargs: Any) -> LineWriter:
    return LineWriter(reader.write, capacity=capacity, clock=lambda: TS, **kwargs)


def test_every_line_is_written_in_order_by_the_close() -> None:
    reader = Reader(at_most=7)  # a pipe takes what it has room for: the rest is written after
    writer = writer_of(reader)
    for i in range(1000):
        writer.put(f"line {i}")
    assert writer.close()
    assert reader.lines() == [f"line {i}" for i in range(1000)]
    assert writer.dropped_total == 0


def test_a_put_never_waits_for_the_reader_and_what_has_no_room_is_counted() -> None:
    reader = Reader()
    reader.stall()  # the shipper stops reading
    writer = writer_of(reader, capacity=90)
    writer.put("first")  # taken by the thread, which waits in its write
    until(lambda: reader.writes == 1)
    for i in range(9 + 1234):
        writer.put(f"line {i:03}")  # 9 bytes each: 9 fit beside the first's 6
    assert writer.dropped_total == 1234
    reader.resume()
    assert writer.close()
    assert reader.lines() == [
        "first", *(f"line {i:03}" for i in range(9)), notice("1,234 log lines")
    ]  # fmt: skip


def test_a_line_longer_than_the_buffer_is_written_not_told_as_blocked() -> None:
    """Its size says nothing of the reader: dropped, it came out as 'stdout blocked: 1 log
    line dropped' with nothing blocked, and only once another line came."""
    reader = Reader()
    writer = writer_of(reader, capacity=100)
    writer.put("x" * 200)
    until(lambda: len(reader.read) == 201)
    writer.put("after")
    assert writer.close()
    assert reader.lines() == ["x" * 200, "after"]
    assert writer.dropped_total == 0


def test_the_count_is_told_where_the_lines_were_dropped() -> None:
    """Before the lines put once there was room again: the reader knows what it missed
    between which two lines."""
    reader = Reader()
    reader.stall()
    writer = writer_of(reader, capacity=16)
    writer.put("a")  # in the write that waits
    until(lambda: reader.writes == 1)
    writer.put("b" * 9)  # the buffer holds 12 bytes of 16
    writer.put("lost")
    reader.let_one()  # "a" is written: room again, while "b..." waits in its write
    until(lambda: reader.writes == 2)
    writer.put("after")
    reader.resume()
    assert writer.close()
    assert reader.lines() == ["a", "b" * 9, notice("1 log line"), "after"]


def test_lines_dropped_at_the_end_are_told_once_the_reader_catches_up() -> None:
    reader = Reader()
    reader.stall()
    writer = writer_of(reader, capacity=10)
    writer.put("a")
    until(lambda: reader.writes == 1)
    writer.put("b" * 7)
    writer.put("lost")
    writer.put("lost too")
    reader.resume()  # nothing more to write: the count is told on its own
    until(lambda: notice("2 log lines") in reader.lines())
    writer.put("c")
    assert writer.close()
    assert reader.lines() == ["a", "b" * 7, notice("2 log lines"), "c"]


def test_a_close_waits_no_longer_than_its_deadline_for_a_reader_that_has_stopped() -> None:
    reader = Reader()
    reader.stall()
    writer = writer_of(reader)
    writer.put("stop")
    until(lambda: reader.writes == 1)
    assert writer.close(timeout=0.01) is False
    reader.resume()  # (the thread ends)


def test_a_failed_write_is_handed_on_and_what_follows_is_discarded() -> None:
    failures: list[BaseException] = []
    written: list[bytes] = []

    def gone(data: memoryview) -> int:
        written.append(bytes(data))
        raise BrokenPipeError(32, "Broken pipe")

    writer = LineWriter(gone, on_failure=failures.append)
    writer.put("start")
    until(lambda: bool(failures))
    writer.put("stop")
    assert writer.close() is False
    assert [type(f) for f in failures] == [BrokenPipeError]
    assert written == [b"start\n"]  # tried once, never again


def test_writing_sends_write_line_through_the_writer_and_raises_its_failure_at_the_end(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reader = Reader()
    with writing(writer_of(reader)):
        write_line("through the thread")
    write_line("printed")
    assert reader.lines() == ["through the thread"]
    assert capsys.readouterr().out == "printed\n"

    def full(_: memoryview) -> int:
        raise OSError(28, "No space left on device")

    with pytest.raises(OSError, match="No space left"), writing(LineWriter(full)):
        write_line("stop")


def test_after_a_reader_stopped_what_is_told_as_the_process_ends_waits_for_nothing(
    capsys: pytest.CaptureFixture[str],
) -> None:
    reader = Reader()
    reader.stall()
    with writing(writer_of(reader), timeout=0.01) as writer:
        write_line("stop")
        until(lambda: reader.writes == 1)
    write_line("a record from the loop's teardown")  # dropped: printed, it would wait
    assert capsys.readouterr().out == ""
    reader.resume()
    until(lambda: writer.done)
    write_line("printed")  # the writer is done: printed again
    assert capsys.readouterr().out == "printed\n"
    assert reader.lines() == ["stop"]


def test_a_stdout_left_non_blocking_is_waited_on_once_full(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Its parent's choice (some set O_NONBLOCK on the pipes they hand on): a full pipe says
    "not now" (None), and the writer, handed that, would spin on it at full speed until the
    reader read. The write waits for room, as on a blocking pipe."""
    read_end, write_end = os.pipe()
    os.set_blocking(write_end, False)
    waited = threading.Event()
    real_select = select.select

    def select_seen(*args: Any) -> Any:
        waited.set()
        return real_select(*args)

    monkeypatch.setattr(select, "select", select_seen)
    with os.fdopen(write_end, "w") as stdout:
        monkeypatch.setattr("sys.stdout", stdout)
        write = standard_output.unbuffered()
        with contextlib.suppress(BlockingIOError):
            while True:
                os.write(write_end, b"x" * 4096)  # until the pipe is full
        written: list[int | None] = []
        waiting = threading.Thread(target=lambda: written.append(write(b"line\n")))
        waiting.start()
        until(lambda: waited.is_set() or not waiting.is_alive())
        assert waited.is_set(), f"the write returned {written} on a full pipe"
        while waiting.is_alive():
            os.read(read_end, 1 << 16)  # room: the write goes through
            waiting.join(WAIT_S)
    os.close(read_end)
    assert written == [5]

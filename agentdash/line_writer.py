"""The daemon's JSON lines, written to stdout by a thread of their own.

Written from the loop, a line would wait for its reader: once a pipe whose reader stopped
reading (a log shipper stalled, `agentdash --controller-only | less` paused, a full container
log pipe) holds 64 KiB, the next write would hold the whole loop, and the leader would stop
renewing its lease, scaling and answering /healthz for as long as nobody read. So a line is
put in a buffer (BUFFER_BYTES) that the thread writes out; a line that finds it full is
dropped and counted (`agentdash_log_lines_dropped_total`), and once the thread has written
what came before it, one line says how many were dropped, where they would have been:
what the reader missed, in the order it happened.

A write that fails (the reader gone, a full disk) ends the writing: the failure is handed
to `on_failure`, and every later line is discarded, so the daemon stops in order, unsaid.
"""

from __future__ import annotations

import json
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector

BUFFER_BYTES = 1 << 20
"""What waits for a slow reader: a tick of a few thousand pools' scale lines (250 bytes
each), written out at the reader's pace; past that, lines are dropped, never the loop's time."""
CLOSE_S = 2.0
"""How long a stop waits for what is buffered to be written (its last line among it): all
of it, unless the reader has stopped; then the process ends without it."""
LOGGER = "agentdash.stdout"


class LineWriter:
    """Lines written in order by a thread, from a bounded buffer; those it has no room for
    dropped, counted, and told in a line of their own."""

    def __init__(
        self,
        write: Callable[[memoryview], int],
        capacity: int = BUFFER_BYTES,
        on_failure: Callable[[BaseException], None] = lambda _: None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._write = write
        self._capacity = capacity
        self._on_failure = on_failure
        self._clock = clock
        self._queue: deque[bytes | int] = deque()
        """Lines, and (an int) the count of those dropped at that place."""
        self._held = 0
        """Bytes queued or being written: what the buffer holds."""
        self._dropped = 0
        """Dropped since the last count was queued."""
        self.dropped_total = 0
        self.failure: BaseException | None = None
        self._closing = False
        self._changed = threading.Condition()
        self._thread = threading.Thread(target=self._run, name="stdout lines", daemon=True)
        self._thread.start()

    def put(self, line: str) -> None:
        """Queue `line` (a newline is added); never waits for the reader."""
        data = f"{line}\n".encode()
        with self._changed:
            if self.failure is not None or self._closing:
                return
            # A line alone larger than the buffer is let in once the buffer is empty: its
            # size is no sign of a slow reader, and a notice of lines dropped would say one.
            if self._held and self._held + len(data) > self._capacity:
                self._dropped += 1
                self.dropped_total += 1
                return
            if self._dropped:
                self._queue.append(self._dropped)
                self._dropped = 0
            self._queue.append(data)
            self._held += len(data)
            self._changed.notify()

    @property
    def done(self) -> bool:
        """Closed, and what it was given is written (or its writing failed)."""
        return self._closing and not self._thread.is_alive()

    def close(self, timeout: float = CLOSE_S) -> bool:
        """Write what is buffered, waiting `timeout` at most; whether all of it was written."""
        with self._changed:
            self._closing = True
            self._changed.notify()
        self._thread.join(timeout)
        return not self._thread.is_alive() and self.failure is None

    def _run(self) -> None:
        while (batch := self._next()) is not None:
            data = b"".join(self._notice(item) if isinstance(item, int) else item for item in batch)
            try:
                self._write_all(data)
            except Exception as exc:  # (a reader gone, a full disk: the caller's to tell)
                self._failed(exc)
                return
            with self._changed:
                self._held -= sum(len(item) for item in batch if isinstance(item, bytes))

    def _next(self) -> list[bytes | int] | None:
        """What is queued, once there is some; the count of lines dropped since, once the
        queue is empty; None once closing and all is written."""
        with self._changed:
            while not self._queue and not self._dropped and not self._closing:
                self._changed.wait()
            if self._queue:
                batch = list(self._queue)
                self._queue.clear()
                return batch
            if self._dropped:
                dropped, self._dropped = self._dropped, 0
                return [dropped]
            return None

    def _write_all(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[self._write(view) :]

    def _notice(self, dropped: int) -> bytes:
        return json.dumps(self.notice(dropped, self._clock())).encode() + b"\n"

    @staticmethod
    def notice(dropped: int, ts: float) -> dict[str, Any]:
        """The line that tells of `dropped` lines lost, as the daemon's log records are."""
        lines = "line" if dropped == 1 else "lines"
        return {
            "type": "log",
            "ts": round(ts, 3),
            "level": "warning",
            "logger": LOGGER,
            "message": f"stdout blocked: {dropped:,} log {lines} dropped",
        }

    def _failed(self, exc: BaseException) -> None:
        with self._changed:
            self.failure = exc
            self._queue.clear()
            self._dropped = 0
            self._held = 0
        self._on_failure(exc)


class DroppedLinesCollector(Collector):
    def __init__(self, writer: LineWriter) -> None:
        self._writer = writer

    def collect(self) -> Iterator[CounterMetricFamily]:
        family = CounterMetricFamily(
            "agentdash_log_lines_dropped",
            "JSON lines dropped because the reader of stdout did not keep up",
        )
        family.add_metric([], self._writer.dropped_total)
        yield family


_installed: LineWriter | None = None


def write_line(line: str) -> None:
    """`line` on stdout: through the daemon's writer while it runs, else printed at once."""
    writer = _installed
    if writer is not None and not writer.done:
        # (closed, and still writing: its reader has stopped. A line told as the process
        # ends is dropped, not printed: that would wait for the reader, and nothing would
        # end the wait.)
        writer.put(line)
    else:
        print(line, flush=True)


@contextmanager
def writing(writer: LineWriter, timeout: float = CLOSE_S) -> Iterator[LineWriter]:
    """`write_line` goes through `writer` in the block; at its end, what is buffered is
    written (for `timeout` at most), and `write_line` prints again once the writer is done."""
    global _installed
    _installed = writer
    try:
        yield writer
    finally:
        writer.close(timeout)
    if writer.failure is not None:  # the last lines failed (a full disk): said as any line's
        raise writer.failure

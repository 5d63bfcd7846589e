"""A dashboard always exits: it is gone within GRACE_S of `q`, SIGHUP or SIGTERM, whatever
happens to its terminal, and leaves no child process behind.

Textual writes to the terminal from a thread, through a queue of 30 writes. A terminal that
goes away while the app draws or tears down kills that thread (the write fails), and the app
then blocks for good at the next write once the queue is full, or waits at exit for its input
thread. asyncio's signal handlers run on that blocked loop, so they are never called. Hence
the signals are caught by Python's own handler, which runs even then, and a watchdog thread
ends the process if an exit that was asked has not finished in time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import threading
import time
from collections.abc import Awaitable, Callable
from types import FrameType

GRACE_S = 25.0
"""How long an exit may take once asked. An orderly one takes under a second (the demo's
fleet stopped, the screen restored); the longest is the demo's with NATS down or stalled:
the tick in flight ends (its reads and calls, CALL_DEADLINE_S each), then the workers' ack
retries (worker.ACK_RETRY_S) side by side with the read of what is still queued (at most
tally.QUEUE_READ_S, 8 s), then the client's close (fleet.CLOSE_WAIT_S): about 15 s at worst
on a quiet machine. A loaded one must not turn that into an exit 1 with no summary: past
this the exit is stuck."""
EXIT_STUCK = 1
"""The exit status when the watchdog ended the process: the orderly stop did not finish."""
EXIT_SIGNALS = (signal.SIGTERM, signal.SIGHUP)


def detach_terminal() -> None:
    """The terminal is gone: from now on the screen's writes go to /dev/null rather than
    fail. Standard input is left alone: its reader just sees no more keys."""
    null = os.open(os.devnull, os.O_WRONLY)
    try:
        for fd in (1, 2):
            os.dup2(null, fd)
    finally:
        os.close(null)


class StopOnce:
    """`stop` (what the app runs over), run once, whoever asks first (`q`, SIGTERM or a
    hangup); the others wait for it."""

    def __init__(self, stop: Callable[[], Awaitable[None]] | None) -> None:
        self.stop = stop
        self.running: asyncio.Future[None] | None = None

    async def __call__(self) -> None:
        if self.stop is None:
            return
        if self.running is None:
            self.running = asyncio.ensure_future(self.stop())
        await asyncio.shield(self.running)

    @property
    def finished(self) -> bool:
        return self.running is not None and self.running.done()


class ExitWatchdog:
    """Once `ask()`ed, the process has `grace_s` to exit; then `before_leaving` runs (it stops
    the children) and the process ends. Made only by a dashboard that runs for real: a test's
    app that quits must not end the test run."""

    def __init__(
        self, before_leaving: Callable[[], None] | None = None, grace_s: float = GRACE_S
    ) -> None:
        self.before_leaving = before_leaving
        self.grace_s = grace_s
        self.asked = threading.Event()
        # Started now, not when asked: asking may happen in a signal handler, which must not
        # start a thread (it may have interrupted one that holds threading's own locks).
        self._thread = threading.Thread(target=self._watch, name="exit-watchdog", daemon=True)
        self._thread.start()

    def ask(self) -> None:
        self.asked.set()

    def leave(self, code: int) -> None:
        """Stop the children and end the process now, skipping whatever else is left."""
        if self.before_leaving is not None:
            with contextlib.suppress(Exception):  # leaving is what matters now
                self.before_leaving()
        os._exit(code)

    def catch_signals(self, on_signal: Callable[[signal.Signals], object]) -> None:
        """SIGTERM and SIGHUP ask for the exit at once, whatever the main thread is doing
        (a hangup also detaches the terminal), then `on_signal` is called, as the loop can."""

        def caught(number: int, _: FrameType | None) -> None:
            self.ask()
            if number == signal.SIGHUP:
                detach_terminal()
            try:
                on_signal(signal.Signals(number))
            except RuntimeError:  # the app's loop is closed: the app has finished
                if number == signal.SIGHUP:
                    self.leave(0)  # what is left is for a terminal that is gone

        for sig in EXIT_SIGNALS:
            signal.signal(sig, caught)
        self._hear_signals_on_any_thread()

    def _hear_signals_on_any_thread(self) -> None:
        """Python runs a signal's handler on the main thread, once that thread runs again. A
        signal another thread takes while the main thread is blocked for good on the screen's
        writes is never acted on: Textual's input thread, spinning on a standard input at its
        end (`< /dev/null`, a hung-up terminal), took SIGTERM so, and the dashboard never
        exited. Whichever thread takes it, Python's own handler writes the signal's number to
        the wakeup fd: a thread of ours reads it and asks for the exit."""
        reader, writer = os.pipe()
        os.set_blocking(writer, False)
        try:
            signal.set_wakeup_fd(writer, warn_on_full_buffer=False)
        except ValueError:  # not the main thread: the handlers above could not be set either
            os.close(reader)
            os.close(writer)
            return
        threading.Thread(
            target=self._hear, args=(reader,), name="exit-signals", daemon=True
        ).start()

    def _hear(self, reader: int) -> None:
        exits = {int(sig) for sig in EXIT_SIGNALS}
        while data := os.read(reader, 64):
            if exits.intersection(data):
                self.ask()

    def _watch(self) -> None:
        self.asked.wait()
        time.sleep(self.grace_s)  # had the exit finished, this thread would be gone with it
        self.leave(EXIT_STUCK)

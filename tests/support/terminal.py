"""A process in a real pseudo-terminal of its own, as a shell in an SSH session runs it: the
terminal is its controlling terminal, so closing it (the SSH session drops) hangs it up."""

from __future__ import annotations

import fcntl
import os
import select
import struct
import subprocess
import termios
import time
from collections.abc import Sequence


def _take_terminal() -> None:
    """In the child: its own session, with the pty on its standard input as its terminal."""
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


class Terminal:
    """`command` in a 120x36 pty. Read what it drew with `wait_for`; `close()` the terminal."""

    def __init__(
        self,
        command: Sequence[str],
        env: dict[str, str] | None = None,
        stderr: int | None = None,
    ) -> None:
        """`stderr`: a file descriptor for its standard error instead of the terminal."""
        self.master, slave = os.openpty()
        fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", 36, 120, 0, 0))
        self.process = subprocess.Popen(
            command,
            stdin=slave,
            stdout=slave,
            stderr=slave if stderr is None else stderr,
            start_new_session=True,
            preexec_fn=_take_terminal,
            env={**os.environ, "TERM": "xterm-256color", **(env or {})},
        )
        os.close(slave)  # the child holds it: once the master closes, it is hung up
        self.output = b""
        self.closed = False

    def wait_for(self, text: str, timeout: float = 60) -> None:
        """Read what the process draws until `text` shows, within `timeout` seconds."""
        wanted = text.encode()
        deadline = time.monotonic() + timeout
        while wanted not in self.output:
            left = deadline - time.monotonic()
            assert left > 0, f"no {text!r} within {timeout:g} s:\n{self.output[-2000:]!r}"
            assert self._read(left), f"gone before {text!r}: {self.output[-2000:]!r}"

    def _read(self, timeout: float) -> bool:
        """What the process drew within `timeout`, as a terminal reads it; False once the
        process has closed its side (it has exited)."""
        ready, _, _ = select.select([self.master], [], [], timeout)
        if ready:
            try:
                self.output += os.read(self.master, 65536)
            except OSError:
                return False
        return True

    def type(self, keys: str) -> None:
        os.write(self.master, keys.encode())

    def close(self) -> None:
        """The terminal goes away (the SSH session dropped): its process is hung up."""
        if not self.closed:
            self.closed = True
            os.close(self.master)

    def exited_within(self, timeout: float) -> bool:
        """Whether the process exits within `timeout`; an open terminal keeps reading what it
        draws meanwhile (one that does not is a stalled SSH session, another test)."""
        deadline = time.monotonic() + timeout
        while not self.closed and self.process.poll() is None:
            left = deadline - time.monotonic()
            if left <= 0 or not self._read(min(left, 0.1)):
                break
        try:
            self.process.wait(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            return False
        return True

    def kill(self) -> None:
        """What a test that failed midway leaves: nothing running, the terminal closed."""
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        self.close()

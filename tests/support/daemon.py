"""`agentdash --controller-only` as a child process: its JSON lines, health and metrics."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import threading
import time
from pathlib import Path
from typing import Any

import aiohttp

from tests.support import free_port
from tests.support.cli import AGENTDASH


def scaled(daemon: Daemon, pool: str | None = None) -> list[dict[str, Any]]:
    """The scale events a daemon logged so far (for one pool, or all)."""
    return [e for e in daemon.read() if e["type"] == "scale" and pool in (None, e["pool"])]


class Daemon:
    def __init__(self, config: Path, *extra: str) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [AGENTDASH, "--controller-only", "--config", str(config), "--cluster", "simulated",
             "--http", f"127.0.0.1:{self.port}", "--lease-ttl", "2", *extra],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()

    def _collect(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(json.loads(line))

    def read(self) -> list[dict[str, Any]]:
        """The JSON lines written so far."""
        return list(self.lines)

    async def health(self) -> dict[str, Any] | None:
        try:
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://127.0.0.1:{self.port}/healthz") as response,
            ):
                return {"status": response.status, **await response.json()}
        except aiohttp.ClientError:
            return None

    async def metrics(self) -> str:
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{self.port}/metrics") as response,
        ):
            return await response.text()

    async def wait_health(self, check: Any, timeout: float = 20) -> dict[str, Any]:
        found: dict[str, Any] = {}

        async def probe() -> bool:
            nonlocal found
            found = await self.health() or {}
            return bool(found) and check(found)

        deadline = time.monotonic() + timeout
        while not await probe():
            assert self.process.poll() is None, self.process.stderr.read()  # type: ignore[union-attr]
            assert time.monotonic() < deadline, f"health never matched: {found}"
            await asyncio.sleep(0.1)
        return found

    def stop(self, sig: int = signal.SIGTERM) -> int:
        self.process.send_signal(sig)
        code = self.process.wait(timeout=15)
        self._reader.join(timeout=5)  # every line it wrote, read
        return code


class UnreadDaemon(Daemon):
    """A daemon whose stdout is a pipe nobody reads (a stalled log shipper) until
    `start_reading()`."""

    def __init__(self, config: Path, *extra: str) -> None:
        self._reading = threading.Event()
        super().__init__(config, *extra)

    def start_reading(self) -> None:
        self._reading.set()

    def _collect(self) -> None:
        self._reading.wait()
        super()._collect()

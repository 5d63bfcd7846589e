"""A real Prometheus (Debian's package) for the tests that read token usage from one; it
skips the test, saying why, where the binary is not installed."""

from __future__ import annotations

import shutil
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

from tests.support import free_port

TENANTS = {"acme": {"tier": "enterprise", "daily_token_budget": 10_000},
           "globex": {"tier": "growth", "daily_token_budget": 10_000}}  # fmt: skip


MISSING = "Prometheus is not installed here (.ci/run installs Debian's prometheus package)"
requires_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason=MISSING)
"""For a module whose every test needs a real Prometheus."""


class Prometheus:
    def __init__(self, tmp: Path, targets: list[int]) -> None:
        if shutil.which("prometheus") is None:
            pytest.skip(MISSING)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        listed = ", ".join(f"'127.0.0.1:{t}'" for t in targets)
        (tmp / "prometheus.yml").write_text(
            "global: {scrape_interval: 1s, evaluation_interval: 1s}\n"
            f"scrape_configs: [{{job_name: local, static_configs: [{{targets: [{listed}]}}]}}]\n"
        )
        self.process = subprocess.Popen(
            ["prometheus", f"--config.file={tmp / 'prometheus.yml'}",
             f"--storage.tsdb.path={tmp / 'tsdb'}", f"--web.listen-address=127.0.0.1:{self.port}"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 30
        while not self.ready():
            assert self.process.poll() is None, "prometheus exited at start"
            assert time.monotonic() < deadline, "prometheus not ready within 30 s"
            time.sleep(0.1)  # polling a child's readiness, with a deadline

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)

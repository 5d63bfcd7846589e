"""A real Prometheus (Debian's package) for the tests that read token usage from one or
load agentdash's alert rules, and its promtool; each skips the test, saying why, where the
binary is not installed. And a forged one (`QueryApi`) for answers a real one never gives. And
readers of PromQL (the series and labels an expression reads) and of a /metrics page (the
series and labels it serves), to hold a query to what a scrape of agentdash gives it."""

from __future__ import annotations

import json
import re
import shutil
import ssl
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml
from aiohttp import web
from prometheus_client.parser import text_string_to_metric_families

from tests.support import free_port

TENANTS = {"acme": {"tier": "enterprise", "daily_token_budget": 10_000},
           "globex": {"tier": "growth", "daily_token_budget": 10_000}}  # fmt: skip


MISSING = "Prometheus is not installed here (.ci/run installs Debian's prometheus package)"
requires_prometheus = pytest.mark.skipif(shutil.which("prometheus") is None, reason=MISSING)
"""For a module whose every test needs a real Prometheus."""


def promtool(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """promtool's answer to `args`, given `stdin` (it comes with Prometheus)."""
    if shutil.which("promtool") is None:
        pytest.skip(MISSING.replace("Prometheus is", "promtool is"))
    return subprocess.run(
        ["promtool", *args], input=stdin, capture_output=True, text=True, timeout=120
    )


def instant_rules(rules: Path, tmp_path: Path) -> Path:
    """The rules file `rules` with every `for` set to 0, written under `tmp_path`: a test of
    what each alert's condition reads, not of its wait (promtool's unit tests check those)."""
    now = yaml.safe_load(rules.read_text())
    for group in now["groups"]:
        for rule in group["rules"]:
            rule["for"] = "0s"
    instant = tmp_path / "rules.yaml"
    instant.write_text(yaml.safe_dump(now))
    return instant


class Prometheus:
    """A real Prometheus scraping `targets` on loopback (and evaluating the `rules` files each
    second); with `tls` (the test CA's files, from tests.support.certificates) it serves HTTPS
    with the CA's server certificate. `labels`: a target's own labels, as a discovery gives
    them (the namespace it runs in), by its port."""

    def __init__(
        self,
        tmp: Path,
        targets: list[int],
        tls: dict[str, Path] | None = None,
        rules: Sequence[Path] = (),
        labels: Mapping[int, Mapping[str, str]] | None = None,
    ) -> None:
        if shutil.which("prometheus") is None:
            pytest.skip(MISSING)
        self.port = free_port()
        self.url = f"{'https' if tls else 'http'}://127.0.0.1:{self.port}"
        self.trusted = ssl.create_default_context(cafile=str(tls["ca.pem"])) if tls else None
        found = [
            {"targets": [f"127.0.0.1:{t}"], "labels": dict((labels or {}).get(t, {}))}
            for t in targets
        ]
        settings: dict[str, Any] = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "scrape_configs": [{"job_name": "local", "static_configs": found}],
        }
        if rules:
            settings["rule_files"] = [str(r) for r in rules]
        (tmp / "prometheus.yml").write_text(yaml.safe_dump(settings))
        command = [
            "prometheus",
            f"--config.file={tmp / 'prometheus.yml'}",
            f"--storage.tsdb.path={tmp / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{self.port}",
        ]
        if tls:
            (tmp / "web.yml").write_text(
                f"tls_server_config: {{cert_file: '{tls['server.pem']}', "
                f"key_file: '{tls['server.key']}'}}\n"
            )
            command.append(f"--web.config.file={tmp / 'web.yml'}")
        self.process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        deadline = time.monotonic() + 30
        while not self.ready():
            assert self.process.poll() is None, "prometheus exited at start"
            assert time.monotonic() < deadline, "prometheus not ready within 30 s"
            time.sleep(0.1)  # polling a child's readiness, with a deadline

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(
                f"{self.url}/-/ready", timeout=1, context=self.trusted
            ) as response:
                return bool(response.status == 200)
        except OSError:
            return False

    def query(self, promql: str) -> list[dict[str, Any]]:
        """The `data.result` of an instant query (blocking: from async code, in a thread)."""
        url = f"{self.url}/api/v1/query?{urllib.parse.urlencode({'query': promql})}"
        with urllib.request.urlopen(url, timeout=10, context=self.trusted) as response:
            result: list[dict[str, Any]] = json.load(response)["data"]["result"]
        return result

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=15)


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def vector(*series: tuple[dict[str, str], object]) -> dict[str, Any]:
    """The query API's answer holding these (labels, value) series as an instant vector."""
    result = [{"metric": labels, "value": [0, value]} for labels, value in series]
    return {"status": "success", "data": {"resultType": "vector", "result": result}}


class QueryApi:
    """A forged Prometheus: the query API's wire, answering what a test sets (`answer`, a JSON
    body; or `handler`, for a body that is not one), for what a real Prometheus never says."""

    def __init__(self) -> None:
        self.answer: object = vector()
        self.handler: Handler | None = None
        self.queries: list[str] = []
        """Each query asked, in order."""
        self.url = ""
        self._runner: web.AppRunner | None = None

    async def _query(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(request.query.get("query", ""))
        if self.handler is not None:
            return await self.handler(request)
        return web.json_response(self.answer)

    async def __aenter__(self) -> QueryApi:
        app = web.Application()
        app.router.add_route("*", "/api/v1/query", self._query)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        port = free_port()
        await web.TCPSite(self._runner, "127.0.0.1", port).start()
        self.url = f"http://127.0.0.1:{port}"
        return self

    async def __aexit__(self, *_: object) -> None:
        if self._runner is not None:
            await self._runner.cleanup()


PROMQL_WORDS = {"and", "or", "unless", "bool", "offset", "by", "without", "on", "ignoring",
                "group_left", "group_right", "inf", "nan"}  # fmt: skip
SCRAPE_LABELS = {"instance", "job", "namespace", "cluster"}
"""Labels Prometheus adds to every series it scrapes (`instance`, `job`), and those that tell
installs apart: the `namespace` its discovery adds (the ServiceMonitor's), and the `cluster` a
Prometheus over several clusters adds (grouping by one that is absent groups by nothing)."""
SCRAPE_SERIES = {"up"}
"""What Prometheus writes of each target itself: 1 while it answers a scrape, else 0."""


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads: identifiers that are not functions,
    keywords, label names (in braces or grouping clauses) or durations."""
    expr = re.sub(r"label_values\((.+),\s*\w+\)", r"\1", expr)  # Grafana's: (series, label)
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', "", expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", "", expr)
    expr = re.sub(r"\b(?:by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", "", expr)
    words = re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)\s*(\()?", expr)
    return {w[1] for w in words if not w[2] and w[1].lower() not in PROMQL_WORDS}


def label_names(expr: str) -> set[str]:
    """Every label an expression matches on or groups by."""
    grouped = re.findall(r"\b(?:by|without|on|ignoring)\s*\(([^)]*)\)", expr)
    matched = re.findall(r"\{([^}]*)\}", expr)
    names = {name.strip() for group in grouped for name in group.split(",") if name.strip()}
    for matchers in matched:
        names |= set(re.findall(r"(\w+)\s*(?:=~|!~|!=|=)", re.sub(r'"[^"]*"', "", matchers)))
    return names


def selectors(expr: str) -> list[tuple[str, dict[str, str]]]:
    """Each series an expression reads, with the matchers it is read with (label: value)."""
    names = metric_names(expr)
    found = re.finditer(r"(?<![\w.$])([a-zA-Z_:][\w:]*)(\{[^}]*\})?(?!\s*\()", expr)
    return [
        (m[1], dict(re.findall(r'(\w+)\s*=~?\s*"([^"]*)"', m[2] or "")))
        for m in found
        if m[1] in names
    ]


def served_text(text: str) -> dict[str, set[str]]:
    """What a /metrics page holds: each sample name, with the labels it carries."""
    found: dict[str, set[str]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            found.setdefault(sample.name, set()).update(sample.labels)
    return found

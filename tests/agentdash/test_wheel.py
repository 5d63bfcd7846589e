"""The wheel as a new user gets it: built from this checkout, installed into a fresh venv
outside it (no system site-packages to hide a missing file), and run from a directory with
no source tree in it. Building and installing takes about half a minute."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import tomllib
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from nats.aio.client import Client

from agentdash.example import BACKTEST_TRACE, EXAMPLE_CONFIG
from agentdash.nats_server import NatsServer
from controller.core.config import load_config
from controller.sources.jetstream_queues import ensure_queues
from tests.support import eventually, free_port
from tests.support.daemon import Daemon, scaled

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]

# Opens the dashboard from the installed package, on the sample fleet, in Textual's headless
# pilot, and reports what a user would see: where the CSS came from and the screen it drew.
DASHBOARD = """
import asyncio, json, sys
from pathlib import Path
from agentdash.tui.app import AgentDashApp
from agentdash.tui.sample import sample_feed

async def main() -> None:
    feed = await sample_feed(overrides=Path(sys.argv[1]))
    app = AgentDashApp(feed, refresh_s=None)
    async with app.run_test(size=(160, 50)) as pilot:
        await pilot.pause()
        print(json.dumps({
            "css": [str(path) for path in app.css_path],
            "screen": type(app.screen).__name__,
            "filter_shown": app.screen.query_one("#filter").display,
            "shown": app.export_screenshot(),
        }))

asyncio.run(main())
"""

# The daemon with textual made unimportable: any `import textual` on its way would fail.
WITHOUT_TEXTUAL = (
    "import sys; sys.modules['textual'] = None; from agentdash.cli import main; sys.exit(main())"
)


SDIST = "import sys; from setuptools import build_meta; build_meta.build_sdist(sys.argv[1])"


@dataclass
class Installed:
    bin: Path
    elsewhere: Path  # a working directory with no checkout in it

    def run(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bin / "agentdash", *map(str, args)], cwd=self.elsewhere, env=_clean_env(),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip

    def python(self, *args: str | Path) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [self.bin / "python", *map(str, args)], cwd=self.elsewhere, env=_clean_env(),
            capture_output=True, text=True, timeout=300, check=False,
        )  # fmt: skip


def _clean_env() -> dict[str, str]:
    """Nothing that could lead Python back to the checkout."""
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}


def _check(command: list[str | Path], cwd: Path) -> None:
    done = subprocess.run(command, cwd=cwd, env=_clean_env(), capture_output=True, text=True,
                          timeout=900, check=False)  # fmt: skip
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> Installed:
    where = tmp_path_factory.mktemp("wheel")
    dist, venv, elsewhere = where / "dist", where / "venv", where / "elsewhere"
    elsewhere.mkdir()
    # As `python -m build` does: the sdist, then the wheel from it, so both must be complete.
    # The build backend is this venv's (no download); the deps come from pip's index and cache.
    _check([sys.executable, "-c", SDIST, dist], ROOT)
    (sdist,) = dist.glob("agentdash-*.tar.gz")
    _check([sys.executable, "-m", "pip", "wheel", sdist, "--no-deps", "--no-build-isolation",
            "--quiet", "--wheel-dir", dist], where)  # fmt: skip
    (wheel,) = dist.glob("agentdash-*.whl")
    _check([sys.executable, "-m", "venv", venv], where)
    _check([venv / "bin" / "python", "-m", "pip", "install", "--quiet", wheel], where)
    return Installed(venv / "bin", elsewhere)


def test_every_package_in_the_tree_is_listed_for_the_wheel() -> None:
    """pyproject.toml lists the packages (to map styles/ in): a new one must be added there."""
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text())
    listed = set(pyproject["tool"]["setuptools"]["packages"])
    in_tree = {
        ".".join(init.parent.relative_to(ROOT).parts)
        for top in ("agentdash", "controller")
        for init in (ROOT / top).rglob("__init__.py")
    }
    assert in_tree <= listed, f"add to pyproject.toml's packages: {sorted(in_tree - listed)}"


def test_it_runs_from_the_wheel_not_from_the_checkout(installed: Installed) -> None:
    found = installed.python("-c", "import agentdash, controller; print(agentdash.__file__)")
    assert found.returncode == 0, found.stderr
    assert Path(found.stdout.strip()).is_relative_to(installed.bin.parent)


def test_version(installed: Installed) -> None:
    result = installed.run("--version")
    assert result.returncode == 0, result.stderr
    assert result.stdout == "agentdash 0.1.0\n"
    again = installed.python("-c", "import agentdash; print(agentdash.__version__)")
    assert again.stdout == "0.1.0\n"


def test_the_dashboard_opens_with_its_styles(installed: Installed) -> None:
    script = installed.elsewhere / "dashboard.py"
    script.write_text(DASHBOARD)
    result = installed.python(script, installed.elsewhere / "overrides.json")
    assert result.returncode == 0, result.stderr
    seen = json.loads(result.stdout)
    (css,) = seen["css"]
    assert Path(css).is_relative_to(installed.bin.parent), css  # the wheel's own copy
    assert Path(css).parts[-3:] == ("agentdash", "styles", "app.tcss")
    assert seen["screen"] == "FleetScreen"
    assert seen["filter_shown"] is False  # app.tcss's `.hidden` applied: the CSS was read
    for pool in load_config(EXAMPLE_CONFIG).pools:
        assert pool in seen["shown"]


def test_example_prints_the_bundled_config(installed: Installed) -> None:
    result = installed.run("example", "config")
    assert result.returncode == 0, result.stderr
    assert result.stdout == EXAMPLE_CONFIG.read_text()


def test_simulate_runs_the_bundled_example_and_a_generated_trace(installed: Installed) -> None:
    bundled = installed.run("simulate", "--json")
    assert bundled.returncode == 0, bundled.stderr
    report = json.loads(bundled.stdout)
    assert report["tasks"] == len(BACKTEST_TRACE.read_text().splitlines())
    assert report["policies"].keys() == {"agentdash", "keda", "hpa"}

    made = installed.run("simulate", "--generate", "spiky", "--hours", "1", "--seed", "7")
    assert made.returncode == 0, made.stderr
    trace = installed.elsewhere / "trace.jsonl"
    trace.write_text(made.stdout)
    result = installed.run("simulate", "--trace", trace)
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith(f"{trace}: {len(made.stdout.splitlines()):,} tasks")


def test_a_request_log_imports_as_a_trace_the_installed_simulate_replays(
    installed: Installed,
) -> None:
    log = installed.elsewhere / "requests.csv"
    log.write_text(
        "TIMESTAMP,ContextTokens,GeneratedTokens\n"
        "2024-05-10 00:00:01.5+00:00,2000,50\n"
        "2024-05-10 00:00:03.25+00:00,500,0\n"
    )
    imported = installed.run("import", "requests", log, "--pool", "acme-research")
    assert imported.returncode == 0, imported.stderr
    assert "--start 2024-05-10" in imported.stderr
    trace = installed.elsewhere / "requests.jsonl"
    trace.write_text(imported.stdout)
    config = installed.elsewhere / "fleet.yaml"
    config.write_text(installed.run("example", "backtest").stdout)
    result = installed.run("simulate", "--config", config, "--trace", trace, "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["policies"]["agentdash"]["completed"] == 2


def test_a_request_log_it_cannot_take_is_one_line_from_the_installed_wheel(
    installed: Installed,
) -> None:
    """As a stranger found them in the wheel: a line nested too deep ended in a RecursionError's
    traceback, a key given twice was taken, a rate of 1e-300 was said in a 400-digit time."""
    log = installed.elsewhere / "deep.jsonl"
    head = '{"timestamp": 1000, "input_length": 10, "output_length": 20'
    log.write_text(head + ', "x": ' + "[" * 1000 + "]" * 1000 + "}\n")
    for args, said in [
        ((), "line 1: expected a flat JSON object like"),
        (("--format", "mooncake"), "line 1: expected a flat JSON object like"),
    ]:
        result = installed.run("import", "requests", log, "--pool", "p", *args)
        assert (result.returncode, result.stdout) == (2, ""), result.stderr
        assert result.stderr.startswith(f"agentdash: {log}: {said}")
        assert result.stderr.endswith(", got one nested too deep to read\n")
    log.write_text(head + ', "input_length": 99999}\n')
    result = installed.run("import", "requests", log, "--pool", "p")
    assert (result.returncode, result.stdout) == (2, "")
    assert result.stderr == (
        f"agentdash: {log}: line 1: expected each key once in an object, got 'input_length' twice\n"
    )
    log.write_text(head + "}\n")
    result = installed.run("import", "requests", log, "--pool", "p", "--decode-rate", "1e-300")
    assert (result.returncode, result.stdout) == (2, "")
    assert "--decode-rate: expected a number >= 0.01" in result.stderr
    assert result.stderr.count("\n") == 1


def test_plan_decides_for_the_bundled_example(installed: Installed) -> None:
    result = installed.run("plan")
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["decisions"]) == len(load_config(EXAMPLE_CONFIG).pools)


class SlimDaemon(Daemon):
    """`agentdash --controller-only` from the wheel, in a Python where textual cannot load:
    what a slim in-cluster install (no TUI) runs."""

    def __init__(self, installed: Installed, config: Path) -> None:
        self.port = free_port()
        self.process = subprocess.Popen(
            [installed.bin / "python", "-c", WITHOUT_TEXTUAL, "--controller-only",
             "--config", config, "--cluster", "simulated", "--http", f"127.0.0.1:{self.port}"],
            cwd=installed.elsewhere, env=_clean_env(),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )  # fmt: skip
        self.lines = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()


async def test_the_daemon_scales_without_textual(
    installed: Installed, nats_server: NatsServer, nc: Client, tmp_path: Path
) -> None:
    data = yaml.safe_load(EXAMPLE_CONFIG.read_text())
    data["nats"] = {"url": nats_server.url}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    config = load_config(path)
    await ensure_queues(nc, config)

    daemon = SlimDaemon(installed, path)
    try:
        health = await daemon.wait_health(lambda h: h["status"] == 200)
        assert health["role"] == "leader"
        for i in range(4):
            task = json.dumps({"id": i}).encode()
            await nc.jetstream().publish(config.subject("acme-support"), task)
        await eventually(lambda: bool(scaled(daemon, "acme-support")), timeout=15)
        assert daemon.stop() == 0
    finally:
        if daemon.process.poll() is None:
            daemon.process.kill()
            daemon.process.wait()
    assert daemon.read()[-1]["type"] == "stop"

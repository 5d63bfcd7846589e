"""What an operator sets once: flags' defaults from the environment (a flag beats its
variable, a bad variable is one line naming it), `--log-level`, and the config's JSON schema
for editors (`check-config --schema`)."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from agentdash.cli import ENVIRONMENT
from agentdash.daemon import set_log_level
from agentdash.nats_server import NatsServer
from tests.support import eventually, free_port
from tests.support.cli import AGENTDASH, EXAMPLE, ROOT, outcome, run
from tests.support.daemon import Daemon

pytestmark = pytest.mark.usefixtures("no_variables")

UNREACHABLE = "nats://127.0.0.1:1"
CONFIGS = [EXAMPLE, ROOT / "examples" / "backtest.yaml", ROOT / "agentdash/examples/agentdash.yaml"]


# --- the environment ----------------------------------------------------------------------


def test_check_config_reads_agentdash_config(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTDASH_CONFIG", str(EXAMPLE))
    code, out, _ = outcome(capsys, "check-config")
    assert code == 0
    assert out.startswith(f"{EXAMPLE}: OK: 5 pools")


def test_a_file_given_beats_agentdash_config(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("pools: [1, 2]\n")
    monkeypatch.setenv("AGENTDASH_CONFIG", str(broken))
    code, out, err = outcome(capsys, "check-config", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert out.startswith(f"{EXAMPLE}: OK")


def test_check_config_takes_its_file_as_config_too(capsys: pytest.CaptureFixture[str]) -> None:
    # Every other command takes --config FILE: typed here, it was "unrecognized arguments".
    code, out, err = outcome(capsys, "check-config", "--config", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert out.startswith(f"{EXAMPLE}: OK: 5 pools")
    code, _, err = outcome(capsys, "check-config", str(EXAMPLE), "--config", str(EXAMPLE))
    assert code == 2
    assert (
        err
        == "agentdash: check-config: give FILE or --config FILE, not both (see agentdash --help)\n"
    )


def test_without_file_or_variable_check_config_says_what_it_needs(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTDASH_CONFIG", "")  # set but empty, as a template may leave it
    code, out, err = outcome(capsys, "check-config")
    assert code == 2
    assert out == ""
    assert err == (
        "agentdash: check-config: expected FILE (or AGENTDASH_CONFIG set) (see agentdash --help)\n"
    )


BAD = {
    "AGENTDASH_NATS_URL": ("http://nats:4222", "expected a URL like nats://HOST:PORT"),
    "AGENTDASH_HTTP": (":99999", "expected [HOST]:PORT with PORT from 1 to 65535"),
    "AGENTDASH_LEASE_TTL": ("0.5", "expected a number >= 1 and <= 3600, got '0.5'"),
    "AGENTDASH_KUBECONTEXT": ("   ", "expected a name of 1-253 characters"),
    "AGENTDASH_LOG_LEVEL": ("loud", "expected one of debug, info, warning, error, got 'loud'"),
}


def test_every_variable_but_the_config_has_a_bad_value_case() -> None:
    assert set(BAD) == {variable for variable, _ in ENVIRONMENT.values()} - {"AGENTDASH_CONFIG"}


@pytest.mark.parametrize("variable", sorted(BAD))
def test_a_bad_variable_is_one_line_naming_it_and_exit_2(
    variable: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """Said before anything is read or reached: the config here is fine."""
    value, expected = BAD[variable]
    monkeypatch.setenv(variable, value)
    code, out, err = outcome(capsys, "--controller-only", "--config", str(EXAMPLE))
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1
    assert err.startswith(f"agentdash: {variable}: {expected}")


def test_a_bad_config_named_by_the_variable_is_the_config_s_own_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("AGENTDASH_CONFIG", str(tmp_path / "nope.yaml"))
    code, _, err = outcome(capsys, "--controller-only")
    assert code == 2
    assert err.startswith(f"agentdash: {tmp_path / 'nope.yaml'}: cannot read file")


def test_a_bad_daemon_variable_leaves_the_other_commands_alone(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    for variable, (value, _) in BAD.items():
        monkeypatch.setenv(variable, value)
    code, out, err = outcome(capsys, "check-config", str(EXAMPLE))
    assert (code, err) == (0, "")
    assert out.startswith(f"{EXAMPLE}: OK")


def test_a_flag_given_beats_a_bad_variable(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The flag is taken, the variable not even read: the run gets as far as its config
    (which is missing here) instead of stopping at the variable."""
    monkeypatch.setenv("AGENTDASH_LEASE_TTL", "soon")
    code, _, err = outcome(capsys, "--controller-only", "--config", "nope.yaml", "--lease-ttl", "3")
    assert code == 2
    assert err.startswith("agentdash: nope.yaml: cannot read file")


@pytest.mark.e2e
def test_help_names_every_variable() -> None:
    result = run("--help")
    assert result.returncode == 0
    said = " ".join(result.stdout.split())  # argparse wraps lines where it likes
    for variable, _ in ENVIRONMENT.values():
        assert f"env {variable}" in said
    assert "the flag, given, beats it" in said
    assert "--log-level LEVEL" in said


# --- the daemon, set up by its environment --------------------------------------------------


class EnvDaemon(Daemon):
    """test_daemon's Daemon, started with these flags and these variables instead."""

    def __init__(self, port: int, env: dict[str, str], *flags: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            [AGENTDASH, "--controller-only", "--cluster", "simulated", *flags],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
            env={**os.environ, **env},
        )  # fmt: skip
        self.lines: list[dict[str, Any]] = []
        self._reader = threading.Thread(target=self._collect, daemon=True)
        self._reader.start()


@pytest.fixture
def unreachable_config(tmp_path: Path) -> Path:
    """The example fleet, pointed at a NATS that is not there: only a URL from elsewhere
    (a flag or a variable) lets the daemon start."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": UNREACHABLE}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def levels(daemon: Daemon) -> set[str]:
    return {line["level"] for line in daemon.read() if line["type"] == "log"}


async def test_a_daemon_configured_by_its_environment_alone(
    unreachable_config: Path, nats_server: NatsServer, daemons: list[Daemon]
) -> None:
    """As a container sets it: no flag but the mode. The consumers do not exist, so the
    pools are stale: warnings, which --log-level warning keeps, and no info record."""
    port = free_port()
    daemon = EnvDaemon(port, {
        "AGENTDASH_CONFIG": str(unreachable_config), "AGENTDASH_NATS_URL": nats_server.url,
        "AGENTDASH_HTTP": f"127.0.0.1:{port}", "AGENTDASH_LEASE_TTL": "2",
        "AGENTDASH_LOG_LEVEL": "WARNING",
    })  # fmt: skip
    daemons.append(daemon)
    health = await daemon.wait_health(lambda h: h["ticks"] > 2 and h["role"] == "leader")
    assert health["stale_count"] == 5  # it reads the config's pools from the variable's file
    await eventually(lambda: "warning" in levels(daemon), timeout=20)  # held, for 5 s
    assert daemon.stop() == 0
    start = daemon.read()[0]
    assert (start["type"], start["http"]) == ("start", f"127.0.0.1:{port}")
    assert levels(daemon) == {"warning"}  # the lease's "leading" is info: not written
    assert any(line["type"] == "health" for line in daemon.read())  # events still are
    assert daemon.read()[-1]["type"] == "stop"


async def test_flags_beat_the_environment_for_the_daemon(
    unreachable_config: Path, nats_server: NatsServer, daemons: list[Daemon]
) -> None:
    port, elsewhere = free_port(), free_port()
    daemon = EnvDaemon(
        port,
        {"AGENTDASH_NATS_URL": UNREACHABLE, "AGENTDASH_HTTP": f"127.0.0.1:{elsewhere}",
         "AGENTDASH_LEASE_TTL": "7", "AGENTDASH_LOG_LEVEL": "error"},
        "--config", str(unreachable_config), "--nats-url", nats_server.url,
        "--http", f"127.0.0.1:{port}", "--lease-ttl", "2", "--log-level", "info",
    )  # fmt: skip
    daemons.append(daemon)
    await daemon.wait_health(lambda h: h["ticks"] > 2 and h["role"] == "leader")
    await eventually(lambda: "warning" in levels(daemon), timeout=20)  # pools held, for 5 s
    assert daemon.stop() == 0
    assert daemon.read()[0]["http"] == f"127.0.0.1:{port}"
    assert {"info", "warning"} <= levels(daemon)
    leading = [line["message"] for line in daemon.read() if line["type"] == "log"]
    assert "lease: leading" in leading


# --- --log-level, in process ----------------------------------------------------------------


def written(capsys: pytest.CaptureFixture[str]) -> list[tuple[str, str, str]]:
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return [(line["level"], line["logger"], line["message"]) for line in lines]


def test_debug_opens_agentdash_s_records_but_not_the_libraries(
    restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    """The Kubernetes client's debug records hold whole API answers: never written."""
    set_log_level("debug")
    logging.getLogger("agentdash.kube").debug("watch ended; resuming")
    logging.getLogger("kubernetes.client.rest").debug("response body: {...}")
    logging.getLogger("kubernetes.client.rest").info("a library's info")
    assert written(capsys) == [
        ("debug", "agentdash.kube", "watch ended; resuming"),
        ("info", "kubernetes.client.rest", "a library's info"),
    ]


@pytest.mark.parametrize(
    ("level", "kept"),
    [("info", ["info", "warning", "error"]), ("warning", ["warning", "error"]),
     ("error", ["error"])],
)  # fmt: skip
def test_a_level_keeps_its_records_and_those_above(
    level: str, kept: list[str], restored_logging: None, capsys: pytest.CaptureFixture[str]
) -> None:
    set_log_level(level)
    for name in ("debug", "info", "warning", "error"):
        getattr(logging.getLogger("agentdash.loop"), name)(f"a {name} record")
        getattr(logging.getLogger("aiohttp.client"), name)(f"a {name} record")
    shown = written(capsys)
    assert [lvl for lvl, logger, _ in shown if logger == "agentdash.loop"] == kept
    assert [lvl for lvl, logger, _ in shown if logger == "aiohttp.client"] == kept


# --- check-config --schema ------------------------------------------------------------------


@pytest.fixture(scope="module")
def schema() -> dict[str, Any]:
    """From the installed command, with no FILE."""
    result = run("check-config", "--schema")
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


@pytest.mark.e2e
def test_the_schema_is_a_json_schema_an_editor_takes(schema: dict[str, Any]) -> None:
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert {"tiers", "tenants", "pools"} <= set(schema["required"])
    assert "cluster" in schema["properties"]
    subject = schema["$defs"]["QueueRef"]["properties"]["subject"]
    assert subject["description"].startswith("Subject the consumer reads")  # shown on hover


@pytest.mark.e2e
@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: str(Path(p).relative_to(ROOT)))
def test_the_bundled_configs_validate_against_the_schema(
    schema: dict[str, Any], path: Path
) -> None:
    data = yaml.safe_load(path.read_text())
    errors = [e.message for e in jsonschema.Draft202012Validator(schema).iter_errors(data)]
    assert errors == []


@pytest.mark.e2e
def test_the_schema_takes_what_the_config_takes_in_other_spellings(
    schema: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """An HPA `behavior` block pasted in with its camelCase names, and the older single-rule
    form: check-config passes them, so the editor must not mark them."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pools"]["acme-research"]["behavior"] = {
        "scaleDown": {"stabilizationWindowSeconds": 60, "selectPolicy": "Min",
                      "policies": [{"type": "Pods", "value": 4, "periodSeconds": 60}]},
        "scale_up": {"max_pods": 3, "period_seconds": 15},
    }  # fmt: skip
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    assert outcome(capsys, "check-config", str(path))[0] == 0
    assert list(jsonschema.Draft202012Validator(schema).iter_errors(data)) == []


@pytest.mark.parametrize(
    ("field", "value", "where"),
    [("max_replica", 3, "max_replica"), ("max_replicas", "ten", "max_replicas"),
     ("max_replicas", 0, "max_replicas")],
)  # fmt: skip
@pytest.mark.e2e
def test_the_schema_marks_what_check_config_refuses(
    schema: dict[str, Any], field: str, value: Any, where: str
) -> None:
    """A typo in a key, a string for a count, a count out of bounds: an editor says so."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pools"]["acme-research"][field] = value
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert len(errors) == 1
    assert list(errors[0].absolute_path)[:2] == ["pools", "acme-research"]
    assert where in errors[0].message or where in list(errors[0].absolute_path)


@pytest.mark.parametrize(
    ("edit", "where"),
    [(lambda d: d["pools"].update({"Bad_Name": d["pools"].pop("acme-research")}), ["pools"]),
     (lambda d: d.update({"pools": {}}), ["pools"]),
     (lambda d: d["tiers"].update({"gold.plus": {"priority": 5}}), ["tiers"])],
    ids=["pool name", "no pool", "tier name"],
)  # fmt: skip
@pytest.mark.e2e
def test_the_schema_marks_the_names_and_the_empty_fleet_check_config_refuses(
    schema: dict[str, Any], edit: Callable[[dict[str, Any]], None], where: list[str]
) -> None:
    """A pool named Bad_Name, or no pool at all, passed an editor: check-config refuses both."""
    data = yaml.safe_load(EXAMPLE.read_text())
    edit(data)
    errors = list(jsonschema.Draft202012Validator(schema).iter_errors(data))
    assert [list(error.absolute_path)[:1] for error in errors] == [where]


def test_schema_and_file_together_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = outcome(capsys, "check-config", "--schema", str(EXAMPLE))
    assert (code, out) == (2, "")
    assert err == (
        "agentdash: check-config: give either FILE or --schema, not both (see agentdash --help)\n"
    )

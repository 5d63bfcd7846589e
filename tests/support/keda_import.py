"""`agentdash import keda FILE...` as its tests run it, on ScaledObjects from KEDA's own docs
(tests/data/keda): the files, the command run in this process, the printed pools read back
through agentdash's config parser, and the stderr lines about the docs' ScaledObject."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from agentdash.cli import main
from controller.core.config import Config, parse_config

DATA = Path(__file__).parents[1] / "data" / "keda"
NATS = DATA / "nats-jetstream.yaml"  # the nats-jetstream scaler's Example, verbatim
BEHAVIOR = DATA / "nats-jetstream-behavior.yaml"
FALLBACK = DATA / "nats-jetstream-fallback.yaml"
SOLACE = DATA / "solace-direct-messaging.yaml"
CPU_CRON = DATA / "nats-jetstream-cpu-cron.yaml"  # nats-jetstream, then cpu and cron
SO = "ScaledObject nats-jetstream/nats-jetstream-scaledobject"
POOL = "nats-jetstream-scaledobject"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, list[str]]:
    """Exit code, stdout and stderr lines of `agentdash import keda ARGS`."""
    try:
        code = main(["import", "keda", *map(str, args)])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def loaded(out: str, tenant: str = "TENANT") -> Config:
    """The printed pools in a minimal agentdash.yaml, through agentdash's own parser."""
    pools = yaml.safe_load(out)["pools"]
    config = {"tiers": {"gold": {"priority": 1}}, "tenants": {tenant: {"tier": "gold"}}}
    return parse_config({**config, "pools": pools}, "pasted.yaml")


def docs_example() -> dict[str, Any]:
    (obj,) = yaml.safe_load_all(NATS.read_text())
    return dict(obj)


def write(tmp_path: Path, *objects: Any, name: str = "so.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def fields(err: list[str]) -> list[str]:
    """`level field` of each stderr line about the docs' ScaledObject."""
    prefix = f": {SO}: "
    return [
        f"{line.split(':')[0]} {line.split(prefix)[1].split(':')[0]}"
        for line in err
        if prefix in line
    ]

"""`agentdash demo`'s files are files of their own: --events is emptied as the run starts, so
an --events named after the --config (read already) or the --overrides would replace that file
with event lines. Refused in one line before anything starts, as simulate and tune refuse
theirs. Real processes; nothing reaches NATS."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.support.cli import EXAMPLE, run

pytestmark = pytest.mark.e2e

OVERRIDES = '{"pins": {"acme-research": {"replicas": 3}}}\n'


def test_a_demo_file_named_after_another_is_refused_and_nothing_is_written(
    tmp_path: Path,
) -> None:
    config = tmp_path / "fleet.yaml"
    config.write_text(EXAMPLE.read_text())
    overrides = tmp_path / "overrides.json"
    overrides.write_text(OVERRIDES)
    link = tmp_path / "link.yaml"
    link.symlink_to(config)
    inputs = {config: config.read_text(), overrides: OVERRIDES}
    cases = [
        (["--events", config], config, "--events", "the --config it reads"),
        (["--events", link], link, "--events", "the --config it reads"),  # by another name
        (["--overrides", config], config, "--overrides", "the --config it reads"),
        (["--events", overrides, "--overrides", overrides], overrides, "--overrides",
         "the --events it writes"),
    ]  # fmt: skip
    for flags, named, flag, other in cases:
        result = run("demo", "--headless", "--duration", "1", "--config", config, *flags)
        assert result.returncode == 2, (flags, result.stderr)
        assert result.stdout == ""
        said = f"{flag}: expected a file other than {other}"
        assert result.stderr == f"agentdash: {named}: {said}\n"
        assert {path: path.read_text() for path in inputs} == inputs

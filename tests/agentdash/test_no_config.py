"""A fleet's flags with no fleet named: `agentdash --cluster simulated` or `--read-only`
alone, as someone trying the dashboard types them. One line saying what is missing, not the
whole help on stdout."""

from __future__ import annotations

import pytest

from tests.support.cli import outcome

pytestmark = pytest.mark.usefixtures("no_variables")


@pytest.mark.parametrize(
    "flags",
    [["--cluster", "simulated"], ["--read-only"], ["--controller-only", "--dry-run"]],
    ids=" ".join,
)
def test_a_fleet_s_flags_without_its_config_say_what_is_missing(
    flags: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    """Before, the help went to stdout with exit 2, nothing saying why."""
    code, out, err = outcome(capsys, *flags)
    assert (code, out) == (2, "")
    given = " ".join(flag for flag in flags if flag.startswith("--"))
    assert err == (
        f"agentdash: {given} needs --config FILE (or AGENTDASH_CONFIG), the fleet to show or "
        "scale; agentdash demo runs one of its own (see agentdash --help)\n"
    )


def test_agentdash_alone_prints_its_help(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = outcome(capsys)
    assert (code, err) == (2, "")
    assert out.startswith("usage: agentdash")

"""What the bundled example config tells a user to do for production, held to the defaults it
points at: the example's own windows are short for the demo, and its header says what to
change."""

from __future__ import annotations

import re

import yaml

from agentdash.example import EXAMPLE_CONFIG
from controller.core.behavior import DEFAULT_SCALE_DOWN
from controller.core.config import PoolConfig


def header() -> str:
    lines = EXAMPLE_CONFIG.read_text().splitlines()
    comments = []
    for line in lines:
        if not line.startswith("#"):
            break
        comments.append(line.lstrip("# "))
    return " ".join(comments)


def test_every_duration_the_header_quotes_for_production_is_a_default() -> None:
    defaults = {
        PoolConfig.model_fields["cold_start_seconds"].default,
        PoolConfig.model_fields["cooldown_seconds"].default,
        DEFAULT_SCALE_DOWN["stabilization_seconds"],
    }
    production = header().partition("For production")[2]
    quoted = {float(n) for n in re.findall(r"(\d+(?:\.\d+)?) s\b", production)}
    assert quoted, production
    assert quoted <= defaults, production


def test_a_pool_left_as_the_header_says_learns_its_keep_alive() -> None:
    said = header()
    assert "leave out cooldown_seconds and behavior" in said, said
    pool = yaml.safe_load(EXAMPLE_CONFIG.read_text())["pools"]["acme-research"]
    left = PoolConfig.model_validate(
        {key: value for key, value in pool.items() if key not in ("cooldown_seconds", "behavior")}
    )
    assert left.learns_keep_alive
    assert not left.behavior.scale_up.policies  # straight to its demand, as the header says

"""`agentdash simulate` on a trace file that goes bad far into it (several of the loader's
chunks in): still one line naming the file, the line and the field, and exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.simulate.trace import CHUNK
from tests.support.cli import EXAMPLE, simulate

pytestmark = pytest.mark.e2e

GOOD = '{"t": 0, "pool": "acme-research", "work_s": 3, "tokens": 10}'


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ('{"t": 1, "pool": "acme-research", "work_s": -3, "tokens": 10}',
         "work_s: expected a number > 0, got -3"),
        ('{"t": ' + "[" * 2_000 + "]" * 2_000 + "}",
         'expected a flat JSON object like {"t": 12.5, "pool": "acme-research", "work_s": 40, '
         '"tokens": 3000}, got one nested too deep to read'),
    ],
    ids=["negative work", "nested too deep"],
)  # fmt: skip
def test_a_bad_line_far_into_the_trace_is_one_line_and_exit_2(
    tmp_path: Path, line: str, message: str
) -> None:
    number = 2 * CHUNK + 7
    lines = [GOOD] * (3 * CHUNK)
    lines[number - 1] = line
    bad = tmp_path / "bad.jsonl"
    bad.write_text("\n".join(lines) + "\n")
    result = simulate("--config", EXAMPLE, "--trace", bad)
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr == f"agentdash: {bad}: line {number}: {message}\n"

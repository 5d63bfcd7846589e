"""`agentdash simulate` on a trace file that goes bad far into it (several of the loader's
chunks in): still one line naming the file, the line and the field, and exit 2."""

from __future__ import annotations

import os
import pty
import subprocess
from pathlib import Path

import pytest

from controller.simulate.trace import CHUNK
from tests.support.cli import AGENTDASH, EXAMPLE, simulate

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


def test_a_trace_piped_in_with_trace_dash_replays_as_the_same_file_does(tmp_path: Path) -> None:
    lines = [f'{{"t": {k}, "pool": "acme-research", "work_s": 3, "tokens": 10}}' for k in range(40)]
    text = "\n".join(lines) + "\n"
    file = tmp_path / "trace.jsonl"
    file.write_text(text)
    piped = simulate("--config", EXAMPLE, "--trace", "-", "--json", stdin=text)
    read = simulate("--config", EXAMPLE, "--trace", file, "--json")
    assert piped.returncode == 0, piped.stderr
    assert piped.stdout == read.stdout


@pytest.mark.parametrize(
    ("stdin", "message"),
    [
        ("", "standard input: expected at least one task, got none"),
        ('{"t": 1}\n', "standard input: line 1: pool: required field is missing"),
    ],
    ids=["nothing piped", "a bad line"],
)  # fmt: skip
def test_a_bad_trace_piped_in_is_one_line_naming_standard_input(stdin: str, message: str) -> None:
    result = simulate("--config", EXAMPLE, "--trace", "-", stdin=stdin)
    assert (result.returncode, result.stderr) == (2, f"agentdash: {message}\n")


def test_trace_dash_from_a_terminal_is_refused_rather_than_waited_on() -> None:
    leader, follower = pty.openpty()
    try:
        result = subprocess.run(
            [AGENTDASH, "simulate", "--config", EXAMPLE, "--trace", "-"],
            stdin=follower, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    finally:
        os.close(leader)
        os.close(follower)
    said = "agentdash: standard input: expected a trace piped in (--trace -), got a terminal\n"
    assert (result.returncode, result.stderr) == (2, said)


def test_trace_dash_with_standard_input_closed_says_so() -> None:
    """`agentdash simulate --trace - <&-`: Python starts with no sys.stdin, and the refusal
    said it was a terminal."""
    result = subprocess.run(
        [AGENTDASH, "simulate", "--config", EXAMPLE, "--trace", "-"],
        capture_output=True, text=True, timeout=60, check=False,
        preexec_fn=lambda: os.close(0),
    )  # fmt: skip
    said = "expected a trace piped in (--trace -), got none: it is closed"
    assert (result.returncode, result.stderr) == (2, f"agentdash: standard input: {said}\n")

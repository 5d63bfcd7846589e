"""Every --help on an 80-column terminal: no line wider than it. The descriptions of tune,
queues, rbac and the imports were written 95 columns wide, so an 80-column terminal broke
each of their lines a few words from its end; they are filled to the terminal, their tables
and examples kept as tables and examples."""

from __future__ import annotations

import argparse
from collections.abc import Iterator

import pytest

from agentdash.cli import build_parser
from agentdash.help_text import fill_description
from tests.support.cli import outcome

COMMANDS = [
    [],
    ["check-config"],
    ["plan"],
    ["demo"],
    ["simulate"],
    ["tune"],
    ["example"],
    ["import"],
    ["import", "keda"],
    ["import", "requests"],
    ["queues"],
    ["rbac"],
]


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "agentdash")
def test_help_fits_80_columns(
    command: list[str], capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = outcome(capsys, *command, "--help")
    assert code == 0
    wide = [line for line in out.splitlines() if len(line) > 80]
    assert wide == [], "\n".join(wide)


def test_a_table_row_is_filled_under_its_own_column(
    capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COLUMNS", "80")
    _, out, _ = outcome(capsys, "tune", "--help")
    lines = out.splitlines()
    start = lines.index(
        "  both          (the default) the lowest balanced score among candidates no"
    )
    assert lines[start + 1].startswith(" " * 16 + "worse than the current")
    assert lines[start + 3].startswith("  p95           the lowest p95")


def test_an_example_line_and_a_table_heading_are_kept_as_written() -> None:
    text = (
        "Apply it as\n\n  agentdash rbac --config agentdash.yaml | kubectl apply -f -\n\n"
        "KEDA (its default)              agentdash\n"
        "  lagThreshold (10)               target_lag_per_replica (lag: pending + acked)\n"
        "A paragraph written  on\ntwo lines."
    )
    assert fill_description(text, 60) == [
        "Apply it as",
        "",
        "  agentdash rbac --config agentdash.yaml | kubectl apply -f -",
        "",
        "KEDA (its default)              agentdash",
        "  lagThreshold (10)               target_lag_per_replica",
        "                                  (lag: pending + acked)",
        "A paragraph written  on two lines.",
    ]


def _parsers(parser: argparse.ArgumentParser) -> Iterator[argparse.ArgumentParser]:
    yield parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):
                yield from _parsers(sub)


def test_every_flag_says_what_it_does() -> None:
    """`--generate bursty|diurnal|spiky` stood in simulate's --help with no word of what it
    does; `--policy` said only `default all`."""
    bare = [
        f"{parser.prog} {action.option_strings[0]}"
        for parser in _parsers(build_parser())
        for action in parser._actions
        if action.option_strings and (action.help is None or action.help.startswith("default"))
    ]
    assert bare == []

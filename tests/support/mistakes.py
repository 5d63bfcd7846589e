"""The table of user mistakes that `agentdash` must refuse in one line and exit 2: a `Case`
(a file's content and the command given it, or only flags), builders that make a mistake from
the repository's example (`text`, `edited`, `renamed_pool`, `observations`), the argv that runs
a case, and the checks that the refusal is one line naming the file (or flag) and the field.
The cases themselves are in tests/agentdash/test_config_mistakes.py and
test_flag_mistakes.py."""

from __future__ import annotations

import copy
import json
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentdash.cli import main
from tests.support.cli import AGENTDASH, EXAMPLE, ROOT
from tests.support.cli import OBSERVATIONS as OBSERVATIONS_FILE

OBSERVATIONS = json.loads(OBSERVATIONS_FILE.read_text())
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())
TEXT = EXAMPLE.read_text()
P = "pools.acme-research"


def text(old: str, new: str) -> str:
    """The example config as its author wrote it, with its first `old` made `new`."""
    assert old in TEXT, old
    return TEXT.replace(old, new, 1)


def edited(**changes: Any) -> str:
    """The example config with `path.to.field=value` changes (None deletes), as YAML."""
    data = copy.deepcopy(BASE)
    for dotted, value in changes.items():
        *parents, last = dotted.split("__")
        node = data
        for key in parents:
            node = node.setdefault(key, {})
        node[last] = value
    return yaml.safe_dump(data, sort_keys=False)


def renamed_pool(name: str) -> str:
    data = copy.deepcopy(BASE)
    data["pools"][name] = data["pools"].pop("acme-research")
    return yaml.safe_dump(data, sort_keys=False)


def observations(**pool: Any) -> str:
    data = copy.deepcopy(OBSERVATIONS)
    data["pools"]["acme-research"].update(pool)
    return json.dumps(data)


@dataclass(frozen=True)
class Case:
    """A file's content (text or bytes) and the command to give it to, or only flags.
    `where` is what the line must name after the file: a field path or a flag."""

    id: str
    content: str | bytes | None
    command: str
    where: str
    expected: str


def config(id: str, content: str | bytes, where: str, expected: str) -> Case:
    return Case(f"config: {id}", content, "check-config", where, expected)


def observed(id: str, content: str | bytes, where: str, expected: str) -> Case:
    return Case(f"observations: {id}", content, "plan", where, expected)


def traced(id: str, content: str | bytes, where: str, expected: str) -> Case:
    return Case(f"trace: {id}", content, "simulate", where, expected)


def flag(id: str, args: str, where: str, expected: str) -> Case:
    return Case(id, None, args, where, expected)


def run_case(case: Case, tmp_path: Path) -> tuple[list[str], Path | None]:
    """The case's argv, with its file written where the command reads it."""
    file = None
    if case.content is not None:
        file = tmp_path / {"check-config": "agentdash.yaml", "plan": "obs.json",
                           "simulate": "trace.jsonl"}[case.command]  # fmt: skip
        if isinstance(case.content, bytes):
            file.write_bytes(case.content)
        else:
            file.write_text(case.content, encoding="utf-8")
    argv = {
        "check-config": lambda: ["check-config", str(file)],
        "plan": lambda: ["plan", "--config", str(EXAMPLE), "--observations", str(file)],
        "simulate": lambda: ["simulate", "--config", str(EXAMPLE), "--trace", str(file)],
    }.get(case.command, lambda: flags(case.command))()
    return argv, file


def flags(command: str) -> list[str]:
    trace = str(ROOT / "examples" / "trace.jsonl")
    return command.replace("CONFIG", str(EXAMPLE)).replace("TRACE", trace).split(" ")


def is_field(where: str) -> bool:
    """A field path, as against a place in the text (`line 3 column 5`, `byte 0`) or none."""
    return bool(where) and not where.startswith(("line ", "byte ", "character "))


def exit_code(call: Callable[[], int]) -> int | str | None:
    try:
        return call()
    except SystemExit as exc:  # argparse exits by itself
        return exc.code


def assert_one_line_naming_file_and_field_and_exit_2(
    case: Case, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The case run through the real entry point, in this process."""
    argv, file = run_case(case, tmp_path)
    code = exit_code(lambda: main(argv))
    out, err = capsys.readouterr()
    assert code == 2, err
    assert err.count("\n") == 1, err
    assert err.endswith("\n")
    assert out == ""
    line = err.rstrip("\n")
    if file is not None:  # `agentdash: FILE[:LINE]: FIELD: expected ...`
        # a config's field is named with its line too, as `FILE:LINE:` (the YAML's own
        # errors name their line and column in the field's place)
        at_line = r":\d+" if case.command == "check-config" and is_field(case.where) else ""
        named = re.escape(f"{case.where}: ") if case.where else ""
        assert re.match(re.escape(f"agentdash: {file}") + at_line + ": " + named, line), line
    else:  # `agentdash[ simulate]: argument --flag: expected ...`
        assert case.where in line
    assert case.expected in line
    assert len(line) < 600  # a megabyte of input never comes back in the message


def assert_no_traceback_reaches_the_terminal(case: Case, tmp_path: Path) -> None:
    """The case run through the installed command, in a process of its own."""
    argv, _ = run_case(case, tmp_path)
    result = subprocess.run([AGENTDASH, *argv], capture_output=True, text=True, timeout=60,
                            check=False)  # fmt: skip
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1
    assert case.expected in result.stderr
    assert "Traceback" not in result.stderr

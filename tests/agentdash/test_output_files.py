"""A file written as the work goes (the demo's --events): a write that fails does not stop the
work; the file is written no more, and closing it says why, naming the file."""

from __future__ import annotations

from pathlib import Path

import pytest

from agentdash.output_files import LinesFile
from controller.core.config import ConfigError

FULL = Path("/dev/full")
needs_full = pytest.mark.skipif(not FULL.exists(), reason="no /dev/full here")


def test_lines_are_written_as_they_come(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    with LinesFile(path) as lines:
        lines.write('{"a": 1}\n')
        assert path.read_text() == '{"a": 1}\n'  # flushed: a reader follows the file
        lines.write('{"b": 2}\n')
    assert path.read_text() == '{"a": 1}\n{"b": 2}\n'


@needs_full
def test_a_write_that_fails_is_said_when_the_file_is_closed() -> None:
    lines = LinesFile(FULL)
    lines.write('{"a": 1}\n')  # no error here: the work goes on
    lines.write('{"b": 2}\n')
    with pytest.raises(ConfigError) as caught:
        lines.close()
    assert str(caught.value) == f"{FULL}: cannot write file: No space left on device"


def work_that_fails() -> None:
    with LinesFile(FULL) as lines:
        lines.write('{"a": 1}\n')
        raise KeyError("the work's own")


@needs_full
def test_an_error_of_the_work_itself_is_not_hidden_by_the_file() -> None:
    with pytest.raises(KeyError):
        work_that_fails()

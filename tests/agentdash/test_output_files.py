"""A file written as the work goes (the demo's --events): a write that fails does not stop the
work; the file is written no more, and closing it says why, naming the file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentdash.output_files import LinesFile, write_text
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


def test_a_file_written_whole_keeps_its_mode_and_a_link_its_target(tmp_path: Path) -> None:
    """write_text writes beside the file and renames over it: the file keeps its mode, a
    link still points at it (now with the new text), and nothing is left beside it."""
    real = tmp_path / "fleet.yaml"
    real.write_text("old\n")
    real.chmod(0o640)
    link = tmp_path / "link.yaml"
    link.symlink_to(real)
    write_text(link, "new\n")
    assert link.is_symlink()
    assert link.resolve() == real
    assert real.read_text() == "new\n"
    assert real.stat().st_mode & 0o777 == 0o640
    assert sorted(path.name for path in tmp_path.iterdir()) == ["fleet.yaml", "link.yaml"]


@needs_full
def test_a_device_is_written_into_not_replaced() -> None:
    with pytest.raises(ConfigError) as caught:
        write_text(FULL, "text\n")
    assert str(caught.value) == f"{FULL}: cannot write file: No space left on device"
    assert FULL.is_char_device()


def test_a_name_of_the_systems_is_written_into_not_replaced(tmp_path: Path) -> None:
    """/dev/stdout (/proc/self/fd/1) is whatever the shell opened: a pipe is written into,
    and a file (`> out.txt`) is not replaced, which would unlink the shell's own file."""
    read, written = os.pipe()
    try:
        write_text(Path(f"/proc/self/fd/{written}"), "to the pipe\n")
        assert os.read(read, 100) == b"to the pipe\n"
    finally:
        os.close(read)
        os.close(written)
    shells = tmp_path / "out.txt"
    with shells.open("w") as opened:
        write_text(Path(f"/dev/fd/{opened.fileno()}"), "to the file\n")
        assert os.fstat(opened.fileno()).st_nlink == 1  # still the file named out.txt
    assert shells.read_text() == "to the file\n"
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.txt"]

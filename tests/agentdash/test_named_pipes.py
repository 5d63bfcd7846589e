"""A file agentdash only checks before it reads it later (a credentials file, a CA, a
kubeconfig) may be a named pipe: checking it never waits for a writer. Opening a pipe to see
whether it can be read waited until something wrote to it: `check-config` of a config whose
creds_file was one, and `--kubeconfig PIPE`, hung with no word."""

from __future__ import annotations

import contextlib
import os
import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from agentdash.cli import main
from tests.support.mistakes import edited, exit_code

WAIT_S = 10.0
"""Far longer than a check takes; a check still waiting then waits for a writer."""


def finished(call: Callable[[], object], pipe: Path) -> tuple[bool, object]:
    """Whether `call` returned without anything written to `pipe`, and what it returned; a
    call still waiting on the pipe is let go by a writer, so that no test hangs."""
    result: list[object] = []
    thread = threading.Thread(target=lambda: result.append(exit_code(call)), daemon=True)
    thread.start()
    thread.join(WAIT_S)
    waited = thread.is_alive()
    if waited:
        with contextlib.suppress(OSError):  # a reader waits: open the other end, and close it
            os.close(os.open(pipe, os.O_WRONLY | os.O_NONBLOCK))
        thread.join()
    return not waited, result[0] if result else None


@pytest.fixture
def pipe(tmp_path: Path) -> Path:
    path = tmp_path / "pipe"
    os.mkfifo(path)
    return path


def test_check_config_notes_a_creds_file_that_is_a_pipe_without_waiting_on_it(
    tmp_path: Path, pipe: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "agentdash.yaml"
    config.write_text(edited(nats={"creds_file": str(pipe)}))

    done, code = finished(lambda: main(["check-config", str(config)]), pipe)

    assert done
    assert code == 0
    assert capsys.readouterr().out.endswith(
        f"note: nats.creds_file: cannot read {pipe}: not a regular file here; the controller "
        "will not start without it\n"
    )


def test_a_kubeconfig_that_is_a_pipe_is_one_line_without_waiting_on_it(
    pipe: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done, code = finished(lambda: main(["--kubeconfig", str(pipe), "--read-only"]), pipe)

    assert done
    assert code == 2
    err = capsys.readouterr().err
    assert err.endswith(
        f"argument --kubeconfig: expected a file that can be read, got '{pipe}' (not a regular "
        "file) (see agentdash --help)\n"
    )
    assert err.count("\n") == 1

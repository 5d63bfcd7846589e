"""A file agentdash only checks before it reads it later (a credentials file, a CA, a
kubeconfig) may be a named pipe: checking it never waits for a writer. Opening a pipe to see
whether it can be read waited until something wrote to it: `check-config` of a config whose
creds_file was one, and `--kubeconfig PIPE`, hung with no word."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from agentdash.cli import main
from tests.support.mistakes import edited, exit_code
from tests.support.pipes import finished


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

    done, code = finished(lambda: exit_code(lambda: main(["check-config", str(config)])), pipe)

    assert done
    assert code == 0
    assert capsys.readouterr().out.endswith(
        f"note: nats.creds_file: cannot read {pipe}: not a regular file here; the controller "
        "will not start without it\n"
    )


def test_a_kubeconfig_that_is_a_pipe_is_one_line_without_waiting_on_it(
    pipe: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    done, code = finished(
        lambda: exit_code(lambda: main(["--kubeconfig", str(pipe), "--read-only"])), pipe
    )

    assert done
    assert code == 2
    err = capsys.readouterr().err
    assert err.endswith(
        f"argument --kubeconfig: expected a file that can be read, got '{pipe}' (not a regular "
        "file) (see agentdash --help)\n"
    )
    assert err.count("\n") == 1

"""`agentdash import requests` as a test runs it in process: its exit code, stdout and the
lines of its stderr, and the log files it reads, written into the test's directory."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from agentdash.cli import main


def import_requests(
    capsys: pytest.CaptureFixture[str], *args: str | Path
) -> tuple[int, str, list[str]]:
    """Exit code, stdout and stderr lines of `agentdash import requests ARGS`."""
    try:
        code = main(["import", "requests", *map(str, args)])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def tasks(out: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.splitlines()]


def written(tmp_path: Path, name: str, text: str | bytes) -> Path:
    """The log `text` as the file `name`: bytes as they are (a byte order mark, CRLF)."""
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path

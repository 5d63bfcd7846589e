"""Files a command writes (simulate's --plot, tune's --output, the demo's --events and
--overrides): checked before the work that fills them, so that a path that cannot be written
is one line (`FILE: cannot write file: why`, exit 2) before minutes of work, not a traceback
after them."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from controller.core.config_errors import ConfigError


def check_writable(path: Path) -> None:
    """A file to be written later can be: a folder that is there and may be written in, no
    folder in the file's place, and no file there that may not be written (else one line,
    before the work). Nothing is created: a run that then fails leaves no file behind."""
    if path.is_dir():
        raise ConfigError(str(path), "", "cannot write file: Is a directory")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(str(path), "", "cannot write file: No such file or directory")
    if not os.access(folder, os.W_OK) or (path.exists() and not os.access(path, os.W_OK)):
        raise ConfigError(str(path), "", "cannot write file: Permission denied")


def check_distinct(outputs: Mapping[str, Path | None], inputs: Mapping[str, Path | None]) -> None:
    """Each file written (by its flag) is none of the files the command reads and none of the
    other files it writes: the inputs are read before the outputs are written, so an output
    named after one would replace it with no error, and two outputs of one name keep only the
    last. Else one line, before the work."""
    known = [(f"the {flag} it reads", path) for flag, path in inputs.items() if path is not None]
    for flag, path in outputs.items():
        if path is None:
            continue
        for what, other in known:
            if _same_file(path, other):
                raise ConfigError(str(path), flag, f"expected a file other than {what}")
        known.append((f"the {flag} it writes", path))


def _same_file(a: Path, b: Path) -> bool:
    """One file by two names (a link, a relative path), or one name for a file not there yet."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return a.resolve() == b.resolve()


def write_text(path: Path, text: str) -> None:
    try:
        path.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot write file: {exc.strerror or exc}") from None


def open_for_writing(path: Path) -> IO[str]:
    """A file written as the work goes (the demo's --events), emptied now."""
    try:
        return path.open("w", encoding="utf-8")
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot write file: {exc.strerror or exc}") from None


class LinesFile:
    """Lines written as the work goes, each flushed for whoever follows the file (the demo's
    --events). A write that fails (a full disk) does not stop the work: it is written from a
    callback deep in the work, where an OSError ended the work in a traceback. The file is
    written no more, and `close` says why, naming it; unless the work failed on its own."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._file = open_for_writing(path)
        self._failed: str | None = None

    def write(self, line: str) -> None:
        if self._failed is not None:
            return
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self._failed = exc.strerror or str(exc)

    def close(self) -> None:
        try:
            self._file.close()  # (what a failed flush left buffered fails again: said once)
        except OSError as exc:
            self._failed = self._failed or exc.strerror or str(exc)
        if self._failed is not None:
            raise ConfigError(str(self.path), "", f"cannot write file: {self._failed}")

    def __enter__(self) -> LinesFile:
        return self

    def __exit__(self, kind: type[BaseException] | None, *_: object) -> None:
        if kind is None:
            self.close()
            return
        with contextlib.suppress(ConfigError):  # the work's own error is the one to say
            self.close()

"""Files a command writes (simulate's --plot, tune's --output, the demo's --events and
--overrides): checked before the work that fills them, so that a path that cannot be written
is one line (`FILE: cannot write file: why`, exit 2) before minutes of work, not a traceback
after them."""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import IO

from controller.core.config_errors import ConfigError


def check_writable(path: Path) -> None:
    """A file to be written later can be: a folder that is there and may be written in, no
    folder in the file's place, and no file there that may not be written (else one line,
    before the work). Nothing is created: a run that then fails leaves no file behind. The
    folder is the one `write_text` writes in: a link's file's; and none for a file written
    into as it is (`_in_place`: /dev/null, /dev/stdout)."""
    if path.is_dir():
        raise ConfigError(str(path), "", "cannot write file: Is a directory")
    if _in_place(path):
        if not os.access(path, os.W_OK):
            raise ConfigError(str(path), "", "cannot write file: Permission denied")
        return
    target = Path(os.path.realpath(path))
    folder = target.parent
    if not folder.is_dir():
        raise ConfigError(str(path), "", "cannot write file: No such file or directory")
    if not os.access(folder, os.W_OK) or (target.exists() and not os.access(target, os.W_OK)):
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
    """`text` as the whole of the file, or the file as it was: written beside it, then renamed
    over it, so that a write that fails part way (a full disk) leaves no file cut short, above
    all a config tuned in place (`tune --output` naming `--config`), which a cut could leave
    valid and different. A link keeps pointing where it did, at the new text. What is written
    into as it is (`_in_place`) is opened and written, as before."""
    try:
        if _in_place(path):
            path.write_text(text, encoding="utf-8")
            return
        _replace(Path(os.path.realpath(path)), text)
    except OSError as exc:
        raise ConfigError(str(path), "", f"cannot write file: {exc.strerror or exc}") from None


SYSTEM = ("/dev/", "/proc/")
"""Where a name is the system's, not a file's of its own: /dev/stdout is the link
/proc/self/fd/1 to whatever the shell opened (a pipe, a terminal, `> file`)."""


def _in_place(path: Path) -> bool:
    """Whether `path` is written into as it is, not replaced by a file renamed over it: what
    is no regular file (/dev/null, a pipe), and what is reached through the system's names
    (/dev/stdout redirected to a file: replaced, the shell's own file would be unlinked, and
    the rest of standard output lost with it)."""
    if path.exists() and not path.is_file():
        return True
    name, hops = os.path.abspath(path), 0
    while hops < 40:  # as the kernel follows at most 40 links
        if name.startswith(SYSTEM):
            return True
        if not os.path.islink(name):
            break
        name = os.path.abspath(os.path.join(os.path.dirname(name), os.readlink(name)))
        hops += 1
    return os.path.realpath(path).startswith(SYSTEM)


def _replace(target: Path, text: str) -> None:
    """Write `text` to a new file in `target`'s folder, then rename it over `target`: the file
    keeps its mode (and owner, where it may), or takes a new file's mode under the umask."""
    try:
        kept: os.stat_result | None = target.stat()
    except FileNotFoundError:
        kept = None
    fd, name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as file:
            file.write(text)
            file.flush()
            os.fsync(file.fileno())
        if kept is not None:
            os.chmod(name, stat.S_IMODE(kept.st_mode))
            with contextlib.suppress(OSError):
                os.chown(name, kept.st_uid, kept.st_gid)
        else:
            os.chmod(name, 0o666 & ~_umask())
        os.replace(name, target)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(name)
        raise


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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

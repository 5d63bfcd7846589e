"""The config's files that hold a secret (NATS credentials, an nkey seed, a TLS key, a bearer
token): one warning line for each that group or others may open, as ssh says of a private
key. agentdash goes on: the file is the operator's to fix, and refusing would stop a fleet."""

from __future__ import annotations

import os
import stat
import sys
from typing import TextIO

from controller.core.config import Config
from controller.core.printable import printable

SECRETS = frozenset(
    {
        "nats.creds_file",
        "nats.nkey_seed_file",
        "nats.tls.key_file",
        "prometheus.bearer_token_file",
    }
)
"""The config's fields (as `files()` names them) whose file is a secret."""
OPEN_TO_OTHERS = 0o077
"""Any permission for group or others, as ssh checks a private key's."""


def open_secret_files(config: Config) -> list[str]:
    """A warning line for each secret file whose mode lets group or others in."""
    files = config.nats.files() | (config.prometheus.files() if config.prometheus else {})
    lines = []
    for field, file in files.items():
        try:
            status = os.stat(file)
        except OSError:
            continue  # unreadable: check_files says so
        mode = stat.S_IMODE(status.st_mode)
        if not stat.S_ISREG(status.st_mode):
            continue  # a folder or a pipe: check_files says that, not its mode
        if field in SECRETS and mode & OPEN_TO_OTHERS:
            lines.append(
                printable(
                    f"agentdash: warning: {file} is open to group or others "
                    f"(mode {mode:04o}); chmod 600 it"
                )
            )
    return lines


def warn_open_secret_files(config: Config, out: TextIO | None = None) -> None:
    for line in open_secret_files(config):
        print(line, file=out or sys.stderr)

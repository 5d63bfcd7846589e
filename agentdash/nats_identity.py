"""What the config's NATS identity files hold, checked before any connection: an nkey seed
that is not one, or a creds file without its JWT or its seed, is a line naming the field.

nats.py reads them only once a server asks who we are: a bad seed then raised a traceback
from inside the client, and a creds file without the JWT's marker was read for ever (its
reader loops until it finds one). A server without auth never asks, so the mistake waited
for the first one that does.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from controller.core.config import why_unreadable
from controller.core.connections import NatsConfig

MAX_IDENTITY_BYTES = 64 * 1024
"""A creds file is a JWT and a seed, a few KiB: more is not one."""
JWT_MARKER = b"BEGIN NATS USER JWT"
SEED_MARKER = b"BEGIN USER NKEY SEED"
EXPECTED_SEED = "an nkey seed (the SU... line that `nk -gen user` or nsc writes)"
EXPECTED_CREDS = "a NATS creds file (a user JWT and its nkey seed, as nsc writes it)"


def identity_problems(auth: NatsConfig) -> dict[str, str]:
    """Field path -> why, for each identity file whose content is not what it should be.
    Files that cannot be read at all are config.unreadable_files' to say; without the nkeys
    package, nats_client says that first."""
    if importlib.util.find_spec("nkeys") is None:
        return {}
    problems = {}
    seed, creds = _readable(auth.nkey_seed_file), _readable(auth.creds_file)
    if seed is not None:
        why = _seed_problem(_head(seed).strip())
        if why is not None:
            problems["nats.nkey_seed_file"] = f"expected {EXPECTED_SEED}: {why}"
    if creds is not None:
        why = _creds_problem(_head(creds))
        if why is not None:
            problems["nats.creds_file"] = f"expected {EXPECTED_CREDS}: {why}"
    return problems


def _readable(file: str | Path | None) -> Path | None:
    """The file, if it is a regular one this process can read (a pipe is never opened: the
    open would wait for a writer); else None, and config.unreadable_files says why."""
    if file is None or why_unreadable(file) is not None:
        return None
    return Path(file)


def _head(file: Path) -> bytes:
    try:
        with file.open("rb") as opened:
            return opened.read(MAX_IDENTITY_BYTES + 1)
    except OSError:
        return b""


def _seed_problem(seed: bytes) -> str | None:
    import nkeys

    if not seed:
        return "the file is empty"
    if len(seed) > MAX_IDENTITY_BYTES:
        return f"more than {MAX_IDENTITY_BYTES // 1024} KiB"
    try:
        nkeys.from_seed(bytearray(seed)).wipe()
    except Exception:  # nkeys raises its own errors, binascii's and ValueError
        return "it is not a valid seed"
    return None


def _creds_problem(text: bytes) -> str | None:
    if len(text) > MAX_IDENTITY_BYTES:
        return f"more than {MAX_IDENTITY_BYTES // 1024} KiB"
    lines = text.splitlines()
    jwt = _after(lines, JWT_MARKER)
    if not jwt:
        return "no user JWT after a '-----BEGIN NATS USER JWT-----' line"
    seed = _after(lines, SEED_MARKER)
    if not seed:
        return "no seed after a '-----BEGIN USER NKEY SEED-----' line"
    if _seed_problem(seed) is not None:
        return "the seed in it is not a valid nkey seed"
    return None


def _after(lines: list[bytes], marker: bytes) -> bytes:
    """The line after the first that holds `marker`, stripped (b"" if none)."""
    for k, line in enumerate(lines[:-1]):
        if marker in line:
            return lines[k + 1].strip()
    return b""

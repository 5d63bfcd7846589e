"""Why a socket failed, in words a person can act on: the one line for NATS that cannot be
reached (`agentdash queues`, the daemon, the demo) and for `--http` that cannot listen."""

from __future__ import annotations

import errno
import os
import re
import socket


def os_reason(exc: OSError) -> str:
    """The system's short words (`Connection refused`, `Address already in use`) rather than
    asyncio's long ones. os.strerror knows no resolver codes (a gaierror's -2 is 'Unknown
    error -2'): a host that does not resolve says so, in the resolver's words."""
    if isinstance(exc, socket.gaierror):
        return f"the host does not resolve ({exc.strerror})"
    numbers = os_errnos(exc)
    if len(numbers) == 1:
        return os.strerror(numbers.pop())
    return str(exc) or type(exc).__name__


def is_refused(exc: BaseException) -> bool:
    """Nothing listens there: every address the host has refused the connection."""
    return isinstance(exc, OSError) and os_errnos(exc) == {errno.ECONNREFUSED}


def os_errnos(exc: OSError) -> set[int]:
    """The error numbers behind `exc`. A name with several addresses (localhost: ::1 and
    127.0.0.1) that all fail gives asyncio's plain OSError, errno None, whose text alone
    lists each address's `[Errno N]`."""
    if isinstance(exc, socket.gaierror):
        return set()  # the resolver's numbers, not errno's
    if exc.errno:
        return {exc.errno}
    return {int(number) for number in re.findall(r"\[Errno (\d+)\]", str(exc))}

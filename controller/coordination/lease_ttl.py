"""How long a leader lease may last: the range `--lease-ttl` takes, and the range of a
Kubernetes Lease's `leaseDurationSeconds` that a process reading it believes. Anyone with the
rights may write any number there (a real API server refuses only one below 1 s), and a holder
that names a billion seconds would keep every other process from ever calling it gone."""

from __future__ import annotations

import math
from typing import Any

MIN_S = 1
MAX_S = 3600


def lease_seconds(value: Any) -> int | None:
    """`value` if it is whole seconds from MIN_S to MAX_S (as a Lease's JSON holds them);
    None for anything else: missing, zero, negative, absurd, a string, a fraction."""
    if isinstance(value, int) and not isinstance(value, bool) and MIN_S <= value <= MAX_S:
        return value
    return None


def whole_seconds(ttl: float) -> int:
    """The leaseDurationSeconds a TTL gives: the API keeps whole seconds, so it is rounded up
    (a lease never shorter than asked), and at least 1."""
    return max(1, math.ceil(ttl))

"""How a count is said in what the commands print: `1 pool`, `5 pools`, `1,005 pools`; and a
length of time as an operator gave it: `90 min`, `2,880 min (2 d)`."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """`n noun`, with an `s` unless there is exactly one, and the thousands marked."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def span_words(seconds: float) -> str:
    """A pin's or a pause's length as the confirmation and the action's event say it: exactly
    as understood (no rounding: `123456.7` minutes is not `123457`), in minutes, with whole
    days or hours beside (`1,440 min (1 d)`); under a minute in seconds."""
    if seconds < 60:
        return f"{seconds:.10g} s"
    minutes = f"{seconds / 60:,.10g} min"
    for unit, size in (("d", 86400), ("h", 3600)):
        if seconds >= size and seconds % size == 0:
            return f"{minutes} ({seconds // size:,.0f} {unit})"
    return minutes

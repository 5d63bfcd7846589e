"""How a count is said in what the commands print: `1 pool`, `5 pools`, `1,005 pools`; names
in words: `a, b and c`; and a
length of time as an operator gave it: `90 min`, `2,880 min (2 d)`; and one measured, rounded
in the unit that shows it: `40 s`, `25 min`, `5.7 h`."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """`n noun`, with an `s` unless there is exactly one, and the thousands marked."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")


def in_words(names: list[str]) -> str:
    """Names as a list in words: `a`, `a and b`, `a, b and c`."""
    if len(names) == 1:
        return names[0]
    return f"{', '.join(names[:-1])} and {names[-1]}"


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


def rounded_span(seconds: float) -> str:
    """A length of time, or a time into a trace, in the unit that shows it: under 100 s in
    seconds, under 100 min in minutes, else in hours to a tenth (a minute's trace is not
    `0.0 h`)."""
    if seconds < 99.5:
        return f"{seconds:.0f} s"
    if seconds < 99.5 * 60:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:,.1f} h"

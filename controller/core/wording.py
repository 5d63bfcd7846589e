"""How a count is said in what the commands print: `1 pool`, `5 pools`, `1,005 pools`."""

from __future__ import annotations


def plural(n: int, noun: str) -> str:
    """`n noun`, with an `s` unless there is exactly one, and the thousands marked."""
    return f"{n:,} {noun}" + ("" if n == 1 else "s")

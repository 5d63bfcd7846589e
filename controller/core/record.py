"""`Record`: the base of the engine's hot records (Claim, Hold, Timed, ...).

A record on the engine's hot path is a slotted class with a keyword-only `__init__` that
sets each slot: `make accel` (mypyc) compiles such a class to a struct, and building one
costs about a tenth of a dataclass or NamedTuple, whose generated `__init__`/`__new__` runs
as interpreted Python even when its module is compiled (0.5-1 µs a record, measured; the
backtest builds a dozen records a claim). This base gives such a record what a dataclass
would: equality and a repr, by its slots.
"""

from __future__ import annotations

from typing import Any, ClassVar, cast


class Record:
    """Equality and a repr by FIELDS, which a record lists and takes as its `__slots__`
    (a compiled class keeps no `__slots__` to read)."""

    FIELDS: ClassVar[tuple[str, ...]] = ()
    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if type(other) is not type(self):
            return NotImplemented
        return all(getattr(self, name) == getattr(other, name) for name in self.FIELDS)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in self.FIELDS)
        return f"{type(self).__name__}({fields})"

    def __reduce__(self) -> tuple[object, tuple[object, ...]]:
        # Pickle's default makes the object bare and then sets its slots, which a compiled
        # record's class refuses (its __init__ wants every field): a backtest's forked workers
        # send their runs back pickled, with the reasons for each change.
        values = tuple(getattr(self, name) for name in self.FIELDS)
        return (_rebuilt, (type(self), values))


def _rebuilt(kind: type[Record], values: tuple[object, ...]) -> Record:
    """A pickled record, built again by keyword."""
    record: Record = cast(Any, kind)(**dict(zip(kind.FIELDS, values, strict=True)))
    return record

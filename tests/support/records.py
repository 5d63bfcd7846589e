"""Copies of the engine's records (controller.core.record) with some fields changed."""

from __future__ import annotations

from typing import Any, TypeVar

from controller.core.record import Record

R = TypeVar("R", bound=Record)


def replaced(record: R, **fields: Any) -> R:
    """`record` with `fields` in place of its own: what `_replace` does for a named tuple."""
    unknown = set(fields) - set(record.FIELDS)
    assert not unknown, f"{type(record).__name__} has no {sorted(unknown)}"
    return type(record)(**{name: fields.get(name, getattr(record, name)) for name in record.FIELDS})

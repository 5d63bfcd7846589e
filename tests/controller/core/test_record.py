"""core.record.Record: each record lists, in FIELDS, exactly the fields it declares, in order,
so its equality and repr see every one (and its slots hold every one)."""

from __future__ import annotations

import importlib
import pkgutil

import pytest

import controller.core
from controller.core.record import Record
from controller.core.spend_samples import Sample

for _module in pkgutil.iter_modules(controller.core.__path__):
    importlib.import_module(f"controller.core.{_module.name}")

RECORDS = sorted(Record.__subclasses__(), key=lambda cls: cls.__qualname__)


def test_the_claims_records_are_records() -> None:
    names = {cls.__name__ for cls in RECORDS}
    assert {"Claim", "Timed", "Hold", "Plan", "Footprint", "Need"} <= names


@pytest.mark.parametrize("record", RECORDS, ids=lambda cls: cls.__qualname__)
def test_a_record_lists_the_fields_it_declares(record: type[Record]) -> None:
    assert tuple(record.__annotations__) == record.FIELDS
    assert record.__slots__ == record.FIELDS


def test_two_samples_differing_in_any_field_differ() -> None:
    # A tenant's spend counts a sample only when it differs from the last: Sample's own
    # equality must see every field (a new one included).
    base = {"used": 1000, "tasks": 3, "lag": 2, "learn": True}
    assert set(Sample.FIELDS) == set(base), "a new field of Sample: give it a value here"
    assert Sample(**base) == Sample(**base)
    for name, value in base.items():
        other = not value if isinstance(value, bool) else value + 1
        assert Sample(**base) != Sample(**{**base, name: other}), name

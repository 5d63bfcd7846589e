"""The overrides file (`demo --overrides FILE`) is read within the limits every input file is
held to (controller.core.input_files): a file of any size is refused at its first 4 MiB, and
never read whole into memory (`--overrides /dev/zero` read until the memory ran out)."""

from __future__ import annotations

import tracemalloc
from pathlib import Path

import pytest

from controller.coordination.overrides import OverrideStore
from controller.core.config import ConfigError
from controller.core.input_files import MAX_FILE_BYTES
from tests.support.factories import config, pool

CONFIG = config({"research": pool("acme")})


def test_an_overrides_file_too_large_is_refused_without_being_read_whole(
    tmp_path: Path,
) -> None:
    path = tmp_path / "overrides.json"
    with path.open("wb") as file:
        file.truncate(25 * MAX_FILE_BYTES)  # 100 MiB, sparse: nothing written to the disk
    tracemalloc.start()
    try:
        with pytest.raises(ConfigError) as caught:
            OverrideStore(CONFIG, path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert str(caught.value) == f"{path}: expected JSON of at most 4 MiB, got more"
    assert peak < 3 * MAX_FILE_BYTES


def test_an_overrides_file_saved_with_a_byte_order_mark_reads_as_without(
    tmp_path: Path,
) -> None:
    path = tmp_path / "overrides.json"
    path.write_text('{"paused_tenants": ["acme"]}', encoding="utf-8-sig")
    assert OverrideStore(CONFIG, path).current().paused_tenants == frozenset({"acme"})


def test_a_byte_that_is_not_utf8_is_named_by_its_place_and_value(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    path.write_bytes(b'{"paused_tenants": ["caf\xe9"]}')
    with pytest.raises(ConfigError) as caught:
        OverrideStore(CONFIG, path)
    assert str(caught.value) == f"{path}: byte 24: expected UTF-8 text, got byte 0xe9"


@pytest.mark.parametrize(
    ("document", "field", "expected"),
    [
        # once valid: a reason saying until when the pin holds stopped the controller
        ('{"pins": {"research": {"replicas": 1, "until": 1e308}}}', "pins.research.until",
         "expected a number <= 1e+11, got 1e+"),
        ('{"paused_pools": {"research": {"until": 1e17}}}', "paused_pools.research.until",
         "expected a number <= 1e+11, got 1e+"),
        ('{"pins": {"research": {"replicas": 1, "at": -1}}}', "pins.research.at",
         "expected a number >= 0, got -1"),
        # once read as true, 3 and 3: a controller paused by a typo
        ('{"paused": "on"}', "paused", "expected true or false"),
        ('{"dry_run": 1}', "dry_run", "expected true or false"),
        ('{"pins": {"research": {"replicas": "3"}}}', "pins.research.replicas",
         "expected an integer"),
        ('{"pins": {"research": {"replicas": 3.0}}}', "pins.research.replicas",
         "expected an integer"),
        ('{"pins": {"research": {"replicas": 1, "until": "99"}}}', "pins.research.until",
         "expected a number, got '99'"),
    ],
)  # fmt: skip
def test_a_value_out_of_range_or_of_another_type_is_one_line_naming_its_field(
    tmp_path: Path, document: str, field: str, expected: str
) -> None:
    path = tmp_path / "overrides.json"
    path.write_text(document)
    with pytest.raises(ConfigError) as caught:
        OverrideStore(CONFIG, path)
    said = str(caught.value)
    assert said.startswith(f"{path}: {field}: ")
    assert expected in said
    assert "\n" not in said


def test_saving_leaves_a_file_named_like_its_temporary_alone(tmp_path: Path) -> None:
    path = tmp_path / "overrides.json"
    mine = tmp_path / "overrides.tmp"
    mine.write_text("the user's own notes\n")
    store = OverrideStore(CONFIG, path, who=lambda: "alice")
    store.pin("research", 3)
    assert mine.read_text() == "the user's own notes\n"
    assert OverrideStore(CONFIG, path).current().pins["research"].replicas == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["overrides.json", "overrides.tmp"]


@pytest.mark.parametrize("text", ["", "\n", "  \n\n"])
def test_an_empty_file_made_to_keep_them_in_holds_none_yet_and_takes_the_first(
    tmp_path: Path, text: str
) -> None:
    """`touch overrides.json` then `agentdash demo --overrides overrides.json` was refused,
    "expected valid JSON: Expecting value", where no file at all starts with none."""
    path = tmp_path / "overrides.json"
    path.write_text(text)
    store = OverrideStore(CONFIG, path, who=lambda: "alice")
    assert store.current().pins == {}
    store.pin("research", 2)
    assert OverrideStore(CONFIG, path).current().pins["research"].replicas == 2

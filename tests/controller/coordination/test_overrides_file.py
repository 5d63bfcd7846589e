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

"""The limits on what a file may hold stop what would hang or crash, and nothing a real config
needs: anchors, merge keys and thousands of pools still load."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.core.config import ConfigError, load_config
from controller.core.input_files import decode, load_json, load_yaml, read_text
from controller.sources.observations_file import load_observations

EXAMPLE = Path(__file__).parents[3] / "examples" / "agentdash.yaml"
BASE: dict[str, Any] = yaml.safe_load(EXAMPLE.read_text())


def test_anchors_aliases_and_merge_keys_still_load(tmp_path: Path) -> None:
    text = EXAMPLE.read_text().replace("    behavior:\n", "    behavior: &quick\n", 1)
    text = text.replace(
        "  acme-support:\n    tenant: acme\n",
        "  acme-support:\n    <<: {tenant: globex, max_replicas: 3}\n    tenant: acme\n",
    )
    text += "    take_over: false\n  spare:\n    <<: {tenant: initech, behavior: *quick}\n"
    text += "    deployment: {namespace: agents, name: spare}\n"
    text += "    queue: {stream: AGENT_TASKS, consumer: spare}\n"
    path = tmp_path / "agentdash.yaml"
    path.write_text(text)
    config = load_config(path)
    assert config.pools["spare"].behavior == config.pools["acme-research"].behavior
    support = config.pools["acme-support"]
    assert (support.tenant, support.max_replicas) == ("acme", 6)  # the mapping's own keys win


@pytest.mark.e2e
def test_three_thousand_pools_load(tmp_path: Path) -> None:
    """1.5 MiB and more than 100,000 values: within the limits (4 MiB, 1,000,000)."""
    data = copy.deepcopy(BASE)
    for i in range(3000):
        data["pools"][f"p{i}"] = {
            **copy.deepcopy(BASE["pools"]["acme-research"]),
            "deployment": {"namespace": "agents", "name": f"p{i}"},
            "queue": {"stream": "AGENT_TASKS", "consumer": f"p{i}"},
        }
    path = tmp_path / "big.yaml"
    path.write_text(yaml.safe_dump(data))
    assert path.stat().st_size > 1 << 20
    assert len(load_config(path).pools) == 3005


@pytest.mark.parametrize(
    ("written", "read"),
    [
        ("30", 30),
        ("-5", -5),
        ("0", 0),
        ("1.5", 1.5),
        ("-0.5", -0.5),
        ("1e3", 1000.0),
        ("1.0e+3", 1000.0),
        ("1E-3", 0.001),
        ("030", "030"),  # YAML 1.1: octal 24
        ("0x18", "0x18"),  # hexadecimal 24
        ("0b11", "0b11"),
        ("17:30", "17:30"),  # base 60: 1050
        ("+5", "+5"),  # JSON has no leading +
        ("1_000", "1_000"),  # nor digit separators
        ("1_0.5", "1_0.5"),
        (".5", ".5"),  # nor a fraction without its integer part
        ("1.", "1."),  # nor a point without digits after it
        ("+1.5", "+1.5"),
        ("01.5", "01.5"),
    ],
)
def test_a_number_is_what_json_would_read_and_the_rest_stays_text(
    written: str, read: object
) -> None:
    """A pod count written `030` must not quietly become 24: it stays the text it is, which a
    number field refuses by name; a time of day needs no quotes."""
    value = load_yaml(f"v: {written}\n", "f.yaml")["v"]
    assert value == read
    assert type(value) is type(read)


def test_a_byte_order_mark_is_skipped_in_json_as_in_yaml(tmp_path: Path) -> None:
    """Editors on Windows start a UTF-8 file with a BOM. YAML skips it; JSON refuses it
    ('Unexpected UTF-8 BOM'), so an observations file saved there would not load."""
    examples = EXAMPLE.parent
    config = load_config(EXAMPLE)
    plain = examples / "observations.json"
    marked = tmp_path / "observations.json"
    marked.write_bytes(b"\xef\xbb\xbf" + plain.read_bytes())
    assert load_observations(marked, config) == load_observations(plain, config)
    assert load_json(read_text(marked), "f.json") == load_json(read_text(plain), "f.json")
    yaml_marked = tmp_path / "agentdash.yaml"
    yaml_marked.write_bytes(b"\xef\xbb\xbf" + EXAMPLE.read_bytes())
    assert load_config(yaml_marked).model_dump() == config.model_dump()


def test_a_byte_order_mark_inside_a_file_is_named_where_it_is(tmp_path: Path) -> None:
    """`cat base.yaml pools.yaml`, pools.yaml saved with a BOM, puts one at a line's start:
    it was 'expected valid YAML: did not find expected key', with no word of the BOM."""
    text = EXAMPLE.read_text()
    head, tail = text[: text.index("tiers:")], text[text.index("tiers:") :]
    path = tmp_path / "agentdash.yaml"
    path.write_bytes(head.encode() + "\ufeff".encode() + tail.encode())
    line = head.count("\n") + 1
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert str(caught.value) == (
        f"{path}: line {line} column 1: expected valid YAML, got a byte order mark (U+FEFF) "
        "inside the file: files joined together, one saved with it? remove it"
    )


def test_a_byte_that_is_not_utf8_is_named_by_its_place_and_value() -> None:
    with pytest.raises(ConfigError) as caught:
        decode(b"\xef\xbb\xbfcluster: {}  # caf\xe9\n", "f.yaml")
    assert (caught.value.path, caught.value.message) == (
        "byte 21",
        "expected UTF-8 text, got byte 0xe9",
    )


@pytest.mark.parametrize(
    ("where", "typed", "meant"),
    [("pools.acme-research", "ack_pendng", "ack_pending"), ("", "tenant", "tenants")],
)
def test_a_misspelt_key_of_an_observations_file_says_which_was_meant(
    tmp_path: Path, where: str, typed: str, meant: str
) -> None:
    """As the config's keys do: the user who typed it sees the key, not a list to search."""
    config = load_config(EXAMPLE)
    data = json.loads((EXAMPLE.parent / "observations.json").read_text())
    inside = data["pools"]["acme-research"] if where else data
    inside[typed] = 1
    path = tmp_path / "observations.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as raised:
        load_observations(path, config)
    field = f"{where}.{typed}" if where else typed
    assert str(raised.value) == f"{path}: {field}: unknown key (did you mean {meant}?)"


@pytest.mark.parametrize(
    ("where", "field"),
    [
        ("pools.acme-research", "replicas"),
        ("pools.acme-research", "ready"),
        ("pins.acme-support", "replicas"),
    ],
)
def test_replicas_beyond_any_fleet_are_refused_in_an_observations_file(
    tmp_path: Path, where: str, field: str
) -> None:
    """A pin of a billion replicas was taken, and its reason read 'pinned warm at
    1000000000'; replicas are bounded here as in the config (100,000)."""
    config = load_config(EXAMPLE)
    data = json.loads((EXAMPLE.parent / "observations.json").read_text())
    data["pins"] = {"acme-support": {"replicas": 2}}
    part, name = where.split(".")
    data[part][name][field] = 10**9
    path = tmp_path / "observations.json"
    path.write_text(json.dumps(data))
    with pytest.raises(ConfigError) as raised:
        load_observations(path, config)
    said = f"{path}: {where}.{field}: expected a number <= 100000, got 1000000000"
    assert str(raised.value) == said

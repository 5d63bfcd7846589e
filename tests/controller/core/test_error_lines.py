"""A mistake in agentdash.yaml names the line it is on (`FILE:LINE: field.path: ...`), so an
editor or a terminal can jump there: the field's own line, an anchor's line for a merged key,
a list item's line, and for a field that is missing the line of the mapping that lacks it."""

from __future__ import annotations

from pathlib import Path

import pytest

from controller.core.config import ConfigError, load_config
from controller.core.config_errors import shown
from controller.core.input_files import load_yaml_with_lines

EXAMPLE = Path(__file__).parents[3] / "examples" / "agentdash.yaml"
TEXT = EXAMPLE.read_text()


def mistake(tmp_path: Path, text: str) -> ConfigError:
    file = tmp_path / "agentdash.yaml"
    file.write_text(text)
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    return caught.value


def line_of(text: str, needle: str) -> int:
    """The 1-based line of the only line holding `needle`."""
    found = [n for n, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(found) == 1, (needle, found)
    return found[0]


def replaced(old: str, new: str) -> str:
    assert TEXT.count(old) >= 1, old
    return TEXT.replace(old, new, 1)


def test_a_bad_value_names_its_line(tmp_path: Path) -> None:
    text = replaced("max_replicas: 10", "max_replicas: ten")
    error = mistake(tmp_path, text)
    line = line_of(text, "max_replicas: ten")
    assert str(error) == (
        f"{tmp_path / 'agentdash.yaml'}:{line}: pools.acme-research.max_replicas: "
        "expected an integer, got 'ten'"
    )


def test_an_unknown_key_names_its_line(tmp_path: Path) -> None:
    text = replaced("max_replicas: 10", "max_replicas: 10\n    replicas: 3")
    error = mistake(tmp_path, text)
    assert (error.line, error.path, error.message) == (
        line_of(text, "replicas: 3"),
        "pools.acme-research.replicas",
        "unknown key (did you mean min_replicas or max_replicas?)",
    )


def test_a_missing_field_names_the_mapping_that_lacks_it(tmp_path: Path) -> None:
    queue = "{stream: AGENT_TASKS_ACME, consumer: acme-research}"
    text = replaced(queue, "{stream: AGENT_TASKS_ACME}")
    error = mistake(tmp_path, text)
    assert (error.path, error.message) == (
        "pools.acme-research.queue.consumer",
        "required field is missing",
    )
    assert error.line == line_of(text, "queue: {stream: AGENT_TASKS_ACME}")


def test_a_cross_reference_names_the_line_of_the_field_that_refers(tmp_path: Path) -> None:
    """Checked after parsing, by the whole config (an unknown tier), yet still placed."""
    text = replaced("tier: enterprise", "tier: platinum")
    error = mistake(tmp_path, text)
    assert error.path == "tenants.acme.tier"
    assert error.line == line_of(text, "tier: platinum")


def test_a_bad_list_item_names_the_item_line(tmp_path: Path) -> None:
    text = (
        "cluster: {max_pods: 4}\n"
        "tiers: {gold: {priority: 1}}\n"
        "tenants: {acme: {tier: gold}}\n"
        "pools:\n"
        "  research:\n"
        "    tenant: acme\n"
        "    deployment: {name: research}\n"
        "    queue: {stream: TASKS, consumer: research}\n"
        "    behavior:\n"
        "      scale_up:\n"
        "        policies:\n"
        "        - {type: Pods, value: 4, period_seconds: 15}\n"
        "        - {type: Pods, value: 0, period_seconds: 15}\n"
    )
    error = mistake(tmp_path, text)
    assert error.path == "pools.research.behavior.scale_up.policies.1.value"
    assert error.line == 13


def test_a_merged_value_is_placed_at_the_anchor_and_an_override_at_the_pool() -> None:
    text = (
        "defaults: &defaults\n"
        "  tenant: acme\n"
        "  max_replicas: 4\n"
        "pools:\n"
        "  research:\n"
        "    <<: *defaults\n"
        "    max_replicas: 9\n"
        "  support:\n"
        "    <<: *defaults\n"
    )
    data, lines = load_yaml_with_lines(text, "agentdash.yaml")
    assert data["pools"]["research"]["max_replicas"] == 9
    assert lines.line("pools.research.max_replicas") == 7  # its own key wins, as in the data
    assert lines.line("pools.support.max_replicas") == 3  # where the value was written
    assert lines.line("pools.support.tenant") == 2


def test_keys_that_need_quoting_are_found_as_the_error_spells_them() -> None:
    text = "pools:\n  'a.b':\n    x: 1\n  'with space':\n    y: 2\n"
    _, lines = load_yaml_with_lines(text, "f.yaml")
    assert lines.line("pools.'a.b'.x") == 3
    assert lines.line("pools.'with space'.y") == 5
    assert lines.line("pools.a") == 1  # no key `a`: the deepest found is `pools`


def test_a_path_not_in_the_file_has_no_line(tmp_path: Path) -> None:
    error = mistake(tmp_path, "pools: [1, 2]\n")
    assert error.path == "tiers"  # required, and nowhere in the file
    assert error.line is None
    assert str(error).startswith(f"{tmp_path / 'agentdash.yaml'}: tiers: ")


def test_json_configs_are_placed_too(tmp_path: Path) -> None:
    """JSON is YAML: a config written as JSON gets its lines as well."""
    text = '{\n  "cluster": {\n    "max_pods": "many"\n  }\n}\n'
    error = mistake(tmp_path, text)
    assert (error.path, error.line) == ("cluster.max_pods", 3)


def test_the_line_keeps_the_error_on_one_line(tmp_path: Path) -> None:
    text = replaced("max_replicas: 10", "max_replicas: 'ten\\nlines'")
    error = mistake(tmp_path, text)
    assert "\n" not in str(error)
    assert str(error).startswith(f"{tmp_path / 'agentdash.yaml'}:{error.line}: pools.")


@pytest.mark.parametrize(
    ("written", "said"),
    [
        ("true", "got true"),
        ("false", "got false"),
        ("null", "got null"),
        ("[1, true, null]", "got [1, true, null]"),
        ("{a: null}", "got {'a': null}"),
    ],
)
def test_a_value_is_said_as_yaml_writes_it_not_as_python_does(
    tmp_path: Path, written: str, said: str
) -> None:
    """`got True` or `got None` would name a Python value the person never wrote."""
    error = mistake(tmp_path, replaced("max_replicas: 10", f"max_replicas: {written}"))
    assert error.path == "pools.acme-research.max_replicas"
    assert error.message == f"expected an integer, {said}"


def test_a_long_value_is_cut_short_without_being_written_out_whole() -> None:
    said = shown(list(range(10**6)))
    assert len(said) == 80
    assert said.startswith("[0, 1, 2")
    assert said.endswith("...")
    assert shown({"key": [True, None, "x"]}) == "{'key': [true, null, 'x']}"


def test_an_unknown_name_among_thousands_lists_a_few_and_the_nearest(tmp_path: Path) -> None:
    """A fleet of 5,000 tenants: the line names eight of them, how many more, and the one
    the slip was near, not 5,000 names in a 35 KB line."""
    many = "".join(f"  tenant-{k:04d}: {{tier: growth}}\n" for k in range(5000))
    text = replaced("tenants:\n", f"tenants:\n{many}").replace(
        "tenant: acme\n", "tenant: tenant-4321x\n", 1
    )
    error = mistake(tmp_path, text)
    assert error.message == (
        "expected one of the defined tenants (acme, globex, initech, tenant-0000, tenant-0001, "
        "tenant-0002, tenant-0003, tenant-0004 and 4,995 more; did you mean tenant-4321?), "
        "got 'tenant-4321x'"
    )
    assert len(str(error)) < 400

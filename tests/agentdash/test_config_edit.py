"""Editing a few pool fields in an agentdash.yaml's own text: the rest stays as written."""

from __future__ import annotations

from typing import Any

import yaml

from agentdash.config_edit import data_diff, edit_pools, plain, unified_diff
from controller.core.config import Config, parse_config
from controller.core.input_files import load_yaml

BEHAVIOR = {
    "scale_up": {"stabilization_seconds": 0, "select_policy": "Max", "tolerance": 0.0,
                 "policies": [{"type": "Pods", "value": 6, "period_seconds": 15}]},
    "scale_down": {"stabilization_seconds": 120, "select_policy": "Max", "tolerance": 0.1,
                   "policies": [{"type": "Percent", "value": 50, "period_seconds": 30}]},
}  # fmt: skip

FLEET = """\
# the fleet
cluster: {max_pods: 30}
tiers: {enterprise: {priority: 1000}}
tenants: {acme: {tier: enterprise}}
pools:
  block:
    tenant: acme          # who pays
    deployment: {name: block}
    queue: {stream: S, consumer: block}
    cooldown_seconds: 900   # far too long
    behavior:
      scale_up:   {stabilization_seconds: 30, max_pods: 10, period_seconds: 60}
      scale_down: {stabilization_seconds: 3600, max_pods: 5, period_seconds: 120}

    # a comment about the next pool
    max_replicas: 8
  flow: {tenant: acme, deployment: {name: flow}, queue: {stream: S, consumer: flow}}
  bare:
    tenant: acme
    deployment: {name: bare}
    queue: {stream: S, consumer: bare}   # the last line
"""


def expected(text: str, changes: dict[str, dict[str, Any]]) -> Config:
    data = yaml.safe_load(text)
    for name, fields in changes.items():
        pool = data["pools"][name]
        for path, value in fields.items():
            if path.startswith("behavior."):
                rules, direction = pool.setdefault("behavior", {}), path.removeprefix("behavior.")
                rules.pop({"scale_up": "scaleUp", "scale_down": "scaleDown"}[direction], None)
                rules[direction] = value
            elif path.startswith("keep_alive."):
                pool.setdefault("keep_alive", {})[path.removeprefix("keep_alive.")] = value
            else:
                pool[path] = value
    return parse_config(data)


def edit(changes: dict[str, dict[str, Any]], text: str = FLEET) -> tuple[str, bool]:
    after, kept = edit_pools(text, changes, expected(text, changes))
    assert parse_config(yaml.safe_load(after)).model_dump() == expected(text, changes).model_dump()
    return after, kept


def changed_lines(before: str, after: str) -> tuple[list[str], list[str]]:
    diff = unified_diff(before, after, "fleet.yaml").splitlines()[2:]
    removed = [line[1:] for line in diff if line.startswith("-")]
    added = [line[1:] for line in diff if line.startswith("+")]
    return removed, added


def test_fields_are_rewritten_where_they_stand_and_nothing_else_moves() -> None:
    after, kept = edit({"block": {"behavior": BEHAVIOR, "cooldown_seconds": 60}})
    assert kept
    removed, added = changed_lines(FLEET, after)
    assert removed == [
        "    cooldown_seconds: 900   # far too long",
        "      scale_up:   {stabilization_seconds: 30, max_pods: 10, period_seconds: 60}",
        "      scale_down: {stabilization_seconds: 3600, max_pods: 5, period_seconds: 120}",
    ]
    assert added[0] == "    cooldown_seconds: 60   # far too long"  # its comment kept
    assert "        - {type: Percent, value: 50, period_seconds: 30}" in added
    assert "    # a comment about the next pool" in after


def test_a_flow_style_pool_is_rewritten_on_its_own_line() -> None:
    after, kept = edit({"flow": {"cooldown_seconds": 45}})
    assert kept
    removed, added = changed_lines(FLEET, after)
    assert removed == [line for line in FLEET.splitlines() if line.startswith("  flow:")]
    assert len(added) == 1
    assert "cooldown_seconds: 45" in added[0]


def test_missing_fields_are_added_after_the_pools_last_line() -> None:
    after, kept = edit({"bare": {"cooldown_seconds": 0, "behavior": BEHAVIOR}})
    assert kept
    removed, added = changed_lines(FLEET, after)
    assert removed == []
    assert added[:2] == ["    cooldown_seconds: 0", "    behavior:"]
    assert "    queue: {stream: S, consumer: bare}   # the last line\n" in after


def test_a_new_mapping_of_one_value_is_added_on_one_line() -> None:
    after, kept = edit({"bare": {"keep_alive.wait_weight": 2.0}})
    assert kept
    assert changed_lines(FLEET, after) == ([], ["    keep_alive: {wait_weight: 2.0}"])


def test_a_layout_it_cannot_keep_falls_back_to_the_data() -> None:
    anchored = FLEET.replace(
        "    cooldown_seconds: 900   # far too long", "    cooldown_seconds: &long 900"
    ).replace("  bare:\n", "  bare:\n    cooldown_seconds: *long\n")
    after, kept = edit({"bare": {"cooldown_seconds": 30}}, anchored)
    assert not kept
    assert yaml.safe_load(after)["pools"]["block"]["cooldown_seconds"] == 900


def test_one_rule_of_a_behavior_is_rewritten_alone() -> None:
    down = BEHAVIOR["scale_down"]
    after, kept = edit(
        {"block": {"behavior.scale_down": down}, "bare": {"behavior.scale_down": down}}
    )
    assert kept
    removed, added = changed_lines(FLEET, after)
    assert removed == [
        "      scale_down: {stabilization_seconds: 3600, max_pods: 5, period_seconds: 120}"
    ]
    assert added[:2] == ["      scale_down:", "        stabilization_seconds: 120"]
    assert "    behavior:\n      scale_down:\n" in after.split("  bare:")[1]


def test_a_block_in_the_hpas_own_names_is_rewritten_in_them_not_doubled() -> None:
    camel = FLEET.replace(
        "      scale_down: {stabilization_seconds: 3600, max_pods: 5, period_seconds: 120}",
        "      scaleDown: {stabilizationWindowSeconds: 3600, policies: [{type: Pods, value: 5,"
        " periodSeconds: 120}]}",
    )
    after, kept = edit({"block": {"behavior.scale_down": BEHAVIOR["scale_down"]}}, camel)
    assert kept
    block = after.split("  flow:")[0]
    assert block.count("scaleDown:") == 1
    assert "scale_down" not in block
    assert "stabilizationWindowSeconds: 120" in block
    assert "periodSeconds: 30" in block
    assert "selectPolicy: Max" in block


SHARED = """\
tiers: {enterprise: {priority: 1000}}
tenants: {acme: {tier: enterprise}}
pools:
  first:
    tenant: acme
    deployment: {name: first}
    queue: {stream: S, consumer: first}
    behavior: &rules
      scale_down: {stabilization_seconds: 3600}
  second:
    tenant: acme
    deployment: {name: second}
    queue: {stream: S, consumer: second}
    behavior: *rules
"""
"""Two pools that share a behavior by an anchor and its alias."""


def tuned_apart() -> tuple[str, Config]:
    """SHARED with each pool's behavior tuned its own way: (the text, the config it must be)."""
    up, down = BEHAVIOR["scale_up"], BEHAVIOR["scale_down"]
    written_twice = SHARED.replace("*rules", "{scale_down: {stabilization_seconds: 3600}}")
    unshared = yaml.safe_load(written_twice)
    unshared["pools"]["first"]["behavior"]["scale_down"] = down
    unshared["pools"]["second"]["behavior"]["scale_up"] = up
    after, kept = edit_pools(
        SHARED,
        {"first": {"behavior.scale_down": down}, "second": {"behavior.scale_up": up}},
        parse_config(unshared),
    )
    assert not kept
    return after, parse_config(unshared)


def test_pools_sharing_a_behavior_by_an_alias_are_each_given_their_own() -> None:
    after, unshared = tuned_apart()
    tuned = parse_config(yaml.safe_load(after))
    assert tuned.model_dump() == unshared.model_dump()
    first, second = tuned.pools["first"].behavior, tuned.pools["second"].behavior
    assert first.scale_up != second.scale_up  # the first pool's up rule is its own still
    assert first.scale_down != second.scale_down


def test_a_diff_of_the_data_names_no_file_for_patch_and_says_why() -> None:
    """With anchors, the diff of the data written out was headed `--- fleet.yaml (current)`,
    as the file: `patch` took it for the file, and failed on every hunk (`patch` itself is
    run on it by tests/agentdash/test_tune_cli.py)."""
    after, _ = tuned_apart()
    said, *lines = data_diff(SHARED, after, "fleet.yaml").splitlines()
    assert said == (
        "(no diff of fleet.yaml that patch applies: it shares values by YAML anchors and "
        "aliases (*rules), which an edit in place could not keep apart; below, the change to "
        "its data, written out plainly without comments or anchors, as --output writes the "
        "tuned config)"
    )
    assert lines[:2] == [
        "--- the data of fleet.yaml\t(current)",
        "+++ the data of fleet.yaml\t(tuned)",
    ]
    assert "\n".join(lines[2:]) == "\n".join(
        unified_diff(plain(SHARED), after, "x").splitlines()[2:]
    )
    assert not any("&" in line or "*" in line for line in lines)  # both sides written out


YAML_1_1 = """\
tiers: {enterprise: {priority: 1000}}
tenants:
  acme: {tier: enterprise, budget_reset: 12:30, time_zone: Europe/Berlin}
pools:
  block:
    tenant: acme
    deployment: {name: block}
    queue: {stream: S, consumer: block}
    cooldown_seconds: &long 900
  flow: {tenant: acme, deployment: {name: 0123}, queue: {stream: S, consumer: flow}}
  on:
    tenant: acme
    deployment: {name: "on"}
    queue: {stream: S, consumer: "on"}
"""
"""What agentdash reads as text and PyYAML's YAML 1.1 does not: `12:30` (750 there), `0123`
(83), and the pool named `on` (true)."""


def read(text: str) -> Any:
    return load_yaml(text, "fleet.yaml")  # as agentdash reads a config


def as_agentdash_reads(text: str) -> Config:
    return parse_config(read(text))


def test_text_that_yaml_1_1_reads_as_another_value_is_kept_as_agentdash_reads_it() -> None:
    """The file is read as agentdash reads it, where it is edited and where its data is
    written out: read with YAML 1.1, `budget_reset: 12:30` was written `budget_reset: 750`,
    a file agentdash refuses, by a tune that said it succeeded."""
    plain = YAML_1_1.replace("&long ", "")
    for text, changes, keeps in [
        (plain, {"block": {"cooldown_seconds": 30}}, True),
        (plain, {"flow": {"cooldown_seconds": 30}}, True),  # a flow pool, rewritten whole
        (plain, {"on": {"cooldown_seconds": 30}}, True),
        (YAML_1_1 + "    cooldown_seconds: *long\n", {"on": {"cooldown_seconds": 30}}, False),
    ]:
        data = read(text)
        for name, fields in changes.items():
            data["pools"][name].update(fields)
        wanted = parse_config(data)
        after, kept = edit_pools(text, changes, wanted)
        assert kept == keeps, changes
        assert as_agentdash_reads(after).model_dump() == wanted.model_dump()
        assert as_agentdash_reads(after).tenants["acme"].budget_reset == "12:30"


def test_a_name_that_agentdash_reads_as_a_number_stays_quoted() -> None:
    """`"2e5"` quoted is a name; written again plain (as yaml.safe_dump writes it, since YAML
    1.1 reads it as text), agentdash read it as the number 200000.0, and refused the file."""
    text = YAML_1_1.replace("&long ", "").replace("{name: 0123}", '{name: "2e5"}')
    for changes in ({"flow": {"cooldown_seconds": 30}}, {"flow": {"behavior": BEHAVIOR}}):
        data = read(text)
        data["pools"]["flow"].update(changes["flow"])
        wanted = parse_config(data)
        after, kept = edit_pools(text, changes, wanted)
        assert kept
        assert as_agentdash_reads(after).model_dump() == wanted.model_dump()
        assert as_agentdash_reads(after).pools["flow"].deployment.name == "2e5"


def test_a_direction_added_beside_one_in_the_hpas_names_is_written_in_them_too() -> None:
    """A stranger's pool with a pasted `scaleDown` was tuned a scale-up rule: it was added as
    `scale_up` with `stabilization_seconds`, one block in two spellings."""
    camel = FLEET.replace(
        "      scale_up:   {stabilization_seconds: 30, max_pods: 10, period_seconds: 60}\n", ""
    ).replace(
        "      scale_down: {stabilization_seconds: 3600, max_pods: 5, period_seconds: 120}",
        "      scaleDown:   # pasted from the HPA\n        stabilizationWindowSeconds: 3600",
    )
    after, kept = edit({"block": {"behavior.scale_up": BEHAVIOR["scale_up"]}}, camel)
    assert kept
    removed, added = changed_lines(camel, after)
    assert removed == []
    assert added[:3] == [
        "      scaleUp:",
        "        stabilizationWindowSeconds: 0",
        "        selectPolicy: Max",
    ]
    assert "        - {type: Pods, value: 6, periodSeconds: 15}" in added
    assert "scale_up" not in after
    assert "stabilization_seconds" not in after.split("  flow:")[0]


def ends(text: str) -> set[str]:
    """The line endings of the text's lines: {"\r\n"} for a file saved on Windows."""
    return {"\r\n" if line.endswith("\r\n") else line[-1:] for line in text.splitlines(True)}


def test_a_file_saved_on_windows_keeps_its_crlf_and_its_byte_order_mark() -> None:
    """The lines tune added to a CRLF file ended in LF alone: a file of mixed line endings,
    and a diff whose added lines were not the file's."""
    windows = "\ufeff" + FLEET.replace("\n", "\r\n")
    changes = {
        "block": {"cooldown_seconds": 60, "behavior.scale_down": BEHAVIOR["scale_down"]},
        "flow": {"cooldown_seconds": 45},
        "bare": {"cooldown_seconds": 0, "behavior": BEHAVIOR},  # added after its last line
    }
    after, kept = edit(changes, windows)
    assert kept
    assert ends(after) == {"\r\n"}
    unix, _ = edit(changes)
    assert after == "\ufeff" + unix.replace("\n", "\r\n")  # the mark once, where it was
    diff = unified_diff(windows, after, "fleet.yaml").splitlines(keepends=True)[2:]
    changed = [line for line in diff if line.startswith(("-", "+"))]
    assert len(changed) > 10
    assert ends("".join(changed)) == {"\r\n"}  # as the lines of the file they are patched into


def test_a_layout_it_cannot_keep_is_written_out_in_the_files_line_endings() -> None:
    anchored = FLEET.replace("  bare:\n", "  bare:\n    cooldown_seconds: *long\n").replace(
        "    cooldown_seconds: 900   # far too long", "    cooldown_seconds: &long 900"
    )
    windows = "\ufeff" + anchored.replace("\n", "\r\n")
    after, kept = edit({"bare": {"cooldown_seconds": 30}}, windows)
    assert not kept
    assert ends(after) == {"\r\n"}
    unix, _ = edit({"bare": {"cooldown_seconds": 30}}, anchored)
    assert after == "\ufeff" + unix.replace("\n", "\r\n")

"""The config model: the example loads, and every mistake names file, field path, expectation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.core.config import ConfigError, load_config

EXAMPLE = Path(__file__).parents[3] / "examples" / "agentdash.yaml"


def test_example_config_loads_with_every_section() -> None:
    config = load_config(EXAMPLE)
    assert config.cluster.max_pods == 24
    assert next(iter(config.pools)) == "acme-research"
    research = config.pools["acme-research"]
    assert research.queue.consumer == "acme-research"
    assert research.behavior.scale_up.describe() == "6 pods / 5 s"
    assert config.tier_of["initech-summarize"] == "starter"
    assert config.subject("acme-research") == "agent_tasks_acme.acme-research"


def test_default_behavior_goes_straight_up_and_lets_go_after_the_down_window(
    tmp_path: Path,
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    del data["pools"]["acme-research"]["behavior"]
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    behavior = load_config(path).pools["acme-research"].behavior
    assert behavior.scale_up.stabilization_seconds == 0
    assert behavior.scale_up.describe() == "no rate limit"
    assert behavior.scale_up.tolerance == 0
    assert behavior.scale_down.stabilization_seconds == 120
    assert behavior.scale_down.describe() == "100% / 15 s"


def test_a_scale_up_set_without_policies_gets_the_hpas(tmp_path: Path) -> None:
    """As the HPA fills in a `scaleUp` that names only its window: a block pasted from an
    HPA or a ScaledObject means what it meant there."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pools"]["acme-research"]["behavior"] = {"scaleUp": {"stabilizationWindowSeconds": 30}}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    behavior = load_config(path).pools["acme-research"].behavior
    assert behavior.scale_up.stabilization_seconds == 30
    assert behavior.scale_up.describe() == "max(100% / 15 s, 4 pods / 15 s)"


def test_an_hpa_behavior_block_pastes_in_with_its_own_names(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pools"]["acme-research"]["behavior"] = yaml.safe_load(
        """
        scaleDown:
          stabilizationWindowSeconds: 60
          selectPolicy: Min
          policies:
          - {type: Pods, value: 4, periodSeconds: 60}
          - {type: Percent, value: 10, periodSeconds: 60}
        """
    )
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    behavior = load_config(path).pools["acme-research"].behavior
    assert behavior.scale_down.stabilization_seconds == 60
    assert behavior.scale_down.describe() == "min(4 pods / 60 s, 10% / 60 s)"
    assert behavior.scale_up.describe() == "no rate limit"  # not set: agentdash's default


P = "pools.acme-research.behavior"


@pytest.mark.parametrize(
    ("behavior", "path", "expected"),
    [
        (
            {"scaleUp": {"select_policy": "Max"}, "scale_up": {"select_policy": "Min"}},
            P,
            "expected each key once in a mapping, got 'scale_up' twice "
            "(as 'scaleUp' and 'scale_up')",
        ),
        (
            {"scaleDown": {}, "scale_down": {}},
            P,
            "expected each key once in a mapping, got 'scale_down' twice",
        ),
        (
            {"scaleUp": {"stabilizationWindowSeconds": 10, "stabilization_seconds": 20}},
            f"{P}.scale_up",
            "expected each key once in a mapping, got 'stabilization_seconds' twice "
            "(as 'stabilizationWindowSeconds' and 'stabilization_seconds')",
        ),
        (
            {"scale_down": {"selectPolicy": "Min", "select_policy": "Max"}},
            f"{P}.scale_down",
            "expected each key once in a mapping, got 'select_policy' twice",
        ),
        (
            {"scale_up": {"policies": [{"type": "Pods", "value": 1, "period_seconds": 5,
                                        "periodSeconds": 10}]}},
            f"{P}.scale_up.policies.0",
            "expected each key once in a mapping, got 'period_seconds' twice",
        ),
    ],
)  # fmt: skip
def test_a_behavior_key_in_both_spellings_is_a_key_given_twice(
    tmp_path: Path, behavior: dict[str, Any], path: str, expected: str
) -> None:
    """`scaleUp` and `scale_up` are one key: given both, neither may silently win."""
    data = yaml.safe_load(EXAMPLE.read_text())
    data["pools"]["acme-research"]["behavior"] = behavior
    file = tmp_path / "agentdash.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert (caught.value.path, caught.value.message[: len(expected)]) == (path, expected)


def test_the_single_rule_form_is_one_pods_policy(tmp_path: Path) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    path = tmp_path / "agentdash.yaml"
    data["pools"]["acme-research"]["behavior"] = {"scale_up": {"max_pods": 3}}
    path.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError, match=r"behavior\.scale_up: expected period_seconds"):
        load_config(path)


def _edit(data: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node = data
    for key in parents:
        node = node[key]
    if value is _DELETE:
        del node[last]
    else:
        node[last] = value


_DELETE = object()


@pytest.mark.parametrize(
    ("field", "value", "path", "expected"),
    [
        (
            "pools.acme-research.max_replicas",
            "lots",
            "pools.acme-research.max_replicas",
            "expected an integer, got 'lots'",
        ),
        (
            "pools.acme-research.max_replicas",
            -3,
            "pools.acme-research.max_replicas",
            "expected a number greater than 0, got -3",
        ),
        (
            "pools.acme-research.min_replicas",
            12,
            "pools.acme-research.min_replicas",
            "expected at most max_replicas (10), got 12",
        ),
        (
            "pools.acme-research.rpm_per_replica",
            1000,
            "pools.acme-research.rpm_per_replica",
            "expected at most provider openai's rpm x headroom (900), so that one replica "
            "fits, got 1000",
        ),
        (
            "pools.acme-research.cooldown_seconds",
            -1,
            "pools.acme-research.cooldown_seconds",
            "expected a number >= 0, got -1",
        ),
        (
            "pools.acme-research.tenant",
            "umbrella",
            "pools.acme-research.tenant",
            "expected one of the defined tenants (acme, globex, initech), got 'umbrella'",
        ),
        (
            "pools.acme-research.provider",
            "mistral",
            "pools.acme-research.provider",
            "expected one of the defined providers (anthropic, openai), got 'mistral'",
        ),
        (
            "tenants.acme.tier",
            "platinum",
            "tenants.acme.tier",
            "expected one of the defined tiers (enterprise, growth, starter), got 'platinum'",
        ),
        (
            "pools.acme-research.replicas",
            3,
            "pools.acme-research.replicas",
            "unknown key (did you mean min_replicas or max_replicas?)",
        ),
        (
            "pools.acme-research.max_replica",
            3,
            "pools.acme-research.max_replica",
            "unknown key (did you mean max_replicas?)",
        ),
        ("clusters", {"max_pods": 3}, "clusters", "unknown key (did you mean cluster?)"),
        ("pools.acme-research.bogus", 3, "pools.acme-research.bogus", "unknown key"),
        (
            "pools.acme-research.behavior.scale_up.max_pods",
            0,
            "pools.acme-research.behavior.scale_up",
            "max_pods: expected a whole number greater than 0, got 0",
        ),
        ("tenants.acme.warn_at", 1.5, "tenants.acme.warn_at", "expected a number <= 1, got 1.5"),
        (
            "tenants.acme.time_zone",
            "Mars/Olympus_Mons",
            "tenants.acme.time_zone",
            "expected an IANA time zone, such as UTC or Europe/Berlin, got 'Mars/Olympus_Mons'",
        ),
        (
            "tenants.acme.time_zone",
            "../../etc/passwd",
            "tenants.acme.time_zone",
            "expected an IANA time zone, such as UTC or Europe/Berlin, got '../../etc/passwd'",
        ),
        *(
            (
                "tenants.acme.time_zone",
                zone,
                "tenants.acme.time_zone",
                f"expected an IANA time zone, such as UTC or Europe/Berlin, got '{zone}'",
            )
            # the host's own zone (another answer on each machine), and leap-second time
            for zone in ("localtime", "posixrules", "posix/Europe/Berlin", "right/UTC")
        ),
        (
            "tenants.acme.budget_reset",
            "24:00",
            "tenants.acme.budget_reset",
            "expected a time of day as HH:MM (24 h), such as 00:00 or 09:30, got '24:00'",
        ),
        (
            "pools.acme-research.deployment",
            _DELETE,
            "pools.acme-research.deployment",
            "required field is missing",
        ),
        (
            "pools.acme-research.keep_alive",
            {"wait_weight": 2},
            "pools.acme-research.keep_alive",
            "expected no keep_alive on a pool with cooldown_seconds, which puts it on the fixed "
            "scale-down rules, got one",
        ),
        (
            "pools.acme-research.keep_alive",
            {"wait_weight": 0},
            "pools.acme-research.keep_alive.wait_weight",
            "expected a number >= 0.1, got 0",
        ),
        (
            "pools.acme-research.keep_alive",
            {"wait_weight": 100},
            "pools.acme-research.keep_alive.wait_weight",
            "expected a number <= 10, got 100",
        ),
        ("providers.openai.rpm", "fast", "providers.openai.rpm", "expected an integer"),
        (
            "pools.acme-research.queue",
            "AGENT_TASKS",
            "pools.acme-research.queue",
            "expected a mapping, got 'AGENT_TASKS'",
        ),
    ],
)
def test_a_mistake_names_file_field_and_expectation(
    tmp_path: Path, field: str, value: Any, path: str, expected: str
) -> None:
    data = yaml.safe_load(EXAMPLE.read_text())
    _edit(data, field, value)
    file = tmp_path / "agentdash.yaml"
    file.write_text(yaml.safe_dump(data))
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert caught.value.path == path
    assert caught.value.message.startswith(expected)
    line = caught.value.line
    assert str(caught.value).startswith(f"{file}:{line}: {path}: ")
    assert "\n" not in str(caught.value)
    # the line is the field's own, or for a field that is missing the mapping's that lacks it
    assert line is not None
    named = file.read_text().splitlines()[line - 1].strip()
    assert named.split(":")[0] in path.split(".")


def test_bad_yaml_names_the_line(tmp_path: Path) -> None:
    file = tmp_path / "broken.yaml"
    file.write_text("cluster:\n  max_pods: [1, 2\ntiers: {}\n")
    with pytest.raises(ConfigError) as caught:
        load_config(file)
    assert caught.value.path.startswith("line ")
    assert "expected valid YAML" in caught.value.message


def test_missing_file_says_so(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read file"):
        load_config(tmp_path / "nope.yaml")


def test_a_list_at_the_top_is_refused(tmp_path: Path) -> None:
    file = tmp_path / "list.yaml"
    file.write_text("- pools\n")
    with pytest.raises(ConfigError, match="expected a mapping at the top level"):
        load_config(file)

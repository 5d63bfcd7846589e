"""`agentdash import keda` on ScaledObjects from KEDA's own docs: each field becomes the pool
field that keeps what KEDA did (counts, behavior, tolerance, fallback, idle count, tenant), and
what has no equivalent (other triggers, a person's pause or hold) is one stderr line per field.
Which objects are read: test_import_keda_objects.py; refusals: test_import_keda_mistakes.py."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from controller.core.config import FallbackConfig
from tests.support.keda_import import (
    BEHAVIOR,
    CPU_CRON,
    FALLBACK,
    NATS,
    POOL,
    SO,
    docs_example,
    fields,
    loaded,
    run,
    write,
)


def test_the_docs_example_becomes_a_pool_that_does_what_keda_did(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, NATS)

    assert code == 0
    assert yaml.safe_load(out)["pools"] == {
        POOL: {
            "tenant": "TENANT",
            "deployment": {"namespace": "nats-jetstream", "name": "sub"},
            "queue": {"stream": "mystream", "consumer": "pull_consumer"},
            "min_replicas": 0,
            "max_replicas": 2,
            "target_lag_per_replica": 10,
            "activation_lag": 15,
            "cooldown_seconds": 10,
            "take_over": True,
        }
    }
    pool = loaded(out).pools[POOL]
    assert (pool.min_replicas, pool.max_replicas, pool.cooldown_seconds) == (0, 2, 10.0)
    assert (pool.target_lag_per_replica, pool.activation_lag) == (10, 15)
    assert str(pool.deployment) == "nats-jetstream/sub"
    assert pool.take_over
    assert "TENANT is a placeholder" in out
    # The right to pause KEDA is said where a user of the installed wheel finds it (no deploy/).
    assert "# `agentdash rbac --config agentdash.yaml` prints.\n" in out
    assert fields(err) == [
        "note spec.pollingInterval",
        "warning spec.triggers[0].metadata.natsServerMonitoringEndpoint",
        "warning spec.triggers[0].metadata.account",
        "warning spec.triggers[0].metadata.useHttps",
        "note spec.triggers[0].metadata.activationLagThreshold",
        "note spec.advanced.horizontalPodAutoscalerConfig.behavior",
        "note queue.subject",
    ]
    assert all(line.split(": ")[1] == str(NATS) for line in err)  # each names the file
    # KEDA's scaler is inactive at a lag of 15 or less, and an inactive one goes to zero after
    # its cooldown, tasks waiting or not: agentdash keeps a replica while any is left.
    assert (
        f"{SO}: spec.triggers[0].metadata.activationLagThreshold: 15: from zero, agentdash "
        "wakes the pool above it as KEDA did; but KEDA also let it go to zero with up to 15 "
        "tasks still waiting (inactive for cooldownPeriod), where agentdash lets it go only "
        "once none is left"
    ) in err[4]
    # The subject its consumer filters is not in a ScaledObject: the one agentdash would count
    # arrivals on is said, and how to find where they differ.
    assert f"pool {POOL} counts arrivals on mystream.{POOL}; " in err[-1]


def test_the_polling_interval_is_said_with_the_flag_that_replays_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, _, err = run(capsys, NATS)  # pollingInterval: 3

    assert code == 0
    (said,) = [line for line in err if "spec.pollingInterval" in line]
    assert said.endswith("keda baseline polls every 30 s unless given --keda-polling-interval 3")


def test_no_behavior_is_said_with_the_flag_that_replays_kedas_hpa_without_one(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """KEDA makes its HPA with no behavior unless the ScaledObject gives one: the controller
    then scales otherwise than by the default behavior, which the keda baseline models."""
    code, _, err = run(capsys, NATS)

    assert code == 0
    (said,) = [line for line in err if "horizontalPodAutoscalerConfig.behavior" in line]
    assert said.endswith(
        "agentdash simulate replays KEDA's HPA without one, as here, given --hpa-behavior 0"
    )


def test_a_null_field_takes_its_default_as_the_api_server_prunes_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`helm template` renders an unset value as `cooldownPeriod:`; kubectl apply takes it, the
    API server pruning the null (no field of KEDA's CRD is nullable)."""
    obj = docs_example()
    obj["spec"] |= {"cooldownPeriod": None, "advanced": None, "pollingInterval": None}
    code, out, _ = run(capsys, write(tmp_path, obj))

    assert code == 0
    pool = loaded(out).pools[POOL]
    assert pool.cooldown_seconds == 300  # KEDA's default, written out
    assert "behavior" not in pool.model_fields_set


def test_the_tenant_flag_names_the_tenant(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, NATS, "--tenant", "acme")

    assert code == 0
    assert loaded(out, "acme").pools[POOL].tenant == "acme"
    assert "placeholder" not in out


def test_an_hpa_behavior_is_kept_as_keda_gave_it(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, BEHAVIOR)

    assert code == 0
    behavior = loaded(out).pools[POOL].behavior
    assert behavior.scale_down.stabilization_seconds == 60
    assert behavior.scale_down.describe() == "1 pod / 10 s"
    assert behavior.scale_up.stabilization_seconds == 0
    assert behavior.scale_up.describe() == "5 pods / 3 s"
    assert "warning spec.advanced.restoreToOriginalReplicaCount" in fields(err)
    assert "note spec.advanced.horizontalPodAutoscalerConfig.behavior" not in fields(err)


def test_what_a_behavior_leaves_out_is_what_the_hpa_filled_in(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Only a scaleDown rate, as many set it: KEDA's HPA kept its 300 s window and limited
    scale-up to 4 pods or 100% a 15 s. The pool does the same, and the notes say so."""
    obj = docs_example()
    down = {"policies": [{"type": "Pods", "value": 1, "periodSeconds": 60}]}
    obj["spec"]["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": {"scaleDown": down}}}
    code, out, err = run(capsys, write(tmp_path, obj))

    assert code == 0
    behavior = loaded(out).pools[POOL].behavior
    assert behavior.scale_down.stabilization_seconds == 300
    assert behavior.scale_down.describe() == "1 pod / 60 s"
    assert behavior.scale_up.stabilization_seconds == 0
    assert behavior.scale_up.describe() == "max(4 pods / 15 s, 100% / 15 s)"
    assert [f for f in fields(err) if "behavior" in f] == [
        "note spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp",
        "note spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown"
        ".stabilizationWindowSeconds",
        "note spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleUp.tolerance",
        "note spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.tolerance",
    ]


def test_a_behavior_gets_the_hpas_tolerance_where_it_names_none(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """KEDA's HPA left the replicas alone within 10% either way: the pool does too, not
    agentdash's 0 up and 25% down. A tolerance the behavior names is kept."""
    code, out, err = run(capsys, BEHAVIOR)
    assert code == 0
    behavior = loaded(out).pools[POOL].behavior
    assert (behavior.scale_up.tolerance, behavior.scale_down.tolerance) == (0.1, 0.1)
    said = (
        f"note: {BEHAVIOR}: {SO}: spec.advanced.horizontalPodAutoscalerConfig.behavior"
        ".scaleDown.tolerance: not set: the HPA's 0.1 written out (agentdash's default is 0.25)"
    )
    assert said in err

    obj = docs_example()
    given = {"scaleUp": {"tolerance": 0.05}, "scaleDown": {"tolerance": 0.2}}
    obj["spec"]["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": given}}
    code, out, err = run(capsys, write(tmp_path, obj))
    assert code == 0
    behavior = loaded(out).pools[POOL].behavior
    assert (behavior.scale_up.tolerance, behavior.scale_down.tolerance) == (0.05, 0.2)
    assert not [f for f in fields(err) if f.endswith(".tolerance")]


@pytest.mark.parametrize("tolerance", ["0.05", "50m", "5e-2"])
def test_a_tolerance_written_as_a_quantity_is_read_as_one(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, tolerance: str
) -> None:
    """KEDA's CRD types a behavior's tolerance as integer or string (a Quantity): the API server
    refuses 0.05 unquoted, so 5% is written "0.05" or 50m. The import refused either."""
    obj = docs_example()
    behavior = {"scaleDown": {"tolerance": tolerance}}
    obj["spec"]["advanced"] = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}
    code, out, _ = run(capsys, write(tmp_path, obj))

    assert code == 0
    assert loaded(out).pools[POOL].behavior.scale_down.tolerance == 0.05


def test_a_fallback_maps_and_says_it_only_scales_up(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    (obj,) = yaml.safe_load_all(FALLBACK.read_text())
    obj["spec"]["maxReplicaCount"] = 10

    code, out, err = run(capsys, write(tmp_path, obj))

    assert code == 0
    fallback = loaded(out).pools[POOL].fallback
    assert fallback is not None
    assert (fallback.failure_threshold, fallback.replicas) == (3, 6)
    (note,) = [line for line in err if ": spec.fallback: " in line]
    assert note.endswith("agentdash scales up to 6 after 3 failed reads in a row, never down "
                         "(missing data never scales a pool down)")  # fmt: skip


def test_a_fallback_above_the_maximum_is_held_there_as_kedas_hpa_held_it(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """KEDA's docs' own fallback (6 replicas) beside maxReplicaCount 2: KEDA runs it, its HPA
    clamping the fallback's replicas to its maximum; the import was refused."""
    code, out, err = run(capsys, FALLBACK)

    assert code == 0
    assert loaded(out).pools[POOL].fallback == FallbackConfig(failure_threshold=3, replicas=2)
    assert (
        f"note: {FALLBACK}: {SO}: spec.fallback: 6 is above maxReplicaCount, where KEDA's HPA "
        "held it: agentdash scales up to 2 after 3 failed reads in a row, never down (missing "
        "data never scales a pool down)"
    ) in err


def test_idle_replica_count_zero_is_scale_to_zero(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    zero, two = docs_example(), docs_example()
    zero["spec"] |= {"minReplicaCount": 1, "idleReplicaCount": 0}
    two["spec"] |= {"minReplicaCount": 3, "maxReplicaCount": 5, "idleReplicaCount": 2}
    two["metadata"] = {"name": "other", "namespace": "nats-jetstream"}
    two["spec"]["scaleTargetRef"]["name"] = "other"
    two["spec"]["triggers"][0]["metadata"]["consumer"] = "other"

    code, out, err = run(capsys, write(tmp_path, zero, two))

    assert code == 0
    pools = loaded(out).pools
    assert pools[POOL].min_replicas == 0
    assert pools["other"].min_replicas == 3  # KEDA supports no other idle count: left out
    assert "note spec.idleReplicaCount" in fields(err)
    assert any(": spec.idleReplicaCount: 2: no equivalent" in line for line in err)


def test_what_has_no_equivalent_is_one_warning_per_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    obj = docs_example()
    trigger = obj["spec"]["triggers"][0]
    trigger["metadata"] |= {"excludePersistentLag": "true", "useHostname": "true"}
    trigger["authenticationRef"] = {"name": "nats-auth"}
    trigger["name"] = "queue"  # a trigger's name, for scalingModifiers' formula
    obj["spec"]["triggers"].append({"type": "cpu", "metadata": {"value": "60"}})
    obj["spec"]["advanced"] = {
        "restoreToOriginalReplicaCount": True,
        "scalingModifiers": {"formula": "trig_one", "target": "2"},
        "horizontalPodAutoscalerConfig": {"name": "custom-hpa"},
    }
    obj["spec"]["initialCooldownPeriod"] = 120

    code, out, err = run(capsys, write(tmp_path, obj))

    assert code == 0
    assert POOL in loaded(out).pools
    assert [f for f in fields(err) if f.startswith("warning")] == [
        "warning spec.initialCooldownPeriod",
        "warning spec.triggers[0].authenticationRef",
        "warning spec.triggers[0].name",
        "warning spec.triggers[0].metadata.natsServerMonitoringEndpoint",
        "warning spec.triggers[0].metadata.account",
        "warning spec.triggers[0].metadata.useHttps",
        "warning spec.triggers[0].metadata.excludePersistentLag",
        "warning spec.triggers[0].metadata.useHostname",
        "warning spec.triggers[1]",
        "warning spec.advanced.restoreToOriginalReplicaCount",
        "warning spec.advanced.scalingModifiers",
        "warning spec.advanced.horizontalPodAutoscalerConfig.name",
    ]


def test_each_other_trigger_is_said_by_its_own_type(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, CPU_CRON)

    assert code == 0
    assert POOL in loaded(out).pools
    said = {line.split(f"{SO}: ")[1] for line in err if "spec.triggers[" in line and SO in line}
    ignored = "no equivalent (a pool scales on one consumer's lag); ignored"
    assert f"spec.triggers[1]: type 'cpu': {ignored}" in said
    assert f"spec.triggers[2]: type 'cron': {ignored}" in said


@pytest.mark.parametrize(
    ("annotations", "said"),
    [
        ({"autoscaling.keda.sh/paused-replicas": "0"}, "'0': paused: KEDA holds Deployment "
         "nats-jetstream/sub at 0 replicas"),
        ({"autoscaling.keda.sh/paused": "true"}, "'true': paused: KEDA holds Deployment "
         "nats-jetstream/sub where it is"),
        ({"autoscaling.keda.sh/paused": "false"}, None),  # not paused, as KEDA reads it
        ({"autoscaling.keda.sh/paused": "true", "agentdash.io/paused-for": POOL}, None),
    ],
)  # fmt: skip
def test_a_pause_a_person_made_is_said_with_what_to_do(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, annotations: Any, said: str | None
) -> None:
    """The daemon scales a Deployment whose ScaledObject a person paused (it leaves that
    pause alone): the pool would undo a hold on, say, a Deployment kept at 0 for a repair.
    A pause agentdash made is its own, given back when it stops."""
    obj = docs_example()
    obj["metadata"]["annotations"] = annotations
    code, out, err = run(capsys, write(tmp_path, obj))

    assert code == 0
    assert POOL in loaded(out).pools
    lines = [line for line in err if ": metadata.annotations." in line]
    if said is None:
        assert lines == []
        return
    (key,) = [k for k in annotations if k.startswith("autoscaling")]
    assert lines == [
        f"warning: {tmp_path / 'so.yaml'}: {SO}: metadata.annotations.{key}: {said}, and "
        "agentdash would scale it: leave this pool out of agentdash.yaml until you would "
        "unpause the ScaledObject"
    ]


@pytest.mark.parametrize(
    ("key", "value", "said"),
    [
        (
            "paused-scale-in",
            "true",
            "KEDA scales Deployment nats-jetstream/sub in no more (nor to zero), and agentdash "
            "would not: give the pool behavior.scaleDown.selectPolicy: Disabled",
        ),
        (
            "paused-scale-out",
            "yes",  # not a bool to Go's ParseBool: KEDA takes it as true
            "KEDA scales Deployment nats-jetstream/sub out no more (nor from zero), and "
            "agentdash would not: give the pool behavior.scaleUp.selectPolicy: Disabled",
        ),
        (
            "force-activation",
            "true",
            "KEDA keeps Deployment nats-jetstream/sub active (never at zero), and agentdash "
            "would not: give the pool min_replicas: 1",
        ),
        ("paused-scale-in", "false", None),
    ],
)
def test_a_hold_of_one_direction_is_said_with_the_pools_equivalent(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, key: str, value: str, said: str | None
) -> None:
    """keda.sh, "Pausing autoscaling": a person's hold of scale-in or scale-out, or a forced
    activation, which the pool printed would undo without a word."""
    obj = docs_example()
    obj["metadata"]["annotations"] = {f"autoscaling.keda.sh/{key}": value}
    code, out, err = run(capsys, write(tmp_path, obj))

    assert code == 0
    assert POOL in loaded(out).pools
    lines = [line for line in err if ": metadata.annotations." in line]
    expected = f"warning: {tmp_path / 'so.yaml'}: {SO}: metadata.annotations.autoscaling.keda.sh"
    if said is None:
        assert lines == []
    else:
        assert lines == [f"{expected}/{key}: '{value}': {said} while you would keep that"]


def test_a_polling_interval_of_0_is_said_with_a_flag_simulate_takes(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The note said --keda-polling-interval 0, which simulate refuses (its least is 1 s)."""
    file = tmp_path / "so.yaml"
    file.write_text(NATS.read_text().replace("pollingInterval: 3", "pollingInterval: 0"))
    code, _, err = run(capsys, file)

    assert code == 0
    (said,) = [line for line in err if "spec.pollingInterval" in line]
    assert said.endswith("--keda-polling-interval 1 (its least: 0 polls without a pause)")

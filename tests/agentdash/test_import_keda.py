"""`agentdash import keda FILE...` on ScaledObjects from KEDA's own docs (tests/data/keda): the
pools it prints load with agentdash's config parser and keep what KEDA did; what has no
equivalent is one stderr line per field; a mistake is one line naming file and field, exit 2."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from agentdash.cli import main
from controller.core.config import Config, FallbackConfig, load_config, parse_config

DATA = Path(__file__).parents[1] / "data" / "keda"
NATS = DATA / "nats-jetstream.yaml"  # the nats-jetstream scaler's Example, verbatim
BEHAVIOR = DATA / "nats-jetstream-behavior.yaml"
FALLBACK = DATA / "nats-jetstream-fallback.yaml"
SOLACE = DATA / "solace-direct-messaging.yaml"
CPU_CRON = DATA / "nats-jetstream-cpu-cron.yaml"  # nats-jetstream, then cpu and cron
SO = "ScaledObject nats-jetstream/nats-jetstream-scaledobject"
POOL = "nats-jetstream-scaledobject"
AGENTDASH = shutil.which("agentdash", path=str(Path(sys.executable).parent)) or "agentdash"


def run(capsys: pytest.CaptureFixture[str], *args: str | Path) -> tuple[int, str, list[str]]:
    """Exit code, stdout and stderr lines of `agentdash import keda ARGS`."""
    try:
        code = main(["import", "keda", *map(str, args)])
    except SystemExit as exc:  # argparse
        code = int(exc.code or 0)
    out, err = capsys.readouterr()
    return code, out, err.splitlines()


def loaded(out: str, tenant: str = "TENANT") -> Config:
    """The printed pools in a minimal agentdash.yaml, through agentdash's own parser."""
    pools = yaml.safe_load(out)["pools"]
    config = {"tiers": {"gold": {"priority": 1}}, "tenants": {tenant: {"tier": "gold"}}}
    return parse_config({**config, "pools": pools}, "pasted.yaml")


def docs_example() -> dict[str, Any]:
    (obj,) = yaml.safe_load_all(NATS.read_text())
    return dict(obj)


def write(tmp_path: Path, *objects: Any, name: str = "so.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump_all(objects, sort_keys=False))
    return path


def fields(err: list[str]) -> list[str]:
    """`level field` of each stderr line about the docs' ScaledObject."""
    prefix = f": {SO}: "
    return [
        f"{line.split(':')[0]} {line.split(prefix)[1].split(':')[0]}"
        for line in err
        if prefix in line
    ]


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


def test_what_agentdash_cannot_scale_is_skipped_with_a_warning(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    stateful = docs_example()
    stateful["metadata"] = {"name": "db", "namespace": "data"}
    stateful["spec"]["scaleTargetRef"] = {"apiVersion": "apps/v1", "kind": "StatefulSet",
                                          "name": "db"}  # fmt: skip

    code, out, err = run(capsys, SOLACE, write(tmp_path, stateful), NATS)

    assert code == 0
    assert list(loaded(out).pools) == [POOL]  # the Secret and TriggerAuthentication passed by
    assert (
        f"warning: {SOLACE}: ScaledObject solace/solace-scaled-object: spec.triggers[0]: type "
        "'solace-direct-messaging': no equivalent (a pool scales on one consumer's lag); ignored"
    ) in err
    assert f"warning: {SOLACE}: ScaledObject solace/solace-scaled-object: spec.triggers: no "\
        "nats-jetstream trigger: skipped" in err  # fmt: skip
    assert any(": ScaledObject data/db: spec.scaleTargetRef: apps/v1 StatefulSet: skipped" in line
               for line in err)  # fmt: skip


def test_an_hpa_beside_the_scaled_objects_is_said_to_be_skipped(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`kubectl get hpa,scaledobjects -o yaml`: an HPA is an autoscaler too; passed by in
    silence, its Deployment would seem to have been imported."""
    hpa = {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                 "minReplicas": 2, "maxReplicas": 9},
    }  # fmt: skip
    listed = {"apiVersion": "v1", "kind": "List", "items": [hpa, docs_example()]}
    code, out, err = run(capsys, write(tmp_path, listed))

    assert code == 0
    assert list(loaded(out).pools) == [POOL]
    assert (
        f"warning: {tmp_path / 'so.yaml'}: HorizontalPodAutoscaler 'web': skipped: agentdash "
        "imports keda.sh/v1alpha1 ScaledObjects that scale Deployments (an HPA names no queue "
        "to read)"
    ) in err


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


def test_a_file_with_nothing_to_import_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    code, out, err = run(capsys, SOLACE)

    assert code == 2
    assert out == ""
    assert err == [
        f"agentdash: {SOLACE}: expected a keda.sh/v1alpha1 ScaledObject with a nats-jetstream "
        "trigger on a Deployment, found none (skipped: ScaledObject solace/solace-scaled-object: "
        "spec.triggers: no nats-jetstream trigger)"
    ]


def test_nothing_to_import_says_what_was_passed_by_and_why(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """The warnings that would say so wait for an import that succeeds: the refusal names the
    first ScaledObject passed by, and how many more were."""
    on_sts = DATA / "predictkube-statefulset.yaml"  # a ScaledObject on a StatefulSet
    job = {"apiVersion": "keda.sh/v1alpha1", "kind": "ScaledJob", "metadata": {"name": "j"}}
    code, out, err = run(capsys, on_sts, write(tmp_path, job))

    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {on_sts}, {tmp_path / 'so.yaml'}: expected a keda.sh/v1alpha1 ScaledObject "
        "with a nats-jetstream trigger on a Deployment, found none (skipped: ScaledObject "
        "some-namespace/predictkube-scaledobject: spec.scaleTargetRef: apps/v1 StatefulSet; "
        "1 more)"
    ]


def test_a_kubectl_list_of_same_named_scaled_objects_gives_a_pool_each(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    staging = docs_example()
    staging["metadata"] = {"name": "nats-jetstream-scaledobject", "namespace": "staging"}
    staging["spec"]["triggers"][0]["metadata"]["consumer"] = "staging_consumer"
    listed = {"apiVersion": "v1", "kind": "List", "items": [docs_example(), staging]}

    code, out, err = run(capsys, write(tmp_path, listed))

    assert code == 0
    pools = loaded(out).pools
    assert {name: str(p.deployment) for name, p in pools.items()} == {
        POOL: "nats-jetstream/sub",
        f"staging-{POOL}": "staging/sub",
    }
    assert any(
        f"pool {POOL} is another ScaledObject's: pool staging-{POOL}" in line for line in err
    )


def test_the_api_servers_own_list_is_opened_as_kubectls_is(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """`kubectl get --raw /apis/keda.sh/v1alpha1/scaledobjects` (or a client's dump) answers a
    ScaledObjectList: it was passed by, and the file refused as holding none."""
    listed = {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObjectList",
        "items": [docs_example()],
    }
    code, out, _ = run(capsys, write(tmp_path, listed))

    assert code == 0
    assert list(loaded(out).pools) == [POOL]


def test_two_scaled_objects_on_one_deployment_are_refused_at_the_second_ones_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """KEDA's admission webhook refuses a second ScaledObject on a Deployment too."""
    other = docs_example()
    other["metadata"]["name"] = "other"
    code, out, err = run(capsys, write(tmp_path, docs_example(), other))

    assert (code, out) == (2, "")
    assert err == [
        f"agentdash: {tmp_path / 'so.yaml'}: ScaledObject nats-jetstream/other: "
        "spec.scaleTargetRef: expected a deployment no other pool uses, got nats-jetstream/sub "
        f"(also pools.{POOL})"
    ]


def test_a_name_that_reads_as_anothers_pool_name_is_told_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # "web.chat" becomes the pool "web-chat" (a pool name has no dots): the ScaledObject
    # "web-chat" of another namespace has a name of its own, but not a pool name of its own.
    dotted, dashed = docs_example(), docs_example()
    dotted["metadata"] = {"name": "web.chat", "namespace": "prod"}
    dashed["metadata"] = {"name": "web-chat", "namespace": "staging"}
    dashed["spec"]["triggers"][0]["metadata"]["consumer"] = "staging_consumer"
    listed = {"apiVersion": "v1", "kind": "List", "items": [dotted, dashed]}

    code, out, err = run(capsys, write(tmp_path, listed))

    assert code == 0
    assert set(loaded(out).pools) == {"web-chat", "staging-web-chat"}
    assert any("pool web-chat is another ScaledObject's: pool staging-web-chat" in e for e in err)


@pytest.mark.parametrize(
    ("edit", "where", "expected"),
    [
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].update(lagThreshold="ten"),
            "spec.triggers[0].metadata.lagThreshold",
            "expected a whole number, got 'ten'",
        ),
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].pop("stream"),
            "spec.triggers[0].metadata.stream",
            "required field is missing",
        ),
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].update(lagThreshold="-5"),
            "spec.triggers[0].metadata.lagThreshold",
            "expected a number >= 1e-06, got -5",
        ),
        (
            lambda o: o["spec"]["triggers"][0]["metadata"].update(stream="a.b"),
            "spec.triggers[0].metadata.stream",
            "expected a name of 1-255 letters, digits, '-' and '_' (no '.', '*', '>' or spaces:"
            " it is used in NATS subjects), got 'a.b'",
        ),
        (
            lambda o: o["spec"].update(maxReplicaCount=0),
            "spec.maxReplicaCount",
            "expected a number greater than 0, got 0",
        ),
        (
            lambda o: o["spec"].update(maxReplicaCount=-1),
            "spec.maxReplicaCount",
            "expected a number greater than 0, got -1",
        ),
        (
            lambda o: o["spec"].update(cooldownPeriod=-300),
            "spec.cooldownPeriod",
            "expected a number >= 0, got -300",
        ),
        (
            lambda o: o["spec"].update(fallback={"failureThreshold": 3, "replicas": -1}),
            "spec.fallback.replicas",
            "expected a number >= 0, got -1",
        ),
        (
            lambda o: o["spec"].update(
                advanced={
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {
                            "scaleDown": {
                                "policies": [{"type": "Pod", "value": 1, "periodSeconds": 15}]
                            }
                        }
                    }
                }
            ),
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.policies[0].type",
            "input should be 'Pods' or 'Percent', got 'Pod'",
        ),
        (  # KEDA's CRD types the spec's counts int32: the API server refuses text
            lambda o: o["spec"].update(cooldownPeriod="30"),
            "spec.cooldownPeriod",
            "expected a whole number (an integer, not text), got '30'",
        ),
        (
            lambda o: o["spec"].update(fallback={"failureThreshold": "3", "replicas": 1}),
            "spec.fallback.failureThreshold",
            "expected a whole number (an integer, not text), got '3'",
        ),
        (
            lambda o: o["spec"].update(minReplicaCount=5),
            "spec.minReplicaCount",
            "expected at most max_replicas (2), got 5",
        ),
        (
            lambda o: o["spec"].update(triggers={"type": "nats-jetstream"}),
            "spec.triggers",
            "expected a list of triggers, got {'type': 'nats-jetstream'}",
        ),
        (
            lambda o: o["spec"].update(scaleTargetRef={"kind": "Deployment"}),
            "spec.scaleTargetRef.name",
            "required field is missing",
        ),
        (
            lambda o: o["spec"].update(
                advanced={
                    "horizontalPodAutoscalerConfig": {
                        "behavior": {"scaleDown": {"selectPolicy": "Sometimes"}}
                    }
                }
            ),
            "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.selectPolicy",
            "input should be 'Max', 'Min' or 'Disabled', got 'Sometimes'",
        ),
    ],
)
def test_a_bad_scaled_object_is_one_line_naming_file_and_field(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, edit: Any, where: str, expected: str
) -> None:
    """The one line alone: the docs' example has fields with no equivalent, whose warnings
    are said only for an import that succeeds."""
    obj = docs_example()
    edit(obj)
    path = write(tmp_path, obj)

    code, out, err = run(capsys, path)

    assert code == 2
    assert out == ""
    assert err == [f"agentdash: {path}: {SO}: {where}: {expected}"]


@pytest.mark.parametrize(
    "field",
    ["pollingInterval", "cooldownPeriod", "minReplicaCount", "maxReplicaCount", "idleReplicaCount"],
)
@pytest.mark.parametrize("value", ["abc", -5, 99_999_999_999, 1.5])
def test_every_count_is_checked_whether_a_pool_takes_it_or_not(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, field: str, value: Any
) -> None:
    """pollingInterval has no pool field and idleReplicaCount only at 0: a bad one of either
    was taken without a word (a note that agentdash needs no polling, a warning that 2 has no
    equivalent). Each is refused as the pool's own fields are."""
    obj = docs_example()
    obj["spec"][field] = value
    path = write(tmp_path, obj)

    code, out, err = run(capsys, path)

    assert (code, out) == (2, "")
    (line,) = err
    assert line.startswith(f"agentdash: {path}: {SO}: spec.{field}: expected a ")
    assert line.endswith(f"got {value!r}" if isinstance(value, str) else f"got {value}")


def test_a_template_is_refused_with_how_to_render_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    """Unrendered, a Go or Helm template is YAML with mappings for keys, or a name in braces:
    the one line says what the file is and how to get the ScaledObjects out of it."""
    go = DATA / "nats-jetstream-go-template.yaml"  # KEDA's own e2e test's ScaledObject
    helm = tmp_path / "scaledobject.yaml"
    helm.write_text(NATS.read_text().replace("name: sub", 'name: "{{ .Release.Name }}-sub"'))
    render = (
        "; the file holds {{ }}: a template (Helm's, Go's) is read once rendered "
        "(helm template, or kubectl get scaledobjects -o yaml)"
    )

    assert run(capsys, go) == (
        2,
        "",
        [f"agentdash: {go}: line 9 column 15: expected valid YAML: found unhashable key{render}"],
    )
    code, out, err = run(capsys, helm)
    assert (code, out, len(err)) == (2, "", 1)
    assert err[0].startswith(f"agentdash: {helm}: {SO}: spec.scaleTargetRef.name: ")
    assert err[0].endswith(render)


def test_a_file_that_is_not_yaml_or_not_there_is_one_line(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("kind: ScaledObject\nspec: [unclosed\n")
    listed = write(tmp_path, ["not", "an", "object"], name="list.yaml")

    assert run(capsys, broken)[2][-1].startswith(f"agentdash: {broken}: line 3 column 1: expected")
    assert run(capsys, listed)[2] == [
        f"agentdash: {listed}: document 1: expected an object, got list"
    ]
    assert run(capsys, tmp_path / "gone.yaml")[:2] == (2, "")


def test_a_bad_tenant_flag_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = run(capsys, NATS, "--tenant", "a.b")

    assert code == 2
    assert len(err) == 1
    assert "--tenant" in err[0]


@pytest.mark.e2e
def test_the_installed_command_prints_no_traceback(tmp_path: Path) -> None:
    (obj,) = yaml.safe_load_all(NATS.read_text())
    obj["spec"]["triggers"][0]["metadata"]["lagThreshold"] = "ten"
    path = write(tmp_path, obj)

    result = subprocess.run(
        [AGENTDASH, "import", "keda", str(path)], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 2
    assert result.stdout == ""
    assert "Traceback" not in result.stderr
    assert result.stderr.splitlines()[-1].endswith(
        "spec.triggers[0].metadata.lagThreshold: expected a whole number, got 'ten'"
    )


@pytest.mark.e2e
def test_scaled_objects_piped_in_import_as_the_file_does() -> None:
    """`kubectl get scaledobjects -o yaml | agentdash import keda -`: `-` was read as a file of
    that name, 'No such file or directory'."""
    piped = subprocess.run([AGENTDASH, "import", "keda", "-"], input=NATS.read_text(),
                           capture_output=True, text=True, timeout=60, check=False)  # fmt: skip
    named = subprocess.run([AGENTDASH, "import", "keda", str(NATS)], capture_output=True,
                           text=True, timeout=60, check=False)  # fmt: skip

    assert (piped.returncode, named.returncode) == (0, 0)
    assert piped.stdout == named.stdout.replace(f" in {NATS}\n", " in standard input\n")
    assert piped.stderr == named.stderr.replace(f": {NATS}: ", ": standard input: ")


def test_every_document_is_held_to_the_input_limits(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    bomb = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
        f"{b}: &{b} [{', '.join([f'*{a}'] * 9)}]\n"
        for a, b in zip("abcdefgh", "bcdefghi", strict=True)
    )
    path = tmp_path / "bomb.yaml"
    path.write_text(NATS.read_text() + "---\n" + bomb)

    code, out, err = run(capsys, path)

    assert (code, out) == (2, "")
    line = len(NATS.read_text().splitlines()) + 1 + 7  # `g:` (9**7 values), in the file
    # at its first `*f`, where the count of values passes the limit
    assert err == [f"agentdash: {path}: line {line} column 8: expected at most 1,000,000 values "
                   "once aliases are expanded"]  # fmt: skip


def test_a_dotted_name_becomes_a_pool_name_and_says_so(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    obj = docs_example()
    obj["metadata"] = {"name": "search.v2", "namespace": "agents"}

    code, out, err = run(capsys, write(tmp_path, obj))

    assert code == 0
    assert list(loaded(out).pools) == ["search-v2"]  # a dot would split its NATS subjects
    assert any("search.v2: metadata.name: pool search-v2" in line for line in err)


def test_names_that_read_as_numbers_are_quoted_so_the_pasted_pools_load(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A stream `1e3` or a Deployment `0123` is a name, and agentdash reads `1e3` as the
    number 1000.0: written plain, the pasted pools were refused (`expected a string`)."""
    obj = docs_example()
    obj["spec"]["scaleTargetRef"]["name"] = "0123"
    obj["spec"]["triggers"][0]["metadata"]["stream"] = "1e3"
    given = tmp_path / "so.json"  # JSON is YAML, every string quoted
    given.write_text(json.dumps(obj))
    code, out, err = run(capsys, given, "--tenant", "acme")
    assert code == 0, err
    pasted = tmp_path / "agentdash.yaml"
    pasted.write_text("tiers: {gold: {priority: 1}}\ntenants: {acme: {tier: gold}}\n" + out)
    pool = load_config(pasted).pools[POOL]
    assert (pool.queue.stream, pool.deployment.name) == ("1e3", "0123")


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

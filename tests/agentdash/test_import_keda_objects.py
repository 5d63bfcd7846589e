"""`agentdash import keda FILE...`: which objects of the files given become pools, and under
what names. A kubectl List or the API server's ScaledObjectList is opened, standard input is read
as a file; what agentdash cannot scale (an HPA, a StatefulSet, a trigger other than
nats-jetstream) is passed by with a warning; pool names are kept distinct and load as names."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from controller.core.config import load_config
from tests.support.cli import AGENTDASH
from tests.support.keda_import import DATA, NATS, POOL, SOLACE, docs_example, loaded, run, write


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

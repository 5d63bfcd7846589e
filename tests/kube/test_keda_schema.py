"""What `agentdash import keda` takes for KEDA's schema, checked on the real API server with
KEDA's own ScaledObject CRD: a null field is pruned (the import gives it its default), and a
behavior's tolerance is an integer or a string, so 5% is written "0.05" or 50m (the import
reads them as 0.05). The import then reads the stored object as it read the file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.rest import ApiException

from agentdash.cli import main
from tests.support.kube_cluster import POOLS_NAMESPACE, AgentdashCluster

KEDA = ("keda.sh", "v1alpha1", POOLS_NAMESPACE, "scaledobjects")


def scaled_object(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": POOLS_NAMESPACE},
        "spec": {
            "scaleTargetRef": {"name": name},
            "triggers": [{"type": "nats-jetstream", "metadata": {"stream": "S", "consumer": name}}],
            **spec,
        },
    }


def stored(kube: AgentdashCluster, obj: dict[str, Any]) -> dict[str, Any]:
    """`kubectl apply` then `kubectl get -o yaml`: what the API server kept."""
    api = client.CustomObjectsApi(kube.admin)
    api.create_namespaced_custom_object(*KEDA, obj)
    found: dict[str, Any] = api.get_namespaced_custom_object(*KEDA, obj["metadata"]["name"])
    return found


def imported_pool(obj: dict[str, Any], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> Any:
    path = tmp_path / f"{obj['metadata']['name']}.yaml"
    path.write_text(yaml.safe_dump(obj))
    assert main(["import", "keda", str(path)]) == 0
    out, _ = capsys.readouterr()
    return yaml.safe_load(out)["pools"][obj["metadata"]["name"]]


def test_a_null_field_is_pruned_as_the_import_reads_it(
    kube: AgentdashCluster, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    given = scaled_object("nulls", cooldownPeriod=None, advanced=None)

    kept = stored(kube, given)

    assert "cooldownPeriod" not in kept["spec"]
    assert "advanced" not in kept["spec"]
    from_file = imported_pool(given, tmp_path, capsys)
    assert from_file == imported_pool(kept, tmp_path, capsys)
    assert from_file["cooldown_seconds"] == 300  # KEDA's default


@pytest.mark.parametrize("tolerance", ["0.05", "50m"])
def test_a_tolerance_is_a_quantity_as_the_import_reads_it(
    kube: AgentdashCluster,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    tolerance: str,
) -> None:
    behavior = {"scaleDown": {"tolerance": tolerance}}
    name = f"tolerance-{tolerance.replace('.', '-')}"
    advanced = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}

    kept = stored(kube, scaled_object(name, advanced=advanced))

    pool = imported_pool(kept, tmp_path, capsys)
    assert pool["behavior"]["scaleDown"]["tolerance"] == 0.05


def test_a_tolerance_written_as_a_fraction_is_refused_by_kedas_crd(
    kube: AgentdashCluster,
) -> None:
    behavior = {"scaleDown": {"tolerance": 0.05}}
    advanced = {"horizontalPodAutoscalerConfig": {"behavior": behavior}}

    with pytest.raises(ApiException) as refused:
        stored(kube, scaled_object("fraction", advanced=advanced))
    assert refused.value.status == 422

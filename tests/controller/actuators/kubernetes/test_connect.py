"""DeploymentScaler.connect: credentials from a kubeconfig and the context asked for."""

from __future__ import annotations

from pathlib import Path

import pytest
from kmock import KubernetesEmulator

from controller.actuators.kubernetes import DeploymentScaler, KubeConfigError
from tests.support.kmock import DEPLOYMENTS, deployment, kubeconfig, web_fleet


async def test_the_context_asked_for_is_used_with_its_credentials(
    cluster: KubernetesEmulator, tmp_path: Path
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=3)
    path = kubeconfig(tmp_path / "config", str(cluster.url).rstrip("/"))

    async with await DeploymentScaler.connect(
        web_fleet(), kubeconfig=path, context="kmock"
    ) as scaler:
        assert (await scaler.observe())["web"].replicas == 3

    assert {r.headers.get("Authorization") for r in cluster} == {"Bearer s3cret"}


async def test_an_unknown_context_is_one_clear_error(tmp_path: Path) -> None:
    path = kubeconfig(tmp_path / "config", "http://127.0.0.1:9")

    with pytest.raises(KubeConfigError, match="staging"):
        await DeploymentScaler.connect(web_fleet(), kubeconfig=path, context="staging")


async def test_a_missing_kubeconfig_is_one_clear_error(tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")

    with pytest.raises(KubeConfigError, match=f"{missing}: no such file"):
        await DeploymentScaler.connect(web_fleet(), kubeconfig=missing)


@pytest.mark.parametrize(
    ("text", "got"),
    [("", "an empty file"), ("- a\n- b\n", "a list"), ("just text\n", "a string")],
)
async def test_a_kubeconfig_that_is_no_mapping_is_one_clear_error(
    tmp_path: Path, text: str, got: str
) -> None:
    path = tmp_path / "config"
    path.write_text(text)

    with pytest.raises(KubeConfigError, match=f"{path}: expected a kubeconfig .*, got {got}"):
        await DeploymentScaler.connect(web_fleet(), kubeconfig=str(path))

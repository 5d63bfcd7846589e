"""DeploymentScaler.connect: credentials from a kubeconfig and the context asked for."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import pytest
from kmock import KubernetesEmulator

from controller.actuators.kubernetes import DeploymentScaler, KubeConfigError
from tests.support.kmock import DEPLOYMENTS, deployment, kubeconfig, web_fleet
from tests.support.pipes import finished


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


def _https_kubeconfig(cluster: str) -> str:
    """A kubeconfig whose one cluster is at an https server, with `cluster` among its keys."""
    return (
        "current-context: a\ncontexts: [{name: a, context: {cluster: c, user: u}}]\n"
        f"clusters: [{{name: c, cluster: {{server: 'https://127.0.0.1:9', {cluster}}}}}]\n"
        "users: [{name: u, user: {token: t}}]\n"
    )


@pytest.mark.parametrize(
    ("content", "said"),
    [
        (b"contexts: 5\ncurrent-context: x\n", "contexts: expected a list, got 5"),
        (b"\x80" + bytes(range(256)), "byte 0: expected UTF-8 text, got byte 0x80"),
        (
            _https_kubeconfig('certificate-authority-data: "!!!notbase64"').encode(),
            "clusters.0.cluster.certificate-authority-data: expected base64-encoded data, "
            "got 12 characters of other text",
        ),
        (  # the loader reads the string "false" as true: no TLS check at all
            _https_kubeconfig("insecure-skip-tls-verify: 'false'").encode(),
            "clusters.0.cluster.insecure-skip-tls-verify: expected true or false, got 'false'",
        ),
        (b"contexts: [{context: {cluster: c}}]\n", "contexts.0.name: required field is missing"),
        (
            b"current-context: prod\ncontexts: [{name: dev, context: {cluster: c}}]\n",
            "current-context: expected one of its contexts (dev), got 'prod'",
        ),
        (
            b"current-context: dev\ncontexts: [{name: dev, context: {cluster: c}}]\n",
            "context 'dev': cluster: expected one of its clusters (none), got 'c'",
        ),
        (  # base64, but of no certificate: refused when the client is made, not on load
            _https_kubeconfig("certificate-authority-data: aGVsbG8=").encode(),
            "its certificates cannot be used: [X509: NO_CERTIFICATE_OR_CRL_FOUND]",
        ),
        (  # what the check leaves to the loader still names the file
            b"current-context: a\ncontexts: [{name: a, context: {cluster: c}}]\n"
            b"clusters: [{name: c, cluster: {server: 'https://127.0.0.1:9'}}]\n",
            "TypeError: argument of type 'NoneType' is not iterable",
        ),
    ],
    ids=[
        "contexts a number",
        "not UTF-8",
        "CA not base64",
        "TLS flag a string",
        "context without a name",
        "current-context naming none",
        "context naming no cluster",
        "CA no certificate",
        "no user for https",
    ],
)
async def test_a_kubeconfig_it_cannot_load_says_the_file_and_what_was_expected(
    tmp_path: Path, content: bytes, said: str
) -> None:
    path = tmp_path / "config"
    path.write_bytes(content)

    with pytest.raises(KubeConfigError) as caught:
        await DeploymentScaler.connect(web_fleet(), kubeconfig=str(path))

    assert str(caught.value).startswith(f"kubeconfig {path}: {said}")


@pytest.fixture
def no_kube_setup(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A HOME with no ~/.kube/config, no $KUBECONFIG, not in a cluster."""
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)
    return tmp_path


@pytest.mark.parametrize("context", [None, "prod"])
async def test_no_kubeconfig_anywhere_is_said_with_where_it_was_looked_for(
    no_kube_setup: Path, context: str | None
) -> None:
    with pytest.raises(KubeConfigError) as caught:
        await DeploymentScaler.connect(web_fleet(), context=context)

    why = (
        "no in-cluster config either (KUBERNETES_SERVICE_HOST is not set): give --kubeconfig"
        " FILE, or --cluster simulated to try agentdash without a cluster"
        if context is None
        else "the context 'prod' is read from one: give --kubeconfig FILE"
    )
    assert str(caught.value) == f"no kubeconfig found at {no_kube_setup}/.kube/config, and {why}"


async def test_the_files_kubeconfig_lists_are_merged_and_a_missing_one_skipped(
    cluster: KubernetesEmulator, no_kube_setup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cluster.objects[DEPLOYMENTS, "agents", "web"] = deployment("web", replicas=3)
    path = kubeconfig(no_kube_setup / "config", str(cluster.url).rstrip("/"))
    monkeypatch.setenv("KUBECONFIG", f"{no_kube_setup / 'missing'}:{path}")

    async with await DeploymentScaler.connect(web_fleet(), context="kmock") as scaler:
        assert (await scaler.observe())["web"].replicas == 3


def test_a_kubeconfig_listed_that_is_a_named_pipe_is_said_without_waiting_on_it(
    no_kube_setup: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Read to check it, a pipe in $KUBECONFIG waited for a writer: the daemon hung before it
    said a word, and a SIGTERM could not stop it (its handler waits for the loop)."""
    pipe = no_kube_setup / "config.pipe"
    os.mkfifo(pipe)
    monkeypatch.setenv("KUBECONFIG", str(pipe))

    done, outcome = finished(lambda: asyncio.run(DeploymentScaler.connect(web_fleet())), pipe)

    assert done
    assert isinstance(outcome, KubeConfigError)
    assert str(outcome) == f"kubeconfig {pipe}: not a regular file"

"""A Kubernetes API emulator (kmock) over real HTTP: the objects it serves, the faults it
injects, and the kubeconfig that points the official client at it."""

from __future__ import annotations

import asyncio
import itertools
import socket
import time
from collections.abc import Awaitable, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

import aiohttp.web
import attrs
import pytest
import yaml
from kmock import KubernetesEmulator, KubernetesError, Request

from controller.actuators.kubernetes import DeploymentScaler
from controller.actuators.kubernetes.api import KubeApi
from controller.actuators.kubernetes.budget import DISCOVERY
from controller.core.config import Config
from controller.core.model import PoolState
from tests.support.factories import config, pool

DEPLOYMENTS = "apps/v1/deployments"
LEASES = "coordination.k8s.io/v1/leases"
PODS = "v1/pods"
HPAS = "autoscaling/v2/horizontalpodautoscalers"
SCALED_OBJECTS = "keda.sh/v1alpha1/scaledobjects"
CREATED = "2026-01-05T10:00:00Z"
CREATED_AT = 1767607200.0


def deployment(
    name: str,
    replicas: int = 1,
    *,
    namespace: str = "agents",
    ready: int = 0,
    version: str | None = None,
) -> dict[str, Any]:
    """A Deployment; with `version`, a resourceVersion the emulator moves on at each write."""
    labels = {"app": name}
    metadata = {"name": name, "namespace": namespace, "uid": f"uid-{name}"}
    if version is not None:
        metadata["resourceVersion"] = version
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata,
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}},
        },
        "status": {"replicas": replicas, "readyReplicas": ready},
    }


def pod(
    name: str, app: str, *, phase: str = "Pending", ready: bool = False, namespace: str = "agents"
) -> dict[str, Any]:
    conditions = [{"type": "Ready", "status": "True" if ready else "False"}]
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app": app},
            "creationTimestamp": CREATED,
        },
        "status": {"phase": phase, "conditions": conditions},
    }


def hpa(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": {"name": name, "namespace": "agents"},
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": target},
            "minReplicas": 1,
            "maxReplicas": 10,
        },
    }


def scaled_object(name: str, target: str) -> dict[str, Any]:
    return {
        "apiVersion": "keda.sh/v1alpha1",
        "kind": "ScaledObject",
        "metadata": {"name": name, "namespace": "agents"},
        "spec": {"scaleTargetRef": {"name": target}},  # KEDA's default kind: Deployment
    }


def nowhere() -> str:
    """The URL of a port nothing listens on: an API server that is down."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{probe.getsockname()[1]}"


def web_fleet() -> Config:
    """Pool `web` on Deployment agents/web."""
    return config({"web": pool("acme")})


def web_and_vault() -> Config:
    """Pool `web` on agents/web, and `vault` in another namespace, on locked/vault."""
    return config(
        {
            "web": pool("acme"),
            "vault": pool("acme", deployment={"namespace": "locked", "name": "vault"}),
        }
    )


class Naps:
    """The retry waits a scaler asked for, returned at once: no test waits for a backoff."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


Fault = Callable[[Request], Awaitable[None]]


@attrs.frozen
class Refused(KubernetesError):
    """An error answer with headers of its own (a 429's Retry-After)."""

    headers: Mapping[str, str] = attrs.field(factory=dict)


@attrs.define(kw_only=True)
class Emulator(KubernetesEmulator):
    """kmock's emulator, plus two things of the real API server that fencing needs:

    - each write of a Lease, or of an object that has a `metadata.resourceVersion` (give a
      Deployment one with `deployment(..., version=...)`), gives it a new one, and a PATCH
      that names another one than the object has is refused with 409 (optimistic
      concurrency), on a subresource (`deployments/scale`) as on the object;
    - `faults`: callables that see each request before it changes anything, and may raise a
      KubernetesError (the answer) or never return (a hung server). kmock's own reactions
      answer only after the emulator has applied a write, as if it had landed;
    - a merge patch of a versioned object replaces an object by a scalar, or a scalar by an
      object, as RFC 7386 has it (kmock refuses either): a holder writes its name over a
      Lease whose holderIdentity was forged as `{"a": 1}`.
    """

    faults: list[Fault] = attrs.field(factory=list)
    _versions: itertools.count[int] = attrs.field(factory=lambda: itertools.count(1))
    _writing: asyncio.Lock = attrs.field(factory=asyncio.Lock)

    async def _handle(self, request: Request) -> Any:
        for fault in self.faults:
            await fault(request)
        metadata = request.data.get("metadata") if isinstance(request.data, dict) else None
        key = (request.resource, request.namespace, request.name)
        versioned = (
            request.resource is not None and request.resource.plural == "leases"
        ) or _version_of(self.objects, key) is not None
        fenced = isinstance(metadata, dict) and "resourceVersion" in metadata
        writes = request.action in (self.action.CREATE, self.action.UPDATE)
        if not writes or not (versioned or fenced):
            return await super()._handle(request)
        # Check and write as one step, as the API server does (only here: a reaction that
        # hangs another write must not hold every write up).
        async with self._writing:
            if fenced and request.action == self.action.UPDATE:
                assert isinstance(metadata, dict)
                if _version_of(self.objects, key) != metadata["resourceVersion"]:
                    raise KubernetesError(409, "Conflict", "the object has been modified")
            patches = request.action == self.action.UPDATE and key in self.objects
            if patches and isinstance(request.data, Mapping):
                cleared = _unmergeable(self.objects[key], request.data)
                if cleared:
                    self.objects[key].patch(cleared)
            if versioned:
                # Stamped in the request itself: kmock stores and answers what it was sent.
                # (`r.data` then shows the new version; what was sent is in `r.body`.)
                request.data.setdefault("metadata", {})["resourceVersion"] = str(
                    next(self._versions)
                )
            return await super()._handle(request)

    async def _render_error(self, exc: Exception) -> aiohttp.web.StreamResponse:
        response = await super()._render_error(exc)
        if isinstance(exc, Refused):
            response.headers.update(exc.headers)
        return response


def _unmergeable(stored: Mapping[str, Any], patch: Mapping[str, Any]) -> dict[str, Any]:
    """The fields of `stored` to remove before kmock merges `patch` in: those that `patch`
    gives a value of the other shape (an object for a scalar, a scalar for an object)."""
    cleared: dict[str, Any] = {}
    for field, new in patch.items():
        old = stored.get(field)
        if old is None or new is None:
            continue
        if isinstance(old, Mapping) and isinstance(new, Mapping):
            inner = _unmergeable(old, new)
            if inner:
                cleared[field] = inner
        elif isinstance(old, Mapping) != isinstance(new, Mapping):
            cleared[field] = None
    return cleared


def _version_of(objects: Any, key: tuple[Any, ...]) -> str | None:
    if key not in objects:
        return None
    version = objects[key].get("metadata", {}).get("resourceVersion")
    return None if version is None else str(version)


@pytest.fixture
def kmock_options(kmock_options: dict[str, Any]) -> dict[str, Any]:
    return {**kmock_options, "cls": Emulator}


class MakeScaler(Protocol):
    def __call__(
        self, cfg: Config | None = None, *, host: str | None = None, **options: Any
    ) -> DeploymentScaler: ...


@pytest.fixture
def cluster(kmock: Emulator) -> Emulator:
    """The emulator, serving the kinds every real cluster has (KEDA's only if a test adds a
    ScaledObject, as on a cluster without KEDA)."""
    for resource in (DEPLOYMENTS, PODS, HPAS, LEASES, "v1/events"):
        kmock.resources[resource] = {}
    return kmock


async def send(cluster: KubernetesEmulator, method: str, path: str, body: Any = None) -> None:
    """Change the cluster over HTTP, as another client would: the watches see it."""
    async with cluster.request(method, path, json=body) as response:
        assert response.status == 200, await response.text()


async def observe_until(
    scaler: DeploymentScaler,
    check: Callable[[Mapping[str, PoolState]], bool],
    timeout: float = 5.0,
) -> Mapping[str, PoolState]:
    """Observe until `check` holds, with a deadline (the watch delivers in its own time)."""
    deadline = time.monotonic() + timeout
    while True:
        states = await scaler.observe()
        if check(states):
            return states
        if time.monotonic() > deadline:
            raise AssertionError(f"not observed within {timeout:g} s; last: {states}")
        await asyncio.sleep(0.005)


def hang(method: str, path: str, *, times: int | None = None) -> Fault:
    """A server that never answers this request (and never applies it); only the first
    `times` such requests, if given."""
    left = itertools.count() if times is None else iter(range(times))

    async def fault(request: Request) -> None:
        if request.method == method and request.url.path == path and next(left, None) is not None:
            await asyncio.Event().wait()

    return fault


def refuse(
    method: str,
    path: str,
    status: int,
    message: str,
    *,
    times: int | None = None,
    headers: Mapping[str, str] | None = None,
) -> Fault:
    """A server that answers this request with an error, and does not apply it; only the
    first `times` such requests, if given. `headers`: sent with the error (Retry-After)."""
    left = itertools.count() if times is None else iter(range(times))

    async def fault(request: Request) -> None:
        if request.method == method and request.url.path == path and next(left, None) is not None:
            raise Refused(status, "Failure", message, headers=dict(headers or {}))

    return fault


def latency(seconds: float) -> Fault:
    """A slow API server: every answer takes this long (the server's time, not the test's)."""

    async def fault(request: Request) -> None:
        await asyncio.sleep(seconds)

    return fault


def crowd(api: KubeApi, reads: int) -> list[asyncio.Future[dict[str, Any]]]:
    """Reads that go ahead of any scale call in the client's budget (discovery), queued now:
    a budget of `qps` calls a second is busy for `reads / qps` seconds."""
    deadline = asyncio.get_running_loop().time() + 60
    return [
        asyncio.ensure_future(
            api.call(
                "list pods",
                api.core.list_namespaced_pod_without_preload_content,
                namespace="agents",
                priority=DISCOVERY,
                deadline=deadline,
            )
        )
        for _ in range(reads)
    ]


def kubeconfig(path: Path, emulator_url: str, token: str = "s3cret") -> str:
    """Two clusters; the current context points nowhere, `kmock` at the emulator. `token`:
    the bearer token its user sends (the emulator's requests show who sent each)."""
    path.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Config",
                "current-context": "nowhere",
                "clusters": [
                    {"name": "nowhere", "cluster": {"server": "http://127.0.0.1:9"}},
                    {"name": "kmock", "cluster": {"server": emulator_url}},
                ],
                "users": [{"name": "ci", "user": {"token": token}}],
                "contexts": [
                    {"name": "nowhere", "context": {"cluster": "nowhere", "user": "ci"}},
                    {"name": "kmock", "context": {"cluster": "kmock", "user": "ci"}},
                ],
            }
        )
    )
    return str(path)


def kubeconfig_without_context(path: Path) -> str:
    """A kubeconfig that names no cluster to reach: the client cannot be made from it."""
    path.write_text("apiVersion: v1\nkind: Config\nclusters: []\ncontexts: []\nusers: []\n")
    return str(path)

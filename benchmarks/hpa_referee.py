"""The real Horizontal Pod Autoscaler, as a referee for the model in controller.simulate.hpa.

kube-controller-manager 1.20.2 (`make kube`) runs only the `deployment`, `replicaset` and
`horizontalpodautoscaling` controllers against the e2e tests' API server
(tests/support/kube.py). Each scenario is a Deployment with an HPA on one External metric
(AverageValue target), served by `MetricServer`: a loopback HTTPS server registered as
`external.metrics.k8s.io` through an APIService. The server answers each read with the
scenario's value at that moment, and keeps every read: the HPA reads its metric once per
sync, so the reads are its syncs, with the value each one saw. A watch keeps every change of
each Deployment's `spec.replicas` and `status.replicas`.

No kubelet runs: the ReplicaSets create the pods and they stay Pending. That is all the HPA
needs here: for an External metric with an AverageValue target it reads the scale
subresource's `status.replicas` (the pods that exist) and never a pod's readiness.
"""

from __future__ import annotations

import json
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

# The control plane of the e2e tests (tests/support/kube.py): benchmarks/ is no package.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubernetes import client, watch

from agentdash.nats_server import die_with_parent
from tests.support.kube import ControlPlane

NAMESPACE = "referee"
GROUP = "external.metrics.k8s.io"

Series = Callable[[float], float]
"""A scenario's metric: its value at a number of seconds since the scenario began."""


@dataclass(frozen=True, slots=True)
class Read:
    """One read of a metric by the HPA: when (seconds since the scenario began), and what."""

    at: float
    value: float


@dataclass(frozen=True, slots=True)
class Replicas:
    """A Deployment's replicas as the watch saw them change (seconds since its scenario began)."""

    at: float
    spec: int
    status: int


@dataclass(slots=True)
class Served:
    series: Series
    started: float
    reads: list[Read] = field(default_factory=list)


class MetricServer:
    """external.metrics.k8s.io/v1beta1 on 127.0.0.1, over TLS with the control plane's
    server certificate: one metric per scenario, named after it."""

    def __init__(self, certificates: Path) -> None:
        self.metrics: dict[str, Served] = {}
        self._lock = threading.Lock()
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                status, body = owner.answer(self.path.split("?")[0])
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(certificates / "server.pem", certificates / "server.key")
        self._server.socket = context.wrap_socket(self._server.socket, server_side=True)
        self.port = int(self._server.server_address[1])
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def serve(self, name: str, series: Series) -> None:
        with self._lock:
            self.metrics[name] = Served(series, time.time())

    def answer(self, path: str) -> tuple[int, dict[str, Any]]:
        parts = path.strip("/").split("/")
        if parts == ["apis", GROUP, "v1beta1"]:  # discovery, and the aggregator's health check
            return 200, {
                "kind": "APIResourceList",
                "apiVersion": "v1",
                "groupVersion": f"{GROUP}/v1beta1",
                "resources": [],
            }
        if len(parts) == 6 and parts[3] == "namespaces":
            now = time.time()
            with self._lock:
                served = self.metrics.get(parts[5])
                if served is not None:
                    value = served.series(now - served.started)
                    served.reads.append(Read(now - served.started, value))
            if served is not None:
                return 200, external_metric(parts[5], value, now)
        return 404, {"kind": "Status", "code": 404, "message": f"no {path}"}

    def close(self) -> None:
        self._server.shutdown()


def external_metric(name: str, value: float, now: float) -> dict[str, Any]:
    stamp = datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "kind": "ExternalMetricValueList",
        "apiVersion": f"{GROUP}/v1beta1",
        "metadata": {},
        # In milli-units, as the HPA reads it (the model rounds the same way).
        "items": [
            {"metricName": name, "metricLabels": {}, "timestamp": stamp,
             "value": f"{round(value * 1000)}m"}
        ],
    }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ControllerFlags:
    """The HPA's settings that are kube-controller-manager flags, not fields of an HPA (in
    1.20): the sync period, the tolerance, and the scale-down window of an HPA without
    `behavior`."""

    sync_s: int = 2
    tolerance: float = 0.1
    downscale_window_s: int = 25


class Referee:
    """The control plane, the metric server, and one kube-controller-manager at a time."""

    def __init__(self, plane: ControlPlane) -> None:
        self.plane = plane
        self.admin = plane.admin()
        self.metrics = MetricServer(plane.work)
        self.replicas: dict[str, list[Replicas]] = {}
        self._started: dict[str, float] = {}
        self._closed = False
        self._setup()
        threading.Thread(target=self._watch, daemon=True).start()

    def _setup(self) -> None:
        core = client.CoreV1Api(self.admin)
        core.create_namespace({"metadata": {"name": NAMESPACE}})
        # Made by the controller-manager's token controllers in a real cluster (not run here).
        core.create_namespaced_service_account(NAMESPACE, {"metadata": {"name": "default"}})
        core.create_namespaced_service(
            NAMESPACE,
            {
                "metadata": {"name": "metrics"},
                "spec": {"type": "ExternalName", "externalName": "127.0.0.1"},
            },
        )
        client.ApiregistrationV1Api(self.admin).create_api_service(
            {
                "metadata": {"name": f"v1beta1.{GROUP}"},
                "spec": {
                    "group": GROUP,
                    "version": "v1beta1",
                    "service": {
                        "namespace": NAMESPACE, "name": "metrics", "port": self.metrics.port
                    },
                    # The aggregator would check the name metrics.referee.svc, which the
                    # control plane's loopback certificate does not carry.
                    "insecureSkipTLSVerify": True,
                    "groupPriorityMinimum": 100,
                    "versionPriority": 100,
                },
            }
        )  # fmt: skip

    @contextmanager
    def controller_manager(self, flags: ControllerFlags) -> Iterator[None]:
        kubeconfig = self.plane.kubeconfig(
            self.plane.work / "admin.kubeconfig", self.plane.admin_token
        )
        log = (self.plane.work / "kube-controller-manager.log").open("ab")
        process = subprocess.Popen(
            [
                str(self.plane.bin_dir / "kube-controller-manager"),
                f"--kubeconfig={kubeconfig}",
                "--controllers=deployment,replicaset,horizontalpodautoscaling",
                "--leader-elect=false",
                "--port=0",
                "--secure-port=0",
                f"--horizontal-pod-autoscaler-sync-period={flags.sync_s}s",
                f"--horizontal-pod-autoscaler-tolerance={flags.tolerance}",
                f"--horizontal-pod-autoscaler-downscale-stabilization={flags.downscale_window_s}s",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent(),
        )  # fmt: skip
        try:
            yield
        finally:
            process.terminate()
            process.wait(timeout=30)
            log.close()

    def start(self, name: str, series: Series, hpa: dict[str, Any], replicas: int = 1) -> None:
        """A Deployment and its HPA on the metric `name`, which follows `series` from now."""
        labels = {"app": name}
        self._started[name] = time.time()  # before: the watch must see its creation
        client.AppsV1Api(self.admin).create_namespaced_deployment(
            NAMESPACE,
            {
                "metadata": {"name": name},
                "spec": {
                    "replicas": replicas,
                    "selector": {"matchLabels": labels},
                    "template": {
                        "metadata": {"labels": labels},
                        "spec": {
                            "containers": [{"name": "worker", "image": "worker:1"}],
                            "automountServiceAccountToken": False,
                        },
                    },
                },
            },
        )
        self.metrics.serve(name, series)
        client.CustomObjectsApi(self.admin).create_namespaced_custom_object(
            "autoscaling", "v2beta2", NAMESPACE, "horizontalpodautoscalers",
            {"apiVersion": "autoscaling/v2beta2", "kind": "HorizontalPodAutoscaler",
             "metadata": {"name": name}, "spec": hpa},
        )  # fmt: skip

    def stop(self, name: str) -> None:
        """Stop the HPA (its Deployment stays, and its pods: nothing reads them any more)."""
        client.CustomObjectsApi(self.admin).delete_namespaced_custom_object(
            "autoscaling", "v2beta2", NAMESPACE, "horizontalpodautoscalers", name
        )

    def reads(self, name: str) -> list[Read]:
        return list(self.metrics.metrics[name].reads)

    def _watch(self) -> None:
        apps = client.AppsV1Api(self.admin)
        while not self._closed:
            try:
                self._follow(apps)
            except Exception:  # the server ended the watch, or is going away: watch again
                continue

    def _follow(self, apps: client.AppsV1Api) -> None:
        for event in watch.Watch().stream(apps.list_namespaced_deployment, NAMESPACE):
            deployment = event["object"]
            name = deployment.metadata.name
            started = self._started.get(name)
            if started is None:
                continue
            seen = Replicas(
                time.time() - started,
                int(deployment.spec.replicas or 0),
                int(deployment.status.replicas or 0),
            )
            changes = self.replicas.setdefault(name, [])
            if not changes or (changes[-1].spec, changes[-1].status) != (seen.spec, seen.status):
                changes.append(seen)

    def close(self) -> None:
        self._closed = True
        self.metrics.close()
        self.admin.close()

"""A real Kubernetes API server for the e2e tests in tests/kube: etcd and kube-apiserver 1.20.2,
as `make kube` builds them, on free loopback ports.

RBAC is enforced (`--authorization-mode=RBAC`). The tests set the cluster up as an admin (a
token in `--token-auth-file`, in the group system:masters), and run agentdash as the
ServiceAccount of deploy/rbac.yaml, with a token the API server issues for it (TokenRequest,
signed with a key pair made here). No kubelet and no controller-manager run: a Deployment
never gets a pod, so what is observable of a scale is the Deployment's `scale` subresource.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import ssl
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import TracebackType

import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from kubernetes import client

from agentdash.nats_server import die_with_parent
from tests.support import free_port
from tests.support.certificates import make_certificates

VERSION = "1.20.2"
BINARIES = ("etcd", "kube-apiserver")
ISSUER = "https://kubernetes.default.svc.cluster.local"


def binaries_dir() -> Path:
    """Where `make kube` leaves the binaries (tools/kube.sh reads the same variable)."""
    chosen = os.environ.get("AGENTDASH_KUBE_DIR")
    if chosen:
        return Path(chosen) / "bin"
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "agentdash" / f"kube-{VERSION}" / "bin"


def missing_binaries(where: Path) -> str | None:
    """Why the control plane cannot start here (a skip reason), or None."""
    absent = [name for name in BINARIES if not os.access(where / name, os.X_OK)]
    if not absent:
        return None
    return (
        f"{', '.join(absent)} not in {where}: build them once with `make kube` "
        f"(Kubernetes {VERSION} from Debian's source, 15 to 20 minutes on 2 cores)"
    )


class ControlPlaneError(RuntimeError):
    pass


class ControlPlane:
    """etcd and kube-apiserver as child processes, their state in a temporary directory that
    `close()` removes. `admin` is an API client with every right."""

    def __init__(self, bin_dir: Path) -> None:
        self.bin_dir = bin_dir
        self.work = Path(tempfile.mkdtemp(prefix="agentdash-kube-"))
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}"
        self.admin_token = secrets.token_hex(16)
        self.ca_file = self.work / "ca.pem"
        self._processes: dict[str, subprocess.Popen[bytes]] = {}
        self._arguments: dict[str, tuple[str, ...]] = {}

    def start(self, timeout: float = 90.0) -> ControlPlane:
        certificates = make_certificates(self.work)
        (self.work / "tokens.csv").write_text(f'{self.admin_token},admin,admin,"system:masters"\n')
        signing_key = self._service_account_keys()
        etcd = self._etcd()
        self._spawn(
            "kube-apiserver",
            f"--etcd-servers={etcd}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.port}",
            "--insecure-port=0",
            f"--cert-dir={self.work / 'certs'}",
            f"--tls-cert-file={certificates['server.pem']}",
            f"--tls-private-key-file={certificates['server.key']}",
            f"--token-auth-file={self.work / 'tokens.csv'}",
            "--authorization-mode=RBAC",
            f"--service-account-issuer={ISSUER}",
            f"--service-account-key-file={signing_key.with_suffix('.pub')}",
            f"--service-account-signing-key-file={signing_key}",
            "--service-cluster-ip-range=10.0.0.0/24",
        )
        self._wait_ready(timeout)
        return self

    def _service_account_keys(self) -> Path:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        private = self.work / "service-account.key"
        private.write_bytes(
            key.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
        )
        private.with_suffix(".pub").write_bytes(
            key.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
        return private

    def _etcd(self) -> str:
        """Start etcd; its client URL."""
        served = f"http://127.0.0.1:{free_port()}"
        peer = f"http://127.0.0.1:{free_port()}"
        self._spawn(
            "etcd",
            f"--data-dir={self.work / 'etcd'}",
            f"--listen-client-urls={served}",
            f"--advertise-client-urls={served}",
            f"--listen-peer-urls={peer}",
            f"--initial-advertise-peer-urls={peer}",
            f"--initial-cluster=default={peer}",
        )
        return served

    def kill(self, name: str) -> None:
        """`kill -9` one of the servers (`etcd`, `kube-apiserver`)."""
        process = self._processes[name]
        process.kill()
        process.wait()

    def start_again(self, name: str, timeout: float = 90.0) -> None:
        """Start a server killed by `kill` again, as it was (its port, its data), and wait
        until the API server is ready."""
        self._spawn(name, *self._arguments[name])
        self._wait_ready(timeout)

    def _spawn(self, name: str, *args: str) -> None:
        self._arguments[name] = args
        # Logs go to files: a pipe nobody reads would fill and stall the server.
        with (self.work / f"{name}.log").open("ab") as log:
            self._processes[name] = subprocess.Popen(
                [str(self.bin_dir / name), *args],
                stdout=log,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent(),  # no server outlives a killed test run
            )

    def _wait_ready(self, timeout: float) -> None:
        context = ssl.create_default_context(cafile=str(self.ca_file))
        request = urllib.request.Request(
            f"{self.url}/readyz", headers={"Authorization": f"Bearer {self.admin_token}"}
        )
        deadline = time.monotonic() + timeout
        last = "no answer"
        while time.monotonic() < deadline:
            for name, process in self._processes.items():
                if process.poll() is not None:
                    raise ControlPlaneError(f"{name} exited at start: {self.log_tail(name)}")
            try:
                with urllib.request.urlopen(request, timeout=5, context=context) as answer:
                    if answer.status == 200:
                        return
            except urllib.error.HTTPError as error:
                last = f"{error.code} {error.read()[-300:].decode(errors='replace')}"
            except OSError as error:
                last = str(error)
            time.sleep(0.1)  # polling a child's start-up, with a deadline
        raise ControlPlaneError(
            f"kube-apiserver not ready within {timeout:g} s ({last}): "
            f"{self.log_tail('kube-apiserver')}"
        )

    def log_tail(self, name: str, chars: int = 1500) -> str:
        return (self.work / f"{name}.log").read_text(errors="replace")[-chars:]

    def configuration(self, token: str) -> client.Configuration:
        configuration = client.Configuration()
        configuration.host = self.url
        configuration.ssl_ca_cert = str(self.ca_file)
        configuration.api_key = {"authorization": f"Bearer {token}"}
        return configuration

    def admin(self) -> client.ApiClient:
        """A synchronous client with every right (for setting up, never for agentdash)."""
        return client.ApiClient(self.configuration(self.admin_token))

    def kubeconfig(self, path: Path, token: str) -> Path:
        """A kubeconfig whose current context reaches this server with `token`."""
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "real",
                    "clusters": [
                        {
                            "name": "real",
                            "cluster": {
                                "server": self.url,
                                "certificate-authority": str(self.ca_file),
                            },
                        }
                    ],
                    "users": [{"name": "agentdash", "user": {"token": token}}],
                    "contexts": [
                        {"name": "real", "context": {"cluster": "real", "user": "agentdash"}}
                    ],
                }
            )
        )
        return path

    def close(self) -> None:
        for process in reversed(self._processes.values()):  # the API server before its etcd
            with contextlib.suppress(ProcessLookupError):
                process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        self._processes.clear()
        shutil.rmtree(self.work, ignore_errors=True)

    def __enter__(self) -> ControlPlane:
        try:
            return self.start()
        except BaseException:
            self.close()
            raise

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

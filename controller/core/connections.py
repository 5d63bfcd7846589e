"""Where agentdash connects: NATS (its URL, TLS and credentials), Prometheus (the token
query), and Kubernetes (the client's budget, the Lease). Secrets are SecretStr: never printed."""

from __future__ import annotations

from typing import Annotated, Self

from pydantic import AfterValidator, Field, SecretStr, Strict, model_validator

from controller.core import names
from controller.core.config_types import (
    DAY,
    FilePath,
    Flag,
    StrictModel,
    Text,
)

DEFAULT_TOKENS_QUERY = "sum by (tenant) (increase(agent_tokens_consumed_total[{since}]))"


class NatsTLS(StrictModel):
    ca_file: FilePath | None = None
    """CA bundle for the server's certificate (default: the system's)."""
    cert_file: FilePath | None = None
    """Client certificate, for servers that verify clients (with key_file)."""
    key_file: FilePath | None = None

    @model_validator(mode="after")
    def _pair(self) -> Self:
        if (self.cert_file is None) != (self.key_file is None):
            missing = "key_file" if self.key_file is None else "cert_file"
            raise ValueError(f"expected {missing} beside the other (a client certificate)")
        return self


class NatsConfig(StrictModel):
    """Where NATS is and how agentdash proves who it is: at most one of a .creds file, an
    nkey seed, user and password, or a token; TLS on its own or with any of them. Files are
    read when agentdash starts (`check-config` only notes a missing one: it may be mounted
    only where the controller runs)."""

    url: Annotated[str, Strict(), AfterValidator(names.nats_url)] = "nats://127.0.0.1:4222"
    creds_file: FilePath | None = None
    nkey_seed_file: FilePath | None = None
    user: Text | None = None
    password: SecretStr | None = None
    token: SecretStr | None = None
    tls: NatsTLS | None = None

    @model_validator(mode="after")
    def _one_identity(self) -> Self:
        if (self.user is None) != (self.password is None):
            missing = "password" if self.password is None else "user"
            raise ValueError(f"expected {missing} beside the other")
        given = [
            name
            for name, value in (
                ("creds_file", self.creds_file),
                ("nkey_seed_file", self.nkey_seed_file),
                ("user", self.user),
                ("token", self.token),
            )
            if value is not None
        ]
        if len(given) > 1:
            raise ValueError(f"expected one way to authenticate, got {' and '.join(given)}")
        return self

    def files(self) -> dict[str, str]:
        """Field path -> file, for each file this section names."""
        tls = self.tls or NatsTLS()
        found = {
            "creds_file": self.creds_file,
            "nkey_seed_file": self.nkey_seed_file,
            "tls.ca_file": tls.ca_file,
            "tls.cert_file": tls.cert_file,
            "tls.key_file": tls.key_file,
        }
        return {f"nats.{path}": file for path, file in found.items() if file is not None}


class PrometheusTLS(StrictModel):
    ca_file: FilePath | None = None
    """CA bundle for Prometheus's certificate (default: the system's)."""
    insecure_skip_verify: Flag = False
    """Accept any certificate. Off by default: a forged answer could lift every budget."""

    @model_validator(mode="after")
    def _not_both(self) -> Self:
        if self.ca_file is not None and self.insecure_skip_verify:
            raise ValueError("expected either ca_file or insecure_skip_verify, not both")
        return self


class PrometheusConfig(StrictModel):
    url: Annotated[str, Strict(), AfterValidator(names.http_url)]
    tokens_query: Text = DEFAULT_TOKENS_QUERY
    """PromQL giving tokens used today, one series per tenant (label `tenant`); `{since}` is
    replaced by the time since the tenant's budget day began, as a range (`3725s`)."""
    interval_seconds: Annotated[float, Strict(), Field(ge=1, le=DAY, allow_inf_nan=False)] = 15.0
    tls: PrometheusTLS = Field(default_factory=PrometheusTLS)
    bearer_token_file: FilePath | None = None
    """Sent as `Authorization: Bearer ...`, read again at every query (tokens rotate)."""

    def files(self) -> dict[str, str]:
        found = {"tls.ca_file": self.tls.ca_file, "bearer_token_file": self.bearer_token_file}
        return {f"prometheus.{path}": file for path, file in found.items() if file is not None}


class KubernetesLeaseConfig(StrictModel):
    """Elect the leader on this `coordination.k8s.io/v1` Lease instead of in NATS KV."""

    namespace: Annotated[str, Strict(), AfterValidator(names.namespace)]
    name: Annotated[str, Strict(), AfterValidator(names.kubernetes_name)] = "agentdash-leader"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class KubernetesConfig(StrictModel):
    qps: Annotated[float, Strict(), Field(gt=0, le=10_000, allow_inf_nan=False)] = 5.0
    burst: Annotated[int, Strict(), Field(ge=1, le=100_000)] = 10
    annotate: Flag = False
    """Leave the last decision in an annotation on each Deployment. Off by default: it needs
    `patch deployments`, which could change the whole Deployment (`agentdash rbac` restricts
    it to the config's); the scale Event says why all the same."""
    pod_deletion_cost: Flag = True
    """On a scale-down, mark the pods the workers report idle with a low
    `controller.kubernetes.io/pod-deletion-cost`, so the ReplicaSet deletes them before busy
    ones (needs `patch pods`, which cannot be restricted to a Deployment's pods)."""
    lease: KubernetesLeaseConfig | None = None
    """Leader election on a Kubernetes Lease (deploy/options/rbac-kubernetes-lease.yaml),
    which keeps `--lease-ttl` rounded up to whole seconds: a process that may hold it needs
    more than 2 s (a dashboard that never holds it, any); without it, on the NATS KV bucket
    agentdash_leader."""

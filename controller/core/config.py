"""The agentdash.yaml configuration: pydantic models, cross-reference checks, one-line errors.

Every user mistake surfaces as a `ConfigError` whose text names the file, the field path
(`pools.acme-research.max_replicas`) and what was expected, so the CLI can print it on one line
and exit 2.
"""

from __future__ import annotations

import os
import stat
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Self

from pydantic import (
    AfterValidator,
    Field,
    PrivateAttr,
    Strict,
    ValidationError,
    model_validator,
)

# ConfigError and first_error are re-exported (`as`): the code around imports them from here
from controller.core import names
from controller.core.behavior import Behavior
from controller.core.config_errors import ConfigError as ConfigError
from controller.core.config_errors import InvalidField, UnknownReference, shown
from controller.core.config_errors import first_error as first_error
from controller.core.config_tenants import TenantConfig as TenantConfig
from controller.core.config_tenants import TierConfig as TierConfig
from controller.core.config_types import (
    DAY,
    Count,
    Flag,
    LagTarget,
    NatsName,
    PoolName,
    PosCount,
    PosReplicas,
    Rate,
    Replicas,
    Seconds,
    StrictModel,
)
from controller.core.connections import (
    KubernetesConfig,
    NatsConfig,
    PrometheusConfig,
)
from controller.core.input_files import load_yaml_with_lines, read_text


class ClusterConfig(StrictModel):
    max_pods: PosReplicas = 100
    """Hard cap over all pools together (what a ResourceQuota would allow)."""


class ControllerConfig(StrictModel):
    interval_seconds: Annotated[float, Strict(), Field(ge=0.05, le=DAY, allow_inf_nan=False)] = 1.0
    """At least 50 ms: each tick asks NATS about every pool. It may be longer than the
    lease lasts (`--lease-ttl`): the lease is renewed between ticks."""


class ProviderConfig(StrictModel):
    rpm: PosCount
    """LLM requests a minute the provider allows, shared by every pool that calls it."""
    headroom: Annotated[float, Strict(), Field(ge=1, le=4, allow_inf_nan=False)] = 1.5
    """Replicas may draw up to this multiple of `rpm` at rpm_per_replica each: a pod that is
    starting or between tasks makes no request, and workers wait on the provider's limit
    rather than fail, so a little more keeps the rpm in use. 1.5 won the policy suite's
    provider-bound traffic on 8 of 12 seeds (1.25 and 2.0: 6 of 12); 1 is a hard cap."""


class DeploymentRef(StrictModel):
    namespace: Annotated[str, Strict(), AfterValidator(names.namespace)] = "default"
    name: Annotated[str, Strict(), AfterValidator(names.kubernetes_name)]

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}"


class QueueRef(StrictModel):
    stream: NatsName
    consumer: NatsName
    subject: Annotated[str, Strict(), AfterValidator(names.subject)] | None = None
    """Subject the consumer reads; defaults to `<stream lowercased>.<pool>`."""


class FallbackConfig(StrictModel):
    """KEDA's `fallback`: after `failure_threshold` failed reads in a row, hold `replicas`."""

    failure_threshold: Annotated[int, Strict(), Field(ge=1, le=10_000)] = 3
    replicas: Replicas
    """At most the pool's max_replicas."""


class KeepAliveConfig(StrictModel):
    wait_weight: Annotated[float, Strict(), Field(ge=0.1, le=10, allow_inf_nan=False)] = 1.0
    """What a second of a task's waiting weighs against a second of an idle pod, when the
    learned keep-alive prices a cold start for the next burst (controller.core.keepalive).
    Above 1 the pool holds idle replicas longer between bursts: less waiting and fewer
    reversals, more pod-seconds; below 1 it lets them go sooner. `agentdash tune` searches it.
    Only for a pool that learns its keep-alive (no cooldown_seconds, no behavior.scale_down)."""


class PoolConfig(StrictModel):
    tenant: Annotated[str, Strict()]
    deployment: DeploymentRef
    queue: QueueRef
    provider: Annotated[str, Strict()] | None = None
    rpm_per_replica: Rate = 0
    target_lag_per_replica: LagTarget = 1
    min_replicas: Replicas = 0
    max_replicas: PosReplicas = 10
    activation_lag: Count = 0
    cooldown_seconds: Seconds = 240
    """Idle this long before the last replica goes (longer than the down window, so it acts)."""
    concurrency: Annotated[int, Strict(), Field(ge=1, le=10_000)] = 1
    cold_start_seconds: Seconds = 20
    termination_grace_seconds: Seconds = 30
    """How long a busy pod may finish its task after it is told to stop (the pod's
    terminationGracePeriodSeconds); then the task goes back to the queue."""
    behavior: Behavior = Field(default_factory=Behavior)
    take_over: Flag = False
    """Scale the Deployment even if an HPA or a KEDA ScaledObject also targets it."""
    fallback: FallbackConfig | None = None
    """None (the default): a pool whose reads fail holds its replicas and is flagged stale."""
    keep_alive: KeepAliveConfig = Field(default_factory=KeepAliveConfig)
    """How the learned keep-alive weighs waiting against idle pods."""

    @property
    def learns_keep_alive(self) -> bool:
        """Whether the pool holds idle replicas as its own gaps say (controller.core.keepalive)
        rather than by a fixed scale-down window and cooldown: unless either is configured.
        Not cached: a copy made with other fields (model_copy) would keep the old answer."""
        if "cooldown_seconds" in self.model_fields_set:
            return False
        return not self._configured("scale_down")

    def _configured(self, direction: str) -> bool:
        return "behavior" in self.model_fields_set and direction in self.behavior.model_fields_set


def default_subject(stream: str, pool: str) -> str:
    """The subject a pool's tasks are published on where its queue names none."""
    return f"{stream.lower()}.{pool}"


def _check_keep_alive(name: str, pool: PoolConfig) -> None:
    """A weight for the learned keep-alive on a pool that does not learn it would do nothing."""
    if "keep_alive" not in pool.model_fields_set or pool.learns_keep_alive:
        return
    fixed = "cooldown_seconds"
    if fixed not in pool.model_fields_set:
        fixed = "behavior.scale_down"
    raise InvalidField(
        f"pools.{name}.keep_alive",
        f"expected no keep_alive on a pool with {fixed}, which puts it on the fixed scale-down "
        "rules, got one (remove one of the two)",
    )


class Config(StrictModel):
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    tiers: dict[NatsName, TierConfig]
    tenants: dict[NatsName, TenantConfig]
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    providers: dict[NatsName, ProviderConfig] = Field(default_factory=dict)
    pools: dict[PoolName, PoolConfig]
    nats: NatsConfig = Field(default_factory=NatsConfig)
    prometheus: PrometheusConfig | None = None
    """Where token usage comes from; without it, from the workers' reports on NATS."""
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)
    _source: str = PrivateAttr("<config>")

    @property
    def source(self) -> str:
        """The file it came from, for errors found after loading (a refused password)."""
        return self._source

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        if not self.pools:  # a fleet of nothing: every command would do nothing, and say OK
            raise InvalidField("pools", "expected at least one pool, got none")
        for name, tenant in self.tenants.items():
            if tenant.tier not in self.tiers:
                raise UnknownReference(f"tenants.{name}.tier", tenant.tier, "tier", self.tiers)
        for name, pool in self.pools.items():
            if pool.tenant not in self.tenants:
                raise UnknownReference(f"pools.{name}.tenant", pool.tenant, "tenant", self.tenants)
            if pool.provider is not None and pool.provider not in self.providers:
                raise UnknownReference(
                    f"pools.{name}.provider", pool.provider, "provider", self.providers
                )
            if pool.provider is not None:
                self._check_fits_provider(name, pool)
            self._check_not_reserved(name, pool)
            if pool.min_replicas > pool.max_replicas:
                raise InvalidField(
                    f"pools.{name}.min_replicas",
                    f"expected at most max_replicas ({pool.max_replicas}), got {pool.min_replicas}",
                )
            _check_keep_alive(name, pool)
            if pool.fallback is not None and pool.fallback.replicas > pool.max_replicas:
                raise InvalidField(
                    f"pools.{name}.fallback.replicas",
                    f"expected at most max_replicas ({pool.max_replicas}), "
                    f"got {pool.fallback.replicas}",
                )
        self._check_shared()
        return self

    def _check_fits_provider(self, name: str, pool: PoolConfig) -> None:
        """A replica that alone needs more rpm than its provider allows would never be
        granted: the pool would wait forever, its tasks queued, and say the rpm is in use."""
        provider = self.providers[pool.provider or ""]
        allowed = provider.rpm * provider.headroom
        if pool.rpm_per_replica > allowed:
            raise InvalidField(
                f"pools.{name}.rpm_per_replica",
                f"expected at most provider {pool.provider}'s rpm x headroom ({allowed:.15g}), "
                f"so that one replica fits, got {pool.rpm_per_replica:.15g}",
            )

    def _check_not_reserved(self, name: str, pool: PoolConfig) -> None:
        """Producers publish on a pool's subject and workers pull from its stream, neither
        trusted: neither may be one that NATS or agentdash keeps for itself."""
        stream = pool.queue.stream
        why = names.reserved_stream(stream)
        if why is not None:
            raise InvalidField(
                f"pools.{name}.queue.stream", f"expected a stream outside {why}, got {stream}"
            )
        subject = self.subject(name)
        why = names.reserved_subject(subject)
        if why is not None:
            field = "subject" if pool.queue.subject is not None else "stream"
            raise InvalidField(
                f"pools.{name}.queue.{field}",
                f"expected a task subject outside {why}, got {subject}",
            )

    def _check_shared(self) -> None:
        """Two pools on one Deployment would fight over its replicas; two on one consumer or
        subject would each count the other's tasks as their own."""
        first: dict[tuple[str, str], str] = {}
        for name, pool in self.pools.items():
            claims = {
                "deployment": ("deployment", str(pool.deployment)),
                "queue.consumer": ("consumer", f"{pool.queue.stream}/{pool.queue.consumer}"),
                "queue.subject": ("subject", self.subject(name)),
            }
            for path, claim in claims.items():
                other = first.setdefault(claim, name)
                if other != name:
                    raise InvalidField(
                        f"pools.{name}.{path}",
                        f"expected a {claim[0]} no other pool uses, got {claim[1]} "
                        f"(also pools.{other})",
                    )

    def subject(self, pool: str) -> str:
        """The subject a pool's tasks are published on."""
        queue = self.pools[pool].queue
        return queue.subject or default_subject(queue.stream, pool)

    @cached_property
    def tier_of(self) -> dict[str, str]:
        """Tier name per pool."""
        return {name: self.tenants[p.tenant].tier for name, p in self.pools.items()}

    @cached_property
    def budget_share(self) -> dict[str, float]:
        """Each pool's share of its tenant's budget pace: its max_replicas over the tenant's."""
        total: dict[str, int] = {}
        for pool in self.pools.values():
            total[pool.tenant] = total.get(pool.tenant, 0) + pool.max_replicas
        return {name: p.max_replicas / total[p.tenant] for name, p in self.pools.items()}

    @cached_property
    def pools_of(self) -> dict[str, list[str]]:
        """Per tenant, its pools' names, in config order."""
        pools: dict[str, list[str]] = {name: [] for name in self.tenants}
        for name, pool in self.pools.items():
            pools[pool.tenant].append(name)
        return pools

    @cached_property
    def target_wait(self) -> dict[str, float | None]:
        """The latency objective per pool (its tier's target_wait_seconds), if any."""
        return {name: self.tiers[tier].target_wait_seconds for name, tier in self.tier_of.items()}

    def tier_priority(self, pool: str) -> int:
        return self.tiers[self.tier_of[pool]].priority

    def replayed_from(self, epoch: float) -> Config:
        """This config for a replay whose `now` = 0 is the Unix time `epoch`, the midnight UTC
        of the trace's first day: its tenants' budget days follow that date's calendar."""
        tenants = {name: t.replayed_from(epoch) for name, t in self.tenants.items()}
        return self.model_copy(update={"tenants": tenants})  # (its source is copied too)

    def replayed_later(self, seconds: float) -> Config:
        """This config for a replay of its trace from `seconds` on, moved to start at 0 (tune's
        held-out tail): the tenants' budget days still start where they did in the trace."""
        tenants = {name: t.replayed_later(seconds) for name, t in self.tenants.items()}
        return self.model_copy(update={"tenants": tenants})


def parse_config(data: Any, source: str = "<config>") -> Config:
    """Validate already-parsed YAML/JSON data."""
    if not isinstance(data, dict):
        # what it got, cut short: a TOML or INI file is read as YAML's one long string
        raise ConfigError(source, "", f"expected a mapping at the top level, got {shown(data)}")
    try:
        config = Config.model_validate(data)
    except ValidationError as exc:
        path, message = first_error(exc, model=Config)
        raise ConfigError(source, path, message) from None
    config._source = source
    return config


def unreadable_files(config: Config) -> dict[str, str]:
    """Field path -> why, for each file the config names (credentials, keys, CAs) that
    cannot be read here."""
    files = config.nats.files() | (config.prometheus.files() if config.prometheus else {})
    problems = {}
    for path, file in files.items():
        why = why_unreadable(file)
        if why is not None:
            problems[path] = f"cannot read {file}: {why}"
    return problems


def why_unreadable(file: Path | str) -> str | None:
    """Why a file read later cannot be, or None: missing, a folder, not ours to read, or not
    a regular file (a pipe or a device: it would be read once here and again later). A named
    pipe is never opened to see: the open would wait for a writer, with no word."""
    try:
        mode = os.stat(file).st_mode
    except OSError as exc:
        return exc.strerror or type(exc).__name__
    if stat.S_ISDIR(mode):
        return "Is a directory"
    if not stat.S_ISREG(mode):
        return "not a regular file"
    try:
        with Path(file).open("rb"):
            return None
    except OSError as exc:
        return exc.strerror or type(exc).__name__


def check_files(config: Config) -> None:
    """Called before connecting: an unreadable file is a ConfigError naming the config file,
    the field and the problem."""
    problems = unreadable_files(config)
    if problems:
        path, problem = next(iter(problems.items()))
        raise ConfigError(config.source, path, problem)


def load_config(path: Path | str, text: str | None = None) -> Config:
    """Read and validate an agentdash.yaml file; a mistake names the line of its field.
    `text`: the file's, if read already (`read_text(path, "YAML")`, by a caller that keeps
    it): a pipe can be read only once."""
    if text is None:
        text = read_text(path, "YAML")
    data, lines = load_yaml_with_lines(text, str(path))
    try:
        return parse_config(data, str(path))
    except ConfigError as exc:
        raise exc.at_line(lines.line(exc.path)) from None

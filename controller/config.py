"""The agentdash.yaml configuration: pydantic models, cross-reference checks, one-line errors.

Every user mistake surfaces as a `ConfigError` whose text names the file, the field path
(`pools.acme-research.max_replicas`) and what was expected, so the CLI can print it on one line
and exit 2.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import yaml
from pydantic import (
    AliasChoices,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
)

NonNegInt = Annotated[int, Field(ge=0)]
PosInt = Annotated[int, Field(gt=0)]
NonNegFloat = Annotated[float, Field(ge=0)]
PosFloat = Annotated[float, Field(gt=0)]


class ConfigError(Exception):
    """A user mistake in a file: `file: field.path: what was expected`."""

    def __init__(self, source: str, path: str, message: str) -> None:
        self.source = source
        self.path = path
        self.message = message
        where = f"{source}: {path}" if path else source
        super().__init__(f"{where}: {message}")


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ClusterConfig(_Model):
    max_pods: PosInt = 100
    """Hard cap over all pools together (what a ResourceQuota would allow)."""


class TierConfig(_Model):
    priority: int
    """Higher is served first when a shared ceiling is short."""
    target_wait_seconds: PosFloat | None = None
    """Optional latency objective: the policy adds headroom (square-root staffing) so a
    task of this tier waits about this long at most. None: no headroom, nothing changes."""


class TenantConfig(_Model):
    tier: str
    daily_token_budget: PosInt | None = None
    """Tokens a day; none means unlimited."""
    warn_at: Annotated[float, Field(gt=0, le=1)] = 0.8
    """Fraction of the budget from which pools may not grow."""
    hard_cap: bool = True
    """At 100% of the budget: true scales the tenant's pools to zero, false only stops growth."""
    max_pods: PosInt | None = None


class ControllerConfig(_Model):
    interval_seconds: PosFloat = 1.0


class ProviderConfig(_Model):
    rpm: PosInt
    """LLM requests a minute the provider allows, shared by every pool that calls it."""
    headroom: Annotated[float, Field(ge=1, le=4)] = 1.5
    """Replicas may draw up to this multiple of `rpm` at rpm_per_replica each: a pod that is
    starting or between tasks makes no request, and workers wait on the provider's limit
    rather than fail, so a little more keeps the rpm in use. 1.5 won the policy suite's
    provider-bound traffic on 8 of 12 seeds (1.25 and 2.0: 6 of 12); 1 is a hard cap."""


class DeploymentRef(_Model):
    namespace: str = "default"
    name: str


class QueueRef(_Model):
    stream: str
    consumer: str
    subject: str | None = None
    """Subject the consumer reads; defaults to `<stream lowercased>.<pool>`."""


class ScalingPolicy(_Model):
    """One HPA v2 rate policy: at most `value` pods (or percent of the replicas at the start
    of the period) added or removed per `period_seconds`."""

    type: Literal["Pods", "Percent"]
    value: PosInt
    period_seconds: PosFloat = Field(
        validation_alias=AliasChoices("period_seconds", "periodSeconds")
    )


class ScalingRule(_Model):
    """One direction of `behavior`, as the HPA's `scaleUp` / `scaleDown`.

    The HPA's camelCase names are accepted too (`stabilizationWindowSeconds`, `selectPolicy`,
    `periodSeconds`), so a KEDA or HPA `behavior` block can be pasted in. The older single-rule
    form `{stabilization_seconds, max_pods, period_seconds}` is one `Pods` policy."""

    stabilization_seconds: NonNegFloat = Field(
        0, validation_alias=AliasChoices("stabilization_seconds", "stabilizationWindowSeconds")
    )
    policies: tuple[ScalingPolicy, ...] = ()
    select_policy: Literal["Max", "Min", "Disabled"] = Field(
        "Max", validation_alias=AliasChoices("select_policy", "selectPolicy")
    )
    """Max: the policy allowing the largest change; Min: the smallest; Disabled: no change in
    this direction at all."""
    tolerance: Annotated[float, Field(ge=0, lt=1)] = 0.0
    """A recommendation within this fraction of the current replicas leaves them alone."""

    @model_validator(mode="before")
    @classmethod
    def _single_rule(cls, data: Any) -> Any:
        if isinstance(data, dict) and ("max_pods" in data or "period_seconds" in data):
            if "policies" in data:
                raise ValueError("expected either policies or max_pods/period_seconds, not both")
            data = dict(data)
            value = data.pop("max_pods", None)
            period = data.pop("period_seconds", None)
            if value is None or period is None:
                missing = "max_pods" if value is None else "period_seconds"
                raise ValueError(f"expected {missing} beside the other (or a policies list)")
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"max_pods: expected a whole number greater than 0, got {value!r}")
            data["policies"] = [{"type": "Pods", "value": value, "period_seconds": period}]
        return data

    def describe(self) -> str:
        """`max(100% / 15 s, 4 pods / 15 s)`: the rate policies as a person reads them."""
        if self.select_policy == "Disabled":
            return "disabled"
        if not self.policies:
            return "no rate limit"
        parts = [
            f"{p.value}{'%' if p.type == 'Percent' else ' pods'} / {p.period_seconds:g} s"
            for p in self.policies
        ]
        if len(parts) == 1:
            return parts[0]
        return f"{self.select_policy.lower()}({', '.join(parts)})"

    @cached_property
    def steps(self) -> tuple[tuple[float, bool, int], ...]:
        """(period_seconds, is Pods, value) per policy, sorted by period so that policies
        sharing one are counted together (read at every tick of every pool that moves)."""
        return tuple(sorted((p.period_seconds, p.type == "Pods", p.value) for p in self.policies))

    def __str__(self) -> str:
        return self.describe()

    def __format__(self, spec: str) -> str:
        return format(self.describe(), spec)

    @property
    def longest_period(self) -> float:
        return max((p.period_seconds for p in self.policies), default=0.0)


def _up_default() -> ScalingRule:
    return ScalingRule.model_validate(DEFAULT_SCALE_UP)


def _down_default() -> ScalingRule:
    return ScalingRule.model_validate(DEFAULT_SCALE_DOWN)


DEFAULT_SCALE_UP: dict[str, Any] = {
    "stabilization_seconds": 0,
    "select_policy": "Max",
    "policies": [
        {"type": "Percent", "value": 100, "period_seconds": 15},
        {"type": "Pods", "value": 4, "period_seconds": 15},
    ],
}
"""No window, at least doubling every 15 s (the HPA's own defaults), no tolerance: see
README.md, "Choosing the defaults", for the measurements behind these."""
DEFAULT_SCALE_DOWN: dict[str, Any] = {
    "stabilization_seconds": 120,
    "select_policy": "Max",
    "tolerance": 0.25,
    "policies": [{"type": "Percent", "value": 100, "period_seconds": 15}],
}


_CAMEL = {
    "stabilizationWindowSeconds": "stabilization_seconds",
    "selectPolicy": "select_policy",
    "scaleUp": "scale_up",
    "scaleDown": "scale_down",
}


class Behavior(_Model):
    """What a direction leaves out comes from its default, as the HPA fills in `behavior`."""

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = {_CAMEL.get(k, k): v for k, v in data.items()}
        for key, default in (("scale_up", DEFAULT_SCALE_UP), ("scale_down", DEFAULT_SCALE_DOWN)):
            given = data.get(key)
            if isinstance(given, dict):
                given = {_CAMEL.get(k, k): v for k, v in given.items()}
                base = dict(default)
                if "max_pods" in given or "period_seconds" in given:
                    del base["policies"]  # the single-rule form names its own
                data[key] = {**base, **given}
        return data

    scale_up: ScalingRule = Field(
        default_factory=_up_default, validation_alias=AliasChoices("scale_up", "scaleUp")
    )
    scale_down: ScalingRule = Field(
        default_factory=_down_default, validation_alias=AliasChoices("scale_down", "scaleDown")
    )


class PoolConfig(_Model):
    tenant: str
    deployment: DeploymentRef
    queue: QueueRef
    provider: str | None = None
    rpm_per_replica: NonNegFloat = 0
    target_lag_per_replica: PosFloat = 1
    min_replicas: NonNegInt = 0
    max_replicas: PosInt = 10
    activation_lag: NonNegInt = 0
    cooldown_seconds: NonNegFloat = 240
    """Idle this long before the last replica goes (longer than the down window, so it acts)."""
    concurrency: PosInt = 1
    cold_start_seconds: NonNegFloat = 20
    termination_grace_seconds: NonNegFloat = 30
    """How long a busy pod may finish its task after it is told to stop (the pod's
    terminationGracePeriodSeconds); then the task goes back to the queue."""
    behavior: Behavior = Field(default_factory=Behavior)
    take_over: bool = False
    """Scale the Deployment even if an HPA or a KEDA ScaledObject also targets it."""


DEFAULT_TOKENS_QUERY = "sum by (tenant) (increase(agent_tokens_consumed_total[1d]))"


class NatsConfig(_Model):
    url: str = "nats://127.0.0.1:4222"


class PrometheusConfig(_Model):
    url: str
    tokens_query: str = DEFAULT_TOKENS_QUERY
    """PromQL giving tokens used today, one series per tenant (label `tenant`)."""
    interval_seconds: PosFloat = 15.0


class KubernetesConfig(_Model):
    qps: PosFloat = 5.0
    burst: PosInt = 10
    annotate: bool = True
    """Leave the last decision on each Deployment (needs `patch deployments`, deploy/rbac.yaml)."""


class Config(_Model):
    cluster: ClusterConfig = Field(default_factory=ClusterConfig)
    tiers: dict[str, TierConfig]
    tenants: dict[str, TenantConfig]
    controller: ControllerConfig = Field(default_factory=ControllerConfig)
    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    pools: dict[str, PoolConfig]
    nats: NatsConfig = Field(default_factory=NatsConfig)
    prometheus: PrometheusConfig | None = None
    """Where token usage comes from; without it, from the workers' reports on NATS."""
    kubernetes: KubernetesConfig = Field(default_factory=KubernetesConfig)

    @model_validator(mode="after")
    def _check_references(self) -> Self:
        for name, tenant in self.tenants.items():
            if tenant.tier not in self.tiers:
                raise _Reference(f"tenants.{name}.tier", tenant.tier, "tier", self.tiers)
        for name, pool in self.pools.items():
            if pool.tenant not in self.tenants:
                raise _Reference(f"pools.{name}.tenant", pool.tenant, "tenant", self.tenants)
            if pool.provider is not None and pool.provider not in self.providers:
                raise _Reference(
                    f"pools.{name}.provider", pool.provider, "provider", self.providers
                )
            if pool.min_replicas > pool.max_replicas:
                raise _Invalid(
                    f"pools.{name}.min_replicas",
                    f"expected at most max_replicas ({pool.max_replicas}), got {pool.min_replicas}",
                )
        return self

    def subject(self, pool: str) -> str:
        """The subject a pool's tasks are published on."""
        queue = self.pools[pool].queue
        return queue.subject or f"{queue.stream.lower()}.{pool}"

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
    def target_wait(self) -> dict[str, float | None]:
        """The latency objective per pool (its tier's target_wait_seconds), if any."""
        return {name: self.tiers[tier].target_wait_seconds for name, tier in self.tier_of.items()}

    def tier_priority(self, pool: str) -> int:
        return self.tiers[self.tier_of[pool]].priority


class _Invalid(ValueError):
    """A semantic error raised from a validator, carrying its own field path."""

    def __init__(self, path: str, message: str) -> None:
        self.path = path
        self.message = message
        super().__init__(message)


class _Reference(_Invalid):
    def __init__(self, path: str, value: str, kind: str, known: Mapping[str, Any]) -> None:
        names = ", ".join(sorted(known)) or "none defined"
        super().__init__(path, f"expected one of the defined {kind}s ({names}), got {value!r}")


def _expectation(error: Mapping[str, Any]) -> str:
    """Turn one pydantic error into 'expected ..., got ...'."""
    kind = error["type"]
    value = error.get("input")
    ctx = error.get("ctx") or {}
    got = f", got {value!r}" if kind != "missing" else ""
    if kind == "extra_forbidden":
        return "unknown key"
    if kind == "missing":
        return "required field is missing"
    bounds = {
        "greater_than": "a number greater than {gt}",
        "greater_than_equal": "a number >= {ge}",
        "less_than": "a number less than {lt}",
        "less_than_equal": "a number <= {le}",
    }
    if kind in bounds:
        numbers = {k: f"{v:g}" if isinstance(v, int | float) else v for k, v in ctx.items()}
        return "expected " + bounds[kind].format(**numbers) + got
    names = {
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "string_type": "a string",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
        "list_type": "a list",
    }
    if kind in names:
        return f"expected {names[kind]}{got}"
    if kind == "value_error" and "error" in ctx:
        return f"{ctx['error']}{got}"
    message = str(error.get("msg", "invalid value"))
    return message[0].lower() + message[1:] + got


def _dotted(loc: Sequence[int | str]) -> str:
    return ".".join(str(part) for part in loc)


def first_error(exc: ValidationError, *, strip: int = 0) -> tuple[str, str]:
    """The first error of a pydantic ValidationError as (field path, expectation)."""
    errors = exc.errors(include_url=False)
    error = errors[0]
    cause = error.get("ctx", {}).get("error")
    if isinstance(cause, _Invalid):
        return cause.path, cause.message
    loc = [part for part in error["loc"] if not str(part).startswith("function-")]
    message = _expectation(error)
    if len(errors) > 1:
        message += f" (and {len(errors) - 1} more)"
    return _dotted(loc[strip:]), message


def parse_config(data: Any, source: str = "<config>") -> Config:
    """Validate already-parsed YAML/JSON data."""
    if not isinstance(data, dict):
        raise ConfigError(source, "", "expected a mapping at the top level")
    try:
        return Config.model_validate(data)
    except ValidationError as exc:
        path, message = first_error(exc)
        raise ConfigError(source, path, message) from None


def read_yaml(path: Path | str) -> Any:
    """Read a YAML (or JSON) file, raising ConfigError for a missing file or bad syntax."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1} column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or "not valid YAML"
        raise ConfigError(source, where, f"expected valid YAML: {problem}") from None


def load_config(path: Path | str) -> Config:
    """Read and validate an agentdash.yaml file."""
    return parse_config(read_yaml(path), str(path))

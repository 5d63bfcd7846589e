"""A pool's `behavior`: the HPA v2 scaling rules of each direction (stabilization window,
rate policies, selectPolicy, tolerance) and agentdash's defaults for them."""

from __future__ import annotations

from functools import cached_property
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, Field, Strict, model_validator

from controller.core.config_errors import shown
from controller.core.config_types import MAX_PODS, PosSeconds, Seconds, StrictModel


def _snake(data: dict[Any, Any], camel: dict[str, str]) -> dict[Any, Any]:
    """`data` with the HPA's camelCase keys renamed to ours. A key given in both spellings is
    refused as a key given twice: keeping either one would silently drop the other."""
    renamed = {camel.get(k, k): v for k, v in data.items()}
    if len(renamed) < len(data):
        both = next(k for k in data if k in camel and camel[k] in data)
        ours = camel[both]
        raise ValueError(
            f"expected each key once in a mapping, got {shown(ours)} twice "
            f"(as {shown(both)} and {shown(ours)})"
        )
    return renamed


class ScalingPolicy(StrictModel):
    """One HPA v2 rate policy: at most `value` pods (or percent of the replicas at the start
    of the period) added or removed per `period_seconds`."""

    type: Literal["Pods", "Percent"]
    value: Annotated[int, Strict(), Field(gt=0, le=MAX_PODS)]
    period_seconds: PosSeconds = Field(
        validation_alias=AliasChoices("period_seconds", "periodSeconds")
    )

    @model_validator(mode="before")
    @classmethod
    def _one_spelling(cls, data: Any) -> Any:
        return _snake(data, _POLICY_CAMEL) if isinstance(data, dict) else data


class ScalingRule(StrictModel):
    """One direction of `behavior`, as the HPA's `scaleUp` / `scaleDown`.

    The HPA's camelCase names are accepted too (`stabilizationWindowSeconds`, `selectPolicy`,
    `periodSeconds`), so a KEDA or HPA `behavior` block can be pasted in. The older single-rule
    form `{stabilization_seconds, max_pods, period_seconds}` is one `Pods` policy."""

    stabilization_seconds: Seconds = Field(
        0, validation_alias=AliasChoices("stabilization_seconds", "stabilizationWindowSeconds")
    )
    policies: tuple[ScalingPolicy, ...] = ()
    select_policy: Literal["Max", "Min", "Disabled"] = Field(
        "Max", validation_alias=AliasChoices("select_policy", "selectPolicy")
    )
    """Max: the policy allowing the largest change; Min: the smallest; Disabled: no change in
    this direction at all."""
    tolerance: Annotated[float, Strict(), Field(ge=0, lt=1, allow_inf_nan=False)] = 0.0
    """A recommendation within this fraction of the current replicas leaves them alone."""

    @model_validator(mode="before")
    @classmethod
    def _single_rule(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = _snake(data, _RULE_CAMEL)
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
                expected = "max_pods: expected a whole number greater than 0"
                raise ValueError(f"{expected}, got {shown(value)}")
            if value > MAX_PODS:
                raise ValueError(f"max_pods: expected a whole number <= {MAX_PODS}, got {value}")
            data["policies"] = [{"type": "Pods", "value": value, "period_seconds": period}]
        return data

    def describe(self) -> str:
        """`max(100% / 15 s, 4 pods / 15 s)`: the rate policies as a person reads them."""
        if self.select_policy == "Disabled":
            return "disabled"
        if not self.policies:
            return "no rate limit"
        parts = [f"{_amount(p.type, p.value)} / {p.period_seconds:g} s" for p in self.policies]
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


def _amount(kind: str, value: int) -> str:
    """A rate policy's value as a person reads it: `100%`, `1 pod`, `4 pods`."""
    if kind == "Percent":
        return f"{value}%"
    return f"{value} pod" if value == 1 else f"{value} pods"


def _up_default() -> ScalingRule:
    return ScalingRule.model_validate(DEFAULT_SCALE_UP)


def _down_default() -> ScalingRule:
    return ScalingRule.model_validate(DEFAULT_SCALE_DOWN)


HPA_SCALE_UP: dict[str, Any] = {
    "stabilization_seconds": 0,
    "select_policy": "Max",
    "policies": [
        {"type": "Percent", "value": 100, "period_seconds": 15},
        {"type": "Pods", "value": 4, "period_seconds": 15},
    ],
}
"""The HPA's own scale-up rules: no window, doubling or 4 pods per 15 s, whichever is more.
What a pool's `behavior.scale_up` leaves out is filled in from these, as the HPA fills it."""
DEFAULT_SCALE_UP: dict[str, Any] = {**HPA_SCALE_UP, "policies": []}
"""A pool that sets no `behavior.scale_up` goes straight to its demand: no window, no rate
limit, no tolerance. The HPA limits growth because a CPU reading is noisy; a queue's backlog
is counted, and a limit on it only adds cold starts to a burst's head (docs/policy.md,
"Choosing the defaults", has the measurements)."""
DEFAULT_SCALE_DOWN: dict[str, Any] = {
    "stabilization_seconds": 120,
    "select_policy": "Max",
    "tolerance": 0.25,
    "policies": [{"type": "Percent", "value": 100, "period_seconds": 15}],
}


# The HPA's names for our fields, at each level of `behavior` (a name is ours only where the
# HPA puts it: `scaleUp` inside a direction stays an unknown key, said as written).
_BEHAVIOR_CAMEL = {"scaleUp": "scale_up", "scaleDown": "scale_down"}
_RULE_CAMEL = {
    "stabilizationWindowSeconds": "stabilization_seconds",
    "selectPolicy": "select_policy",
}
_POLICY_CAMEL = {"periodSeconds": "period_seconds"}


class Behavior(StrictModel):
    """What a direction leaves out comes from its default, as the HPA fills in `behavior`."""

    @model_validator(mode="before")
    @classmethod
    def _fill_in(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        data = _snake(data, _BEHAVIOR_CAMEL)
        for key, default in (("scale_up", HPA_SCALE_UP), ("scale_down", DEFAULT_SCALE_DOWN)):
            given = data.get(key)
            if isinstance(given, dict):
                try:
                    given = _snake(given, _RULE_CAMEL)
                except ValueError:
                    continue  # left as given: ScalingRule refuses it, under the direction's path
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

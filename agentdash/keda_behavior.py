"""A ScaledObject's HPA `behavior` as an agentdash pool's (for agentdash.scaled_objects): what
the behavior leaves out is written as the HPA filled it in, so the pool does what KEDA did."""

from __future__ import annotations

import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any, Protocol

from controller.core.behavior import DEFAULT_SCALE_DOWN

HPA_CONFIG = "spec.advanced.horizontalPodAutoscalerConfig"
HINT = "agentdash makes no HPA; ignored"
ADVANCED_HINTS = {
    "restoreToOriginalReplicaCount": "agentdash leaves the replicas as they are when it stops",
    "scalingModifiers": "agentdash scales on the nats-jetstream trigger's lag alone",
}


class Said(Protocol):
    """The ScaledObject being read: says a line about one of its fields, or reads a mapping."""

    def say(self, level: str, path: str, message: str) -> None: ...

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]: ...


HPA_SCALE_UP_RULES = {
    "stabilizationWindowSeconds": 0,
    "selectPolicy": "Max",
    "policies": [
        {"type": "Pods", "value": 4, "periodSeconds": 15},
        {"type": "Percent", "value": 100, "periodSeconds": 15},
    ],
}
"""What the HPA (autoscaling/v2) fills a missing scaleUp with."""
HPA_UP_SAID = (
    "the HPA's default written out (4 pods or 100% a 15 s, whichever is more), where "
    "agentdash's own is no rate limit"
)
HPA_TOLERANCE = 0.1
"""Within this fraction of the replicas, the HPA leaves them alone, either way, where its
behavior names no tolerance (kube-controller-manager's --horizontal-pod-autoscaler-tolerance)."""
OWN_TOLERANCE = {"scaleUp": 0.0, "scaleDown": DEFAULT_SCALE_DOWN["tolerance"]}
"""What agentdash gives a pool whose behavior names none, by direction."""
HPA_DOWN_WINDOW = 300
"""The HPA's scale-down window where its behavior names none (kube-controller-manager's
--horizontal-pod-autoscaler-downscale-stabilization)."""


QUANTITY = re.compile(r"([+-]?(?:\d+\.?\d*|\.\d+))(?:([numkMGTPE])|[eE]([+-]?\d+))?")
"""A Kubernetes Quantity with a decimal suffix or exponent (binary suffixes, Ki and the like,
make no sense for a fraction)."""
SUFFIX = {"n": -9, "u": -6, "m": -3, "k": 3, "M": 6, "G": 9, "T": 12, "P": 15, "E": 18}


def quantity(text: str) -> float | None:
    """`50m` -> 0.05, `0.05` -> 0.05, `5e-2` -> 0.05; None for what is not a Quantity."""
    match = QUANTITY.fullmatch(text.strip())
    if match is None:
        return None
    number, suffix, exponent = match.groups()
    power = SUFFIX[suffix] if suffix else int(exponent or 0)
    return float(Decimal(number).scaleb(power))


def hpa_behavior(so: Said, advanced: Any) -> Any:
    """The pool's behavior: the HPA's as KEDA's HPA ran it, or None (agentdash's defaults,
    said) where the ScaledObject gives none."""
    behavior = _advanced(so, advanced)
    if behavior is None:
        window = DEFAULT_SCALE_DOWN["stabilization_seconds"]
        so.say(
            "note",
            f"{HPA_CONFIG}.behavior",
            f"not set: agentdash's defaults apply (a {window} s scale-down window and a "
            f"{OWN_TOLERANCE['scaleDown']:.0%} scale-down tolerance where the HPA's are "
            f"{HPA_DOWN_WINDOW} s and {HPA_TOLERANCE:.0%} either way); agentdash simulate "
            "replays KEDA's HPA without one, as here, given --hpa-behavior 0",
        )
        return None
    return _as_the_hpa_did(so, behavior)


def _advanced(so: Said, given: Any) -> Any:
    """The HPA behavior, if given; the rest of `advanced` is said to have no equivalent."""
    advanced = so.mapping(given, "spec.advanced")
    behavior = None
    for key, value in advanced.items():
        if key != "horizontalPodAutoscalerConfig":
            so.say(
                "warning",
                f"spec.advanced.{key}",
                f"{ADVANCED_HINTS.get(key, 'no equivalent')}; ignored",
            )
            continue
        hpa = so.mapping(value, HPA_CONFIG)
        behavior = hpa.get("behavior")
        for other in [k for k in hpa if k != "behavior"]:
            so.say("warning", f"{HPA_CONFIG}.{other}", HINT)
    return behavior


def _as_the_hpa_did(so: Said, behavior: Any) -> Any:
    """The behavior with what it leaves out written as the HPA filled it in: agentdash fills
    a missing scaleUp with no rate limit, a scaleDown window with 120 s and a tolerance with
    0 up and 0.25 down, where KEDA's HPA took 4 pods or 100% a 15 s, 300 s and 0.1 either
    way. (Not a mapping: the config's parser refuses it.)"""
    if not isinstance(behavior, Mapping):
        return behavior
    filled = dict(behavior)
    if "scaleUp" not in filled:
        filled["scaleUp"] = HPA_SCALE_UP_RULES
        so.say("note", f"{HPA_CONFIG}.behavior.scaleUp", f"not set: {HPA_UP_SAID}")
    down = filled.get("scaleDown", {})
    if isinstance(down, Mapping) and "stabilizationWindowSeconds" not in down:
        filled["scaleDown"] = {"stabilizationWindowSeconds": HPA_DOWN_WINDOW, **down}
        so.say(
            "note",
            f"{HPA_CONFIG}.behavior.scaleDown.stabilizationWindowSeconds",
            f"not set: the HPA's {HPA_DOWN_WINDOW} s written out (agentdash's default is "
            f"{DEFAULT_SCALE_DOWN['stabilization_seconds']} s)",
        )
    for direction in ("scaleUp", "scaleDown"):
        rule = filled.get(direction)
        if isinstance(rule, Mapping) and isinstance(rule.get("tolerance"), str):
            # A Quantity, as KEDA's CRD types it (integer or string): "0.05" or "50m" is 5%.
            # One that does not read as a number is left as given, for the parser to refuse.
            amount = quantity(rule["tolerance"])
            filled[direction] = rule = {
                **rule,
                "tolerance": rule["tolerance"] if amount is None else amount,
            }
        if isinstance(rule, Mapping) and "tolerance" not in rule:
            filled[direction] = {**rule, "tolerance": HPA_TOLERANCE}
            so.say(
                "note",
                f"{HPA_CONFIG}.behavior.{direction}.tolerance",
                f"not set: the HPA's {HPA_TOLERANCE:g} written out (agentdash's default is "
                f"{OWN_TOLERANCE[direction]:g})",
            )
    return filled

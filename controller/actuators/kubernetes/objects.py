"""Reading Kubernetes objects as the API sends them (plain JSON dicts), with no I/O.

Label selectors, pods as the dashboard shows them, who else scales a Deployment, and the
texts agentdash leaves on the cluster (the decision annotation, the scale event). Kept pure so
every rule is tested without an API server, and so the informers can store the raw JSON
unchanged: no model parsing that a field the client does not know about could break.
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any

from controller.core import busy
from controller.core.model import Pod, ScaleDecision

Obj = Mapping[str, Any]

ANNOTATION = "agentdash.io/last-decision"
"""On each Deployment agentdash scaled: the last decision, so `kubectl describe` says why."""

EVENT_REASON = "AgentdashRescale"

DELETION_COST = "controller.kubernetes.io/pod-deletion-cost"
"""On a pod: among pods a ReplicaSet could delete alike, the lower cost goes first (default
0). agentdash sets IDLE_COST on idle pods before a scale-down
(controller.actuators.kubernetes.deletion_cost)."""
IDLE_COST = str(busy.IDLE_COST)


def meta(obj: Obj) -> Obj:
    value = obj.get("metadata")
    return value if isinstance(value, Mapping) else {}


def spec(obj: Obj) -> Obj:
    value = obj.get("spec")
    return value if isinstance(value, Mapping) else {}


def status(obj: Obj) -> Obj:
    value = obj.get("status")
    return value if isinstance(value, Mapping) else {}


MAX_COUNT = 2**31 - 1
"""A Deployment's replica counts are int32s: the most a real API server can answer."""


def bad_counts(deployment: Obj) -> str | None:
    """What is wrong with a Deployment's spec.replicas or status.readyReplicas, where one is
    not a count a real API server could answer (None: both are, or unset)."""
    counts = {
        "spec.replicas": spec(deployment).get("replicas"),
        "status.readyReplicas": status(deployment).get("readyReplicas"),
    }
    for field, value in counts.items():
        if value is None or (type(value) is int and 0 <= value <= MAX_COUNT):
            continue
        shown = repr(value) if len(repr(value)) <= 40 else f"{repr(value)[:40]}..."
        return f"{field} is {shown}, not a count (0 to {MAX_COUNT:,})"
    return None


def name_of(obj: Obj) -> str:
    return str(meta(obj).get("name", ""))


def annotations_of(obj: Obj) -> Mapping[str, str]:
    value = meta(obj).get("annotations")
    return value if isinstance(value, Mapping) else {}


def annotated(obj: Obj, changes: Mapping[str, str | None]) -> dict[str, Any]:
    """The object as it is once a merge patch of these annotations has landed."""
    merged = {**annotations_of(obj), **changes}
    kept = {key: value for key, value in merged.items() if value is not None}
    return {**obj, "metadata": {**meta(obj), "annotations": kept}}


def scale_patch(replicas: int, deployment: Obj) -> dict[str, Any]:
    """The merge patch of a Deployment's scale subresource, fenced by the resourceVersion it
    was read at: the API server refuses it (409) if anything wrote the Deployment since, so a
    deposed leader's patch that arrives late cannot undo what a new leader scaled."""
    patch: dict[str, Any] = {"spec": {"replicas": replicas}}
    version = meta(deployment).get("resourceVersion")
    if version:
        patch["metadata"] = {"resourceVersion": str(version)}
    return patch


def scaled(deployment: Obj, replicas: int, answer: Obj) -> dict[str, Any]:
    """The Deployment as a scale PATCH answered (a Scale, whose resourceVersion is the
    Deployment's): the next fenced patch is sent at the version this one made."""
    metadata = dict(meta(deployment))
    version = meta(answer).get("resourceVersion")
    if version:
        metadata["resourceVersion"] = str(version)
    return {**deployment, "metadata": metadata, "spec": {**spec(deployment), "replicas": replicas}}


def selector_matches(selector: object, labels: Mapping[str, str]) -> bool:
    """Does a Deployment's `spec.selector` select a pod with these labels?

    An absent or empty selector selects nothing here (the API would select everything):
    counting every pod of the namespace as the pool's would be worse than counting none.
    """
    if not isinstance(selector, Mapping):
        return False
    match_labels = selector.get("matchLabels") or {}
    expressions = selector.get("matchExpressions") or []
    if not match_labels and not expressions:
        return False
    if any(labels.get(key) != value for key, value in match_labels.items()):
        return False
    return all(_holds(expression, labels) for expression in expressions)


def _holds(expression: Obj, labels: Mapping[str, str]) -> bool:
    key = str(expression.get("key", ""))
    values = expression.get("values") or []
    operator = expression.get("operator")
    if operator == "In":
        return key in labels and labels[key] in values
    if operator == "NotIn":  # as in the API: a pod without the label is not in the set
        return key not in labels or labels[key] not in values
    if operator == "Exists":
        return key in labels
    if operator == "DoesNotExist":
        return key not in labels
    return False  # an operator this code does not know: select nothing rather than guess


def timestamp(value: object) -> float | None:
    """Seconds since the epoch from an RFC 3339 time as the API writes it, if there is one."""
    if not isinstance(value, str) or not value:
        return None
    try:
        return datetime.fromisoformat(value).timestamp()
    except ValueError:
        return None


def rfc3339(now: float) -> str:
    return datetime.fromtimestamp(now, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def pod_view(obj: Obj, pool: str, now: float) -> Pod:
    """A pod as the Pods screen shows it. `now` stands in for a start time the API did not
    give (it always gives creationTimestamp, so this is for hand-made objects)."""
    metadata, state = meta(obj), status(obj)
    terminating = bool(metadata.get("deletionTimestamp"))
    phase = "Terminating" if terminating else str(state.get("phase") or "Pending")
    started = timestamp(state.get("startTime")) or timestamp(metadata.get("creationTimestamp"))
    reason, message = (None, "") if terminating else waiting(state)
    return Pod(
        name=name_of(obj),
        pool=pool,
        phase=phase,
        ready=not terminating and _condition_true(state, "Ready"),
        started_at=now if started is None else started,
        waiting=reason,
        waiting_message=message,
    )


SAID_CHARS = 500
"""At most this much of what the API says about a waiting pod is kept (a message can hold
a whole scheduler's report)."""


def waiting(state: Obj) -> tuple[str | None, str]:
    """Why a pod does not run yet, and the API's words on it: a container's waiting reason
    first (what k9s shows as its STATUS), else an unscheduled pod's condition."""
    for container in _dicts(state.get("initContainerStatuses"), state.get("containerStatuses")):
        current = container.get("state")
        waits = current.get("waiting") if isinstance(current, dict) else None
        if isinstance(waits, dict) and waits.get("reason"):
            return _said(waits.get("reason")), _said(waits.get("message"))
    for condition in _dicts(state.get("conditions")):
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = condition.get("reason") or "Unschedulable"
            return _said(reason), _said(condition.get("message"))
    return None, ""


def _dicts(*lists: object) -> list[Obj]:
    return [
        item
        for items in lists
        if isinstance(items, list)
        for item in items
        if isinstance(item, dict)
    ]


def _said(value: object) -> str:
    return str(value)[:SAID_CHARS] if value else ""


def _condition_true(state: Obj, kind: str) -> bool:
    conditions = _dicts(state.get("conditions"))
    return any(c.get("type") == kind and c.get("status") == "True" for c in conditions)


class PodIndex:
    """A namespace's pods by label, so that each pool's selector is tried only on the pods
    that carry its first matchLabels pair: a tick over hundreds of pools in one namespace
    stays linear in pods, not pods x pools."""

    def __init__(self, pods: Iterable[Obj]) -> None:
        self._all = list(pods)
        self._by_label: dict[tuple[str, str], list[Obj]] = defaultdict(list)
        for pod in self._all:
            for label in (meta(pod).get("labels") or {}).items():
                self._by_label[label].append(pod)

    def pods_of(self, deployment: Obj, pool: str, now: float) -> tuple[Pod, ...]:
        """The pods a Deployment's selector selects, oldest first (a stable order on screen)."""
        chosen = [pod_view(pod, pool, now) for pod in self.objects_of(deployment)]
        return tuple(sorted(chosen, key=lambda p: (p.started_at, p.name)))

    def objects_of(self, deployment: Obj) -> list[Obj]:
        """The pods a Deployment's selector selects, as the API sent them."""
        selector = spec(deployment).get("selector")
        match_labels = selector.get("matchLabels") if isinstance(selector, Mapping) else None
        candidates = (
            self._by_label.get(next(iter(match_labels.items())), []) if match_labels else self._all
        )
        return [
            pod for pod in candidates if selector_matches(selector, meta(pod).get("labels") or {})
        ]


def other_scaler(
    namespace: str, deployment: str, hpas: Iterable[Obj], scaled_objects: Iterable[Obj]
) -> str | None:
    """Who else scales this Deployment, if anyone: a KEDA ScaledObject or an HPA.

    KEDA works through an HPA of its own, so the ScaledObject is named first: it is the one
    a person has to edit.
    """
    for obj in sorted(scaled_objects, key=name_of):
        if keda_targets(obj, deployment):
            return f"KEDA ScaledObject {namespace}/{name_of(obj)}"
    for obj in sorted(hpas, key=name_of):
        ref = spec(obj).get("scaleTargetRef") or {}
        if ref.get("name") == deployment and ref.get("kind") == "Deployment":
            return f"HorizontalPodAutoscaler {namespace}/{name_of(obj)}"
    return None


def keda_targets(scaled_object: Obj, deployment: str) -> bool:
    """Does this KEDA ScaledObject scale this Deployment (of its own namespace)?"""
    ref = spec(scaled_object).get("scaleTargetRef") or {}
    # KEDA defaults an absent kind to Deployment.
    return bool(ref.get("name") == deployment and ref.get("kind", "Deployment") == "Deployment")


def decision_annotation(
    replicas: int, previous: int | None, decision: ScaleDecision | None, now: float
) -> str:
    """One line of JSON: readable in `kubectl describe`, parseable by a script."""
    record: dict[str, object] = {"desired": replicas}
    if previous is not None:
        record["from"] = previous
    if decision is not None and decision.reasons:
        record["rule"] = decision.main_reason.rule
        record["reason"] = decision.main_reason.detail
    record["at"] = rfc3339(now)
    return json.dumps(record)


def scale_event(
    deployment: Obj,
    namespace: str,
    replicas: int,
    previous: int | None,
    decision: ScaleDecision | None,
    now: float,
) -> dict[str, Any]:
    """A core/v1 Event on the Deployment, like the HPA's SuccessfulRescale: `kubectl describe
    deployment` lists it under Events."""
    name = name_of(deployment)
    message = f"New size: {replicas}"
    if previous is not None:
        message += f" (was {previous})"
    if decision is not None and decision.reasons:
        message += f"; {decision.main_reason.rule}: {decision.main_reason.detail}"
    when = rfc3339(now)
    return {
        "apiVersion": "v1",
        "kind": "Event",
        # The name client-go's recorder gives: the object's name and the time in hex.
        "metadata": {"name": f"{name}.{int(now * 1e9):x}", "namespace": namespace},
        "involvedObject": {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "name": name,
            "namespace": namespace,
            "uid": meta(deployment).get("uid"),
        },
        "reason": EVENT_REASON,
        "message": message,
        "type": "Normal",
        "source": {"component": "agentdash"},
        "reportingComponent": "agentdash",
        "firstTimestamp": when,
        "lastTimestamp": when,
        "count": 1,
    }

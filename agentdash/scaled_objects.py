"""KEDA ScaledObjects read as agentdash pools (for `agentdash import keda`, agentdash.keda):
each field mapped, KEDA's defaults written out, and what has no equivalent said, one line per
field; a mistake is a ConfigError naming the file, the ScaledObject and the field."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from agentdash.keda_behavior import HPA_CONFIG, hpa_behavior
from agentdash.keda_holds import said_held
from controller.core import names
from controller.core.config import ConfigError, default_subject
from controller.core.config_errors import shown

TENANT = "TENANT"
"""The placeholder tenant, unless --tenant names one."""
KEDA_API = "keda.sh/v1alpha1"
NATS_TRIGGER = "nats-jetstream"
IGNORED = "no equivalent; ignored"
INT32_MAX = 2**31 - 1
"""The largest count or number of seconds KEDA's CRD holds (each is an int32)."""
NATS_ACCOUNT = "agentdash reads the account its NATS credentials log into (nats: in agentdash.yaml)"

HINTS = {
    # How KEDA reaches NATS: agentdash has its own `nats:` section.
    "natsServerMonitoringEndpoint": "agentdash reads the consumer over the NATS protocol "
    "(nats.url in agentdash.yaml), not the monitoring endpoint",
    "useHttps": "for the monitoring endpoint, which agentdash does not use",
    "account": NATS_ACCOUNT,
    "accountID": NATS_ACCOUNT,
    "authenticationRef": "agentdash authenticates with the nats: credentials in agentdash.yaml",
    "useCachedMetrics": "agentdash reads the queue afresh at every tick",
    "initialCooldownPeriod": "agentdash has no start-up grace; ignored",
}
SPEC_MAPPED = frozenset(
    {
        "scaleTargetRef",
        "triggers",
        "minReplicaCount",
        "maxReplicaCount",
        "idleReplicaCount",
        "cooldownPeriod",
        "fallback",
        "advanced",
        "pollingInterval",
    }
)
METADATA_MAPPED = frozenset({"stream", "consumer", "lagThreshold", "activationLagThreshold"})
SKIPPED = {
    "ScaledObject": "",
    "ScaledJob": "",
    # An autoscaler of its own (or the one KEDA made for a ScaledObject): said, so that a
    # Deployment it scales is not taken to be in the pools printed.
    "HorizontalPodAutoscaler": " (an HPA names no queue to read)",
}
"""Autoscalers passed by, each said; what else a manifest holds (a Deployment, a Secret) is not."""
LISTS = frozenset({"List", "ScaledObjectList"})
"""What `kubectl get scaledobjects -o yaml` writes, and the API server's own answer to a list."""
SKIPPED_WHY = {"spec.scaleTargetRef": ": agentdash scales Deployments only"}


@dataclass(slots=True)
class Imported:
    """Pools made from ScaledObjects, where each came from, and what did not carry over."""

    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    origins: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)
    """Pool -> (file, `ScaledObject ns/name`, agentdash field -> the KEDA field it came from)."""
    lines: list[str] = field(default_factory=list)
    """For stderr: `warning:` what has no equivalent, `note:` what maps with a difference."""
    skipped: list[str] = field(default_factory=list)
    """Each autoscaler passed by and why, for a refusal that found nothing to import."""


class _ScaledObject:
    """One ScaledObject being read: where it is, for its messages and errors."""

    def __init__(self, obj: Mapping[str, Any], source: str, out: Imported) -> None:
        self.source, self.out, self.what = source, out, "ScaledObject"
        metadata = self.mapping(obj.get("metadata"), "metadata")
        self.name = self.text(metadata.get("name"), "metadata.name")
        given = metadata.get("namespace")
        self.what = f"ScaledObject {given or 'default'}/{self.name}"
        self.namespace = "default" if given is None else self.text(given, "metadata.namespace")
        if given is None:
            self.say(
                "note", "metadata.namespace", "not set: the Deployment is taken to be in default"
            )

    def say(self, level: str, path: str, message: str) -> None:
        self.out.lines.append(f"{level}: {self.source}: {self.what}: {path}: {message}")

    def skip(self, path: str, message: str) -> None:
        self.say("warning", path, f"{message}: skipped{SKIPPED_WHY.get(path, '')}")
        self.out.skipped.append(f"{self.what}: {path}: {message}")

    def fail(self, path: str, message: str) -> ConfigError:
        return ConfigError(self.source, f"{self.what}: {path}", message)

    def mapping(self, value: Any, path: str) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            raise self.fail(path, f"expected a mapping, got {shown(value)}")
        return value

    def text(self, value: Any, path: str) -> str:
        if value is None:
            raise self.fail(path, "required field is missing")
        if not isinstance(value, str) or not value:
            raise self.fail(path, f"expected a name, got {shown(value)}")
        return value

    def whole(
        self, holder: Mapping[str, Any], key: str, default: int, where: str, *, text: bool = False
    ) -> int:
        """A whole number as KEDA reads one: in the spec an integer (its CRD's int32; the
        API server refuses "30"), in a trigger's metadata (`text`: strings, as KEDA's are)
        its text too."""
        value = holder.get(key, default)
        if text and isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        expected = "a whole number" if text else "a whole number (an integer, not text)"
        raise self.fail(f"{where}.{key}", f"expected {expected}, got {shown(value)}")

    def dropped_count(self, holder: Mapping[str, Any], key: str, where: str) -> int:
        """A count KEDA's CRD holds that no pool field takes, checked here: the pool's own
        fields are checked, with tighter bounds, by agentdash's config parser."""
        value = self.whole(holder, key, 0, where)
        if not 0 <= value <= INT32_MAX:
            expected = f"expected a whole number from 0 to {INT32_MAX} (KEDA's int32)"
            raise self.fail(f"{where}.{key}", f"{expected}, got {value}")
        return value


def import_documents(documents: list[Any], source: str, out: Imported) -> None:
    """Add a pool to `out` for each ScaledObject in these documents (a `List` is opened);
    the other objects a manifest holds beside them (a Deployment, a Secret) are passed by."""
    for index, document in enumerate(_objects(documents, source)):
        if not isinstance(document, Mapping):
            got = type(document).__name__
            raise ConfigError(source, f"document {index + 1}", f"expected an object, got {got}")
        kind = document.get("kind")
        if kind == "ScaledObject" and document.get("apiVersion") == KEDA_API:
            document = _without_nulls(document)
            _import(_ScaledObject(document, source, out), document)
        elif kind in SKIPPED:
            metadata = document.get("metadata")
            name = shown(metadata.get("name") if isinstance(metadata, Mapping) else None)
            out.lines.append(
                f"warning: {source}: {kind} {name}: skipped: agentdash imports {KEDA_API} "
                f"ScaledObjects that scale Deployments{SKIPPED[kind]}"
            )
            out.skipped.append(f"{kind} {name}")


def _without_nulls(value: Any) -> Any:
    """As the API server stores it: KEDA's CRD makes no field nullable, so a null (a Helm
    value left unset renders `cooldownPeriod:`) is pruned, and the field takes its default."""
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value


def _objects(documents: list[Any], source: str) -> Iterator[Any]:
    for document in documents:
        if isinstance(document, Mapping) and document.get("kind") in LISTS:
            items = document.get("items")
            if not isinstance(items, list):
                raise ConfigError(source, "items", f"expected a list, got {shown(items)}")
            yield from items
        else:
            yield document


def _import(so: _ScaledObject, obj: Mapping[str, Any]) -> None:
    spec = so.mapping(obj.get("spec"), "spec")
    target = so.mapping(spec.get("scaleTargetRef"), "spec.scaleTargetRef")
    kind, api = target.get("kind", "Deployment"), target.get("apiVersion", "apps/v1")
    if (kind, api) != ("Deployment", "apps/v1"):
        so.skip("spec.scaleTargetRef", f"{api} {kind}")
        return
    deployment = so.text(target.get("name"), "spec.scaleTargetRef.name")
    said_held(so, obj, deployment)
    for key in [k for k in target if k not in ("kind", "apiVersion", "name")]:
        so.say("warning", f"spec.scaleTargetRef.{key}", IGNORED)
    for key in [k for k in spec if k not in SPEC_MAPPED]:
        so.say("warning", f"spec.{key}", HINTS.get(key, IGNORED))
    if "pollingInterval" in spec:
        interval = so.dropped_count(spec, "pollingInterval", "spec")
        so.say(
            "note",
            "spec.pollingInterval",
            "agentdash needs none: it reads the queue at every tick (1 s by default) and "
            "wakes a pool at zero on its first task; agentdash simulate's keda baseline polls "
            f"every 30 s unless given --keda-polling-interval {max(interval, 1)}"
            + (" (its least: 0 polls without a pause)" if interval < 1 else ""),
        )
    found = _trigger(so, spec)
    if found is None:
        return
    at, metadata = found
    pool: dict[str, Any] = {
        "tenant": TENANT,
        "deployment": {"namespace": so.namespace, "name": deployment},
        "queue": {
            "stream": so.text(metadata.get("stream"), f"{at}.stream"),
            "consumer": so.text(metadata.get("consumer"), f"{at}.consumer"),
        },
        "min_replicas": so.whole(spec, "minReplicaCount", 0, "spec"),
        "max_replicas": so.whole(spec, "maxReplicaCount", 100, "spec"),
        "target_lag_per_replica": so.whole(metadata, "lagThreshold", 10, at, text=True),
        "activation_lag": so.whole(metadata, "activationLagThreshold", 0, at, text=True),
        "cooldown_seconds": so.whole(spec, "cooldownPeriod", 300, "spec"),
    }
    paths = _paths(at)
    if "idleReplicaCount" in spec and _idle(
        so, pool, so.dropped_count(spec, "idleReplicaCount", "spec")
    ):
        paths["min_replicas"] = "spec.idleReplicaCount"
    _said_activation(so, pool, paths["activation_lag"])
    if "fallback" in spec:
        pool["fallback"] = _fallback(so, spec["fallback"], pool["max_replicas"])
    behavior = hpa_behavior(so, spec.get("advanced", {}))
    if behavior is not None:
        pool["behavior"] = behavior
    pool["take_over"] = True
    _add(so, pool, paths)


def _paths(at: str) -> dict[str, str]:
    """Each field of the pool -> the ScaledObject's field it came from (`at`: the trigger's
    metadata), so that a refusal of the pool names what the user wrote."""
    return {
        "deployment": "spec.scaleTargetRef",
        "deployment.namespace": "metadata.namespace",
        "deployment.name": "spec.scaleTargetRef.name",
        "queue.stream": f"{at}.stream",
        "queue.consumer": f"{at}.consumer",
        "min_replicas": "spec.minReplicaCount",
        "max_replicas": "spec.maxReplicaCount",
        "target_lag_per_replica": f"{at}.lagThreshold",
        "activation_lag": f"{at}.activationLagThreshold",
        "cooldown_seconds": "spec.cooldownPeriod",
        "fallback.failure_threshold": "spec.fallback.failureThreshold",
        "fallback": "spec.fallback",
        "behavior": f"{HPA_CONFIG}.behavior",
    }


def _trigger(so: _ScaledObject, spec: Mapping[str, Any]) -> tuple[str, Mapping[str, Any]] | None:
    """The first nats-jetstream trigger's metadata, and its path; the others are said to be
    left out (agentdash scales a pool on one consumer's lag)."""
    triggers = spec.get("triggers")
    if not isinstance(triggers, list):
        raise so.fail("spec.triggers", f"expected a list of triggers, got {shown(triggers)}")
    chosen = None
    for index, given in enumerate(triggers):
        path = f"spec.triggers[{index}]"
        trigger = so.mapping(given, path)
        kind = trigger.get("type")
        if kind != NATS_TRIGGER or chosen is not None:
            what = (
                f"another {NATS_TRIGGER} trigger" if kind == NATS_TRIGGER else f"type {shown(kind)}"
            )
            so.say(
                "warning",
                path,
                f"{what}: no equivalent (a pool scales on one consumer's lag); ignored",
            )
            continue
        metadata = so.mapping(trigger.get("metadata"), f"{path}.metadata")
        chosen = (f"{path}.metadata", metadata)
        if trigger.get("metricType", "AverageValue") != "AverageValue":
            so.say(
                "warning",
                f"{path}.metricType",
                "agentdash divides the lag among replicas as AverageValue does; ignored",
            )
        for key in [k for k in trigger if k not in ("type", "metadata", "metricType")]:
            so.say("warning", f"{path}.{key}", f"{HINTS.get(key, 'no equivalent')}; ignored")
        for key in [k for k in metadata if k not in METADATA_MAPPED]:
            so.say(
                "warning", f"{path}.metadata.{key}", f"{HINTS.get(key, 'no equivalent')}; ignored"
            )
    if chosen is None:
        so.skip("spec.triggers", f"no {NATS_TRIGGER} trigger")
    return chosen


def _idle(so: _ScaledObject, pool: dict[str, Any], idle: int) -> bool:
    """idleReplicaCount 0 is scale to zero (True); KEDA itself supports no other value."""
    if idle != 0:
        so.say("warning", "spec.idleReplicaCount", f"{idle}: {IGNORED} (KEDA supports only 0)")
        return False
    if pool["min_replicas"] > 0:
        so.say(
            "note",
            "spec.idleReplicaCount",
            f"0: min_replicas 0 (scale to zero); the floor "
            f"of {pool['min_replicas']} while busy (minReplicaCount) has no equivalent",
        )
    pool["min_replicas"] = 0
    return True


def _said_activation(so: _ScaledObject, pool: dict[str, Any], path: str) -> None:
    """KEDA's activation works both ways (the scaler is inactive at lag <= it, and an inactive
    one goes to zero after cooldownPeriod); agentdash's only from zero."""
    threshold = pool["activation_lag"]
    if pool["min_replicas"] == 0 and threshold > 0:
        so.say(
            "note",
            path,
            f"{threshold}: from zero, agentdash wakes the pool above it as KEDA did; but KEDA "
            f"also let it go to zero with up to {threshold} tasks still waiting (inactive for "
            "cooldownPeriod), where agentdash lets it go only once none is left",
        )


def _fallback(so: _ScaledObject, given: Any, most: int) -> dict[str, Any]:
    """The fallback; its replicas at most `most` (maxReplicaCount), where KEDA's HPA held it."""
    fallback = so.mapping(given, "spec.fallback")
    if "replicas" not in fallback:
        raise so.fail("spec.fallback.replicas", "required field is missing")
    threshold = so.whole(fallback, "failureThreshold", 3, "spec.fallback")
    replicas = so.whole(fallback, "replicas", 0, "spec.fallback")
    if fallback.get("behavior", "static") != "static":
        so.say(
            "warning",
            "spec.fallback.behavior",
            f"{shown(fallback['behavior'])}: agentdash's fallback is static; ignored",
        )
    held = ""
    if 0 <= most < replicas:  # a maxReplicaCount out of bounds is refused by the pool's check
        held = f"{replicas} is above maxReplicaCount, where KEDA's HPA held it: "
        replicas = most
    so.say(
        "note",
        "spec.fallback",
        f"{held}agentdash scales up to {replicas} after {threshold} "
        "failed reads in a row, never down (missing data never scales a pool down)",
    )
    return {"failure_threshold": threshold, "replicas": replicas}


def _add(so: _ScaledObject, pool: dict[str, Any], paths: dict[str, str]) -> None:
    """Under the ScaledObject's name; with its namespace before it if another has that name."""
    for source, what, _ in so.out.origins.values():
        if what == so.what:
            message = f"expected each ScaledObject once, got it again (first in {source})"
            raise so.fail("metadata.name", message)
    name = first = _pool_name(so, so.name)
    if name in so.out.pools:
        # Another ScaledObject's pool has the name: the same name, or one that reads the same
        # as a pool name (dots made dashes, cut at 63 characters).
        name = _pool_name(so, f"{so.namespace}-{so.name}")
        if name in so.out.pools:  # never one pool for two: each scales its own Deployment
            raise so.fail("metadata.name", f"expected a pool name no other has, got {name}")
        so.say("note", "metadata.name", f"pool {first} is another ScaledObject's: pool {name}")
    elif name != so.name:
        so.say("note", "metadata.name", f"pool {name} (at most 63 characters, no dots)")
    subject = default_subject(str(pool["queue"]["stream"]), name)
    so.say(
        "note",
        "queue.subject",
        f"not in a ScaledObject: pool {name} counts arrivals on {subject}; where its "
        "consumer filters another subject, set queue.subject to it (agentdash queues "
        "--config FILE says where they differ)",
    )
    so.out.pools[name] = pool
    so.out.origins[name] = (so.source, so.what, paths)


def _pool_name(so: _ScaledObject, wanted: str) -> str:
    """A pool name has no dots (it is a NATS subject token) and at most 63 characters."""
    try:
        return names.pool(wanted.replace(".", "-")[:63].strip("-"))
    except ValueError as exc:
        raise so.fail("metadata.name", f"{exc}, got {shown(so.name)}") from None

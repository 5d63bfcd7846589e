"""`agentdash import keda FILE...`: KEDA ScaledObjects with a nats-jetstream trigger, as
agentdash pools to paste under `pools:` in agentdash.yaml.

KEDA (its default)              agentdash
  minReplicaCount (0)             min_replicas (idleReplicaCount 0: min_replicas 0)
  maxReplicaCount (100)           max_replicas
  cooldownPeriod (300)            cooldown_seconds: idle this long before the last replica goes
  lagThreshold (10)               target_lag_per_replica (lag: pending + ack pending, as KEDA's)
  activationLagThreshold (0)      activation_lag: from zero, wake when lag > this
  stream, consumer                queue: {stream, consumer}
  scaleTargetRef, namespace       deployment: {namespace, name}
  fallback                        fallback: {failure_threshold, replicas}, only ever up
  advanced.horizontalPodAutoscalerConfig.behavior   behavior, as is (the HPA's camelCase)

KEDA's defaults are written out, so nothing changes unseen. Each pool gets `take_over: true`:
agentdash pauses the ScaledObject (autoscaling.keda.sh/paused) before it first scales the
Deployment, and gives it back when it stops. What has no equivalent is said on stderr, one
line per field; a mistake is one line naming the file and the field, and exit 2.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from agentdash import flags
from controller.core import names
from controller.core.behavior import DEFAULT_SCALE_DOWN
from controller.core.config import ConfigError, parse_config
from controller.core.config_errors import shown
from controller.core.input_files import load_yaml, read_text
from controller.core.printable import printable

TENANT = "TENANT"
"""The placeholder tenant, unless --tenant names one."""
KEDA_API = "keda.sh/v1alpha1"
NATS_TRIGGER = "nats-jetstream"
HPA_CONFIG = "spec.advanced.horizontalPodAutoscalerConfig"
IGNORED = "no equivalent; ignored"
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
    "restoreToOriginalReplicaCount": "agentdash leaves the replicas as they are when it stops",
    "scalingModifiers": "agentdash scales on the nats-jetstream trigger's lag alone",
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
CAMEL = {
    "scale_up": "scaleUp",
    "scale_down": "scaleDown",
    "select_policy": "selectPolicy",
    "stabilization_seconds": "stabilizationWindowSeconds",
    "period_seconds": "periodSeconds",
}
"""agentdash's names in an error's path, back to the HPA's that the user wrote."""


@dataclass(slots=True)
class Imported:
    """Pools made from ScaledObjects, where each came from, and what did not carry over."""

    pools: dict[str, dict[str, Any]] = field(default_factory=dict)
    origins: dict[str, tuple[str, str, dict[str, str]]] = field(default_factory=dict)
    """Pool -> (file, `ScaledObject ns/name`, agentdash field -> the KEDA field it came from)."""
    lines: list[str] = field(default_factory=list)
    """For stderr: `warning:` what has no equivalent, `note:` what maps with a difference."""


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

    def whole(self, holder: Mapping[str, Any], key: str, default: int, where: str) -> int:
        """A whole number as KEDA reads one: an integer, or (trigger metadata) its text."""
        value = holder.get(key, default)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value.strip())
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        raise self.fail(f"{where}.{key}", f"expected a whole number, got {shown(value)}")


def import_documents(documents: list[Any], source: str, out: Imported) -> None:
    """Add a pool to `out` for each ScaledObject in these documents (a `List` is opened);
    the other objects a manifest holds beside them (a Deployment, a Secret) are passed by."""
    for index, document in enumerate(_objects(documents, source)):
        if not isinstance(document, Mapping):
            got = type(document).__name__
            raise ConfigError(source, f"document {index + 1}", f"expected an object, got {got}")
        kind = document.get("kind")
        if kind == "ScaledObject" and document.get("apiVersion") == KEDA_API:
            _import(_ScaledObject(document, source, out), document)
        elif kind in ("ScaledObject", "ScaledJob"):
            metadata = document.get("metadata")
            name = shown(metadata.get("name") if isinstance(metadata, Mapping) else None)
            out.lines.append(
                f"warning: {source}: {kind} {name}: skipped: agentdash imports {KEDA_API} "
                "ScaledObjects that scale Deployments"
            )


def _objects(documents: list[Any], source: str) -> Iterator[Any]:
    for document in documents:
        if isinstance(document, Mapping) and document.get("kind") == "List":
            items = document.get("items")  # `kubectl get scaledobjects -o yaml`
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
        so.say(
            "warning",
            "spec.scaleTargetRef",
            f"{api} {kind}: skipped: agentdash scales Deployments only",
        )
        return
    deployment = so.text(target.get("name"), "spec.scaleTargetRef.name")
    for key in [k for k in target if k not in ("kind", "apiVersion", "name")]:
        so.say("warning", f"spec.scaleTargetRef.{key}", IGNORED)
    for key in [k for k in spec if k not in SPEC_MAPPED]:
        so.say("warning", f"spec.{key}", HINTS.get(key, IGNORED))
    if "pollingInterval" in spec:
        so.say(
            "note",
            "spec.pollingInterval",
            "agentdash needs none: it reads the queue at "
            "every tick (1 s by default) and wakes a pool at zero on its first task",
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
        "target_lag_per_replica": so.whole(metadata, "lagThreshold", 10, at),
        "activation_lag": so.whole(metadata, "activationLagThreshold", 0, at),
        "cooldown_seconds": so.whole(spec, "cooldownPeriod", 300, "spec"),
    }
    paths = {
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
    if "idleReplicaCount" in spec and _idle(
        so, pool, so.whole(spec, "idleReplicaCount", 0, "spec")
    ):
        paths["min_replicas"] = "spec.idleReplicaCount"
    if "fallback" in spec:
        pool["fallback"] = _fallback(so, spec["fallback"])
    behavior = _advanced(so, spec.get("advanced", {}))
    if behavior is None:
        window = DEFAULT_SCALE_DOWN["stabilization_seconds"]
        so.say(
            "note",
            f"{HPA_CONFIG}.behavior",
            f"not set: agentdash's defaults apply (a "
            f"{window} s scale-down window where the HPA's is 300 s)",
        )
    else:
        pool["behavior"] = behavior
    pool["take_over"] = True
    _add(so, pool, paths)


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
        if trigger.get("type") != NATS_TRIGGER or chosen is not None:
            what = (
                "another nats-jetstream trigger" if chosen else f"type {shown(trigger.get('type'))}"
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
        for key in ("authenticationRef", "useCachedMetrics"):
            if key in trigger:
                so.say("warning", f"{path}.{key}", f"{HINTS[key]}; ignored")
        for key in [k for k in metadata if k not in METADATA_MAPPED]:
            so.say(
                "warning", f"{path}.metadata.{key}", f"{HINTS.get(key, 'no equivalent')}; ignored"
            )
    if chosen is None:
        so.say("warning", "spec.triggers", f"no {NATS_TRIGGER} trigger: skipped")
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


def _fallback(so: _ScaledObject, given: Any) -> dict[str, Any]:
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
    so.say(
        "note",
        "spec.fallback",
        f"agentdash scales up to {replicas} after {threshold} "
        "failed reads in a row, never down (missing data never scales a pool down)",
    )
    return {"failure_threshold": threshold, "replicas": replicas}


def _advanced(so: _ScaledObject, given: Any) -> Any:
    """The HPA behavior, if given; the rest of `advanced` is said to have no equivalent."""
    advanced = so.mapping(given, "spec.advanced")
    behavior = None
    for key, value in advanced.items():
        if key != "horizontalPodAutoscalerConfig":
            so.say("warning", f"spec.advanced.{key}", f"{HINTS.get(key, 'no equivalent')}; ignored")
            continue
        hpa = so.mapping(value, HPA_CONFIG)
        behavior = hpa.get("behavior")
        for other in [k for k in hpa if k != "behavior"]:
            so.say("warning", f"{HPA_CONFIG}.{other}", "agentdash makes no HPA; ignored")
    return behavior


def _add(so: _ScaledObject, pool: dict[str, Any], paths: dict[str, str]) -> None:
    """Under the ScaledObject's name; with its namespace before it if another has that name."""
    for source, what, _ in so.out.origins.values():
        if what == so.what:
            message = f"expected each ScaledObject once, got it again (first in {source})"
            raise so.fail("metadata.name", message)
    name = _pool_name(so, so.name)
    if name in so.out.pools:
        name = _pool_name(so, f"{so.namespace}-{so.name}")
        if name in so.out.pools:  # never one pool for two: each scales its own Deployment
            raise so.fail("metadata.name", f"expected a pool name no other has, got {name}")
        so.say("note", "metadata.name", f"another ScaledObject has that name: pool {name}")
    elif name != so.name:
        so.say("note", "metadata.name", f"pool {name} (at most 63 characters, no dots)")
    so.out.pools[name] = pool
    so.out.origins[name] = (so.source, so.what, paths)


def _pool_name(so: _ScaledObject, wanted: str) -> str:
    """A pool name has no dots (it is a NATS subject token) and at most 63 characters."""
    try:
        return names.pool(wanted.replace(".", "-")[:63].strip("-"))
    except ValueError as exc:
        raise so.fail("metadata.name", f"{exc}, got {shown(so.name)}") from None


def check(imported: Imported, tenant: str) -> None:
    """Load the pools as agentdash.yaml would; a refusal names the ScaledObject's field."""
    config = {
        "tiers": {"imported": {"priority": 0}},
        "tenants": {tenant: {"tier": "imported"}},
        "pools": {name: {**pool, "tenant": tenant} for name, pool in imported.pools.items()},
    }
    try:
        parse_config(config, "<imported>")
    except ConfigError as exc:
        raise _in_keda_terms(imported, exc) from None


def _in_keda_terms(imported: Imported, exc: ConfigError) -> ConfigError:
    """`pools.x.fallback.replicas` -> `file: ScaledObject ns/name: spec.fallback.replicas`."""
    parts = exc.path.split(".")
    if len(parts) < 3 or parts[0] != "pools" or parts[1] not in imported.origins:
        return exc
    source, what, paths = imported.origins[parts[1]]
    rest = parts[2:]
    for cut in range(len(rest), 0, -1):  # the longest agentdash path that maps
        keda = paths.get(".".join(rest[:cut]))
        if keda is not None:
            tail = [CAMEL.get(part, part) for part in rest[cut:]]
            return ConfigError(source, f"{what}: {'.'.join([keda, *tail])}", exc.message)
    return ConfigError(source, what, f"{'.'.join(rest)}: {exc.message}")


def render(imported: Imported, tenant: str) -> str:
    lines = [
        "# agentdash pools from KEDA ScaledObjects (agentdash import keda): paste them under",
        "# `pools:` in agentdash.yaml. take_over: agentdash pauses each ScaledObject",
        "# (autoscaling.keda.sh/paused) before it first scales the Deployment, and gives it",
        "# back when it stops (deploy/rbac.yaml grants patch on scaledobjects).",
    ]
    if tenant == TENANT:
        lines.append(f"# {TENANT} is a placeholder: name one of your tenants (or use --tenant).")
    lines.append("pools:")
    for name, pool in imported.pools.items():
        source, what, _ = imported.origins[name]
        lines.append(printable(f"  # from {what} in {source}"))  # one comment line
        dumped = yaml.safe_dump({name: {**pool, "tenant": tenant}}, sort_keys=False)
        lines.extend(f"  {line}" for line in dumped.splitlines())
    return "\n".join(lines) + "\n"


def _run(args: argparse.Namespace) -> int:
    imported = Imported()
    for path in args.files:
        documents = load_yaml(read_text(path, "YAML"), str(path), documents=True)
        import_documents(documents, str(path), imported)
    for line in imported.lines:
        print(printable(line), file=sys.stderr)
    if not imported.pools:
        files = ", ".join(map(str, args.files))
        raise ConfigError(
            files,
            "",
            f"expected a {KEDA_API} ScaledObject with a {NATS_TRIGGER} "
            "trigger on a Deployment, found none",
        )
    check(imported, args.tenant)
    sys.stdout.write(render(imported, args.tenant))
    return 0


def add_parser(commands: Any) -> None:
    """`agentdash import keda FILE...`: `import` holds one source for now."""
    command: argparse.ArgumentParser = commands.add_parser(
        "import", help="turn another autoscaler's objects into agentdash pools"
    )
    sources = command.add_subparsers(dest="source", metavar="SOURCE", required=True)
    keda: argparse.ArgumentParser = sources.add_parser(
        "keda",
        help="KEDA ScaledObjects (nats-jetstream triggers) as agentdash pools, in YAML",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    keda.add_argument(
        "files",
        nargs="+",
        type=Path,
        metavar="FILE",
        help="YAML, one or more documents (or kubectl get scaledobjects -o yaml)",
    )
    keda.add_argument(
        "--tenant",
        type=flags.nats_name,
        default=TENANT,
        metavar="NAME",
        help=f"the pools' tenant (default: the placeholder {TENANT})",
    )
    keda.set_defaults(run=_run)

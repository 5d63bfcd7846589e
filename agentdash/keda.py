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
  fallback                        fallback: {failure_threshold, replicas}, only ever up;
                                  replicas at most maxReplicaCount, as KEDA's HPA held them
  advanced.horizontalPodAutoscalerConfig.behavior   behavior (the HPA's camelCase); a missing
                                  scaleUp, scaleDown window or tolerance as the HPA filled
                                  it in (0.1 either way)

KEDA's defaults are written out, so nothing changes unseen. Each pool gets `take_over: true`:
agentdash pauses the ScaledObject (autoscaling.keda.sh/paused) before it first scales the
Deployment, and gives it back when it stops; one a person paused (paused, paused-replicas)
stays paused and its Deployment is scaled all the same, so it is warned of, to leave that
pool out until you would unpause it (paused-scale-in, paused-scale-out and force-activation
too, with the pool's equivalent). What has no equivalent is said on stderr, one
line per field, once the import has succeeded; a mistake is one line naming the file and the
field, alone, and exit 2. `agentdash simulate --config` on the pasted pools replays KEDA with
each one's activation, cooldownPeriod and behavior; the notes name the flags for the rest
(--keda-polling-interval, --hpa-behavior 0).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from agentdash import flags, standard_input
from agentdash.help_text import FilledDescription
from agentdash.scaled_objects import KEDA_API, NATS_TRIGGER, TENANT, Imported, import_documents
from agentdash.standard_input import SOURCE
from controller.core.config import ConfigError, parse_config
from controller.core.input_files import load_yaml, read_text
from controller.core.printable import printable
from controller.core.yaml_scalars import dump_config

STDIN = Path("-")

CAMEL = {
    "scale_up": "scaleUp",
    "scale_down": "scaleDown",
    "select_policy": "selectPolicy",
    "stabilization_seconds": "stabilizationWindowSeconds",
    "period_seconds": "periodSeconds",
}
"""agentdash's names in an error's path, back to the HPA's that the user wrote."""


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
            tail = "".join(
                f"[{part}]" if part.isdigit() else f".{CAMEL.get(part, part)}"
                for part in rest[cut:]
            )  # a list's index as KEDA's paths write it, `policies[0]`
            return ConfigError(source, f"{what}: {keda}{tail}", exc.message)
    return ConfigError(source, what, f"{'.'.join(rest)}: {exc.message}")


def render(imported: Imported, tenant: str) -> str:
    lines = [
        "# agentdash pools from KEDA ScaledObjects (agentdash import keda): paste them under",
        "# `pools:` in agentdash.yaml. take_over: agentdash pauses each ScaledObject",
        "# (autoscaling.keda.sh/paused) before it first scales the Deployment, and gives it",
        "# back when it stops: it needs patch on scaledobjects, in the Role that",
        "# `agentdash rbac --config agentdash.yaml` prints.",
    ]
    if tenant == TENANT:
        lines.append(f"# {TENANT} is a placeholder: name one of your tenants (or use --tenant).")
    lines.append("pools:")
    for name, pool in imported.pools.items():
        source, what, _ = imported.origins[name]
        lines.append(printable(f"  # from {what} in {source}"))  # one comment line
        dumped = dump_config({name: {**pool, "tenant": tenant}}, sort_keys=False)
        lines.extend(f"  {line}" for line in dumped.splitlines())
    return "\n".join(lines) + "\n"


TEMPLATE = (
    "; the file holds {{ }}: a template (Helm's, Go's) is read once rendered "
    "(helm template, or kubectl get scaledobjects -o yaml)"
)
"""Said after any refusal of a file that holds a template's braces."""


def _run(args: argparse.Namespace) -> int:
    templates: set[str] = set()
    try:
        imported = _imported(args, templates)
    except ConfigError as exc:
        if exc.source not in templates:
            raise
        raise ConfigError(exc.source, exc.path, exc.message + TEMPLATE, exc.line) from None
    # Said only once every file and pool has passed: a refusal is one line, alone, and notes
    # about fields of an import that did not happen would only bury it.
    for line in imported.lines:
        print(printable(line), file=sys.stderr)
    sys.stdout.write(render(imported, args.tenant))
    return 0


def _imported(args: argparse.Namespace, templates: set[str]) -> Imported:
    """Every file's ScaledObjects as pools, checked; `templates` gets the files holding `{{`."""
    imported = Imported()
    sources = [SOURCE if path == STDIN else str(path) for path in args.files]
    for path, source in zip(args.files, sources, strict=True):
        if path == STDIN:  # kubectl get scaledobjects -o yaml | agentdash import keda -
            text = standard_input.piped_whole("ScaledObjects", "YAML")
        else:
            text = read_text(path, "YAML")
        if "{{" in text:
            templates.add(source)
        import_documents(load_yaml(text, source, documents=True), source, imported)
    if not imported.pools:
        files = ", ".join(sources)
        raise ConfigError(
            files,
            "",
            f"expected a {KEDA_API} ScaledObject with a {NATS_TRIGGER} "
            f"trigger on a Deployment, found none{_passed_by(imported.skipped)}",
        )
    check(imported, args.tenant)
    return imported


def _passed_by(skipped: list[str]) -> str:
    """What was passed by, for a refusal that found nothing: the first, and how many more."""
    if not skipped:
        return ""
    more = f"; {len(skipped) - 1} more" if len(skipped) > 1 else ""
    return f" (skipped: {skipped[0]}{more})"


def add_parser(sources: Any) -> None:
    """`agentdash import keda FILE...`, under `agentdash import`."""
    keda: argparse.ArgumentParser = sources.add_parser(
        "keda",
        help="KEDA ScaledObjects (nats-jetstream triggers) as agentdash pools, in YAML",
        description=__doc__,
        formatter_class=FilledDescription,
    )
    keda.add_argument(
        "files",
        nargs="+",
        type=flags.input_path,
        metavar="FILE",
        help="YAML, one or more documents (or kubectl get scaledobjects -o yaml); - for "
        "standard input",
    )
    keda.add_argument(
        "--tenant",
        type=flags.nats_name,
        default=TENANT,
        metavar="NAME",
        help=f"the pools' tenant (default: the placeholder {TENANT})",
    )
    keda.set_defaults(run=_run)

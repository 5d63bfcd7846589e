"""`agentdash rbac`: the Roles a config's daemon needs, restricted to its Deployments, as YAML
for `kubectl apply -f -`.

    agentdash rbac --config FILE [--serviceaccount NAMESPACE:NAME]

Which rights, and why each, is in controller.actuators.kubernetes.rbac; this module writes
them out, each rule under the comment that says why it is there.
"""

from __future__ import annotations

import argparse
import json
import sys
import textwrap
from typing import Any

import yaml

from agentdash import flags
from agentdash.help_text import FilledDescription
from controller.actuators.kubernetes.rbac import (
    ROLE_NAME,
    NamespaceGrants,
    ServiceAccountRef,
    least_grants,
)
from controller.core import names
from controller.core.config import Config, load_config

LINE = 96
"""Longer rules are written one list item a line."""

DESCRIPTION = """\
Print the ServiceAccount, and per namespace a Role and its RoleBinding, that FILE's daemon
needs and no more: the `scale` subresource of FILE's Deployments only (by resourceNames);
`patch` of those Deployments only with kubernetes.annotate; `patch` of pods only with
kubernetes.pod_deletion_cost (pods cannot be restricted by name); events; reading
Deployments, pods, HPAs and ScaledObjects; KEDA's pause only for pools with take_over; and
the Lease, by name, with kubernetes.lease. Each Role is named agentdash, as deploy/rbac.yaml's
is, and replaces it:

  agentdash rbac --config agentdash.yaml | kubectl apply -f -

Run it again when the pools change (a Deployment not named is refused: 403).
"""


def _service_account(text: str) -> ServiceAccountRef:
    namespace, colon, name = text.partition(":")
    try:
        if not colon:
            raise ValueError("expected NAMESPACE:NAME")
        return ServiceAccountRef(names.namespace(namespace), names.kubernetes_name(name))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{exc}, got {text!r}") from None


def add_parser(commands: Any) -> None:
    parser: argparse.ArgumentParser = commands.add_parser(
        "rbac",
        help="print the Roles a config's daemon needs, restricted to its Deployments",
        description=DESCRIPTION,
        formatter_class=FilledDescription,
    )
    parser.add_argument(
        "--config", type=flags.path, required=True, metavar="FILE", help="agentdash.yaml"
    )
    parser.add_argument(
        "--serviceaccount",
        type=_service_account,
        default=ServiceAccountRef(),
        metavar="NAMESPACE:NAME",
        help="the daemon's ServiceAccount, as kubectl names one (default: agentdash:agentdash,"
        " deploy/'s)",
    )
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    sys.stdout.write(manifests(load_config(args.config), args.serviceaccount))
    return 0


def manifests(config: Config, account: ServiceAccountRef) -> str:
    """The ServiceAccount, then each namespace's Role and RoleBinding, as one YAML stream."""
    header = (
        "# What this config's agentdash daemon may do, and why, restricted to its Deployments.\n"
        "# Printed by `agentdash rbac`; apply with `agentdash rbac --config FILE | kubectl "
        "apply -f -`.\n"
        f"# Each Role is named {ROLE_NAME}, as deploy/rbac.yaml's is, and replaces it.\n"
    )
    documents = [_dump(account.manifest())]
    for grants in least_grants(config):
        documents += [_role(grants), _dump(grants.binding(account))]
    return header + "---\n".join(documents)


class _Dumper(yaml.SafeDumper):
    """Block sequences indented under their key, as deploy/'s manifests write them."""

    def increase_indent(self, flow: bool = False, indentless: bool = False) -> None:
        super().increase_indent(flow, False)


def _dump(document: dict[str, Any]) -> str:
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False)


def _role(grants: NamespaceGrants) -> str:
    """A Role as deploy/rbac.yaml writes one: each rule under the comment that says why."""
    role = grants.role()
    lines = _dump({key: value for key, value in role.items() if key != "rules"}).splitlines()
    lines.append("rules:")
    for grant, rule in zip(grants.grants, role["rules"], strict=True):
        lines += textwrap.wrap(
            grant.why, 92, initial_indent="  # ", subsequent_indent="  # ", break_on_hyphens=False
        )
        for i, (key, value) in enumerate(rule.items()):
            line = f"{'  - ' if i == 0 else '    '}{key}: {json.dumps(value)}"
            if len(line) > LINE:  # many Deployments: one name a line
                line = f"    {key}:" + "".join(f"\n      - {item}" for item in value)
            lines.append(line)
    return "\n".join(lines) + "\n"

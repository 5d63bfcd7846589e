"""The flags of a run against a real fleet (`agentdash [--controller-only] --config FILE`):
each given is noted, so that one given before a COMMAND, or where the run would ignore it, is
refused in one line rather than dropped."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from agentdash import flags
from controller.coordination import lease_ttl

LOG_LEVELS = ("debug", "info", "warning", "error")


def log_level(text: str) -> str:
    """`debug`, `info`, `warning` or `error`; `INFO` too, as many a LOG_LEVEL is spelt."""
    if text.lower() not in LOG_LEVELS:
        raise argparse.ArgumentTypeError(f"expected one of {', '.join(LOG_LEVELS)}, got {text!r}")
    return text.lower()


FLEET_FLAGS = "fleet_flags"
"""Where the fleet's flags given are noted (their options, in order)."""


class _FleetFlag(argparse.Action):
    """A fleet's flag: stores its value (True for one that takes none, as store_true) and
    notes that it was given. Before a COMMAND it means nothing, and a COMMAND's own flag of
    the same name overwrites its value unseen: `agentdash --config mine.yaml simulate` would
    replay the bundled example. The note survives, so `_command` can refuse it."""

    def __call__(
        self,
        parser: argparse.ArgumentParser,
        namespace: argparse.Namespace,
        values: Any,
        option_string: str | None = None,
    ) -> None:
        setattr(namespace, self.dest, True if self.nargs == 0 else values)
        setattr(namespace, FLEET_FLAGS, [*getattr(namespace, FLEET_FLAGS, []), option_string])


class _FleetSwitch(_FleetFlag):
    """A fleet's flag that takes no value, as store_true."""

    def __init__(self, option_strings: Sequence[str], dest: str, **kwargs: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, **kwargs)


def add_fleet_arguments(parser: argparse.ArgumentParser) -> None:
    """The flags of a run against a real fleet: the dashboard, or the daemon. In --help they
    come in this order."""
    fleet = parser.add_argument_group(
        "a real fleet (no COMMAND)",
        "A flag marked (env NAME) takes its default from that environment variable; "
        "the flag, given, beats it.",
    )
    _add_what_runs(fleet)
    _add_addresses(fleet)
    _add_cluster(fleet)
    _add_leadership(fleet)
    fleet.add_argument(
        "--log-level",
        action=_FleetFlag,
        type=log_level,
        metavar="LEVEL",
        help="daemon: write log records at this level and above: debug, info, warning or "
        "error (env AGENTDASH_LOG_LEVEL; default info). Scale decisions, start and stop are"
        " always written.",
    )


def _add_what_runs(fleet: argparse._ArgumentGroup) -> None:
    """Which config, and whether a dashboard runs over the controller."""
    fleet.add_argument(
        "--config",
        action=_FleetFlag,
        type=flags.path,
        metavar="FILE",
        help="agentdash.yaml (env AGENTDASH_CONFIG)",
    )
    fleet.add_argument(
        "--controller-only",
        action=_FleetSwitch,
        help="run the controller headless (the daemon), no dashboard",
    )


def _add_addresses(fleet: argparse._ArgumentGroup) -> None:
    """Where NATS is, and where the daemon serves its metrics and health."""
    fleet.add_argument(
        "--nats-url",
        action=_FleetFlag,
        type=flags.nats_url,
        metavar="URL",
        help="NATS server (env AGENTDASH_NATS_URL; default: config nats.url)",
    )
    fleet.add_argument(
        "--http",
        action=_FleetFlag,
        type=flags.listen,
        metavar="[HOST]:PORT",
        help="serve /metrics, /healthz and /livez here; no HOST: every address, IPv4 and "
        "IPv6 (daemon; env AGENTDASH_HTTP)",
    )


def _add_cluster(fleet: argparse._ArgumentGroup) -> None:
    """Which cluster is scaled, and how it is reached."""
    fleet.add_argument(
        "--kubeconfig",
        action=_FleetFlag,
        type=flags.readable_file,
        metavar="FILE",
        help="kubeconfig (default: in-cluster in a pod, else $KUBECONFIG, else ~/.kube/config)",
    )
    fleet.add_argument(
        "--context",
        action=_FleetFlag,
        type=flags.name,
        metavar="NAME",
        help="kubeconfig context (env AGENTDASH_KUBECONTEXT)",
    )
    fleet.add_argument(
        "--cluster",
        action=_FleetFlag,
        choices=["kubernetes", "simulated"],
        default="kubernetes",
        help="simulated: count replicas without a cluster (for trials)",
    )


def _add_leadership(fleet: argparse._ArgumentGroup) -> None:
    """Whether this process leads (takes the lease and scales) and may change overrides."""
    fleet.add_argument(
        "--dry-run", action=_FleetSwitch, help="decide and log, never patch nor take the lease"
    )
    fleet.add_argument(
        "--read-only",
        action=_FleetSwitch,
        help="dashboard: never lead, never change an override",
    )
    fleet.add_argument(
        "--lead",
        action=_FleetSwitch,
        help="dashboard: contend for the lease and scale when it leads (only the daemon does"
        " by default)",
    )
    fleet.add_argument(
        "--lease-ttl",
        action=_FleetFlag,
        type=flags.number(lease_ttl.MIN_S, lease_ttl.MAX_S),
        metavar="S",
        help=f"leader lease TTL in seconds, {lease_ttl.MIN_S} to {lease_ttl.MAX_S}"
        " (env AGENTDASH_LEASE_TTL; default 10)",
    )


def ignored_fleet_flag(args: argparse.Namespace) -> str | None:
    """A flag given where it would do nothing, said rather than dropped. Only a flag given:
    the environment is shared by the daemon and the dashboard, so a value set there for the
    one is the other's to ignore."""
    given = getattr(args, FLEET_FLAGS, [])
    if not args.controller_only:
        for name in ("--http", "--log-level"):
            if name in given:
                return f"{name} is the daemon's (--controller-only): the dashboard would ignore it"
    elif "--lead" in given:
        return "--lead is the dashboard's: the daemon (--controller-only) always contends to lead"
    if args.cluster == "simulated":
        for name in ("--kubeconfig", "--context"):
            if name in given:
                return f"{name} with --cluster simulated would be ignored: no Kubernetes is read"
    return None

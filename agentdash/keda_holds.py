"""What a person set on a ScaledObject to hold its Deployment, said by `agentdash import keda`
(for agentdash.scaled_objects): the daemon leaves a person's pause alone but scales the
Deployment all the same, so the pool printed would undo the hold without a word."""

from __future__ import annotations

from typing import Any, Protocol

from controller.actuators.kubernetes.keda import (
    PAUSED,
    PAUSED_REPLICAS,
    annotation_set,
    is_paused,
    paused_by_agentdash,
)
from controller.actuators.kubernetes.objects import annotations_of
from controller.core.config_errors import shown


class ScaledObjectRead(Protocol):
    """The ScaledObject being read: its namespace, and a line said about one of its fields."""

    namespace: str

    def say(self, level: str, path: str, message: str) -> None: ...


HELD = {
    # A person's hold of one direction (keda.sh docs, "Pausing autoscaling"): while it lasts,
    # KEDA's HPA has that direction's selectPolicy Disabled, as a pool's behavior can.
    "autoscaling.keda.sh/paused-scale-in": (
        "scales Deployment {} in no more (nor to zero)",
        "give the pool behavior.scaleDown.selectPolicy: Disabled",
    ),
    "autoscaling.keda.sh/paused-scale-out": (
        "scales Deployment {} out no more (nor from zero)",
        "give the pool behavior.scaleUp.selectPolicy: Disabled",
    ),
    "autoscaling.keda.sh/force-activation": (
        "keeps Deployment {} active (never at zero)",
        "give the pool min_replicas: 1",
    ),
}
"""KEDA's other annotations that hold a Deployment: each said with the pool's equivalent."""


def said_held(so: ScaledObjectRead, obj: Any, deployment: str) -> None:
    """A hold a person made: KEDA holds the Deployment (or a direction of it), and the daemon
    would scale it all the same (it leaves a pause it did not make). A pause agentdash made it
    gives back itself."""
    for key, (keda, pool) in HELD.items():
        if annotation_set(obj, key):
            so.say(
                "warning",
                f"metadata.annotations.{key}",
                f"{shown(annotations_of(obj)[key])}: KEDA "
                f"{keda.format(f'{so.namespace}/{deployment}')}, and agentdash would not: "
                f"{pool} while you would keep that",
            )
    if not is_paused(obj) or paused_by_agentdash(obj):
        return
    given = annotations_of(obj)
    key = PAUSED_REPLICAS if PAUSED_REPLICAS in given else PAUSED
    replicas = "replica" if given.get(key) == "1" else "replicas"
    held = f"at {given[key]} {replicas}" if key == PAUSED_REPLICAS else "where it is"
    so.say(
        "warning",
        f"metadata.annotations.{key}",
        f"{shown(given[key])}: paused: KEDA holds Deployment {so.namespace}/{deployment} "
        f"{held}, and agentdash would scale it: leave this pool out of agentdash.yaml "
        "until you would unpause the ScaledObject",
    )

"""Pausing KEDA on a Deployment agentdash took over (`take_over: true`), and giving it back.

KEDA's own switch is an annotation on the ScaledObject (keda.sh docs, "Pausing autoscaling"):
`autoscaling.keda.sh/paused: "true"` stops its scale loop and deletes its HPA, leaving the
replicas as they are; removing the annotation re-enables autoscaling. (`paused-replicas: "N"`
would also scale the Deployment to N first: agentdash never sets it.)

agentdash pauses a ScaledObject just before its first scale of the pool, so KEDA's HPA and
agentdash never both change the replicas, and marks it `agentdash.io/paused-for: <pool>`:
a person sees who paused it and why, and agentdash gives back only what it paused (one a
person paused stays paused). On release (a clean stop), it removes both annotations.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping

from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.informer import Informer
from controller.actuators.kubernetes.objects import (
    Obj,
    annotated,
    annotations_of,
    keda_targets,
    name_of,
)

log = logging.getLogger("agentdash.kube")

PAUSED = "autoscaling.keda.sh/paused"
PAUSED_REPLICAS = "autoscaling.keda.sh/paused-replicas"
PAUSED_FOR = "agentdash.io/paused-for"
"""On a ScaledObject agentdash paused: the pool it paused it for."""

_FALSE = frozenset({"0", "f", "F", "false", "False", "FALSE"})
"""What Go's strconv.ParseBool reads as false: KEDA pauses on any other value."""


def is_paused(obj: Obj) -> bool:
    """Does KEDA leave this ScaledObject's target alone, as KEDA reads the annotations?"""
    return PAUSED_REPLICAS in annotations_of(obj) or annotation_set(obj, PAUSED)


def annotation_set(obj: Obj, key: str) -> bool:
    """KEDA's getBoolAnnotation: there, and not what Go's strconv.ParseBool reads as false."""
    given = annotations_of(obj)
    return key in given and given[key] not in _FALSE


def paused_by_agentdash(obj: Obj) -> bool:
    return is_paused(obj) and PAUSED_FOR in annotations_of(obj)


def scaled_objects_of(deployment: str, scaled_objects: Iterable[Obj]) -> list[Obj]:
    return sorted((o for o in scaled_objects if keda_targets(o, deployment)), key=name_of)


def left_paused(deployment: str, scaled_objects: Iterable[Obj]) -> bool:
    """Does a ScaledObject of this Deployment still carry a pause agentdash made?"""
    return any(paused_by_agentdash(obj) for obj in scaled_objects_of(deployment, scaled_objects))


class KedaPause:
    """The ScaledObjects one scaler has paused, to give back on release."""

    def __init__(self, api: KubeApi) -> None:
        self._api = api
        self.held: dict[tuple[str, str], tuple[str, Informer]] = {}
        """(namespace, ScaledObject) -> the pool it was paused for, and its namespace's cache."""
        self._told: set[tuple[str, str]] = set()

    async def pause(
        self, pool: str, deployment: str, cache: Informer, deadline: float, *, dry_run: bool
    ) -> None:
        """Pause every ScaledObject that targets this Deployment, unless it is already.
        Raises ApiFailure if one cannot be paused: the pool must then not be scaled."""
        namespace = cache.namespace
        for obj in scaled_objects_of(deployment, list(cache.objects.values())):
            name = name_of(obj)
            key = (namespace, name)
            if paused_by_agentdash(obj):
                self.held[key] = (pool, cache)  # by this process or a previous leader: ours
                continue
            if is_paused(obj):
                self._tell_once(key, pool, obj)  # a person's pause: theirs to lift
                continue
            if dry_run:
                log.info("dry-run: would pause KEDA ScaledObject %s/%s", namespace, name)
                continue
            changes = {PAUSED: "true", PAUSED_FOR: pool}
            try:
                await self._patch(
                    f"pause KEDA ScaledObject {namespace}/{name}", key, changes, deadline
                )
            except ApiFailure as failure:
                if not failure.not_found:
                    raise
                cache.objects.pop(name, None)  # deleted meanwhile: nothing left to pause
                continue
            # The watch will say so too; until then the next scale must not pause it again.
            cache.objects[name] = annotated(obj, changes)
            self.held[key] = (pool, cache)
            log.info(
                "%s: paused KEDA ScaledObject %s/%s (%s) to scale Deployment %s/%s; given back "
                "when agentdash stops",
                pool,
                namespace,
                name,
                PAUSED,
                namespace,
                deployment,
            )

    async def release(self, deadline: float) -> None:
        """Give KEDA back every ScaledObject paused here: remove both annotations. Best
        effort by `deadline`: a failure is logged with what to do by hand, never raised."""
        held, self.held = self.held, {}
        for (namespace, name), (pool, cache) in sorted(held.items(), key=lambda kv: kv[0]):
            obj = cache.objects.get(name)
            if obj is not None and not paused_by_agentdash(obj):
                continue  # resumed, or its mark removed, by a person since: theirs now
            what = f"KEDA ScaledObject {namespace}/{name}"
            try:
                await self._patch(
                    f"resume {what}", (namespace, name), {PAUSED: None, PAUSED_FOR: None}, deadline
                )
            except ApiFailure as failure:
                if not failure.not_found:
                    log.warning(
                        "%s: could not give %s back to KEDA: %s; remove its annotations %s and "
                        "%s by hand (kubectl annotate)",
                        pool,
                        what,
                        failure,
                        PAUSED,
                        PAUSED_FOR,
                    )
                continue
            if obj is not None:
                cache.objects[name] = annotated(obj, {PAUSED: None, PAUSED_FOR: None})
            log.info("%s: gave %s back to KEDA (%s removed)", pool, what, PAUSED)

    async def _patch(
        self, what: str, key: tuple[str, str], changes: Mapping[str, str | None], deadline: float
    ) -> None:
        namespace, name = key
        await self._api.call(
            what,
            self._api.custom.patch_namespaced_custom_object_without_preload_content,
            "keda.sh",
            "v1alpha1",
            namespace,
            "scaledobjects",
            name,
            {"metadata": {"annotations": changes}},  # null removes an annotation
            _content_type="application/merge-patch+json",  # custom objects take no other
            deadline=deadline,
        )

    def _tell_once(self, key: tuple[str, str], pool: str, obj: Obj) -> None:
        if key in self._told:
            return
        self._told.add(key)
        held_at = annotations_of(obj).get(PAUSED_REPLICAS)
        if held_at is None:
            log.info("%s: KEDA ScaledObject %s/%s is already paused", pool, *key)
        else:
            log.warning(
                "%s: KEDA ScaledObject %s/%s is paused at %s replicas (%s): KEDA may set them "
                "back; remove that annotation to let agentdash scale alone",
                pool,
                *key,
                held_at,
                PAUSED_REPLICAS,
            )

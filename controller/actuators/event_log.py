"""The Events a cluster in this process would have its controllers write (the demo's simulated
cluster, the sample fleet): what `kubectl describe` would list for a Deployment or a pod, so
the dashboard's drill-down shows the same page on every cluster."""

from __future__ import annotations

from collections import OrderedDict, deque
from collections.abc import Callable

from controller.core.model import ClusterEvent

KEPT = 10
"""The newest Events of an object kept."""
OBJECTS = 2_000
"""Objects whose Events are kept, the newest: pods come and go all day in a demo."""

DEPLOYMENT_CONTROLLER = "deployment-controller"
SCHEDULER = "default-scheduler"
KUBELET = "kubelet"


class EventLog:
    def __init__(self, clock: Callable[[], float]) -> None:
        self._clock = clock
        self._objects: OrderedDict[str, deque[ClusterEvent]] = OrderedDict()

    def of(self, kind: str, name: str) -> list[ClusterEvent]:
        return list(self._objects.get(f"{kind}/{name}", ()))

    def scaled(self, deployment: str, old: int, new: int) -> None:
        """The Deployment controller's word on a change of replicas."""
        if new != old:
            way = "up" if new > old else "down"
            said = f"Scaled {way} replica set {deployment} to {new}"
            self._add("Deployment", deployment, "ScalingReplicaSet", said, DEPLOYMENT_CONTROLLER)

    def scheduled(self, namespace: str, pod: str) -> None:
        said = f"Successfully assigned {namespace}/{pod} to simulated-node"
        self._add("Pod", pod, "Scheduled", said, SCHEDULER)

    def started(self, pod: str) -> None:
        self._add("Pod", pod, "Started", "Started container agent", KUBELET)

    def stopping(self, pod: str) -> None:
        self._add("Pod", pod, "Killing", "Stopping container agent", KUBELET)

    def _add(self, kind: str, name: str, reason: str, message: str, source: str) -> None:
        key = f"{kind}/{name}"
        events = self._objects.get(key)
        if events is None:
            events = self._objects[key] = deque(maxlen=KEPT)
            if len(self._objects) > OBJECTS:
                self._objects.popitem(last=False)
        event = ClusterEvent(
            last_seen=self._clock(), type="Normal", reason=reason, message=message, source=source
        )
        events.append(event)

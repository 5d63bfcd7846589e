"""The Events of one object (a pool's Deployment, or one of its pods), as `kubectl describe`
lists them: read when an operator opens the object in the dashboard, never by the loop.

One list call each time, filtered by the server on the object's kind and name, on the READ
band of the API's budget: scale calls and the lease go first. What the API answers is checked
item by item (an Event that does not parse is left out, never shown half-read), and the
object is checked again here: a server that ignores field selectors (older ones, emulators)
does not put other objects' Events on the page.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from controller.actuators.kubernetes.api import ApiFailure, KubeApi
from controller.actuators.kubernetes.budget import READ
from controller.actuators.kubernetes.objects import SAID_CHARS, meta, timestamp
from controller.core.model import ClusterEvent, SourceError

SHOWN = 50
"""The newest Events of an object kept (kubectl describe shows them all; a crash-looping pod's
are folded by the API into a few, with counts)."""
MAX_COUNT = 10**9


def event_of(obj: Mapping[str, Any]) -> ClusterEvent | None:
    """One Event as the page shows it, or None if it does not read as one."""
    when = (
        timestamp(obj.get("lastTimestamp"))
        or timestamp(obj.get("eventTime"))
        or timestamp(obj.get("firstTimestamp"))
        or timestamp(meta(obj).get("creationTimestamp"))
    )
    reason = obj.get("reason")
    if when is None or not isinstance(reason, str) or not reason:
        return None
    count = obj.get("count")
    source = obj.get("source")
    component = source.get("component") if isinstance(source, Mapping) else None
    return ClusterEvent(
        last_seen=when,
        type=_text(obj.get("type")) or "Normal",
        reason=reason[:SAID_CHARS],
        message=_text(obj.get("message")),
        source=_text(component) or _text(obj.get("reportingComponent")),
        count=min(count, MAX_COUNT) if isinstance(count, int) and count > 0 else 1,
    )


def _text(value: object) -> str:
    return value[:SAID_CHARS] if isinstance(value, str) else ""


def about(obj: Mapping[str, Any], kind: str, name: str) -> bool:
    involved = obj.get("involvedObject")
    return (
        isinstance(involved, Mapping)
        and involved.get("kind") == kind
        and involved.get("name") == name
    )


async def read_events(api: KubeApi, namespace: str, kind: str, name: str) -> list[ClusterEvent]:
    """The newest Events of one object, oldest first. Raises SourceError if the API refuses
    or does not answer (a dashboard whose account may not `list events` says so)."""
    try:
        answer = await api.call(
            f"list the Events of {kind} {namespace}/{name}",
            api.core.list_namespaced_event_without_preload_content,
            namespace,
            field_selector=f"involvedObject.kind={kind},involvedObject.name={name}",
            priority=READ,
        )
    except ApiFailure as failure:
        raise SourceError(str(failure)) from None
    items = answer.get("items")
    found = [
        event
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, Mapping) and about(item, kind, name)
        if (event := event_of(item)) is not None
    ]
    return sorted(found, key=lambda event: event.last_seen)[-SHOWN:]

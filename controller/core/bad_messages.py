"""Messages, KV values and answers agentdash dropped because they failed validation, and
messages it dropped because more came than it reads (`flood`: agentdash.nats_connections).

Anything that crosses a process boundary (a worker's usage or busy report, the leader's
decisions, a KV override, a Prometheus answer, the time of a queue's oldest task, the leader
lease) is validated before it can reach the policy, the actuator or the dashboard. One that
fails is dropped, counted per source (`agentdash_bad_messages_total{source}`,
controller.runtime.metrics) and logged at most once a minute per source (and flooded
subject): a flood of junk must neither crash the loop nor flood the log. One `BadMessages` is
shared by every source of a runtime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

from pydantic import ValidationError

from controller.core.wording import plural

log = logging.getLogger("agentdash.bad_messages")

SOURCES = (
    "usage",
    "busy",
    "decisions",
    "overrides",
    "prometheus",
    "events",
    "queue",
    "flood",
    "unstored",
    "lease",
    "handover",
    "kubernetes",
    "http",
)
"""Counted from the start (at 0), so a dashboard can tell "none" from "not measured".
`unstored`: tasks seen on a pool's subject that JetStream did not store (a duplicate, a
refused publish), left out of its arrival rate (controller.sources.arrivals).
`lease`: reads of the leader lease that found a value no holder writes (a NATS entry that
names no holder, a Kubernetes Lease's holderIdentity that is no holder's name, its
leaseDurationSeconds that is no TTL, or no resourceVersion).
`handover`: values of the leader's handover buckets (history, spend, tokens today) that a
restore refused (controller.coordination.bucket).
`kubernetes`: lines of a Kubernetes watch that are not JSON (a proxy's page), each ending that
watch (controller.actuators.kubernetes.api).
`http`: requests to the daemon's HTTP endpoint refused as malformed, answered 400
(agentdash.http_endpoint)."""
LOG_EVERY_S = 60.0
WHY_CHARS = 200
"""What a log line quotes of the reason: a 1 MB body must not become a 1 MB log line."""


class BadMessages:
    def __init__(
        self, clock: Callable[[], float] = time.monotonic, every: float = LOG_EVERY_S
    ) -> None:
        self._clock = clock
        self._every = every
        self.counts: dict[str, int] = dict.fromkeys(SOURCES, 0)
        self._logged_at: dict[str, float] = {}
        self._unlogged: dict[str, int] = {}
        """Per source (and what it was about), drops since its last log line."""

    def drop(self, source: str, why: str, count: int = 1, about: str = "") -> None:
        """Count `count` bad messages from `source`, dropped for one reason; log it unless
        this source logged lately about the same thing. `about`: what the line names apart
        (a flooded subject: one tenant's flood must not keep another's out of the log);
        only what the config names, so the lines a minute stay bounded."""
        self.count(source, count)
        now = self._clock()
        said = f"{source} {about}" if about else source
        last = self._logged_at.get(said)
        if last is not None and now - last < self._every:
            self._unlogged[said] = self._unlogged.get(said, 0) + count
            return
        more = self._unlogged.pop(said, 0)
        self._logged_at[said] = now
        also = f" ({more} more dropped since the last line)" if more else ""
        log.warning("dropped %s: %s%s", _what(source, count), _one_line(why), also)

    def count(self, source: str, count: int = 1) -> None:
        """Count `count` bad values from `source` without a line of its own: for a source
        that says what it refused in its own words (once a value, once a read), which a line
        a minute here would say twice."""
        self.counts[source] = self.counts.get(source, 0) + count


def _what(source: str, count: int) -> str:
    if source == "unstored":  # a producer's safe retries make these too: nothing bad in them
        return plural(count, "arrival") + " JetStream did not store"
    if count == 1:
        return "a message of a flood" if source == "flood" else f"a bad {source} message"
    if source == "flood":
        return f"{plural(count, 'message')} of a flood"
    return plural(count, f"bad {source} message")


def describe(exc: ValidationError) -> str:
    """The first problem of a failed validation, short: `tokens: Input should be ...`."""
    error = exc.errors(include_url=False, include_input=False)[0]
    where = ".".join(str(part) for part in error["loc"])
    return f"{where}: {error['msg']}" if where else error["msg"]


def _one_line(text: str) -> str:
    """Quoted text from outside may hold newlines (a forged log line) or be huge."""
    flat = text.replace("\r", " ").replace("\n", " ")
    return flat if len(flat) <= WHY_CHARS else flat[:WHY_CHARS] + "..."

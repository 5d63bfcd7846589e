"""Exactly one actuator, on a Kubernetes `coordination.k8s.io/v1` Lease: the alternative to
the NATS KV lease (controller.coordination.lease) for a controller that runs in the cluster it
scales.

As client-go's leader election does it:

- Every write names the resourceVersion it last saw (a merge patch with
  `metadata.resourceVersion`): the API server refuses it with 409 if anyone wrote in between,
  so of two processes that race for the Lease, one wins and the other knows it lost.
- A contender takes the Lease when it is free (released: no holder), or when nobody has
  renewed it for its `leaseDurationSeconds`, timed on the contender's own clock from when it
  first saw the current version. `renewTime` is written for people (`kubectl get lease`) but
  never compared with this machine's clock: two machines' clocks may differ by more than a
  lease lasts.
- A process that does not hold the Lease (a contender waiting, a dashboard that only reads
  it) calls its holder gone, and names no leader, once the version it last saw has stood for
  the Lease's own `leaseDurationSeconds`, the holder's TTL rather than its own `--lease-ttl`:
  a dashboard at 15 s beside a leader at 60 s keeps it for its whole lease, and one at 60 s
  beside a leader at 10 s lets it go 10 s after its last renewal. A value outside 1-3600
  whole seconds (controller.coordination.lease_ttl) is no holder's TTL: the process's own
  is taken instead, said once a value, and each read that finds it is counted
  (`agentdash_bad_messages_total{source="lease"}`).
- A holderIdentity that is no holder's name (a number, an object, 10,000 characters, control
  characters: controller.coordination.lease_fields) is still a holder, one that no process
  can name: no contender takes the Lease before it has stood unrenewed for its duration, and
  no process names it as the leader. Said once a value, and counted, as above. Only a
  missing, null or empty holderIdentity leaves the Lease free.
- `valid_until` (on `time.monotonic()`'s clock): until then no other process can have taken
  the Lease. It is the start of our last successful renewal plus the duration, less a margin:
  a contender saw our last version at the earliest once that renewal had started, and must
  then see it unchanged for a whole duration. The margin covers clocks that run at slightly
  different rates and a write of ours that the server applies late. A leader that starts a
  call only while `now + deadline_s < valid_until` is fenced.

A failed renewal (no answer, a 5xx, by its deadline) makes us a follower at once, as the NATS
lease does: we cannot prove we lead. The next renewal takes the Lease back if it still names
us. Bad answers are logged and counted (`agentdash_bad_messages_total{source="lease"}`),
never raised.

A process that must never lead (a read-only dashboard) uses `contend=False`: it only reads
who leads, and never writes the Lease.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, Self

from kubernetes.aio.client import ApiClient

from controller.actuators.kubernetes.api import ApiFailure, KubeApi, connect_client
from controller.actuators.kubernetes.budget import LEASE
from controller.actuators.kubernetes.objects import meta, spec
from controller.coordination.lease import HOLDER, BrokenLease, valid_holder
from controller.coordination.lease_fields import Holder, LeaseFields
from controller.coordination.lease_ttl import whole_seconds
from controller.core.bad_messages import BadMessages

log = logging.getLogger("agentdash.kube")

NAME = "agentdash-leader"
RBAC_HINT = "`agentdash rbac --config FILE | kubectl apply -f -` grants the Lease's rights"


class KubernetesLease:
    """The Lease `namespace/name`; `holder` names this process in it (the pod's name is
    the usual choice). `ttl`: the lease duration, whole seconds as the API keeps it."""

    def __init__(
        self,
        client: ApiClient,
        holder: str,
        *,
        namespace: str,
        name: str = NAME,
        ttl: float = 10.0,
        margin_s: float = 1.0,
        deadline_s: float | None = None,
        contend: bool = True,
        api: KubeApi | None = None,
        monotonic: Callable[[], float] = time.monotonic,
        clock: Callable[[], float] = time.time,
        owns_client: bool = False,
        bad: BadMessages | None = None,
    ) -> None:
        if not valid_holder(holder):
            raise ValueError(f"expected a holder's name matching {HOLDER.pattern}, got {holder!r}")
        self.duration = whole_seconds(ttl)
        # The margin is what a holder gives up of its duration: a process that never holds
        # the Lease only reads it, and may read it at any TTL.
        if contend and not 0 <= margin_s < self.duration:
            raise ValueError(
                f"margin_s must be at least 0 and below the duration ({self.duration} s)"
            )
        self.holder = holder
        self.namespace = namespace
        self.name = name
        self.ttl = float(self.duration)
        self.margin_s = margin_s
        self.contend = contend
        """False: never take the lease, only read who holds it."""
        self._leader_name: str | None = None
        self.broken: BrokenLease | None = None
        """Never set: writing the Lease takes Kubernetes rights (RBAC) that only agentdash has,
        and no API answer lands in it as a NATS reply can land in a KV bucket."""
        self.last_broken: BrokenLease | None = None
        self.unwritten: str | None = None
        """Why this process's last write of the Lease failed (None: it did not, or another
        process wrote it first)."""
        # Its own budget unless it shares the scaler's (`api`, as the daemon does), where its
        # calls go first: either way a renewal never waits behind scale calls.
        self.api = api or KubeApi(client, deadline_s=deadline_s or self.duration / 3)
        self._deadline_s = deadline_s or self.duration / 3
        self._monotonic = monotonic
        self._clock = clock
        self._owns_client = owns_client
        self._version: str | None = None
        """The resourceVersion of our last write, while we lead."""
        self._valid_until = -math.inf
        self._seen: tuple[str | None, float] | None = None
        """The Lease's version as last read or written, and when (monotonic) we first saw it:
        a renewal writes a new one."""
        self._holder_s = self.duration
        """The holder's leaseDurationSeconds, as last read (ours, as we write it)."""
        self.bad = bad or BadMessages()
        """Counts the answers refused: a holder or a duration no holder writes, no version."""
        self._fields = LeaseFields(self.what, self.duration, self.bad)
        self._refusal_said = False
        """A 403 was logged: said once, until a renewal goes through."""

    @classmethod
    async def connect(
        cls,
        holder: str,
        *,
        namespace: str,
        kubeconfig: str | None = None,
        context: str | None = None,
        **options: Any,
    ) -> Self:
        """A lease with its own client (see controller.actuators.kubernetes.api.connect_client)."""
        client = await connect_client(kubeconfig, context)
        return cls(client, holder, namespace=namespace, owns_client=True, **options)

    @property
    def leader_name(self) -> str | None:
        """Who leads, as last seen (ourselves included); None once the last renewal seen is
        older than the holder's lease, as the Lease gives it (no renewal since, or the API
        away or hanging: a renewal the loop cuts short raises nothing here, so this is judged
        when asked): that one may have lost it since."""
        if self.leading:
            return self._leader_name
        if self._seen is None or self._monotonic() - self._seen[1] >= self._holder_s:
            return None
        return self._leader_name

    @leader_name.setter
    def leader_name(self, name: str | None) -> None:
        self._leader_name = name

    @property
    def leading(self) -> bool:
        """Ours, as of our last renewal, and still surely so (a renewal that was cut short
        leaves the last version, whose time runs out)."""
        return self._version is not None and self._monotonic() < self._valid_until

    @property
    def valid_until(self) -> float:
        """Until when (monotonic) no other process can have taken the lease; -inf once we
        know we do not hold it."""
        return self._valid_until if self._version is not None else -math.inf

    @property
    def holder_ttl(self) -> float:
        """The holder's leaseDurationSeconds, as last read (ours while we lead; our own TTL
        where the Lease holds none that is valid)."""
        return float(self._holder_s)

    @property
    def what(self) -> str:
        return f"Lease {self.namespace}/{self.name}"

    async def renew(self) -> bool:
        """Take or keep the lease; True while we lead. Never raises for lost races or for
        the API's trouble."""
        if not self.contend:
            await self._read_leader()
            return False
        started = self._monotonic()
        written: dict[str, Any] | None
        try:
            if self._version is not None:
                written = await self._write(self._version, {"renewTime": self._now()})
            else:
                written = await self._acquire()
        except ApiFailure as failure:
            self.unwritten = None if failure.status == 409 else str(failure)
            if failure.status == 409:
                log.info("%s: another process wrote it first; following", self.what)
                # Lost before the read below, which the loop may cut: else the next renewal
                # writes with this version again, to be refused again.
                self._version = None
                # Whom, read now: a process thawed after a freeze past its lease has known
                # no leader for longer than a TTL, and would say none held the lease.
                await self._read_leader()
            else:
                if self.leading:
                    log.warning("%s: cannot renew: %s; following", self.what, failure)
                elif failure.forbidden and not self._refusal_said:
                    # Else a Role not applied in the Lease's namespace is only "no leader".
                    log.warning("%s: cannot take it: %s (%s)", self.what, failure, RBAC_HINT)
                self._refusal_said |= failure.forbidden
            self._version = None
            return False
        if written is None:
            self._version = None
            return False
        version = _version_of(written)
        if version is None:
            log.warning("%s: the API's answer has no resourceVersion; following", self.what)
            self.bad.count("lease")
            self._version = None
            return False
        if self._version is None:
            log.info("%s: leading as %s", self.what, self.holder)
        self._version = version
        self.unwritten = None
        self._refusal_said = False
        self._valid_until = started + self.duration - self.margin_s
        self.leader_name = self.holder
        self._seen, self._holder_s = (version, started), self.duration
        return True

    async def release(self) -> None:
        """Leave the lease free, so that another process takes it at once."""
        if self._version is None:
            return
        version, self._version = self._version, None
        try:
            # As client-go: no holder, and the shortest duration for readers that ignore that.
            await self._write(version, {"holderIdentity": None, "leaseDurationSeconds": 1})
        except ApiFailure as failure:
            log.warning("%s: cannot release it (%s); it expires instead", self.what, failure)
        self.leader_name = None

    async def close(self) -> None:
        if self._owns_client:
            await self.api.client.close()  # type: ignore[no-untyped-call]

    async def _read_leader(self) -> None:
        try:
            self._observe(await self._read())
        except ApiFailure as failure:
            if failure.not_found:
                self.leader_name = None
            # else the last renewal seen stands, until the holder's lease runs out

    def _observe(self, lease: Mapping[str, Any]) -> tuple[float, Holder | None]:
        """Note who holds the Lease, for how long, and since when (monotonic) its version
        has stood; returns that moment, and the holder (None: it is free).
        A new version is timed from when it is read, after the holder wrote it: its lease
        runs out no later. The version, not `renewTime`, tells a renewal: two renewals may
        write the same renewTime (a wall clock stepped back), never the same version."""
        seen_at = self._monotonic()
        version = _version_of(lease)
        if self._seen is None or self._seen[0] != version:
            self._seen = (version, seen_at)
        holder = self._fields.holder(spec(lease).get("holderIdentity"))
        # One it cannot name holds it all the same, but is no leader to name.
        self.leader_name = None if holder is None else holder.name
        if holder is not None:
            duration = spec(lease).get("leaseDurationSeconds")
            self._holder_s = self._fields.duration(duration, holder)
        return self._seen[1], holder

    async def _read(self) -> dict[str, Any]:
        return await self.api.call(
            f"read {self.what}",
            self.api.coordination.read_namespaced_lease_without_preload_content,
            self.name,
            self.namespace,
            priority=LEASE,
            deadline=self._deadline(),
        )

    async def _acquire(self) -> dict[str, Any] | None:
        """Create the Lease, or take it if it is free, ours or expired. None: someone else
        holds it."""
        try:
            current = await self._read()
        except ApiFailure as failure:
            if not failure.not_found:
                raise
            return await self._create()
        seen_at = self._monotonic()  # after the answer: the holder's write was before
        since, holder = self._observe(current)
        version = _version_of(current)
        if version is None:
            log.warning("%s: the API's answer has no resourceVersion", self.what)
            self.bad.count("lease")
            return None
        ours = holder is not None and holder.name == self.holder
        if holder is not None and not ours:
            if seen_at - since < self._holder_s:
                return None
            log.info("%s: %s has not renewed it in time; taking over", self.what, holder.words)
        now = self._now()
        return await self._write(
            version,
            {
                "holderIdentity": self.holder,
                "leaseDurationSeconds": self.duration,
                "acquireTime": now,
                "renewTime": now,
                "leaseTransitions": _transitions(current) + (not ours),
            },
        )

    async def _create(self) -> dict[str, Any]:
        now = self._now()
        return await self.api.call(
            f"create {self.what}",
            self.api.coordination.create_namespaced_lease_without_preload_content,
            self.namespace,
            {
                "apiVersion": "coordination.k8s.io/v1",
                "kind": "Lease",
                "metadata": {"name": self.name, "namespace": self.namespace},
                "spec": {
                    "holderIdentity": self.holder,
                    "leaseDurationSeconds": self.duration,
                    "acquireTime": now,
                    "renewTime": now,
                    "leaseTransitions": 0,
                },
            },
            retry=False,  # a 409 means another process created it: we lost
            priority=LEASE,
            deadline=self._deadline(),
        )

    async def _write(self, version: str, changes: Mapping[str, Any]) -> dict[str, Any]:
        return await self.api.call(
            f"write {self.what}",
            self.api.coordination.patch_namespaced_lease_without_preload_content,
            self.name,
            self.namespace,
            {"metadata": {"resourceVersion": version}, "spec": dict(changes)},
            _content_type="application/merge-patch+json",
            retry=False,  # a 409 means another process wrote in between: we lost
            priority=LEASE,
            deadline=self._deadline(),
        )

    def _deadline(self) -> float:
        """When a lease call started now must end (its own, on a shared client too)."""
        return asyncio.get_running_loop().time() + self._deadline_s

    def _now(self) -> str:
        """The API's MicroTime."""
        return datetime.fromtimestamp(self._clock(), UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _version_of(lease: Mapping[str, Any]) -> str | None:
    version = meta(lease).get("resourceVersion")
    return version if isinstance(version, str) and version else None


def _transitions(lease: Mapping[str, Any]) -> int:
    value = spec(lease).get("leaseTransitions")
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else 0

"""Exactly one actuator: a leader lease in a NATS key-value bucket with a TTL.

The leader writes its name under `leader` and renews it every tick, each write guarded by
the revision it last saw, so two holders can never both believe they lead. If the leader
stops renewing (it died, or lost NATS), the entry expires after `ttl` seconds and the next
contender's create succeeds. A leader that stops cleanly deletes the entry at once.

Fencing: a write to the bucket lands no earlier than the moment we sent it, and the entry
lives `ttl` seconds from when it lands, so no one else can create it before (send time +
ttl). `valid_until` is that moment less a margin for clock rate, on this process's monotonic
clock; the loop starts a Kubernetes call only if it ends, deadline included, before then.

A process that must never lead (a dashboard without `--lead`, any `--read-only` one) uses
`contend=False`: it only reads who leads, and never writes the bucket.

A holder's name must be unique among the processes alive (the runtime adds a random part to
host:pid): an entry that names this process, at a revision it did not see (a renewal whose
answer NATS lost, or that it sent on once back), is taken back at once, under the same
revision guard, rather than followed as another's until it expires.
"""

from __future__ import annotations

import contextlib
import time
from typing import Any, Protocol

import nats.errors
import nats.js.errors
from nats.aio.client import Client

BUCKET = "agentdash_leader"
KEY = "leader"
MARGIN = 0.1
"""The share of the TTL `valid_until` gives up, for clocks that do not tick alike."""


class LeaseError(Exception):
    """The lease bucket cannot be used as asked (e.g. it exists with another TTL)."""


class NatsLease:
    def __init__(
        self,
        nc: Client,
        holder: str,
        ttl: float = 10.0,
        *,
        contend: bool = True,
        timeout: float | None = None,
    ) -> None:
        self._nc = nc
        self.holder = holder
        self.ttl = ttl
        self.contend = contend
        """False: never take the lease, only watch who holds it."""
        self._timeout = timeout if timeout is not None else ttl / 4
        self._kv: Any = None
        self._revision: int | None = None
        self.valid_until = -1.0
        """time.monotonic() until which no other process can hold the lease (-1: not ours)."""
        self.leader_name: str | None = None
        """Who leads, as last seen (ourselves included)."""

    @property
    def leading(self) -> bool:
        return self._revision is not None and time.monotonic() < self.valid_until

    async def start(self) -> None:
        js = self._nc.jetstream(timeout=self._timeout)
        try:
            self._kv = await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            if self.contend:  # a watcher creates nothing: it looks again at each renew
                self._kv = await js.create_key_value(bucket=BUCKET, ttl=self.ttl, history=1)
            return
        status = await self._kv.status()
        ttl = status.ttl or 0.0
        if self.contend and abs(ttl - self.ttl) > 1e-3:
            raise LeaseError(
                f"the lease bucket {BUCKET} already has a TTL of {ttl:g} s, and every"
                f" controller must use the same (use {ttl:g}, or delete the bucket with"
                f" `nats kv del {BUCKET}` while none runs)"
            )

    async def renew(self) -> bool:
        """Take or keep the lease; True while we lead. Never raises for lost races."""
        if not self.contend:
            await self._read_leader()
            return False
        sent = time.monotonic()
        try:
            try:
                await self._write(self._revision, sent)
            except nats.js.errors.KeyWrongLastSequenceError:
                self._lost()
                ours = await self._read_leader()
                if ours is None:
                    return False
                # Our name, at a revision we never heard of: a renewal whose answer was lost
                # (NATS went away with it, or sent it on once back). No one else has held the
                # lease since: take it back now rather than follow ourselves until it expires.
                await self._write(ours, sent)
        except nats.js.errors.KeyWrongLastSequenceError:
            self._lost()
            await self._read_leader()
        except (nats.errors.Error, TimeoutError):
            self._lost()  # cannot prove we lead: act as a follower
            if self.leader_name == self.holder:
                self.leader_name = None  # who leads now is not known
        return self.leading

    async def _write(self, revision: int | None, sent: float) -> None:
        """Write our name over `revision` (None: only if no one holds the lease)."""
        if revision is None:
            self._revision = await self._kv.create(KEY, self.holder.encode())
        else:
            self._revision = await self._kv.update(KEY, self.holder.encode(), last=revision)
        self.valid_until = sent + self.ttl * (1 - MARGIN)
        self.leader_name = self.holder

    def _lost(self) -> None:
        self._revision = None
        self.valid_until = -1.0

    async def _read_leader(self) -> int | None:
        """Note who leads; the entry's revision if it names this process."""
        try:
            if self._kv is None:
                self._kv = await self._nc.jetstream(timeout=self._timeout).key_value(BUCKET)
            entry = await self._kv.get(KEY)
            self.leader_name = entry.value.decode(errors="replace")[:200] if entry.value else None
        except (
            nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyDeletedError,
            nats.js.errors.BucketNotFoundError,
        ):
            self.leader_name = None
        except (nats.errors.Error, TimeoutError):
            pass  # keep the last name we saw
        else:
            if self.contend and self.leader_name == self.holder:
                return int(entry.revision)
        return None

    async def close(self) -> None:
        """Nothing of its own to close: the NATS connection is the runtime's."""

    async def release(self) -> None:
        if self._revision is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):  # else it expires
                await self._kv.delete(KEY, last=self._revision)
            self._lost()


class Lease(Protocol):
    """Who may actuate. Only the holder scales; the others follow."""

    holder: str
    leader_name: str | None

    @property
    def valid_until(self) -> float:
        """time.monotonic() until which no other process can hold the lease: the loop starts
        a call to the cluster only if it ends, deadline included, before then."""
        ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...

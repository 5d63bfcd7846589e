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

A value that is no holder's name (`valid_holder`: what `_write` writes) is a broken lease,
counted at each read that finds it (`agentdash_bad_messages_total{source="lease"}`; the
loop says it, controller.runtime.leadership). It is no one's, so never followed as a
leader's name (a JetStream answer, sent there as the reply to a worker's request, once was),
and no one's to keep: a contender takes it over, by compare-and-set on the revision it read,

- at once if it overwrote this process's own entry (the revision right after ours): no one
  else has held the lease since;
- else once it has been broken for a whole TTL on this process's clock, over revisions that
  follow each other. The last valid holder renewed before the broken value landed, so before
  we saw it, and its fence (`valid_until`) ends less than a TTL after that renewal was sent.
  A revision we did not see may have been another contender's takeover: the wait starts
  again from the first broken revision seen after one.
"""

from __future__ import annotations

import contextlib
import math
import re
import time
from dataclasses import dataclass
from typing import Any, Protocol

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from controller.coordination.bucket import failure_words
from controller.core.bad_messages import BadMessages

BUCKET = "agentdash_leader"
MAX_VALUE_BYTES = 1024
"""A holder's name is at most 253 characters."""
BUCKET_BYTES = 16 * MAX_VALUE_BYTES
"""The bucket holds one key (and its deletes)."""
KEY = "leader"
MARGIN = 0.1
"""The share of the TTL `valid_until` gives up, for clocks that do not tick alike."""
OTHER_CONFIGURATION = 10058
"""JetStream's error code for a stream made again with another configuration than it has."""
HOLDER = re.compile(r"[A-Za-z0-9._:@-]{1,253}")
"""A holder's name: host:pid_random as agentdash writes it (a pod's name, a hostname)."""
SHOWN_CHARS = 80
"""What a broken lease's description quotes of its value."""


def valid_holder(name: str) -> bool:
    return HOLDER.fullmatch(name) is not None


@dataclass(frozen=True, slots=True)
class BrokenLease:
    """A lease entry that names no holder: its revision, and its value, escaped and cut."""

    revision: int
    value: str

    @classmethod
    def of(cls, revision: int, value: bytes) -> BrokenLease:
        text = value.decode(errors="replace")
        cut = "..." if len(text) > SHOWN_CHARS else ""
        return cls(revision, ascii(text[:SHOWN_CHARS]) + cut)


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
        bad: BadMessages | None = None,
    ) -> None:
        if not valid_holder(holder):
            raise ValueError(f"expected a holder's name matching {HOLDER.pattern}, got {holder!r}")
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
        self._leader_name: str | None = None
        self._read_at = -math.inf
        """time.monotonic() of the last answer about the lease."""
        self.broken: BrokenLease | None = None
        """The entry, while it is broken (as last read)."""
        self.last_broken: BrokenLease | None = None
        """The last broken entry seen, even if taken back since (so that it can be told)."""
        self.unwritten: str | None = None
        """Why this process's last write of the lease failed (None: it was written, another
        holds it, or none was tried): a NATS that answers reads and refuses writes (a full
        disk) is told apart from one that is away."""
        self.bad = bad or BadMessages()
        """Counts the reads that found the entry broken."""
        self._broken_since = 0.0
        """time.monotonic() from which `broken` has held over revisions that follow each
        other."""

    @property
    def leader_name(self) -> str | None:
        """Who leads, as last seen (ourselves included); None once the lease has not been
        read for a TTL (NATS away, or hanging: a renewal the loop cuts short raises nothing
        here, so this is judged when asked): that one may have lost it since."""
        if not self.leading and time.monotonic() - self._read_at > self.ttl:
            return None
        return self._leader_name

    @leader_name.setter
    def leader_name(self, name: str | None) -> None:
        self._leader_name = name

    @property
    def leading(self) -> bool:
        return self._revision is not None and time.monotonic() < self.valid_until

    @property
    def holder_ttl(self) -> float:
        """The bucket's TTL: every holder's."""
        return self.ttl

    async def start(self) -> None:
        js = self._nc.jetstream(timeout=self._timeout)
        try:
            self._kv = await js.key_value(BUCKET)
        except nats.js.errors.BucketNotFoundError:
            if not self.contend:  # a watcher creates nothing: it looks again at each renew
                return
            try:
                return await self._make_bucket()
            except nats.js.errors.BadRequestError as exc:
                if exc.err_code != OTHER_CONFIGURATION:
                    raise
                # Made by another controller between the look and the make, with a TTL of
                # its own (the same TTL makes it again as it is): checked as one found.
                self._kv = await js.key_value(BUCKET)
        ttl = await self._bucket_ttl()
        if self.contend and abs(ttl - self.ttl) > 1e-3:
            raise LeaseError(
                f"the lease bucket {BUCKET} already has a TTL of {ttl:g} s, and every"
                f" controller must use the same (use {ttl:g}, or delete the bucket with"
                f" `nats kv del {BUCKET}` while none runs)"
            )

    async def _bucket_ttl(self) -> float:
        """The TTL the bucket's entries live by. A watcher takes it as its own: its `ttl`
        (the flag's, or the default) is what it says and waits by before it names no
        leader, and a dashboard at the default 10 s beside daemons at `--lease-ttl 5` said
        `no valid leader for more than the lease's TTL (10 s)` while the daemons said 5 s."""
        ttl = float((await self._kv.status()).ttl or 0.0)
        if not self.contend and ttl > 0:
            self.ttl = ttl
        return ttl

    async def renew(self) -> bool:
        """Take or keep the lease; True while we lead. Never raises for lost races."""
        if not self.contend:
            await self._read_leader()
            return False
        sent = time.monotonic()
        held = self._revision
        try:
            try:
                await self._write(held, sent)
            except nats.js.errors.KeyWrongLastSequenceError:
                self._lost()
                free = await self._read_leader(held)
                if free is None:
                    return False
                # Our name at a revision we never heard of (a renewal whose answer NATS lost,
                # or sent on once back), or a broken entry no one has held since it was ours
                # or for a TTL: take it now rather than wait for it to expire.
                await self._write(free, sent)
        except nats.js.errors.KeyWrongLastSequenceError:
            self._lost()
            self.unwritten = None
            await self._read_leader()
        except (nats.errors.Error, TimeoutError) as error:
            self._lost()  # cannot prove we lead: act as a follower
            self.unwritten = failure_words(error, self._timeout)
            if self.leader_name == self.holder:
                self.leader_name = None  # who leads now is not known
            self._unread()
            if isinstance(error, nats.js.errors.NoStreamResponseError):
                # No stream took the write: the bucket is gone, as after a NATS restarted
                # without its store. Made again as at start, else no one could ever lead.
                with contextlib.suppress(nats.errors.Error, TimeoutError):
                    await self._make_bucket()
        return self.leading

    async def _make_bucket(self) -> None:
        js = self._nc.jetstream(timeout=self._timeout)
        self._kv = await js.create_key_value(
            bucket=BUCKET,
            ttl=self.ttl,
            history=1,
            max_value_size=MAX_VALUE_BYTES,
            max_bytes=BUCKET_BYTES,
        )

    def _unread(self) -> None:
        """The lease could not be read: after a TTL without an answer, who leads is not known."""
        if time.monotonic() - self._read_at > self.ttl:
            self.leader_name = None

    async def _write(self, revision: int | None, sent: float) -> None:
        """Write our name over `revision` (None: only if no one holds the lease)."""
        if revision is None:
            self._revision = await self._kv.create(KEY, self.holder.encode())
        else:
            self._revision = await self._kv.update(KEY, self.holder.encode(), last=revision)
        self.valid_until = sent + self.ttl * (1 - MARGIN)
        self.unwritten = None
        self.leader_name = self.holder
        self._read_at = time.monotonic()
        self.broken = None

    def _lost(self) -> None:
        self._revision = None
        self.valid_until = -1.0

    async def _read_leader(self, held: int | None = None) -> int | None:
        """Note who leads; the entry's revision if this process may write over it now (it
        names this process, or it is broken and no one's: see the module)."""
        try:
            if self._kv is None:
                self._kv = await self._nc.jetstream(timeout=self._timeout).key_value(BUCKET)
                await self._bucket_ttl()  # made since this watcher started
            entry = await self._kv.get(KEY)
        except (
            nats.js.errors.KeyNotFoundError,
            nats.js.errors.KeyDeletedError,
            nats.js.errors.BucketNotFoundError,
        ):
            self.leader_name = None
            self.broken = None
            self._read_at = time.monotonic()
            return None
        except (nats.errors.Error, TimeoutError):
            self._unread()  # the last name seen stands, for a TTL
            return None
        self._read_at = time.monotonic()
        revision = int(entry.revision)
        name = (entry.value or b"").decode(errors="replace")
        if not valid_holder(name):
            self.leader_name = None
            self.bad.count("lease")
            return self._broken_at(revision, entry.value or b"", held)
        self.leader_name = name
        self.broken = None
        return revision if self.contend and name == self.holder else None

    def _broken_at(self, revision: int, value: bytes, held: int | None) -> int | None:
        """Note a broken entry; its revision if this process may take it now."""
        now = time.monotonic()
        seen = self.broken
        if seen is None or revision not in (seen.revision, seen.revision + 1):
            self._broken_since = now  # a revision not seen may have been a valid holder's
        self.broken = self.last_broken = BrokenLease.of(revision, value)
        if not self.contend:
            return None
        if held is not None and revision == held + 1:
            return revision  # it overwrote our own entry: no one else held it since
        return revision if now - self._broken_since >= self.ttl else None

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
    """Who leads, as last seen: a valid holder's name, never a broken entry's value."""
    ttl: float
    contend: bool
    """False: never take the lease, only watch who holds it."""
    broken: BrokenLease | None
    """The entry, while it names no holder (None for a lease that cannot be broken)."""
    last_broken: BrokenLease | None
    unwritten: str | None
    """Why this process's last write of the lease failed (None: it did not)."""

    @property
    def valid_until(self) -> float:
        """time.monotonic() until which no other process can hold the lease: the loop starts
        a call to the cluster only if it ends, deadline included, before then."""
        ...

    @property
    def holder_ttl(self) -> float:
        """The TTL the holder's lease lasts, as last read: `ttl` on NATS (the bucket's, one
        for all); on a Kubernetes Lease, the holder's own leaseDurationSeconds."""
        ...

    async def renew(self) -> bool: ...

    async def release(self) -> None: ...

"""Exactly one actuator: a leader lease in a NATS key-value bucket with a TTL.

The leader writes its name under `leader` and renews it every tick, each write guarded by
the revision it last saw, so two holders can never both believe they lead. If the leader
stops renewing (it died, or lost NATS), the entry expires after `ttl` seconds and the next
contender's create succeeds. A leader that stops cleanly deletes the entry at once.
"""

from __future__ import annotations

import contextlib
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client

BUCKET = "agentdash_leader"
KEY = "leader"


class NatsLease:
    def __init__(self, nc: Client, holder: str, ttl: float = 10.0) -> None:
        self._nc = nc
        self.holder = holder
        self.ttl = ttl
        self._kv: Any = None
        self._revision: int | None = None
        self.leader_name: str | None = None
        """Who leads, as last seen (ourselves included)."""

    @property
    def leading(self) -> bool:
        return self._revision is not None

    async def start(self) -> None:
        js = self._nc.jetstream()
        self._kv = await js.create_key_value(bucket=BUCKET, ttl=self.ttl, history=1)

    async def renew(self) -> bool:
        """Take or keep the lease; True while we lead. Never raises for lost races."""
        try:
            if self._revision is None:
                self._revision = await self._kv.create(KEY, self.holder.encode())
            else:
                self._revision = await self._kv.update(
                    KEY, self.holder.encode(), last=self._revision
                )
            self.leader_name = self.holder
        except nats.js.errors.KeyWrongLastSequenceError:
            self._revision = None
            await self._read_leader()
        except (nats.errors.Error, TimeoutError):
            self._revision = None  # cannot prove we lead: act as a follower
        return self.leading

    async def _read_leader(self) -> None:
        try:
            entry = await self._kv.get(KEY)
            self.leader_name = entry.value.decode() if entry.value else None
        except (nats.js.errors.KeyNotFoundError, nats.js.errors.KeyDeletedError):
            self.leader_name = None
        except (nats.errors.Error, TimeoutError):
            pass  # keep the last name we saw

    async def release(self) -> None:
        if self._revision is not None:
            with contextlib.suppress(nats.errors.Error, TimeoutError):  # else it expires
                await self._kv.delete(KEY, last=self._revision)
            self._revision = None

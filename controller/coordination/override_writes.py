"""Writing one operator change to the shared overrides bucket, so that it lands, and lands
without undoing anyone else's (controller.coordination.shared keeps the bucket and the store in
step; this is its write path).

The bucket holds one document. A process that wrote back the whole document it held undid
whatever another process had written since it last read (two operators pinning two pools in
the same second: one pin was gone, silently), and a write that met NATS away was dropped after
its audit record had gone out (the operator's dashboard said "paused"; nothing was). So each
change is made again on the newest revision and written with compare-and-set on that
revision; a revision written in between is read and the change made on it; and NATS away is
waited out, for as long as the process runs.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import nats.errors
import nats.js.errors

from controller.coordination.audit_trail import AuditTrail
from controller.coordination.overrides import Change
from controller.coordination.overrides_document import SharedDocument, read_shared
from controller.coordination.pin_clock import as_written
from controller.core.config import ConfigError
from controller.core.events import ActionEvent

log = logging.getLogger("agentdash.shared")

KEY = "overrides"
RETRY_S = (0.2, 0.5, 1.0, 2.0)
"""Waits between tries while NATS does not answer (the last one repeats)."""
SAY_EVERY_S = 10.0
"""A write that keeps failing is said once, then at most this often."""
OWN_WRITES_KEPT = 1_000
"""This process's writes remembered, the newest: the watcher brings each back within moments
of its put, so only the last few are ever looked up."""


@dataclass
class Pending:
    """A change made here and not yet known to be in the bucket."""

    change: Change
    event: ActionEvent
    seq: int | None = None
    """Its audit record's stream sequence, once announced (the document written names it)."""
    once: str = field(default_factory=lambda: uuid.uuid4().hex)
    """The audit record's message id, with the document's digest: a try whose record landed
    but whose answer was lost announces the same document again, and JetStream keeps one."""

    def what(self) -> str:
        return f"{self.event.action} {self.event.target}"


class OwnWrites:
    """The audit records of this process's writes, with the digest of what each wrote: the
    watcher brings each write back (maybe before its put has returned the revision), and one
    found here is not told as another's action. The newest OWN_WRITES_KEPT only: kept for good,
    a leader held one more for every pin it ended, for as long as it ran."""

    def __init__(self) -> None:
        self._kept = OWN_WRITES_KEPT
        self._digests: dict[int, str] = {}
        """Audit record's sequence -> digest of the document written, oldest first."""

    def __len__(self) -> int:
        return len(self._digests)

    def announced(self, seq: int, digest: str) -> None:
        self._digests[seq] = digest
        if len(self._digests) > self._kept:
            del self._digests[next(iter(self._digests))]

    def wrote(self, document: SharedDocument) -> bool:
        """Whether this process wrote `document` (its audit record, its digest)."""
        return document.audit is not None and self._digests.get(document.audit) == (
            document.digest()
        )

    def clear(self) -> None:
        self._digests.clear()


class ChangeWriter:
    """Writes changes made here, one at a time, each on the newest revision."""

    def __init__(
        self,
        kv: Callable[[], Any],
        audit: AuditTrail,
        in_force: Callable[[], SharedDocument],
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._kv = kv
        """The bucket as now opened (it is opened again if NATS comes back without it)."""
        self._clock = clock
        """The changes' own clock (the store's): what a pin's span is left of at a write."""
        self._audit = audit
        self._in_force = in_force
        """The last valid document this process applied: what an invalid newest revision
        is taken to hold, as every process keeps it in force."""

    async def write(self, pending: Pending, announced: Callable[[int, str], None]) -> int:
        """Until it lands: the newest revision, the change made on it, its audit record, and
        the write on that revision. Returns the revision written. `announced` is told each
        audit record's sequence and digest before the write that names it."""
        tries, said_at = 0, -SAY_EVERY_S
        while True:
            tries += 1
            try:
                revision = await self._try(pending, announced)
            except nats.js.errors.KeyWrongLastSequenceError:
                continue  # written meanwhile by another: make the change on that
            except (nats.errors.Error, TimeoutError) as exc:
                if time.monotonic() - said_at >= SAY_EVERY_S:
                    said_at = time.monotonic()
                    log.warning(
                        "overrides: %s not written yet (try %d: %s); trying again",
                        pending.what(),
                        tries,
                        str(exc) or type(exc).__name__,
                    )
                await asyncio.sleep(RETRY_S[min(tries, len(RETRY_S)) - 1])
                continue
            if said_at >= 0:
                log.warning("overrides: %s written at try %d", pending.what(), tries)
            return revision

    async def _try(self, pending: Pending, announced: Callable[[int, str], None]) -> int:
        kv = self._kv()
        base, revision = await self._newest(kv)
        was = base.everything()
        document = SharedDocument.of(as_written(pending.change(was), was, self._clock()))
        document = document.model_copy(update=base.model_extra)  # a newer release's, kept
        digest = document.digest()
        seq = await self._audit.announce(pending.event, digest, once=f"{pending.once}-{digest}")
        pending.seq = seq
        announced(seq, digest)
        document.audit = seq  # the record comes first: the write names it
        return int(await kv.update(KEY, document.model_dump_json(indent=2).encode(), last=revision))

    async def _newest(self, kv: Any) -> tuple[SharedDocument, int]:
        """The document in force at the newest revision, and that revision (0: never written)."""
        try:
            entry = await kv.get(KEY)
        except nats.js.errors.KeyNotFoundError as absent:  # never written, or deleted
            return SharedDocument(), int(absent.entry.revision) if absent.entry else 0
        try:
            return read_shared(entry.value or b"", KEY), int(entry.revision)
        except ConfigError:
            return self._in_force(), int(entry.revision)

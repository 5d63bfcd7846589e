"""State several agentdash processes share through NATS JetStream.

- Operator overrides live in the key-value bucket `agentdash_overrides` (key `overrides`): a
  restart loses none, and every daemon and dashboard sees the same pins and pauses (of the
  controller, tenants and single pools: `paused_pools`, validated as pins are). Each change
  is made on the newest revision and written on that revision only (compare-and-set), and
  waits out NATS being away (controller.coordination.override_writes): two operators acting
  at once both get what they asked, and on the same pin the later write wins.
- Every operator action is appended to the stream `AGENTDASH_AUDIT` (subject
  `agentdash.audit`): who, what, when, and from where (host and process).
- The leader publishes each tick's decisions on `agentdash.decisions`
  (controller.coordination.leader_decisions), and its event history to a stream
  (controller.coordination.history_stream).

Nothing read back is trusted blindly. A KV value that is not valid (bad JSON or UTF-8,
numbers out of bounds) is dropped, counted and logged (controller.core.bad_messages); the watcher
and the process keep running, and the last valid overrides stay in force. A process that starts
reads back through the bucket's history (`HISTORY` revisions) to the newest valid one. Each
invalid revision skipped is audited as `invalid write skipped`, by `unknown writer`, with its
revision: agentdash never writes one.

How agentdash tells its own override writes from foreign ones (`nats kv put`, a script):
every agentdash write is preceded by its audit record, which carries the SHA-256 of the
document (`overrides_sha256`); the document written then names that record's stream sequence
in its `audit` field. A revision is agentdash's when the record at that sequence names that
very document. Any other revision is foreign: if valid, it is applied (operators meant it) and
logged, and an audit record `foreign write` by `unknown writer` with its KV revision is
appended, once (the record carries the message id `agentdash_overrides-<revision>`, which
JetStream de-duplicates when several processes see the write together, and a process starting
later skips it if the last audit record already names that revision). Only a writer able to
append to the audit stream can pass for agentdash: deploy/nats-accounts.conf gives that right
to agentdash alone.

Each revision another process wrote is told, as the operator action it was (its audit
record's who, what and when; `foreign write` by `unknown writer` for a foreign one), to
`on_action`: the leader logs it there, so that the daemon's log has every action, whoever
took it, once. At start, so are the revisions written since the leaders' last read (the
`logged` mark, controller.coordination.logged_mark): in `found` until `on_action` is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime
import logging
import time
from collections.abc import Callable
from typing import Any

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from controller.coordination.audit_trail import FOREIGN, SKIPPED, UNKNOWN, AuditTrail
from controller.coordination.logged_mark import read_logged, unlogged, write_logged
from controller.coordination.override_writes import ChangeWriter, OwnWrites, Pending
from controller.coordination.overrides import Change, OverrideStore
from controller.coordination.overrides_bucket import (
    BUCKET,
    KEY,
    WHERE,
    key_history,
    open_bucket,
)
from controller.coordination.overrides_document import SharedDocument, read_shared
from controller.coordination.pin_clock import ServerTimedEnds
from controller.coordination.revision_notes import RevisionNotes, Skipped
from controller.coordination.watch_keeper import consumer_gone, keep_watching
from controller.core.bad_messages import BadMessages
from controller.core.config import Config, ConfigError
from controller.core.events import ActionEvent
from controller.core.model import Overrides
from controller.core.printable import printable

log = logging.getLogger("agentdash.shared")

BUCKET_CHECKS = 30
"""Tries, a second apart, to check the bucket after a reconnection (see _follow_anew)."""
STOP_WAIT_S = 5.0
"""How long a stop waits for changes made here to be written (NATS away: they are lost,
and each is said)."""


class SharedOverrides:
    """Keeps an OverrideStore and the NATS bucket in step, both ways."""

    def __init__(
        self, nc: Client, store: OverrideStore, config: Config, *, bad: BadMessages | None = None
    ) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._audit = AuditTrail(self._js, BUCKET)
        self._store = store
        self._config = config
        self.bad = bad or BadMessages()
        self._kv: Any = None
        self._watch: asyncio.Task[None] | None = None
        self._watcher: Any = None
        self._created: Any = None  # when the bucket's stream was made: another is a new one
        self._checking: asyncio.Task[None] | None = None
        self._keeping: asyncio.Task[None] | None = None
        self._renewing = asyncio.Lock()
        """One renewal at a time (a reconnection's, the keeper's): two made one watcher each,
        and the first was never stopped."""
        self._renewals = 0
        """Renewals begun: a consumer found gone by a check that one overtook is not news."""
        self._writes: set[asyncio.Task[None]] = set()
        self._read_at_start = 0
        """The revision start() took; the watcher begins by delivering it again."""
        self.own_writes = OwnWrites()
        self._pending: list[Pending] = []
        """Changes made here not yet seen in the bucket: the store shows each revision read
        with these made on it, so that another's write read meanwhile does not undo them."""
        self._in_force = SharedDocument()
        """The last valid document applied (what a write changes where the newest is not)."""
        self._ends = ServerTimedEnds()
        """When each pin and pool pause ends: its span from when NATS stored it."""
        self._notes = RevisionNotes(config)
        """What the log said of the last revision applied that this process cannot apply."""
        self._writer = ChangeWriter(
            lambda: self._kv, self._audit, lambda: self._in_force, clock=store.clock
        )
        self._write_order = asyncio.Lock()
        """One write at a time, in the order the changes were made (the last one wins)."""
        self.seen = 0
        """The last revision of the bucket this process has read, its own writes included."""
        self.lost: list[ActionEvent] = []
        """The changes made here that a stop found not yet written (NATS away): no other
        process ever had them (the dashboard says so once its screen is gone)."""
        self.on_action: Callable[[ActionEvent, str, int], None] | None = None
        """Told of each action another process took (with where: host:pid, or `nats kv`;
        and the revision that made it)."""
        self.found: list[tuple[ActionEvent, str, int]] = []
        """The actions told before `on_action` was set: those found at start that no leader
        has logged, for whoever sets it to tell."""
        self._marked = 0
        """The `logged` mark as this process last read or wrote it."""

    async def start(self) -> None:
        await self._open()
        self._keeping = asyncio.get_running_loop().create_task(
            keep_watching(lost=self._lost, renew=self._follow_anew, what=f"overrides {BUCKET}")
        )
        self._store.listeners.append(self._changed)
        self._store.unwritten = lambda: [pending.event for pending in self._pending]

    async def _open(self) -> None:
        """The bucket and audit stream (made if absent), the newest valid revision, a watcher."""
        may_write = not self._store.read_only
        self._kv, self._created = await open_bucket(self._js, may_write=may_write)
        await self._audit.open()
        await self._take_newest_valid()
        self._watcher = await self._kv.watch(KEY, include_history=False)
        self._watch = asyncio.create_task(self._follow(self._watcher))
        self._watch.add_done_callback(_report_end)

    def reconnected(self) -> None:
        """NATS is back: check in the background that the bucket watched is still there."""
        if self._checking is None or self._checking.done():
            self._checking = asyncio.get_running_loop().create_task(self._check_bucket())

    async def _check_bucket(self) -> None:
        for _ in range(BUCKET_CHECKS):  # JetStream may answer a little after the connection
            try:
                return await self._follow_anew()
            except (nats.errors.Error, TimeoutError):
                await asyncio.sleep(1.0)
        log.warning("overrides: could not check the bucket %s after a reconnection", BUCKET)

    async def _lost(self) -> bool:
        """Whether the watcher follows nothing: its task ended, or its consumer is gone. Not
        while a reconnection's check or a renewal is under way, nor if one began meanwhile:
        that one makes the watcher again (else each NATS restart was also said to have lost
        the consumer, and the watcher made twice)."""
        renewals = self._renewals
        if self._renewing.locked() or (self._checking is not None and not self._checking.done()):
            return False
        watch_ended = self._watch is not None and self._watch.done()
        gone = watch_ended or await consumer_gone(self._watcher)
        return gone and renewals == self._renewals

    async def _follow_anew(self) -> None:
        """The bucket watched anew (after a reconnection, or a consumer found gone)."""
        async with self._renewing:
            self._renewals += 1
            await self._open_anew()

    async def _open_anew(self) -> None:
        """A bucket other than the one watched (a NATS back without its store: gone, or made
        again since) is opened, or made, again and followed from its start: the old watcher
        would see no more writes, and no operator's action would reach this process."""
        try:
            created = (await self._js.stream_info(f"KV_{BUCKET}")).created
        except nats.js.errors.NotFoundError:
            created = None
        if created is not None and created == self._created:
            return await self._watch_again()
        log.warning("overrides: the bucket %s was made again; following it anew", BUCKET)
        if self._watch is not None:
            self._watch.cancel()
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._watcher.stop()
        self._read_at_start = self.seen = 0
        self.own_writes.clear()
        held = self._store.current()
        await self._open()
        if self.seen == 0 and held != Overrides() and not self._store.read_only:
            self._store.put_back(held)  # else a standby, or a new dashboard, starts with none

    async def _watch_again(self) -> None:
        """The same bucket, after a reconnection: a new watcher from its newest revision.
        The old one's consumer went with a nats-server that restarted, and nats.py noticed
        only some 15 s later: an operator's pin made meanwhile reached no other process."""
        if self._watch is not None:
            self._watch.cancel()
        with contextlib.suppress(nats.errors.Error, TimeoutError):
            await self._watcher.stop()
        self._read_at_start = self.seen  # what was applied already is not told again
        self._watcher = await self._kv.watch(KEY, include_history=False)
        self._watch = asyncio.create_task(self._follow(self._watcher))
        self._watch.add_done_callback(_report_end)

    async def _take_newest_valid(self) -> None:
        """At start: apply the newest revision that is valid; audit those above it."""
        entries = await key_history(self._kv)
        if not entries:
            return  # the first action makes it
        self._read_at_start = self.seen = entries[-1].revision
        await self._tell_unlogged(entries)
        self._ends.learn(entries)
        skipped: list[Skipped] = []
        in_force = "no overrides"
        for entry in reversed(entries):
            if entry.operation in ("DEL", "PURGE") or not entry.value:
                break  # nothing was in force from there
            document = self._parse(entry.value, entry.revision)
            if isinstance(document, str):
                skipped.append(Skipped(revision=entry.revision, why=document))
                continue
            await self._apply(document, entry.revision, entry.created, starting=True)
            in_force = f"revision {entry.revision} ({document.summary()})"
            break
        else:
            if skipped:
                in_force = f"none valid in the {len(entries)} revisions kept: no overrides"
        if skipped:
            await self._skipped_at_start(skipped, in_force)

    async def _tell_unlogged(self, entries: list[Any]) -> None:
        """The actions of the revisions above the leaders' `logged` mark: written while no
        leader ran, or after the last one's last read. Each is told, as if read now."""
        marked = await read_logged(self._kv)
        # A leader marks a revision it read: one past the newest is none of theirs (written
        # by hand, it would hide every action taken while no leader ran).
        self._marked = marked if marked <= entries[-1].revision else 0
        for found in await unlogged(entries, self._marked, self._audit, WHERE):
            self._tell(*found)

    def logged_through(self, revision: int) -> None:
        """As the leader with nothing left unlogged: the mark raised to `revision`."""
        if revision > self._marked and not self._store.read_only and self._kv is not None:
            self._marked = revision
            self._spawn(self._mark(revision))

    async def _mark(self, revision: int) -> None:
        if not await write_logged(self._kv, revision):
            self._marked = min(self._marked, revision - 1)  # written again at the next tick

    async def _skipped_at_start(self, skipped: list[Skipped], in_force: str) -> None:
        detail = self._notes.skipped_at_start(skipped, in_force)
        newest = skipped[0].revision
        if not self._store.read_only and not await self._audit.names(newest):
            event = ActionEvent(time.time(), UNKNOWN, SKIPPED, WHERE, detail[:2000])
            self._spawn(self._audit.foreign(event, newest))

    async def _follow(self, watcher: Any) -> None:
        async for entry in watcher:
            if entry is None or not entry.value or entry.revision <= self._read_at_start:
                continue
            document = self._parse(entry.value, entry.revision)
            if isinstance(document, str):
                self._skip(entry.revision, document)
            else:
                await self._apply(document, entry.revision, entry.created)
            self.seen = max(self.seen, entry.revision)

    def _parse(self, value: bytes, revision: int) -> SharedDocument | str:
        """The document a revision holds; or why it is none (dropped and counted)."""
        try:
            return read_shared(value, f"nats kv {WHERE} revision {revision}")
        except ConfigError as exc:  # a bad write elsewhere never takes us down
            self.bad.drop("overrides", str(exc))
            why = f"{exc.path}: {exc.message}" if exc.path else exc.message
            return printable(why[:300])

    def _skip(self, revision: int, why: str) -> None:
        """An invalid revision while running: the last valid overrides stay; audited."""
        if not self._store.read_only:
            detail = f"not valid ({why}); the last valid overrides stay in force"
            event = ActionEvent(time.time(), UNKNOWN, SKIPPED, WHERE, detail[:2000])
            self._spawn(self._audit.foreign(event, revision))

    async def _apply(
        self,
        document: SharedDocument,
        revision: int,
        stored_at: datetime.datetime | None,
        *,
        starting: bool = False,
    ) -> None:
        """Apply a valid revision of the bucket (stored by the server at `stored_at`); tell
        it, and audit it if foreign."""
        self._in_force = document
        self._ends.see(document.everything(), stored_at)
        self._notes.unknown(document, revision)
        self._store.named_elsewhere(document.everything())
        if self.own_writes.wrote(document):
            # This process's own write, back: that change is in the bucket now; the changes
            # made here since are shown on top of it until they are too.
            self._pending = [p for p in self._pending if p.seq != document.audit]
            self._store.replace(self._with_pending(document))
            return
        record = await self._audit.announcement(document)
        self._store.replace(self._with_pending(document))
        ignored = self._notes.ignored(document, revision)
        if record is None:
            await self._foreign(document, revision, ignored, starting=starting)
        elif not starting:
            self._tell(record.event(), record.origin, revision)

    async def _foreign(
        self, document: SharedDocument, revision: int, ignored: str, *, starting: bool
    ) -> None:
        """A revision applied that agentdash did not write: logged, told, and audited once
        (`ignored`: what it names that this config lacks)."""
        log.warning(
            "overrides revision %d was not written by agentdash; applied: %s",
            revision,
            document.summary(),
        )
        detail = f"applied: {document.summary()}"
        if ignored:
            detail += f"; ignored: {ignored}"
        event = ActionEvent(time.time(), UNKNOWN, FOREIGN, WHERE, printable(detail[:2000]))
        if not starting:
            self._tell(event, "nats kv", revision)
        if self._store.read_only:
            return  # it writes nothing, not even the audit: a process that may write will
        if not (starting and await self._audit.names(revision)):
            self._spawn(self._audit.foreign(event, revision))

    def _tell(self, event: ActionEvent, origin: str, revision: int) -> None:
        if self.on_action is not None:
            self.on_action(event, origin, revision)
        else:
            self.found.append((event, origin, revision))

    def _with_pending(self, document: SharedDocument) -> Overrides:
        overrides = self._ends.timed(document.overrides(self._config))
        for pending in self._pending:
            overrides = pending.change(overrides)
        return overrides

    def _changed(self, overrides: Overrides, event: ActionEvent, change: Change) -> None:
        pending = Pending(change, event)
        self._pending.append(pending)
        self._spawn(self._publish(pending))

    def _spawn(self, work: Any) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _publish(self, pending: Pending) -> None:
        async with self._write_order:  # in the order the changes were made
            await self._writer.write(pending, self.own_writes.announced)
        if pending in self._pending:
            self._pending.remove(pending)

    async def flush(self) -> None:
        """Wait until every change made here is in NATS."""
        if self._writes:
            await asyncio.gather(*self._writes)

    async def stop(self) -> None:
        if self._writes:
            _, unwritten = await asyncio.wait(set(self._writes), timeout=STOP_WAIT_S)
            for write in unwritten:
                write.cancel()
            self.lost = [pending.event for pending in self._pending]
            for pending in self._pending:
                log.error("overrides: %s was not written to NATS before the stop", pending.what())
        for task in (self._keeping, self._watch, self._checking):
            if task is not None:
                task.cancel()


def _report_end(task: asyncio.Task[None]) -> None:
    """The watcher ends only when stopped; if anything else ends it, say so."""
    if not task.cancelled() and task.exception() is not None:
        log.error("overrides watcher stopped: %r", task.exception())

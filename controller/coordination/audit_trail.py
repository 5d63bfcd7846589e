"""The audit trail of operator actions: the stream `AGENTDASH_AUDIT` (subject
`agentdash.audit`), one record an action (who, what, when, from where).

It is also how agentdash proves an overrides write its own (controller.coordination.shared):
each write is announced first by a record carrying the SHA-256 of the document, and the
document names that record's stream sequence. Only a writer allowed to append to this stream
can pass for agentdash; deploy/nats-accounts.conf gives that right to agentdash alone. Writes
no record announced are audited as foreign, once each (a message id per KV revision, which
JetStream de-duplicates when several processes see the same write).
"""

from __future__ import annotations

import json
import logging
import os
import socket
from typing import Annotated, Any

import nats.errors
import nats.js.errors
from nats.js.api import DiscardPolicy
from nats.js.client import JetStreamContext
from pydantic import Field

from controller.coordination.overrides_document import OverridesDocument
from controller.coordination.wire import NAME_CHARS, Detail, _Wire
from controller.core.events import ActionEvent

log = logging.getLogger("agentdash.shared")

AUDIT_STREAM = "AGENTDASH_AUDIT"
AUDIT_SUBJECT = "agentdash.audit"
AUDIT_MAX_BYTES = 256 * 1024 * 1024
AUDIT_MAX_AGE_S = 90 * 86400.0
"""The audit keeps the newest 90 days, or 256 MiB: a stream nothing bounds can fill a disk."""
FOREIGN = "foreign write"
"""The audit action recorded for a valid override write agentdash did not make (applied)."""
SKIPPED = "invalid write skipped"
"""The audit action recorded for a revision that is not valid overrides (never applied)."""
UNKNOWN = "unknown writer"
"""Who the audit names for a write agentdash did not make: NATS tells no one who wrote it."""


def whereabouts() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class AuditWire(_Wire):
    """An audit record agentdash wrote for its own override write (the action it was)."""

    ts: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    who: Annotated[str, Field(max_length=NAME_CHARS)]
    action: Annotated[str, Field(min_length=1, max_length=100)]
    target: Annotated[str, Field(max_length=NAME_CHARS)]
    detail: Detail = ""
    origin: Annotated[str, Field(max_length=NAME_CHARS)] = Field("", alias="from")
    overrides_sha256: Annotated[str, Field(max_length=64)]

    def event(self) -> ActionEvent:
        return ActionEvent(self.ts, self.who, self.action, self.target, self.detail)


async def audit(js: JetStreamContext, record: dict[str, Any], *, once: str) -> None:
    """Append `record` to the audit stream, with where it was written from, once: JetStream
    keeps one of the records with the message id `once` (several processes may see the same
    write or report). Never raises: a record that cannot be written is logged."""
    record = {**record, "from": whereabouts()}
    try:
        await appended(js, json.dumps(record).encode(), once=once)
    except (nats.errors.Error, TimeoutError) as exc:
        log.warning("could not audit %s %s: %s", record.get("action"), record.get("target"), exc)


async def appended(js: JetStreamContext, data: bytes, *, once: str) -> int:
    """Append a record; its stream sequence. A record no stream takes finds the stream gone
    while NATS kept the rest (deleted by a cleanup, `nats stream rm`): it is made again and
    the record appended to it, else no operator's action could be written again."""
    try:
        ack = await js.publish(AUDIT_SUBJECT, data, headers={"Nats-Msg-Id": once})
    except nats.js.errors.NoStreamResponseError:
        await made(js)
        ack = await js.publish(AUDIT_SUBJECT, data, headers={"Nats-Msg-Id": once})
    return int(ack.seq)


async def made(js: JetStreamContext) -> None:
    """The stream, made if absent."""
    try:
        await js.stream_info(AUDIT_STREAM)
    except nats.js.errors.NotFoundError:
        await js.add_stream(
            name=AUDIT_STREAM,
            subjects=[AUDIT_SUBJECT],
            max_bytes=AUDIT_MAX_BYTES,
            max_age=AUDIT_MAX_AGE_S,
            discard=DiscardPolicy.OLD,
        )


class AuditTrail:
    """The audit stream as the overrides' keeper uses it: announcing this process's writes,
    and telling agentdash's writes from foreign ones."""

    def __init__(self, js: JetStreamContext, bucket: str) -> None:
        self._js = js
        self._bucket = bucket
        """The overrides' bucket, whose revisions the foreign records name."""

    async def open(self) -> None:
        """The stream, made if absent."""
        await made(self._js)

    async def announce(self, event: ActionEvent, digest: str, *, once: str) -> int:
        """The record of an action of this process's, ahead of the write it makes; its
        stream sequence, which the document written names. `once` is its message id: the
        same record sent again (its answer was lost) is kept once, and says its sequence."""
        record = {**event.as_dict(), "from": whereabouts(), "overrides_sha256": digest}
        return await appended(self._js, json.dumps(record).encode(), once=once)

    async def announcement(self, document: OverridesDocument) -> AuditWire | None:
        """The audit record the document names, if it announced this very document."""
        if document.audit is None:
            return None
        try:
            record = await self._js.get_msg(AUDIT_STREAM, document.audit)
            said = AuditWire.model_validate_json(record.data or b"")
        except (nats.errors.Error, TimeoutError, ValueError):
            return None  # no such record, or it cannot be read now: not proven ours
        if record.subject != AUDIT_SUBJECT or said.overrides_sha256 != document.digest():
            return None
        return said

    async def names(self, revision: int) -> bool:
        """Whether the last audit record already names this foreign revision."""
        try:
            record = await self._js.get_last_msg(AUDIT_STREAM, AUDIT_SUBJECT)
            said = json.loads(record.data or b"")
        except (nats.errors.Error, TimeoutError, ValueError, RecursionError):
            return False
        return isinstance(said, dict) and said.get("revision") == revision

    async def foreign(self, event: ActionEvent, revision: int) -> None:
        """The record of a revision agentdash did not write (applied, or skipped), once."""
        record = {**event.as_dict(), "revision": revision}
        await audit(self._js, record, once=f"{self._bucket}-{revision}")

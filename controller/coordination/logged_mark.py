"""How far the leaders have logged the operator actions read from the shared overrides: the
key `logged` beside `overrides` in their bucket, `{"v": 1, "revision": N}`, the newest
revision of the overrides that a leader had read with every action up to it logged.

A leader's decisions messages say what it has read, but only to the processes listening
then. A process that starts finds in the bucket's history what was written before it ran
and cannot tell from them alone which a leader logged: it told none, and a pin taken on a
dashboard while no daemon ran (or after the last leader's last tick) was in no daemon's
log, though the leader then pinned the pool and later said the pin expired. With the mark,
the revisions above it are told as actions read now (agentdash.others_actions keeps them
until the leader says it has read them, and logs them if it comes to lead first); those at
or below it are not told again. A bucket without the key (no leader ever ran, or only a
release before this one) has every revision kept told: a line twice, never none.

The mark is only ever raised, by the leader, after a tick (and at its stop) that left
nothing unlogged: a value that is not a mark is read as none.
"""

from __future__ import annotations

import json
import time
from typing import Any

import nats.errors
import nats.js.errors

from controller.coordination.audit_trail import FOREIGN, UNKNOWN, AuditTrail
from controller.coordination.overrides_document import read_shared
from controller.core.config import ConfigError
from controller.core.events import ActionEvent
from controller.core.printable import printable

LOGGED_KEY = "logged"


async def read_logged(kv: Any) -> int:
    """The revision the leaders have logged up to; 0 when none says (or what is there is
    not a mark: agentdash writes none such, and nothing unlogged is hidden by reading 0)."""
    try:
        entry = await kv.get(LOGGED_KEY)
        said = json.loads(entry.value or b"")
    except (nats.js.errors.KeyNotFoundError, ValueError, RecursionError):  # or nested too deep
        return 0
    if not isinstance(said, dict) or said.get("v") != 1:
        return 0
    revision = said.get("revision")
    if not isinstance(revision, int) or isinstance(revision, bool):
        return 0
    return max(revision, 0)


async def write_logged(kv: Any, revision: int) -> bool:
    """Raise the mark to `revision`; whether it was written (NATS away: the next tick's)."""
    try:
        await kv.put(LOGGED_KEY, json.dumps({"v": 1, "revision": revision}).encode())
    except (nats.errors.Error, TimeoutError):
        return False
    return True


async def unlogged(
    entries: list[Any], marked: int, audit: AuditTrail, where: str
) -> list[tuple[ActionEvent, str, int]]:
    """The action each revision above `marked` was (`entries`: the key's history, oldest
    first), where it came from, and its revision: as its audit record says, or a foreign
    write. An invalid revision was no operator's action (it was audited as skipped)."""
    found = []
    for entry in entries:
        if entry.revision <= marked or not entry.value:
            continue  # logged, or a delete
        try:
            document = read_shared(entry.value, f"nats kv {where} revision {entry.revision}")
        except ConfigError:
            continue
        record = await audit.announcement(document)
        if record is not None:
            found.append((record.event(), record.origin, entry.revision))
            continue
        detail = printable(f"applied: {document.summary()}"[:2000])
        event = ActionEvent(time.time(), UNKNOWN, FOREIGN, where, detail)
        found.append((event, "nats kv", entry.revision))
    return found

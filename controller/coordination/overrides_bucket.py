"""The NATS bucket that holds the shared overrides: opening it and reading its key's history.

controller.coordination.shared keeps a process's OverrideStore and this bucket in step; this
module only knows the bucket's shape and how to read it whole.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import nats.js.errors
from nats.js import JetStreamContext

BUCKET = "agentdash_overrides"
KEY = "overrides"
WHERE = f"{BUCKET}/{KEY}"
HISTORY = 64
"""Revisions the bucket keeps (JetStream's most): a start reads back past up to 63 invalid
ones to the newest valid."""
MAX_VALUE_BYTES = 1024 * 1024
"""One overrides document: thousands of pins and pauses with their authors and notes."""
BUCKET_BYTES = HISTORY * MAX_VALUE_BYTES
HISTORY_READS = 5
"""Reads of the key's history at start before it is taken as it came (see key_history)."""


async def open_bucket(js: JetStreamContext, *, may_write: bool) -> tuple[Any, Any]:
    """The bucket and when its stream was made (another time is another bucket).

    Made if absent, with `HISTORY` revisions; one made with fewer (by an older agentdash) is
    given more, by a process that may write."""
    try:
        kv = await js.create_key_value(
            bucket=BUCKET,
            history=HISTORY,
            max_value_size=MAX_VALUE_BYTES,
            max_bytes=BUCKET_BYTES,
        )
    except nats.js.errors.BadRequestError:  # it exists with other settings
        kv = await js.key_value(BUCKET)
    info = await js.stream_info(f"KV_{BUCKET}")
    kept = info.config.max_msgs_per_subject or 0
    if may_write and 0 < kept < HISTORY:
        await js.update_stream(replace(info.config, max_msgs_per_subject=HISTORY))
    return kv, info.created


async def key_history(kv: Any) -> list[Any]:
    """The key's revisions, oldest first, up to the newest one the server holds.

    nats.py's history() can come back short or empty on a loaded machine: its watcher asks
    how many revisions are pending while the server is already delivering them, and may hear
    "none" before the first arrives. A start that believed it would run with no pins and no
    pauses, so the newest revision, read directly, says when a read is whole.
    """
    entries: list[Any] = []
    for _ in range(HISTORY_READS):
        newest = await newest_revision(kv)
        if newest == 0:
            return []
        try:
            entries = await kv.history(KEY)
        except nats.js.errors.NoKeysError:
            entries = []
        if entries and entries[-1].revision >= newest:
            return entries
    return entries


async def newest_revision(kv: Any) -> int:
    """The key's newest revision (a delete's included); 0 if it never had one."""
    try:
        return int((await kv.get(KEY)).revision)
    except nats.js.errors.KeyNotFoundError as absent:
        return int(absent.entry.revision) if absent.entry is not None else 0

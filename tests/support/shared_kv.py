"""The shared overrides bucket on a real NATS: a fleet, the bucket, and its audit records."""

from __future__ import annotations

import json
from typing import Any

from nats.aio.client import Client

from controller.coordination.audit_trail import AUDIT_STREAM
from controller.coordination.overrides import OverrideStore
from controller.coordination.overrides_bucket import (
    BUCKET,
    BUCKET_BYTES,
    HISTORY,
    MAX_VALUE_BYTES,
)
from controller.coordination.shared import SharedOverrides
from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from tests.support.factories import config, pool

CFG = config({"research": pool("acme"), "coder": pool("globex")})


async def bucket(nc: Client) -> Any:
    """The bucket as agentdash makes it (made here first, or found as it made it)."""
    return await nc.jetstream().create_key_value(
        bucket=BUCKET,
        history=HISTORY,
        max_value_size=MAX_VALUE_BYTES,
        max_bytes=BUCKET_BYTES,
    )


async def audit_records(nc: Client) -> list[dict[str, Any]]:
    js = nc.jetstream()
    last = (await js.stream_info(AUDIT_STREAM)).state.last_seq
    return [json.loads((await js.get_msg(AUDIT_STREAM, seq)).data or b"")
            for seq in range(1, last + 1)]  # fmt: skip


async def join(
    nc: Client, made: list[SharedOverrides], who: str = "alice", fleet: Config = CFG
) -> SharedOverrides:
    """SharedOverrides as another agentdash process would have it, acting as `who`; added to
    `made` (the `shared` fixture stops them)."""
    one = SharedOverrides(nc, OverrideStore(fleet, who=lambda: who), fleet, bad=BadMessages())
    await one.start()
    made.append(one)
    return one

"""State several agentdash processes share through NATS JetStream.

- Operator overrides live in the key-value bucket `agentdash_overrides` (key `overrides`): a
  restart loses none, and every daemon and dashboard sees the same pins and pauses. The last
  write wins for the whole document; operator actions are rare and human-paced.
- Every operator action is appended to the stream `AGENTDASH_AUDIT` (subject
  `agentdash.audit`): who, what, when, and from where (host and process).
- The leader publishes each tick's decisions on `agentdash.decisions`, so dashboards that
  only observe show what the leader decided, not their own guess.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
from collections.abc import Callable
from typing import Any

import nats.js.errors
from nats.aio.client import Client
from nats.aio.msg import Msg

from controller.config import Config, ConfigError
from controller.events import ActionEvent
from controller.model import Overrides, Reason, ScaleDecision
from controller.overrides import OverrideStore, dump_overrides, load_overrides

BUCKET = "agentdash_overrides"
KEY = "overrides"
AUDIT_STREAM = "AGENTDASH_AUDIT"
AUDIT_SUBJECT = "agentdash.audit"
DECISIONS_SUBJECT = "agentdash.decisions"


def whereabouts() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


class SharedOverrides:
    """Keeps an OverrideStore and the NATS bucket in step, both ways."""

    def __init__(self, nc: Client, store: OverrideStore, config: Config) -> None:
        self._nc = nc
        self._js = nc.jetstream()
        self._store = store
        self._config = config
        self._kv: Any = None
        self._watch: asyncio.Task[None] | None = None
        self._writes: set[asyncio.Task[None]] = set()
        self._written: set[int] = set()
        self.rejected: list[str] = []

    async def start(self) -> None:
        self._kv = await self._js.create_key_value(bucket=BUCKET, history=10)
        try:
            await self._js.stream_info(AUDIT_STREAM)
        except nats.js.errors.NotFoundError:
            await self._js.add_stream(name=AUDIT_STREAM, subjects=[AUDIT_SUBJECT])
        try:
            entry = await self._kv.get(KEY)
            if entry.value:
                self._store.replace(self._parse(entry.value))
        except nats.js.errors.KeyNotFoundError:
            await self._kv.put(KEY, dump_overrides(self._store.current()).encode())
        self._store.listeners.append(self._changed)
        watcher = await self._kv.watch(KEY, include_history=False)
        self._watch = asyncio.create_task(self._follow(watcher))

    def _parse(self, value: bytes) -> Overrides:
        return load_overrides(value, self._config, f"nats kv {BUCKET}/{KEY}")

    async def _follow(self, watcher: Any) -> None:
        async for entry in watcher:
            if entry is None or not entry.value or entry.revision in self._written:
                continue
            try:
                self._store.replace(self._parse(entry.value))
            except ConfigError as exc:
                self.rejected.append(str(exc))  # a bad write elsewhere never takes us down

    def _changed(self, overrides: Overrides, event: ActionEvent) -> None:
        task = asyncio.get_running_loop().create_task(self._publish(overrides, event))
        self._writes.add(task)
        task.add_done_callback(self._writes.discard)

    async def _publish(self, overrides: Overrides, event: ActionEvent) -> None:
        revision = await self._kv.put(KEY, dump_overrides(overrides).encode())
        self._written.add(revision)
        audit = {**event.as_dict(), "from": whereabouts()}
        await self._js.publish(AUDIT_SUBJECT, json.dumps(audit).encode())

    async def flush(self) -> None:
        """Wait until every change made here is in NATS."""
        if self._writes:
            await asyncio.gather(*self._writes)

    async def stop(self) -> None:
        await self.flush()
        if self._watch is not None:
            self._watch.cancel()


def decisions_message(leader: str, ts: float, decisions: list[ScaleDecision]) -> bytes:
    return json.dumps(
        {"leader": leader, "ts": ts,
         "decisions": [{**d.as_dict(), "recommendation": d.recommendation, "held": d.held}
                       for d in decisions]}
    ).encode()  # fmt: skip


def parse_decisions(data: bytes) -> tuple[str, list[ScaleDecision]]:
    raw = json.loads(data)
    decisions = []
    for d in raw["decisions"]:
        observed = d["current"] is not None
        reasons = tuple(Reason(r["rule"], r["detail"]) for r in d["reasons"])
        decisions.append(
            ScaleDecision(d["pool"], d["tenant"], d["current"] or 0, d["desired"] or 0, reasons,
                          d.get("recommendation", 0), d.get("held", False), observed)
        )  # fmt: skip
    return str(raw["leader"]), decisions


async def follow_decisions(
    nc: Client, on_decisions: Callable[[str, list[ScaleDecision]], None]
) -> Any:
    async def handle(msg: Msg) -> None:
        try:
            leader, decisions = parse_decisions(msg.data)
        except (ValueError, KeyError, TypeError):
            return
        on_decisions(leader, decisions)

    return await nc.subscribe(DECISIONS_SUBJECT, cb=handle)

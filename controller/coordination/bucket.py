"""What every handover shares: a NATS KV bucket the leader writes and a successor reads
(controller.coordination.handover: the time rules' history; spend_handover: the budget
forecast's learners; usage_handover: the tokens counted today).

`BucketKeeper` holds the bucket and the rules all three follow: a read or a write never waits
more than `timeout` and never raises for NATS; nothing is written before the bucket has been
read once (a process that has not merged it would overwrite what it holds with less); a
failing save is told once, and its end once; a bucket found gone (a NATS restarted without its
store) is made again, and everything is written to it anew. A restore reads each value by the
rules of controller.coordination.history_docs (`load`) and says in a line each what it refused
and what it took without fields a newer release added (`tell`); the values refused are counted
(`agentdash_bad_messages_total{source="handover"}`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, ClassVar, TypeVar

import nats.errors
import nats.js.errors
from nats.aio.client import Client

from controller.coordination.history_docs import BadValue, DatedDoc, load_doc
from controller.core.bad_messages import BadMessages

log = logging.getLogger("agentdash.handover")

STREAM_NOT_FOUND = 10059
"""JetStream's error code for a stream that does not exist."""
NATS_TROUBLE = (nats.errors.Error, TimeoutError, OSError)
"""What a read or a write of the bucket may fail with, none of it a reason to stop."""
SAID = 3
"""How many refused values a restore's warning names."""
READ_TOGETHER = 64
"""How many values a read of a bucket asks for at once."""

Doc = TypeVar("Doc", bound=DatedDoc)


async def open_bucket(
    nc: Client, bucket: str, ttl: float, *, max_value: int, max_bytes: int
) -> Any:
    """A leader's handover bucket, one value a key that lives `ttl`, each value at most
    `max_value` bytes and the whole at most `max_bytes` (a bucket nothing bounds can fill a
    disk): made if absent; used as it is if it was made elsewhere with other settings."""
    js = nc.jetstream()
    try:
        return await js.create_key_value(
            bucket=bucket, history=1, ttl=ttl, max_value_size=max_value, max_bytes=max_bytes
        )
    except nats.js.errors.BadRequestError:
        return await js.key_value(bucket)


async def made_again(error: BaseException, start: Callable[[], Awaitable[None]]) -> bool:
    """Whether `error` says the bucket is gone (a write no stream took, a read of a stream not
    found: a NATS restarted without its store); if so it is made again by `start`. Left gone,
    nothing would be handed over again until the process restarts."""
    gone = isinstance(error, nats.js.errors.NoStreamResponseError) or (
        isinstance(error, nats.js.errors.NotFoundError) and error.err_code == STREAM_NOT_FOUND
    )
    if gone:
        with contextlib.suppress(*NATS_TROUBLE):  # the next try's
            await start()
    return gone


async def read_values(kv: Any, keys: dict[str, str]) -> dict[str, bytes]:
    """Each name's value in the bucket `kv` under its key (`keys`: name -> key), where it has
    one. Asked READ_TOGETHER at a time: one after the other, a NATS 10 ms away took 3 s for
    300 tenants, past a restore's or a follower's timeout, and none was read."""
    turns = asyncio.Semaphore(READ_TOGETHER)

    async def value(key: str) -> bytes | None:
        async with turns:
            try:
                entry = await kv.get(key)
            except nats.js.errors.KeyNotFoundError:
                return None
        return entry.value  # type: ignore[no-any-return]

    names = list(keys)
    found = await asyncio.gather(*(value(keys[name]) for name in names))
    return {name: raw for name, raw in zip(names, found, strict=True) if raw is not None}


class BucketKeeper:
    """One handover's bucket, and the bookkeeping of its reads and writes. A subclass names
    what it hands over (`WHAT`, for the log) and its bucket, and forgets what it wrote
    (`forget_written`) when the bucket is made again."""

    WHAT: ClassVar[str]
    BUCKET: ClassVar[str]
    TTL_S: ClassVar[float]
    MAX_BYTES: ClassVar[int]
    BUCKET_BYTES: ClassVar[int]

    def __init__(self, nc: Client, *, timeout: float, bad: BadMessages | None = None) -> None:
        self._nc = nc
        self.timeout = timeout
        """The most a save or a restore waits for NATS: a slow bucket never stalls the loop."""
        self._kv: Any = None
        self._restored = False
        """Whether the bucket was read: what was not merged with it must not overwrite it."""
        self._failing = False
        self.writes = 0
        """KV writes made, for benchmarks and tests."""
        self.bad = bad or BadMessages()
        """Counts the values in the bucket a restore refused (malformed, out of bounds, future
        times)."""
        self._refused: list[str] = []
        self._unknown: list[str] = []
        """What the restore under way refused (`key: why`), and took without fields it does
        not know (`key (fields)`): `tell` says them."""

    async def start(self) -> None:
        self._kv = await open_bucket(
            self._nc,
            self.BUCKET,
            self.TTL_S,
            max_value=self.MAX_BYTES,
            max_bytes=self.BUCKET_BYTES,
        )

    def forget_written(self) -> None:
        """The bucket was made again: it holds none of what was written."""

    async def fetched(self, read: Awaitable[dict[str, bytes]]) -> dict[str, bytes] | None:
        """What `read` found in the bucket, or None if NATS failed it (said, and the bucket
        made again if it is gone)."""
        try:
            values = await asyncio.wait_for(read, self.timeout)
        except NATS_TROUBLE as exc:
            self._restored = False
            why = failure_words(exc, self.timeout)
            log.warning("%s not restored from %s: %s", self.WHAT, self.BUCKET, why)
            await made_again(exc, self.start)
            return None
        self._restored = True
        return values

    def load(self, model: type[Doc], key: str, raw: bytes, now: float) -> Doc | None:
        """The value of `key`, checked (None: refused, kept to `tell`). One with fields this
        release does not know is taken without them, and they are kept to `tell` too."""
        try:
            doc = load_doc(model, raw, now, self.MAX_BYTES)
        except BadValue as exc:
            self._refused.append(f"{key}: {exc}")
            return None
        unknown = doc.unknown()
        if unknown:
            self._unknown.append(f"{key} ({', '.join(unknown)})")
        return doc

    def tell(self) -> None:
        """Say what this restore's `load`s refused and what they took without fields it does
        not know: a line each, naming the first SAID (the ones that matter most loaded
        first). Refused values are counted (`bad`); only the first named, a removed pool's leftover
        key hid a forged value for a pool that is configured."""
        refused, unknown = self._refused, self._unknown
        self._refused, self._unknown = [], []
        if refused:
            self.bad.count("handover", len(refused))
            log.warning(
                "%s: ignored %d value(s) in %s: %s",
                self.WHAT,
                len(refused),
                self.BUCKET,
                _named(refused),
            )
        if unknown:  # a newer release wrote them: said, as what it adds is not handed over
            log.info(
                "%s: %d value(s) in %s have fields this agentdash does not know, written by a "
                "newer agentdash: taken without them: %s",
                self.WHAT,
                len(unknown),
                self.BUCKET,
                _named(unknown),
            )

    async def may_save(self, restore: Callable[[], Awaitable[object]]) -> bool:
        """Whether a save may write now: NATS is connected and the bucket has been read
        (`restore` reads it first if it has not)."""
        if not self._nc.is_connected:
            return False  # nothing to reach: the next save writes whatever changed meanwhile
        if not self._restored:
            await restore()
        return self._restored

    async def stored(self, write: Awaitable[None]) -> bool:
        """Whether `write` landed within the timeout; a failure is said once, and its end."""
        try:
            await asyncio.wait_for(write, self.timeout)
        except NATS_TROUBLE as exc:
            if not self._failing:
                why = failure_words(exc, self.timeout)
                log.warning("%s not saved to %s: %s", self.WHAT, self.BUCKET, why)
            self._failing = True
            if await made_again(exc, self.start):
                self.forget_written()  # a new bucket holds none of it
            return False
        if self._failing:
            log.info("%s saved to %s again", self.WHAT, self.BUCKET)
        self._failing = False
        return True


def failure_words(exc: BaseException, timeout: float) -> str:
    """What a read or a write of the bucket met, in words: a timeout's own text is empty
    (asyncio's) or says nothing of how long was waited (nats.py's)."""
    if isinstance(exc, TimeoutError):
        return f"no answer within {timeout:g} s"
    return str(exc) or type(exc).__name__


def _named(said: list[str]) -> str:
    """The first SAID of `said`, and how many more."""
    more = len(said) - SAID
    return "; ".join(said[:SAID]) + (f"; and {more} more" if more > 0 else "")

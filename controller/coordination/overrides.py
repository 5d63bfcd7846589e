"""What operators say to the controller: pins, paused pools and tenants, pause, dry-run.

Every change is an `ActionEvent` (who, what, when) and is written to a JSON file at once
(controller.coordination.overrides_document), so a restart of agentdash loses none of it.
Processes share them through NATS KV (controller.coordination.shared).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple

from controller.coordination.overrides_document import (  # also read from here by the tests
    MAX_PIN_REPLICAS as MAX_PIN_REPLICAS,
)
from controller.coordination.overrides_document import (
    SharedDocument,
    dump_overrides,
    read_overrides,
)
from controller.coordination.overrides_document import (
    load_overrides as load_overrides,
)
from controller.coordination.pin_clock import same
from controller.core.config import Config
from controller.core.events import ActionEvent
from controller.core.input_files import read_text
from controller.core.model import Overrides, Pin, PoolPause
from controller.core.wording import plural, span_words

EXPIRY = "agentdash"
"""Who ends a pin or a pause whose time is up, or drops one of a name the config lacks."""
ORPHAN_GRACE_S = 600.0
"""How long the shared overrides may name a pool or tenant this config lacks before the leader
drops it: long enough for a rollout of a newer config, whose dashboards may pin its new pools
before the leader runs it (the pin is kept meanwhile), and short of leaving it for good."""


class Orphan(NamedTuple):
    """What the shared overrides say of a name this config lacks: the action that set it
    ("pin", "pause pool" or "pause tenant") and the name (a pool's, or a tenant's)."""

    action: str
    name: str


class Orphaned(NamedTuple):
    """An orphan's override: what it says, and since when (this clock) it has said it."""

    value: object
    since: float


Change = Callable[[Overrides], Overrides]
"""What an action does, to whatever overrides are in force: a process that shares them makes
the same change again on a revision another process wrote meanwhile, rather than writing back
the whole document it held, which would undo that other process's action."""


def operator() -> str:
    """Who acts, for the audit: the account this process runs as, as `id -un` names it (a
    service or a container may leave $USER unset, and $USER can say anything); the
    environment's name only where the uid has no account (a container's arbitrary uid)."""
    uid = os.getuid()
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return os.environ.get("USER") or os.environ.get("LOGNAME") or f"uid {uid}"


class ReadOnlyError(Exception):
    """An override change asked of a read-only process (`--read-only`): refused."""


class OverrideStore:
    def __init__(
        self,
        config: Config,
        path: Path | None = None,
        *,
        clock: Callable[[], float] = time.time,
        who: Callable[[], str] = operator,
        read_only: bool = False,
    ) -> None:
        self._config = config
        self.read_only = read_only
        """Refuse every change (a --read-only dashboard): enforced here, not in the screen."""
        self._path = path
        self._clock = clock
        self._who = who
        self._current = Overrides()
        self.dropped: list[str] = []
        """What the file said of names the config does not have, dropped as it was read."""
        self.unwritten: Callable[[], list[ActionEvent]] = list
        """The changes made here not yet shared with the other processes (the NATS sync
        says: NATS is away), oldest first: the dashboard flags them."""
        self._orphans: dict[Orphan, Orphaned] = {}
        """Overrides the shared document holds of names this config lacks: what each says,
        and since when (this clock) it has said it, for `expire` to drop."""
        self.listeners: list[Callable[[Overrides, ActionEvent, Change], None]] = []
        """Told of every operator change: the overrides it made, the action, and the change
        itself (the NATS sync makes it again on what another process wrote meanwhile)."""
        if path is not None and path.exists():
            self._current = self._load(path)

    def current(self) -> Overrides:
        return self._current

    @property
    def clock(self) -> Callable[[], float]:
        """The clock its changes are dated by."""
        return self._clock

    def replace(self, overrides: Overrides) -> None:
        """Take what another process decided (no listener is told: it came from them)."""
        self._current = overrides
        if self._path is not None:
            self._save(self._path)

    def named_elsewhere(self, everything: Overrides) -> None:
        """What the shared document says, whatever the config (controller.coordination.shared
        tells each revision it applies): its overrides of names this config lacks are dated
        from when each was first seen as it is, for `expire` to drop ORPHAN_GRACE_S on."""
        now, was = self._clock(), self._orphans
        said = _orphans_of(everything, self._config)
        self._orphans = {
            key: Orphaned(
                value=value, since=was[key].since if key in was and was[key].value == value else now
            )
            for key, value in said.items()
        }

    def pin(self, pool: str, replicas: int, for_seconds: float | None = None) -> ActionEvent:
        self._known("pool", pool, self._config.pools)
        now = self._clock()
        until = now + for_seconds if for_seconds else None
        pin = Pin(replicas=replicas, until=until, by=self._who(), at=now)
        span = f" for {span_words(for_seconds)}" if for_seconds else ""
        detail = f"{plural(replicas, 'replica')}{span}"

        def change(was: Overrides) -> Overrides:
            return replace(was, pins={**was.pins, pool: pin})

        return self._apply(change, "pin", pool, detail)

    def unpin(self, pool: str) -> ActionEvent:
        def change(was: Overrides) -> Overrides:
            return replace(was, pins={p: pin for p, pin in was.pins.items() if p != pool})

        return self._apply(change, "unpin", pool)

    def pause_pool(self, pool: str, replicas: int | None, span: float | None) -> ActionEvent:
        """Hold `pool`'s replicas where they are (`replicas` None) or at `replicas`, for
        `span` seconds (None: until resumed), whatever its queue says."""
        self._known("pool", pool, self._config.pools)
        now = self._clock()
        until = now + span if span else None
        pause = PoolPause(replicas, until, self._who(), now)
        what = "hold replicas" if replicas is None else f"set to {replicas}"
        detail = what + (f" for {span_words(span)}" if span else "")

        def change(was: Overrides) -> Overrides:
            return replace(was, paused_pools={**was.paused_pools, pool: pause})

        return self._apply(change, "pause pool", pool, detail)

    def resume_pool(self, pool: str) -> ActionEvent:
        def change(was: Overrides) -> Overrides:
            pools = {p: x for p, x in was.paused_pools.items() if p != pool}
            return replace(was, paused_pools=pools)

        return self._apply(change, "resume pool", pool)

    def expire(self, now: float) -> list[ActionEvent]:
        """End the pins and pool pauses whose time is up, each with its own event (logged and
        audited as an operator's action is, by "agentdash": nobody acted). Each change ends
        only a pin or pause that is over at `now`: made again on a newer revision (see
        controller.coordination.shared), it leaves alone one set again meanwhile."""
        current = self._current
        events = []
        for pool, pin in current.pins.items():
            if not pin.active(now):
                detail = f"{plural(pin.replicas, 'replica')}, pinned by {pin.by or 'unknown'}"
                change = _pin_over(pool, pin, now)
                events.append(self._apply(change, "pin expired", pool, detail, who=EXPIRY))
        for pool, pause in current.paused_pools.items():
            if not pause.active(now):
                detail = f"paused by {pause.by or 'unknown'}"
                change = _pause_over(pool, pause, now)
                events.append(self._apply(change, "pause expired", pool, detail, who=EXPIRY))
        return events + self._drop_orphans(now)

    def _drop_orphans(self, now: float) -> list[ActionEvent]:
        """Drop from the shared document the overrides of names this config lacks that it
        has said, unchanged, for ORPHAN_GRACE_S; each once, with its own event."""
        events = []
        for key, orphaned in list(self._orphans.items()):
            if now - orphaned.since < ORPHAN_GRACE_S:
                continue
            del self._orphans[key]
            value = orphaned.value
            action, name = key.action, key.name
            kind = "tenant" if action == "pause tenant" else "pool"
            detail = f"{_said(action, value)}; no {kind} {name} in the config"
            dropped = f"{'pause' if action == 'pause pool' else action} dropped"
            events.append(self._apply(_orphan_over(key, value), dropped, name, detail, EXPIRY))
        return events

    def pause_tenant(self, tenant: str, paused: bool = True) -> ActionEvent:
        self._known("tenant", tenant, self._config.tenants)

        def change(was: Overrides) -> Overrides:
            tenants = set(was.paused_tenants)
            (tenants.add if paused else tenants.discard)(tenant)
            return replace(was, paused_tenants=frozenset(tenants))

        action = "pause tenant" if paused else "resume tenant"
        return self._apply(change, action, tenant)

    def pause_controller(self, paused: bool = True) -> ActionEvent:
        action = "pause controller" if paused else "resume controller"
        return self._apply(lambda was: replace(was, paused=paused), action, "controller")

    def set_dry_run(self, on: bool) -> ActionEvent:
        action = "dry-run on" if on else "dry-run off"
        return self._apply(lambda was: replace(was, dry_run=on), action, "controller")

    def put_back(self, held: Overrides) -> ActionEvent:
        """What this process holds, written again to a bucket NATS made anew (its store lost)
        unless another process has written there first."""
        detail = f"NATS lost its store: {SharedDocument.of(held).summary()}"
        change: Change = lambda was: held if was == Overrides() else was  # noqa: E731
        return self._apply(change, "put back", "overrides", detail)

    def _apply(
        self, change: Change, action: str, target: str, detail: str = "", who: str | None = None
    ) -> ActionEvent:
        if self.read_only:
            raise ReadOnlyError(f"read-only: {action} {target} refused (started with --read-only)")
        new = change(self._current)
        self._current = new
        if self._path is not None:
            self._save(self._path)
        event = ActionEvent(self._clock(), who or self._who(), action, target, detail)
        for listener in self.listeners:
            listener(new, event, change)
        return event

    def _known(self, kind: str, name: str, known: Mapping[str, object]) -> None:
        if name not in known:
            raise KeyError(f"no {kind} named {name!r}")

    def _save(self, path: Path) -> None:
        """Atomically: a crash never leaves half a file. The new text goes to a file of its
        own beside it first (a fixed `overrides.tmp` would clobber a file of that name, and
        `--overrides x.tmp` would have been written in place)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, name = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as file:
                file.write(dump_overrides(self._current) + "\n")
            os.replace(name, path)
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(name)
            raise

    def _load(self, path: Path) -> Overrides:
        # within the limits of every input file: at most 4 MiB of UTF-8, not read whole first
        text = read_text(path, "JSON")
        if not text.strip():  # made with `touch` to keep them in, as no file is: none yet
            return Overrides()
        document = read_overrides(text, str(path))
        self.dropped = document.dropped(self._config)
        return document.overrides(self._config)


def _pin_over(pool: str, ended: Pin, now: float) -> Change:
    """End the pin that ended (its end read on the server's clock, controller.coordination
    .pin_clock, where the document says another), or one over by `now`; not one set since."""

    def change(was: Overrides) -> Overrides:
        pin = was.pins.get(pool)
        if pin is None or (pin.active(now) and not same(pin, ended)):
            return was
        return replace(was, pins={p: x for p, x in was.pins.items() if p != pool})

    return change


def _pause_over(pool: str, ended: PoolPause, now: float) -> Change:
    def change(was: Overrides) -> Overrides:
        pause = was.paused_pools.get(pool)
        if pause is None or (pause.active(now) and not same(pause, ended)):
            return was
        return replace(was, paused_pools={p: x for p, x in was.paused_pools.items() if p != pool})

    return change


def _orphans_of(everything: Overrides, config: Config) -> dict[Orphan, object]:
    found: dict[Orphan, object] = {}
    pools, tenants = config.pools, config.tenants
    found.update(
        (Orphan(action="pin", name=p), x) for p, x in everything.pins.items() if p not in pools
    )
    found.update(
        (Orphan(action="pause pool", name=p), x)
        for p, x in everything.paused_pools.items()
        if p not in pools
    )
    found.update(
        (Orphan(action="pause tenant", name=t), True)
        for t in everything.paused_tenants
        if t not in tenants
    )
    return found


def _said(action: str, value: object) -> str:
    if isinstance(value, Pin):
        return f"{plural(value.replicas, 'replica')}, pinned by {value.by or 'unknown'}"
    if isinstance(value, PoolPause):
        return f"paused by {value.by or 'unknown'}"
    return "paused"


def _orphan_over(key: Orphan, value: object) -> Change:
    """Drop that very override: one set again since (a newer config's dashboard) stays."""
    action, name = key.action, key.name

    def change(was: Overrides) -> Overrides:
        if action == "pin" and was.pins.get(name) == value:
            return replace(was, pins={p: x for p, x in was.pins.items() if p != name})
        if action == "pause pool" and was.paused_pools.get(name) == value:
            pools = {p: x for p, x in was.paused_pools.items() if p != name}
            return replace(was, paused_pools=pools)
        if action == "pause tenant" and name in was.paused_tenants:
            return replace(was, paused_tenants=was.paused_tenants - {name})
        return was

    return change

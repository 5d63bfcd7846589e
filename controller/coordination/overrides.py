"""What operators say to the controller: pins, paused pools and tenants, pause, dry-run.

Every change is an `ActionEvent` (who, what, when) and is written to a JSON file at once, so
a restart of agentdash loses none of it. Processes share them through NATS KV
(controller.coordination.shared).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import pwd
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controller.core.config import Config, ConfigError, first_error
from controller.core.config_errors import InvalidField, shown
from controller.core.events import ActionEvent
from controller.core.input_files import DuplicateKey, read_text, unique_keys
from controller.core.model import Overrides, Pin, PoolPause
from controller.core.wording import plural, span_words

MAX_PIN_REPLICAS = 100_000
BY_CHARS = 253
LAST_SECOND = 1e11
"""In the year 5138, as `plan --observations` bounds its times: a pin or a pause that ends
past what a reason can print (1e308, from a file or from anyone who may write the KV bucket)
stopped every controller that read it, when it said until when it held."""
Epoch = Annotated[float, Field(ge=0, le=LAST_SECOND, allow_inf_nan=False)]
"""A time, in seconds since 1970 (UTC)."""
Replicas = Annotated[int, Field(ge=0, le=MAX_PIN_REPLICAS)]
Operator = Annotated[str, Field(max_length=BY_CHARS)]
STRICT = ConfigDict(extra="forbid", strict=True)
"""As every other input file: `"3"` is not 3 replicas, nor 1 `true` (a paused controller)."""
EXPIRY = "agentdash"
"""Who ends a pin or a pause whose time is up."""
Change = Callable[[Overrides], Overrides]
"""What an action does, to whatever overrides are in force: a process that shares them makes
the same change again on a revision another process wrote meanwhile, rather than writing back
the whole document it held, which would undo that other process's action."""


class _PinFile(BaseModel):
    model_config = STRICT
    replicas: Replicas
    until: Epoch | None = None
    by: Operator | None = None
    at: Epoch | None = None


class _PoolPauseFile(BaseModel):
    model_config = STRICT
    replicas: Replicas | None = None
    until: Epoch | None = None
    by: Operator | None = None
    at: Epoch | None = None


class OverridesDocument(BaseModel):
    """Overrides as JSON (the file, and the NATS KV value of controller.coordination.shared)."""

    model_config = STRICT
    pins: dict[str, _PinFile] = {}
    paused_tenants: list[str] = []
    paused: bool = False
    dry_run: bool = False
    paused_pools: dict[str, _PoolPauseFile] = {}
    audit: Annotated[int, Field(ge=0)] | None = None
    """In NATS KV: the sequence of the audit record that announced this document (see
    controller.coordination.shared). Absent from files."""

    @classmethod
    def of(cls, overrides: Overrides) -> Self:
        return cls(
            pins={
                p: _PinFile(replicas=x.replicas, until=x.until, by=x.by, at=x.at)
                for p, x in overrides.pins.items()
            },
            paused_tenants=sorted(overrides.paused_tenants),
            paused=overrides.paused,
            dry_run=overrides.dry_run,
            paused_pools={
                p: _PoolPauseFile(replicas=x.replicas, until=x.until, by=x.by, at=x.at)
                for p, x in overrides.paused_pools.items()
            },
        )

    def overrides(self, config: Config) -> Overrides:
        """What it says about the config's pools and tenants; other names are dropped."""
        pins = {
            p: Pin(replicas=x.replicas, until=x.until, by=x.by, at=x.at)
            for p, x in self.pins.items()
            if p in config.pools
        }
        paused = frozenset(t for t in self.paused_tenants if t in config.tenants)
        pools = {
            p: PoolPause(x.replicas, x.until, x.by, x.at)
            for p, x in self.paused_pools.items()
            if p in config.pools
        }
        return Overrides(pins, paused, self.paused, self.dry_run, pools)

    def everything(self) -> Overrides:
        """All it says, whatever config: what a write changes, so that it keeps the pins and
        pauses of names only another process's (newer) config has."""
        pins = {p: Pin(x.replicas, x.until, x.by, x.at) for p, x in self.pins.items()}
        pools = {
            p: PoolPause(x.replicas, x.until, x.by, x.at) for p, x in self.paused_pools.items()
        }
        tenants = frozenset(self.paused_tenants)
        return Overrides(pins, tenants, self.paused, self.dry_run, pools)

    def dropped(self, config: Config) -> list[str]:
        """What it says about names the config does not have (`overrides` drops them):
        `pin nope`, `pause tenant nobody`."""
        said = [f"pin {pool}" for pool in sorted(self.pins) if pool not in config.pools]
        said += [f"pause tenant {t}" for t in self.paused_tenants if t not in config.tenants]
        said += [f"pause pool {p}" for p in sorted(self.paused_pools) if p not in config.pools]
        return said

    def summary(self) -> str:
        """In a line: `pin research=3, pause tenant acme, dry-run`, or `no overrides`."""
        parts = [f"pin {pool}={pin.replicas}" for pool, pin in sorted(self.pins.items())]
        parts += [f"pause tenant {tenant}" for tenant in self.paused_tenants]
        parts += [
            f"pause pool {pool}" + ("" if pause.replicas is None else f"={pause.replicas}")
            for pool, pause in sorted(self.paused_pools.items())
        ]
        parts += ["pause controller"] * self.paused + ["dry-run"] * self.dry_run
        return (", ".join(parts) or "no overrides")[:500]

    def digest(self) -> str:
        """What the audit record of a write names: the document, whatever its audit field."""
        return hashlib.sha256(self.model_dump_json(exclude={"audit"}).encode()).hexdigest()


class SharedDocument(OverridesDocument):
    """The overrides as NATS KV holds them, which releases share through a rolling upgrade or
    a rollback. A field a newer release adds at the top of the document is kept aside
    (`model_extra`), not refused: this release acts on the fields it knows, and writes the
    others back as they were (override_writes), so that its writes undo none of the newer
    release's actions. Refused, every revision a newer release wrote was skipped here, and
    the next write made here put back the last one it could read. Fields inside a pin or a
    pause stay strict: a release adds its fields at the top, after the others (the digest
    an audit record names reads them in that order)."""

    model_config = ConfigDict(extra="allow", strict=True)

    @model_validator(mode="after")
    def _by_agentdash(self) -> SharedDocument:
        """Fields it does not know are taken only in a document an agentdash wrote (it names
        its audit record). One written by hand (`nats kv put`) is held to the fields, as a
        file is: a typo is refused, not dropped; and a JetStream answer stored there (a
        worker's reply-subject trick) is no document at all, never "no overrides"."""
        unknown = sorted(self.model_extra or {})
        if unknown and self.audit is None:
            raise InvalidField(unknown[0], "unknown key")
        return self

    def unknown(self) -> str:
        """The fields it has that this release does not know, in a line (empty: none)."""
        return ", ".join(sorted(self.model_extra or {}))


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
        self.listeners: list[Callable[[Overrides, ActionEvent, Change], None]] = []
        """Told of every operator change: the overrides it made, the action, and the change
        itself (the NATS sync makes it again on what another process wrote meanwhile)."""
        if path is not None and path.exists():
            self._current = self._load(path)

    def current(self) -> Overrides:
        return self._current

    def replace(self, overrides: Overrides) -> None:
        """Take what another process decided (no listener is told: it came from them)."""
        self._current = overrides
        if self._path is not None:
            self._save(self._path)

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
                detail = f"{pin.replicas} replicas, pinned by {pin.by or 'unknown'}"
                events.append(
                    self._apply(_pin_over(pool, now), "pin expired", pool, detail, who=EXPIRY)
                )
        for pool, pause in current.paused_pools.items():
            if not pause.active(now):
                detail = f"paused by {pause.by or 'unknown'}"
                change = _pause_over(pool, now)
                events.append(self._apply(change, "pause expired", pool, detail, who=EXPIRY))
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
        document = read_overrides(read_text(path, "JSON"), str(path))
        self.dropped = document.dropped(self._config)
        return document.overrides(self._config)


def _pin_over(pool: str, now: float) -> Change:
    def change(was: Overrides) -> Overrides:
        pin = was.pins.get(pool)
        if pin is None or pin.active(now):
            return was
        return replace(was, pins={p: x for p, x in was.pins.items() if p != pool})

    return change


def _pause_over(pool: str, now: float) -> Change:
    def change(was: Overrides) -> Overrides:
        pause = was.paused_pools.get(pool)
        if pause is None or pause.active(now):
            return was
        return replace(was, paused_pools={p: x for p, x in was.paused_pools.items() if p != pool})

    return change


def dump_overrides(overrides: Overrides) -> str:
    return OverridesDocument.of(overrides).model_dump_json(indent=2, exclude={"audit"})


def read_overrides(text: str | bytes, source: str) -> OverridesDocument:
    """Parse overrides JSON, whatever the bytes: anything wrong is a ConfigError."""
    return _validated(OverridesDocument, _json(text, source), source)


def read_shared(text: str | bytes, source: str) -> SharedDocument:
    """The same for the value in NATS KV, which may carry a newer release's fields."""
    return _validated(SharedDocument, _json(text, source), source)


def _json(text: str | bytes, source: str) -> object:
    try:
        return json.loads(text, parse_constant=_no_constant, object_pairs_hook=unique_keys)
    except UnicodeDecodeError:
        raise ConfigError(source, "", "expected UTF-8 text") from None
    except json.JSONDecodeError as exc:
        where = f"line {exc.lineno} column {exc.colno}"
        raise ConfigError(source, where, f"expected valid JSON: {exc.msg}") from None
    except DuplicateKey as exc:
        message = f"expected each key once in an object, got {shown(exc.key)} twice"
        raise ConfigError(source, "", message) from None
    except ValueError as exc:  # Infinity or NaN; an integer of thousands of digits
        raise ConfigError(source, "", f"expected valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(source, "", "expected valid JSON: nested too deeply") from None


Document = TypeVar("Document", bound=OverridesDocument)


def _validated(model: type[Document], raw: object, source: str) -> Document:
    try:
        return model.model_validate(raw)
    except ValidationError as exc:
        field, message = first_error(exc)
        raise ConfigError(source, field, message) from None


def load_overrides(text: str | bytes, config: Config, source: str) -> Overrides:
    """Parse overrides JSON; names the config no longer has are dropped, not fatal."""
    return read_overrides(text, source).overrides(config)


def _no_constant(name: str) -> float:
    raise ValueError(f"{name} is not a JSON number")

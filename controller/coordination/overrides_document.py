"""Overrides as JSON: the file that keeps them (`--overrides`, the state directory's) and the
value in NATS KV (controller.coordination.shared), read within the limits of every input file.
Anything wrong in one is a ConfigError naming the field.
"""

from __future__ import annotations

import hashlib
import json
from typing import Annotated, Self, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from controller.core.config import Config, ConfigError, first_error
from controller.core.config_errors import InvalidField, shown
from controller.core.input_files import DuplicateKey, unique_keys
from controller.core.model import Overrides, Pin, PoolPause

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

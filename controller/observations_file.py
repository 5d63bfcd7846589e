"""The observations file that `agentdash plan` reads: one tick's inputs to the policy, as JSON.

```json
{"pools": {"acme-research": {"pending": 40, "ack_pending": 5, "replicas": 2, "ready": 2}},
 "tenants": {"acme": {"tokens_today": 1200000}},
 "pins": {"acme-research": 3},
 "paused_tenants": ["globex"]}
```

Optional: `"now"` (epoch seconds), per pool `arrival_rate`, `mean_task_seconds` and `stale`, pins
as `{"replicas": 3, "until": t, "by": "alice"}`, and `"history"` per pool
(`recommendations: [[t, n]]`, `steps: [[t, delta]]`, `busy_at: t`), which turns on the time rules.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from controller.config import Config, ConfigError, first_error
from controller.history import History
from controller.model import Observations, Overrides, Pin, PoolObservation

NonNeg = Annotated[int, Field(ge=0)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Pool(_Model):
    pending: NonNeg
    ack_pending: NonNeg = 0
    replicas: NonNeg
    ready: NonNeg = 0
    arrival_rate: Annotated[float, Field(ge=0)] | None = None
    mean_task_seconds: Annotated[float, Field(ge=0)] | None = None
    stale: str | None = None


class _Tenant(_Model):
    tokens_today: NonNeg


class _Pin(_Model):
    replicas: NonNeg
    until: float | None = None
    by: str | None = None


class _PoolHistory(_Model):
    recommendations: list[tuple[float, NonNeg]] = []
    steps: list[tuple[float, int]] = []
    busy_at: float | None = None


class _File(_Model):
    now: float = 0.0
    pools: dict[str, _Pool]
    tenants: dict[str, _Tenant] = {}
    pins: dict[str, NonNeg | _Pin] = {}
    paused_tenants: list[str] = []
    history: dict[str, _PoolHistory] | None = None


@dataclass(frozen=True, slots=True)
class PlanInput:
    observations: Observations
    overrides: Overrides
    history: History | None
    now: float


def parse_observations(data: Any, config: Config, source: str = "<observations>") -> PlanInput:
    if not isinstance(data, dict):
        raise ConfigError(source, "", "expected a JSON object at the top level")
    try:
        raw = _File.model_validate(data)
    except ValidationError as exc:
        path, message = first_error(exc)
        raise ConfigError(source, path, message) from None
    _check_names(source, "pools", raw.pools, config.pools)
    _check_names(source, "pins", raw.pins, config.pools)
    _check_names(source, "tenants", raw.tenants, config.tenants)
    _check_names(source, "history", raw.history or {}, config.pools)
    for i, tenant in enumerate(raw.paused_tenants):
        if tenant not in config.tenants:
            _unknown(source, f"paused_tenants.{i}", tenant, config.tenants)

    pins = {
        pool: Pin(pin) if isinstance(pin, int) else Pin(pin.replicas, pin.until, pin.by)
        for pool, pin in raw.pins.items()
    }
    history = None
    if raw.history is not None:
        history = History(config)
        for name, past in raw.history.items():
            entry = history.pool(name, raw.now)
            entry.busy_at = past.busy_at
            for t, value in sorted(past.recommendations):
                entry.recommend(t, value)
            for t, delta in sorted(past.steps):
                entry.step(t, delta)
    observations = Observations(
        pools={name: PoolObservation(**p.model_dump()) for name, p in raw.pools.items()},
        tokens_today={name: t.tokens_today for name, t in raw.tenants.items()},
    )
    overrides = Overrides(pins=pins, paused_tenants=frozenset(raw.paused_tenants))
    return PlanInput(observations, overrides, history, raw.now)


def _check_names(source: str, section: str, given: dict[str, Any], known: dict[str, Any]) -> None:
    for name in given:
        if name not in known:
            _unknown(source, f"{section}.{name}", name, known)


def _unknown(source: str, path: str, name: str, known: dict[str, Any]) -> None:
    names = ", ".join(known)
    raise ConfigError(source, path, f"expected a name from the config ({names}), got {name!r}")


def load_observations(path: Path | str, config: Config) -> PlanInput:
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(source, "", f"cannot read file: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            source, f"line {exc.lineno} column {exc.colno}", f"expected valid JSON: {exc.msg}"
        ) from None
    return parse_observations(data, config, source)

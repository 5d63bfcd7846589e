"""The observations file that `agentdash plan` reads: one tick's inputs to the policy, as JSON.

```json
{"pools": {"acme-research": {"pending": 40, "ack_pending": 5, "replicas": 2, "ready": 2}},
 "tenants": {"acme": {"tokens_today": 1200000}},
 "pins": {"acme-research": 3},
 "paused_tenants": ["globex"]}
```

Optional: `"now"` (epoch seconds), per pool `arrival_rate`, `mean_task_seconds` and `stale`, pins
as `{"replicas": 3, "until": t, "by": "alice"}`, and `"history"` per pool
(`recommendations: [[t, n]]`, `steps: [[t, delta]]`, `busy_at: t`), what the time rules
read; without it, the plan is a controller's that has just started, with no history.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
    ValidationError,
    model_validator,
)

from controller.core.accounting import MAX_RATE
from controller.core.budget_price import MAX_TASK_SECONDS
from controller.core.config import Config
from controller.core.config_errors import ConfigError, first_error, key, listed, shown
from controller.core.config_types import MAX_PODS, Count, Replicas
from controller.core.history import History
from controller.core.input_files import load_json, read_text
from controller.core.model import Observations, Overrides, Pin, PoolObservation

# Counts are strict integers (`true` is no count) within MAX_COUNT; times are finite epoch
# seconds before the year 5000. A rate or a task time is bounded where the engine bounds it:
# one it would ignore as no measurement is refused here rather than planned without a word.
# A stale note is the reason's first words: an empty one would leave it starting with a colon.
Time = Annotated[float, Strict(), Field(ge=0, le=1e11, allow_inf_nan=False)]
Note = Annotated[str, Strict(), StringConstraints(max_length=200)]
Stale = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=200)]
Rate = Annotated[float, Strict(), Field(ge=0, le=MAX_RATE, allow_inf_nan=False)]
TaskSeconds = Annotated[float, Strict(), Field(ge=0, le=MAX_TASK_SECONDS, allow_inf_nan=False)]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class _Pool(_Model):
    pending: Count
    ack_pending: Count = 0
    replicas: Replicas
    ready: Replicas = 0
    arrival_rate: Rate | None = None
    mean_task_seconds: TaskSeconds | None = None
    stale: Stale | None = None

    @model_validator(mode="after")
    def _ready_of_replicas(self) -> _Pool:
        if self.ready > self.replicas:
            said = f"expected ready <= replicas ({self.replicas}), got ready {self.ready}"
            raise ValueError(said)
        return self


class _Tenant(_Model):
    tokens_today: Count


class _Pin(_Model):
    replicas: Replicas
    until: Time | None = None
    by: Note | None = None

    @model_validator(mode="before")
    @classmethod
    def _plain(cls, data: Any) -> Any:
        """`"pool": 3` is short for `{"replicas": 3}`."""
        return data if isinstance(data, dict) else {"replicas": data}


class _PoolHistory(_Model):
    recommendations: list[tuple[Time, Replicas]] = []
    steps: list[tuple[Time, Annotated[int, Strict(), Field(ge=-MAX_PODS, le=MAX_PODS)]]] = []
    busy_at: Time | None = None

    def after(self, now: float) -> tuple[str, float] | None:
        """The first entry later than `now` (its path and time): a history is of the past."""
        for section, entries in (("recommendations", self.recommendations), ("steps", self.steps)):
            for i, (t, _) in enumerate(entries):
                if t > now:
                    return f"{section}.{i}", t
        if self.busy_at is not None and self.busy_at > now:
            return "busy_at", self.busy_at
        return None


class _File(_Model):
    now: Time = 0.0
    pools: dict[str, _Pool]
    tenants: dict[str, _Tenant] = {}
    pins: dict[str, _Pin] = {}
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
    # Names first: a pool the config does not have is the mistake to name, not the fields
    # its reading lacks.
    for section, known in (
        ("pools", config.pools),
        ("pins", config.pools),
        ("tenants", config.tenants),
        ("history", config.pools),
    ):
        given = data.get(section)
        if isinstance(given, dict):
            _check_names(source, section, given, known)
    try:
        raw = _File.model_validate(data)
    except ValidationError as exc:
        path, message = first_error(exc, model=_File)
        raise ConfigError(source, path, message) from None
    for name, past in (raw.history or {}).items():
        later = past.after(raw.now)
        if later is not None:
            where, t = later
            said = f"expected a time at or before now ({raw.now:g}), got {t:g}"
            raise ConfigError(source, f"history.{key(name)}.{where}", said)
    for i, tenant in enumerate(raw.paused_tenants):
        if tenant not in config.tenants:
            _unknown(source, f"paused_tenants.{i}", tenant, config.tenants)

    pins = {pool: Pin(pin.replicas, pin.until, pin.by) for pool, pin in raw.pins.items()}
    # Without "history", a controller that has just started: its time rules apply (the
    # rate limits a first scale-up meets, a pool's cooldown), where planning with none
    # gave decisions no running controller makes.
    history = History(config)
    if raw.history is not None:
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
            _unknown(source, f"{section}.{key(name)}", name, known)


def _unknown(source: str, path: str, name: str, known: dict[str, Any]) -> None:
    names = listed(known, name)
    raise ConfigError(source, path, f"expected a name from the config ({names}), got {shown(name)}")


def load_observations(path: Path | str, config: Config) -> PlanInput:
    source = str(path)
    return parse_observations(load_json(read_text(path, "JSON"), source), config, source)

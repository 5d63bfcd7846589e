"""What the budget's pace reads of a tenant's spend (controller.core.spend): the forecast to
its reset as of one instant, and its tokens a task.

The engine reads every budgeted tenant once a minute (PACE_READ_S), but only a tenant past
warn_at is paced, and a forecast is the dearest figure the engine works out (a line through
two hours of minute buckets, then the hours to the reset). So a read keeps a copy of the spend
as it stood (`Forecaster.snapshot`: a few hundred numbers) and forecasts from that copy the
first time `forecast` is asked for: the forecast the read would have made, worked out only for
the tenants whose pace reads it.
"""

from __future__ import annotations

from typing import Final, NamedTuple, Protocol

from controller.core.burn import Burn

PACE_READ_S: Final = 60.0
"""The pace reads each tenant's forecast once a minute (`TenantSpend.read`): at the engine's
first step in each minute of the clock. A forecast runs to the reset, hours ahead, and moves
little in a minute; the tenant's tokens, which it weighs against, are read at every step."""


class Forecast(NamedTuple):
    """More tokens by the reset, at the tenant's own pace, unpaced; what it is read from."""

    tokens: float
    rate: float
    """Tokens a second now, as forecast."""
    days: int
    """The fewest days of the hour-of-day profile behind an hour it read (0: none read)."""
    scale: float
    """How today compares with the profile so far (1: as usual)."""
    burn: Burn | None
    """The recent burn rate, where it stood in for hours the profile does not know."""
    short: bool
    """Whether the burn rate stood in for hours beyond its reach (`Burn.seen` from now),
    which the forecast leaves out."""


class Forecaster(Protocol):
    def forecast(self, now: float) -> Forecast | None: ...


class SpendRead:
    """A tenant's spend as the pace reads it (`TenantSpend.read`)."""

    def __init__(
        self,
        source: Forecaster | None,
        *,
        per_task: float | None,
        at: float,
        forecast: Forecast | None = None,
    ) -> None:
        self._source = source
        """A copy of the spend as it stood at `at`, until its forecast is worked out."""
        self._forecast = forecast
        self.per_task = per_task
        """Its tokens a task, from its reports (None: under MIN_TASKS seen): as of its last
        sample, read as it moves (the budget's landing prices the tasks in flight by it)."""
        self.at = at

    @property
    def forecast(self) -> Forecast | None:
        """More tokens by the reset, as of `at` (None: no forecast yet)."""
        if self._source is not None:
            self._forecast = self._source.forecast(self.at)
            self._source = None
        return self._forecast

    def priced(self, per_task: float | None) -> SpendRead:
        """The same read, with the tokens a task of a later sample."""
        return SpendRead(self._source, per_task=per_task, at=self.at, forecast=self._forecast)

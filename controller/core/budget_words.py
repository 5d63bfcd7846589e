"""The words of the budget's reasons (controller.core.budget): what a tenant has used and
what its forecast was read from, and the templates the reasons fill in."""

from __future__ import annotations

from controller.core.burn import MIN_BUCKETS
from controller.core.model import Observations
from controller.core.spend_read import Forecast


def forecast_source(forecast: Forecast) -> str:
    """What the forecast was read from, for the reasons."""
    burn = forecast.burn
    said = []
    if forecast.days:
        scale = f", today x{forecast.scale:.2f}" if abs(forecast.scale - 1) >= 0.005 else ""
        said.append(f"its hours over {forecast.days} day{'s' * (forecast.days > 1)}{scale}")
    if burn is not None:
        seen = span(burn.seen)
        said.append(f"its last {seen}")
        if burn.slope < 0:
            fall, error = burn.slope * -(3600**2), burn.error * 3600**2
            said[-1] += f", falling {round(fall):,} ± {round(error):,} an hour each hour"
        if forecast.short:
            said[-1] += f", read {seen} ahead"
    return f"{round(forecast.rate * 3600):,} tokens an hour now: " + ", then ".join(said)


def span(seconds: float) -> str:
    minutes = round(seconds / 60)
    return f"{minutes} min" if minutes < 100 else f"{round(seconds / 360) / 10:g} h"


def stale_note(observations: Observations, tenant: str) -> str:
    """What the reasons add where the tenant's tokens are only the last known."""
    stale = observations.stale_tokens.get(tenant)
    return f" (last known; {stale})" if stale else ""


def waiting_note(lag: int, tokens: float) -> str:
    return f" + {lag} waiting (~{round(tokens):,})" if lag and tokens else ""


EXHAUSTED_WORDS = (
    "tenant {} used {:,} of {:,} tokens today{} (hard cap): 0 replicas, lag {} stays queued"
)
SPENT_WORDS = (
    "tenant {} used {:,} of {:,} tokens today{} (soft cap): down to its floor {}, lag {} stays "
    "queued until the budget resets"
)
UNKNOWN_WORDS = (
    "tenant {} used {:,} of {:,} tokens today{} (warn at {:.0%}), no forecast yet (it reads "
    f"a profile of these hours, or the trend of {MIN_BUCKETS} minutes of spend): no growth "
    "beyond {}, {} -> {}"
)
UNPRICED_WORDS = (
    "no price of its tasks yet (its tokens a task, or a replica-second today) to value the "
    "tasks waiting: no growth beyond {}, {} -> {}"
)
FITS_WORDS = (
    "tenant {} used {:,} of {:,} tokens today{}: forecast {:,} more by {} ({}){}, {:,} left: "
    "not paced"
)
PACE_WORDS = (
    "tenant {} used {:,} of {:,} tokens today{}: forecast {:,} more by {} ({}){}, {:,} left, "
    "{:.0%} of it: pays for {:,} tokens an hour now{}, {} replicas here (budget pace), {} -> {}"
)
LANDING_WORDS = (
    "{:,} tokens left{} pay for {} replicas here, at {:,} tokens each for {} rounds of its "
    "tasks (budget landing): {} -> {}"
)

"""The bounded types every agentdash.yaml field is made of, and the model they are read by.

Every number is strict (`true` is no count, "10" no number), finite and bounded: a bound far
above any real fleet, but low enough that no arithmetic on it overflows or runs long.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    Strict,
    StringConstraints,
)

from controller.core import names

MAX_PODS = 100_000
MAX_COUNT = 10**15
"""Tokens, lag, requests: counts that are large but not astronomically so."""
DAY = 86_400.0

Replicas = Annotated[int, Strict(), Field(ge=0, le=MAX_PODS)]
PosReplicas = Annotated[int, Strict(), Field(gt=0, le=MAX_PODS)]
Count = Annotated[int, Strict(), Field(ge=0, le=MAX_COUNT)]
PosCount = Annotated[int, Strict(), Field(gt=0, le=MAX_COUNT)]
Seconds = Annotated[float, Strict(), Field(ge=0, le=DAY, allow_inf_nan=False)]
PosSeconds = Annotated[float, Strict(), Field(gt=0, le=DAY, allow_inf_nan=False)]
Rate = Annotated[float, Strict(), Field(ge=0, le=MAX_COUNT, allow_inf_nan=False)]
LagTarget = Annotated[float, Strict(), Field(ge=1e-6, le=MAX_COUNT, allow_inf_nan=False)]
"""Tasks waiting a replica: a millionth at least (the HPA's AverageValue takes milli- and
micro-units). Far smaller, a lag over it asks for more replicas than a float counts (1e-310:
infinity)."""
Fraction = Annotated[float, Strict(), Field(gt=0, le=1, allow_inf_nan=False)]
Flag = Annotated[bool, Strict()]
Text = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=10_000)]
FilePath = Annotated[str, Strict(), StringConstraints(min_length=1, max_length=4096)]

PoolName = Annotated[str, Strict(), AfterValidator(names.pool)]
NatsName = Annotated[str, Strict(), AfterValidator(names.nats_name)]


class StrictModel(BaseModel):
    """Unknown fields are errors (a typo is never ignored); a parsed config never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

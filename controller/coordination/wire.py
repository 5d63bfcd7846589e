"""What crosses a process boundary on NATS is validated against these: the audit records
(controller.coordination.shared), the leader's decisions (controller.coordination.leader_decisions)
and the event history (controller.coordination.history_stream)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

MAX_REPLICAS = 1_000_000
NAME_CHARS = 253
Replicas = Annotated[int, Field(ge=0, le=MAX_REPLICAS)]
Name = Annotated[str, Field(min_length=1, max_length=NAME_CHARS)]
Rule = Annotated[str, Field(max_length=100)]
Detail = Annotated[str, Field(max_length=2000)]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)


class _ReasonWire(_Wire):
    rule: Rule
    detail: Detail

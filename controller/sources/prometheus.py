"""Token usage from Prometheus.

A PromQL query (default `sum by (tenant) (increase(agent_tokens_consumed_total[1d]))`) gives
tokens used today per tenant. It is asked every `interval_seconds` in the background, so a
tick never waits on Prometheus. If Prometheus is missing or failing, budgets hold their last
known values and are flagged stale (the policy says so in its reasons); they never reset to
zero, which would let a hard-capped tenant spend again.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path
from typing import Any

import requests
from prometheus_api_client import PrometheusConnect
from pydantic import BaseModel, ValidationError

from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.connections import PrometheusConfig
from controller.core.model import Usage
from controller.core.printable import redacted

log = logging.getLogger("agentdash.prometheus")


class PrometheusUsageSource:
    def __init__(
        self,
        config: Config,
        settings: PrometheusConfig,
        timeout: float = 5.0,
        *,
        bad: BadMessages | None = None,
    ) -> None:
        self.bad = bad or BadMessages()
        self._tenants = list(config.tenants)
        self._settings = settings
        self._client = PrometheusConnect(
            url=settings.url, session=_session(settings), timeout=timeout
        )
        self._tokens: dict[str, int] | None = None
        self.problem: str | None = "no answer from Prometheus yet"
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._poll())

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _poll(self) -> None:
        while True:
            await asyncio.sleep(self._settings.interval_seconds)  # the poll period itself
            await self.refresh()

    async def refresh(self) -> None:
        try:
            self._client.headers = _headers(self._settings)
            result: list[dict[str, Any]] = await asyncio.to_thread(
                self._client.custom_query, self._settings.tokens_query
            )
            tokens = self._tokens_in(result)
        except Exception as exc:  # requests, JSON or Prometheus errors: all mean "stale"
            problem = redacted(f"Prometheus {self._settings.url}: {type(exc).__name__}: {exc}")[
                :200
            ]
            if problem != self.problem:
                log.warning("token usage stale: %s", problem)
            self.problem = problem
            return
        self._tokens = tokens
        self.problem = None

    def _tokens_in(self, result: object) -> dict[str, int]:
        """Tokens per tenant in a query's answer. A series whose value is not a finite count
        in bounds is dropped and counted: its tenant keeps its last known value (or stays
        unknown), never a made-up one. Tenants with no series used nothing yet today."""
        if not isinstance(result, list):
            self.bad.drop("prometheus", f"expected a list of series, got {type(result).__name__}")
            raise ValueError("the answer is not a list of series")
        tokens = dict.fromkeys(self._tenants, 0)
        for item in result:
            try:
                series = _Series.model_validate(item)
                tenant = series.metric.get("tenant")
                value = float(series.value[1])
            except (ValidationError, ValueError) as exc:
                self.bad.drop("prometheus", f"a series that is not one: {exc}")
                continue
            if tenant not in tokens:
                continue
            if not 0.0 <= value <= MAX_TOKENS_TODAY:  # NaN fails it too
                self.bad.drop("prometheus", f"tenant {tenant!r}: {value:g} tokens today")
                last = self._tokens.get(tenant) if self._tokens is not None else None
                if last is None:
                    del tokens[tenant]
                else:
                    tokens[tenant] = last
                continue
            tokens[tenant] = int(value)
        return tokens

    def usage(self, now: float) -> Usage:
        if self._tokens is None:
            return Usage({}, {}, self.problem)  # never known: budgets are not applied
        return Usage(dict(self._tokens), {}, self.problem)


MAX_TOKENS_TODAY = 1e15
"""More tokens than any tenant can spend in a day: a value beyond is an error, not usage."""


class _Series(BaseModel):
    """One series of an instant query's answer: `{"metric": {...}, "value": [ts, "1234"]}`."""

    metric: dict[str, str]
    value: tuple[float, str]


def _session(settings: PrometheusConfig) -> requests.Session:
    """Certificates are checked (the system's CAs, or tls.ca_file) unless the config says
    insecure_skip_verify: a forged answer could lift every tenant's budget."""
    session = requests.Session()
    session.verify = settings.tls.ca_file or not settings.tls.insecure_skip_verify
    return session


def _headers(settings: PrometheusConfig) -> dict[str, str] | None:
    """The bearer token, read at every query: service-account tokens are rotated."""
    if settings.bearer_token_file is None:
        return None
    token = Path(settings.bearer_token_file).read_text(encoding="utf-8").strip()
    return {"Authorization": f"Bearer {token}"}

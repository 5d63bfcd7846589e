"""Token usage from Prometheus.

A PromQL query (default `sum by (tenant) (increase(agent_tokens_consumed_total[{since}]))`)
gives tokens used today per tenant. `{since}` is the time since the tenant's budget day began
(`budget_reset` in its `time_zone`), as a range (`3725s`): tenants whose days begin at
different times are asked in one query each. A sliding `[1d]` read a tenant that spent its
budget yesterday as spent for most of today.

It is asked every `interval_seconds` in the background, so a tick never waits on Prometheus.
If Prometheus is missing or failing, budgets hold their last known values and are flagged
stale (the policy says so in its reasons); they never reset to zero, which would let a
hard-capped tenant spend again. Nor does a count fall within a budget day: a Prometheus that
lost its data (restarted on an emptyDir) answers less, or nothing, and a hard cap must not
read that as a fresh budget.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import ssl
import time
from collections.abc import Callable
from pathlib import Path
from typing import NamedTuple

import aiohttp

from controller.core.bad_messages import BadMessages
from controller.core.config import Config
from controller.core.connections import PrometheusConfig
from controller.core.model import Usage
from controller.core.printable import printable, redacted

QUERY_TIMEOUT = 5.0
"""Seconds for a whole query: connecting, Prometheus's evaluation and the body."""
ANSWER_BYTES = 4 * 2**20
"""The largest answer read: a series per tenant is some 100 bytes; 10,000 tenants fit."""
CHUNK_BYTES = 64 * 2**10
MAX_TOKENS_TODAY = 1e15
"""More tokens than any tenant can spend in a day: a value beyond is an error, not usage."""
PROBLEM_CHARS = 300
"""What the stale reason quotes of an error (a log line, the policy's reasons)."""
SHOWN_CHARS = 60
"""What a bad-message line quotes of a series or a value."""
ONE_PER_TENANT = "the query must give one series per tenant, as `sum by (tenant) (...)` does"
log = logging.getLogger("agentdash.prometheus")

SINCE = "{since}"
"""In tokens_query: the time since the tenant's budget day began, as a PromQL range."""


class PrometheusUsageSource:
    def __init__(
        self,
        config: Config,
        settings: PrometheusConfig,
        timeout: float = QUERY_TIMEOUT,
        *,
        bad: BadMessages | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.bad = bad or BadMessages()
        self._config = config
        self._tenants = list(config.tenants)
        self._settings = settings
        self._timeout = timeout
        self._clock = clock
        self._tokens: dict[str, int] | None = None
        self._highest: dict[str, Highest] = {}
        """Per tenant: the most tokens read in its budget day."""
        self._named = 0
        """Configured tenants the last answers had a series for."""
        self._said_none = False
        """Whether answers naming no tenant were said (once, until one names a tenant)."""
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
        url = self._settings.url
        now = self._clock()
        self._named = 0
        try:
            tokens: dict[str, int] = {}
            for since, tenants in self._days(now).items():
                tokens.update(self._tokens_in(await self._query(since), tenants))
        except WrongAnswer as exc:
            self.bad.drop("prometheus", str(exc))
            self._stale(f"Prometheus {url}: {exc}")
            return
        except Unanswered as exc:
            self._stale(f"Prometheus {url}: {exc}")
            return
        except TimeoutError:
            self._stale(f"Prometheus {url}: no whole answer within {self._timeout:g} s")
            return
        except Exception as exc:  # HTTP, TLS, JSON or Prometheus errors: all mean "stale"
            self._stale(f"Prometheus {url}: {type(exc).__name__}: {exc}")
            return
        self._tokens = self._never_less(tokens, now)
        self.problem = None
        self._say_if_none_named()

    def _say_if_none_named(self) -> None:
        """An answer with no series for any tenant reads as nothing spent, which is also what a
        misspelt metric in tokens_query gives, for good: said once, so that a budget that
        never binds has a line to find."""
        if self._named:
            self._said_none = False
        elif not self._said_none:
            self._said_none = True
            log.warning(
                "Prometheus %s: the token query has no series for any of the %d tenants: each "
                "reads 0 tokens today (if they have spent, check tokens_query)",
                redacted(self._settings.url),
                len(self._tenants),
            )

    def _days(self, now: float) -> dict[float, list[str]]:
        """The tenants by the seconds since their budget day began (one query each), or all
        of them at once where the query does not ask (no `{since}`)."""
        if SINCE not in self._settings.tokens_query:
            return {0.0: self._tenants}
        days: dict[float, list[str]] = {}
        for name in self._tenants:
            since = now - self._config.tenants[name].clock.day(now).start
            days.setdefault(since, []).append(name)
        return days

    def _never_less(self, tokens: dict[str, int], now: float) -> dict[str, int]:
        """Each tenant's count, never less than the most read since its budget day began."""
        for name, count in tokens.items():
            start = self._config.tenants[name].clock.day(now).start
            highest = self._highest.get(name)
            if highest is not None and highest.day == start and highest.tokens > count:
                tokens[name] = highest.tokens
            else:
                self._highest[name] = Highest(day=start, tokens=count)
        return tokens

    async def _query(self, since: float) -> object:
        """The query's `data.result`. The whole answer (connection, query, body) must come
        within the timeout, and within ANSWER_BYTES: a server that sends its body a byte at a
        time, or without end, makes the budgets stale, never holds the source up for good."""
        settings = self._settings
        timeout = aiohttp.ClientTimeout(total=self._timeout)
        async with (
            aiohttp.ClientSession(timeout=timeout) as session,
            session.get(
                f"{settings.url.rstrip('/')}/api/v1/query",
                params={"query": _asked(settings.tokens_query, since)},
                headers=_headers(settings),
                ssl=_tls(settings),
            ) as response,
        ):
            body = bytearray()
            async for chunk in response.content.iter_chunked(CHUNK_BYTES):
                body += chunk
                if len(body) > ANSWER_BYTES:
                    raise Unanswered(f"an answer of more than {ANSWER_BYTES:,} bytes")
            return _result(response.status, bytes(body))

    def _stale(self, problem: str) -> None:
        """The loop tells it (`tokens source failing: ...`, controller.runtime.health), once
        for each new reason, and its end."""
        self.problem = redacted(problem)[:PROBLEM_CHARS]

    def _tokens_in(self, result: object, tenants: list[str]) -> dict[str, int]:
        """Tokens per tenant in a query's answer. A tenant's series whose value is not a
        finite count in bounds is dropped and counted: its tenant keeps its last known value
        (or stays unknown), never a made-up one. Tenants with no series used nothing yet
        today. An answer that is not one series per tenant (WrongAnswer) is not used at all:
        a series that names no tenant, or one of two for a tenant, could be anyone's tokens."""
        values = _values_by_tenant(result)
        tokens = dict.fromkeys(tenants, 0)
        self._named += len(tokens.keys() & values.keys())
        for tenant in tokens.keys() & values.keys():
            value = _count(values[tenant])
            if value is None:
                shown = _shown(values[tenant])
                self.bad.drop("prometheus", f"tenant {tenant!r}: {shown} is not a token count")
                last = self._tokens.get(tenant) if self._tokens is not None else None
                if last is None:
                    del tokens[tenant]
                else:
                    tokens[tenant] = last
                continue
            tokens[tenant] = value
        return tokens

    def usage(self, now: float) -> Usage:
        if self._tokens is None:
            return Usage({}, {}, self.problem)  # never known: budgets are not applied
        return Usage(dict(self._tokens), {}, self.problem)


class Highest(NamedTuple):
    """The most tokens a tenant was read to have used in its budget day."""

    day: float
    """When that budget day began."""
    tokens: int


class WrongAnswer(ValueError):
    """The answer is not an instant vector with one series per tenant: the query is wrong
    (a range vector, a scalar, an aggregation that drops or keeps more labels than `tenant`)."""


class Unanswered(Exception):
    """What came is no answer to the query: an error Prometheus explains, a proxy's page."""


def _values_by_tenant(result: object) -> dict[str, object]:
    """Each tenant's `value` in an instant vector (`[{"metric": {...}, "value": [ts, "1234"]},
    ...]`, as the query API's `data.result` holds it); WrongAnswer if it is not one series per
    tenant."""
    if not isinstance(result, list):
        raise WrongAnswer(f"expected a list of series, got {type(result).__name__}")
    values: dict[str, object] = {}
    for item in result:
        metric = item.get("metric") if isinstance(item, dict) else None
        if not isinstance(metric, dict):
            raise WrongAnswer(f"expected an instant vector (series), got {_shown(result)}")
        if "values" in item:
            raise WrongAnswer(f"expected an instant vector, got a range vector; {ONE_PER_TENANT}")
        tenant = metric.get("tenant")
        if not isinstance(tenant, str):
            raise WrongAnswer(f"a series has no tenant label ({_shown(metric)}); {ONE_PER_TENANT}")
        if tenant in values:
            raise WrongAnswer(f"tenant {tenant!r} has more than one series; {ONE_PER_TENANT}")
        values[tenant] = item.get("value")
    return values


def _asked(query: str, since: float) -> str:
    """The query with `{since}` as a range: whole seconds, at least one."""
    return query.replace(SINCE, f"{max(1, math.ceil(since))}s")


def _count(value: object) -> int | None:
    """The tokens in a series' `[timestamp, "1234"]`, or None if it holds no count in bounds
    (NaN, infinite, negative, absurd, or not a sample at all)."""
    if not (isinstance(value, list | tuple) and len(value) == 2 and isinstance(value[1], str)):
        return None
    try:
        tokens = float(value[1])
    except ValueError:
        return None
    if not 0.0 <= tokens <= MAX_TOKENS_TODAY:  # NaN fails it too
        return None
    return int(tokens)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else f"{text[:SHOWN_CHARS]}..."


def _result(status: int, body: bytes) -> object:
    """`data.result` of a query API answer; Unanswered, saying what came, for anything else
    (an error Prometheus explains, a proxy's HTML page)."""
    try:
        answer = json.loads(body)
    except ValueError:  # not UTF-8 either
        raise Unanswered(f"HTTP {status}, not JSON: {_shown(body)}") from None
    if not isinstance(answer, dict):
        raise Unanswered(f"HTTP {status}, not a query API answer: {_shown(answer)}")
    if status != 200 or answer.get("status") != "success":
        said = (answer.get("errorType"), answer.get("error"))
        why = ": ".join(str(part) for part in said if part) or _shown(answer)
        raise Unanswered(f"HTTP {status}, {printable(why[:PROBLEM_CHARS])}")
    data = answer.get("data")
    if not isinstance(data, dict):
        raise Unanswered(f"HTTP {status}, no data in the answer: {_shown(answer)}")
    return data.get("result")


def _tls(settings: PrometheusConfig) -> ssl.SSLContext | bool:
    """Certificates are checked (the system's CAs, or tls.ca_file, read at every query) unless
    the config says insecure_skip_verify: a forged answer could lift every tenant's budget."""
    if settings.tls.insecure_skip_verify:
        return False
    if settings.tls.ca_file is not None:
        return ssl.create_default_context(cafile=settings.tls.ca_file)
    return True


def _headers(settings: PrometheusConfig) -> dict[str, str] | None:
    """The bearer token, read at every query: service-account tokens are rotated."""
    if settings.bearer_token_file is None:
        return None
    token = Path(settings.bearer_token_file).read_text(encoding="utf-8").strip()
    return {"Authorization": f"Bearer {token}"}

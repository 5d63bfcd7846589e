"""What the workers report on NATS: token usage per task, and how busy each pod is.

`agentdash.usage.<tenant>` carries `{"tenant", "pool", "tokens", "work_s"}`, one per finished
task. Tokens are summed per tenant per budget day (from its `budget_reset` in its `time_zone`:
midnight UTC by default); the mean task time per pool (for Little's law)
is a moving average. A Prometheus source can stand in for this one (same `usage(now)`).

`agentdash.busy.<tenant>` carries `{"tenant", "pool", "pod", "busy"}`, each time a pod's count
of tasks in hand changes: a scale-down then takes idle pods first (controller.core.busy).

Anyone who can publish on the subject is believed only so far (deploy/nats-accounts.conf
says who may): a report must be a small JSON object with finite numbers in bounds, name a
tenant and pool of the config (the pool being that tenant's), and come on its tenant's subject
(a tenant's workers cannot speak for another tenant's pods).
Anything else is dropped and counted (controller.core.bad_messages); no state is kept for names the
config does not have. Each tenant's reports are a subscription of their own, on its subject
alone, read at a bounded rate (controller.sources.report_intake): a flood costs the loop a
bounded share, and only the flooding tenant's reports are lost. The runtime gives each tenant's
subscriptions a NATS connection of their own (`connections`), so that the server, cutting a
flood's connection as a slow consumer, cuts no other tenant's and never the lease's.

A valid report is believed only up to its tenant's own budget: one that says more than
`max_report_share` of the tenant's daily budget is held, not spent (a single report of a
billion tokens once stopped a tenant for the day), counted as dropped, and handed to `on_held`
(the runtime audits it): a few at once per tenant, then one every few minutes (HeldAudits), so
that a flood of them cannot push the operators' records out of the audit. Who sent it is the
subject: under the NATS accounts only the tenant's
own workers can publish on `agentdash.usage.<tenant>` (deploy/nats-accounts.conf).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
)

from controller.core import names
from controller.core.accounting import MAX_WORK_S, BudgetClock, TokensATask, task_time
from controller.core.allowance import Allowance
from controller.core.bad_messages import BadMessages, describe
from controller.core.busy import BusyPods
from controller.core.config import Config
from controller.core.events import ActionEvent
from controller.core.model import Usage
from controller.core.printable import printable
from controller.core.tokens_today import TokensToday
from controller.sources.report_intake import (
    MAX_REPORT_BYTES,
    PacedReports,
    subscribe_reports,
)

if TYPE_CHECKING:  # the ledger, used by the simulator too, needs no NATS client
    from nats.aio.client import Client
    from nats.aio.msg import Msg

USAGE_SUBJECT = "agentdash.usage"
BUSY_SUBJECT = "agentdash.busy"
MAX_TOKENS = 10**9
"""Tokens one task may report: a billion is thousands of full-context LLM calls. (A forged
1e18 once spent a tenant's whole budget and scaled its pools to zero.)"""
NAME_CHARS = 253
"""The longest name a report may carry (a Kubernetes object name's limit)."""
MAX_BUSY = 10_000
"""Tasks one pod may say it has in hand."""
KEPT_DAYS = 3
"""Budget days a tenant's count is kept for: the wall clock may step back into one."""


def whole(value: object) -> object:
    """A whole number written as a float (`1234.0`, `1e3`: a worker that sums floats, a
    JavaScript one) is that number: dropped, the task's tokens went uncounted and a hard cap
    was spent past. 1234.5 is still no count."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class WorkerReport(BaseModel):
    """What a worker publishes (crosses a process boundary: validated). Strict: numbers are
    JSON numbers, finite and within bounds."""

    model_config = ConfigDict(extra="ignore", strict=True, frozen=True)
    tenant: str = Field(min_length=1, max_length=NAME_CHARS)
    pool: str = Field(min_length=1, max_length=NAME_CHARS)


class UsageReport(WorkerReport):
    """What a worker publishes when a task is done (tokens a whole number)."""

    tokens: int = Field(ge=0, le=MAX_TOKENS)
    work_s: float = Field(ge=0, le=MAX_WORK_S, allow_inf_nan=False)
    task: str = Field("", max_length=NAME_CHARS)

    @field_validator("tokens", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        return whole(value)

    @field_validator("task", mode="before")
    @classmethod
    def _named(cls, value: object) -> object:
        """A task named by a number (its stream sequence, as the worker's client gives it) or
        null is that name, or none: the whole report was dropped for a field that only names
        it, and every task of such a worker went uncounted."""
        if value is None:
            return ""
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value


class TokenLedger:
    """Tokens per tenant per budget day, and per pool its mean task time and tokens a task. No
    I/O. Keeps nothing for tenants or pools the config does not name."""

    def __init__(self, config: Config) -> None:
        self._clocks: dict[str, BudgetClock] = {n: t.clock for n, t in config.tenants.items()}
        self._pools = frozenset(config.pools)
        self._pools_of = config.pools_of
        self._price = {name: TokensATask() for name in config.pools}
        """Per pool, its tokens a task (halved at each of its tenant's resets)."""
        self._today: dict[str, TokensToday] = {}
        """Per tenant: its tokens and tasks today, by the minute of its budget day."""
        self._days: dict[str, dict[float, TokensToday]] = {}
        """Per tenant: the last KEPT_DAYS budget days counted, by their start, today's too."""
        self._mean: dict[str, float] = {}

    def add(self, report: UsageReport, now: float) -> None:
        if report.tenant in self._clocks:
            self._roll(report.tenant, now).add(report.tokens, now)
        if report.pool in self._pools:
            self._mean[report.pool] = task_time(self._mean.get(report.pool), report.work_s)
            self._price[report.pool].add(report.tokens)

    def preload(self, tokens: Mapping[str, int], now: float) -> None:
        """Tokens already used today before we started counting (a restart, or the demo)."""
        for tenant, used in tokens.items():
            if tenant in self._clocks:
                self._roll(tenant, now).earlier(used)

    def usage(self, now: float) -> Usage:
        days = {tenant: self._roll(tenant, now) for tenant in self._clocks}
        tokens = {t: day.tokens for t, day in days.items()}
        tasks = {t: day.tasks for t, day in days.items()}
        prices = {name: price.mean() for name, price in self._price.items()}
        each = {name: mean for name, mean in prices.items() if mean is not None}
        return Usage(tokens, dict(self._mean), tasks_today=tasks, task_tokens=each)

    def today(self, tenant: str, now: float) -> TokensToday:
        """The tenant's count of its budget day, as of `now`."""
        return self._roll(tenant, now)

    def prices(self, tenant: str) -> dict[str, TokensATask]:
        """Its pools' tokens a task, as counted."""
        return {pool: self._price[pool] for pool in self._pools_of[tenant]}

    def _roll(self, tenant: str, now: float) -> TokensToday:
        start = self._clocks[tenant].day(now).start
        today = self._today.get(tenant)
        if today is not None and today.start == start:
            return today
        days = self._days.setdefault(tenant, {})
        today = days.get(start)
        if today is None:
            # A clock stepped back (NTP correcting a fast one) returns to a day counted
            # already, found above: a spent hard cap is not counted from zero again, and
            # only a day later than any counted halves the prices.
            later = all(start > seen for seen in days)
            if later and days:
                for pool in self._pools_of[tenant]:
                    self._price[pool].new_day()
            # Counted from the day's start if this process saw it begin, else from now.
            since = start if later and days else now
            today = days[start] = TokensToday(start, since)
            if len(days) > KEPT_DAYS:
                del days[min(day for day in days if day != start)]
        self._today[tenant] = today
        return today


class BusyReport(WorkerReport):
    """What a worker pod publishes when its count of tasks in hand changes."""

    pod: Annotated[str, AfterValidator(names.kubernetes_name)]
    """The pod's name, as Kubernetes has it (a DNS-1123 subdomain)."""
    busy: int = Field(ge=0, le=MAX_BUSY)

    @field_validator("busy", mode="before")
    @classmethod
    def _whole(cls, value: object) -> object:
        return whole(value)


def check_report(data: bytes, subject: str, config: Config) -> UsageReport | str:
    """The usage report in a message, or why it is not one this controller can believe."""
    return _check(UsageReport, USAGE_SUBJECT, data, subject, config)


def check_busy(data: bytes, subject: str, config: Config) -> BusyReport | str:
    """The busy report in a message, or why it is not one this controller can believe."""
    return _check(BusyReport, BUSY_SUBJECT, data, subject, config)


Report = TypeVar("Report", bound=WorkerReport)


def _check(
    kind: type[Report], prefix: str, data: bytes, subject: str, config: Config
) -> Report | str:
    if len(data) > MAX_REPORT_BYTES:
        return f"{len(data)} bytes, expected at most {MAX_REPORT_BYTES}"
    try:
        report = kind.model_validate_json(data)
    except ValidationError as exc:
        return describe(exc)
    pool = config.pools.get(report.pool)
    if pool is None:
        return f"pool {report.pool!r} is not in the config"
    if pool.tenant != report.tenant:
        return f"pool {report.pool!r} belongs to tenant {pool.tenant!r}, not {report.tenant!r}"
    if subject != f"{prefix}.{report.tenant}":
        return f"tenant {report.tenant!r} reported on {subject!r}"
    return report


HELD = "usage report held"
"""The audit action recorded for a report over its tenant's share (held, not spent)."""


@dataclass(frozen=True, slots=True)
class HeldReport:
    """A valid report over its tenant's `max_report_share`, and who sent it: the subject."""

    subject: str
    report: UsageReport
    limit: int
    """The most tokens one report of this tenant may say."""
    unaudited: int = 0
    """Reports of this tenant held since its last audited one, and not audited (HeldAudits)."""

    @property
    def detail(self) -> str:
        report = self.report
        more = f"; {self.unaudited} more held before it, not audited" if self.unaudited else ""
        return (
            f"{report.tokens} tokens for task '{printable(report.task)}' of pool {report.pool},"
            f" over {self.limit} (the tenant's max_report_share of its daily budget): held, not"
            f" spent{more}"
        )

    def event(self, now: float) -> ActionEvent:
        return ActionEvent(now, self.subject, HELD, self.report.tenant, self.detail)

    def record(self) -> dict[str, Any]:
        """What the audit keeps besides the event: each field of the report, to search by.
        The task's name is the worker's own words: escaped, as in the detail, so that `jq -r`
        on the audit sends a terminal none of its escapes."""
        report = self.report
        return {
            "subject": self.subject,
            "tenant": report.tenant,
            "pool": report.pool,
            "task": printable(report.task),
            "tokens": report.tokens,
            "limit": self.limit,
            "unaudited": self.unaudited,
        }


HELD_AUDITS_AT_ONCE = 10
HELD_AUDIT_EVERY_S = 360.0
"""After HELD_AUDITS_AT_ONCE held reports of a tenant, one more is audited every this long:
at most 240 records a day per tenant, a few MB over the audit's 90 days."""


class HeldAudits:
    """Which held reports are audited, per tenant: a few at once, then one every
    HELD_AUDIT_EVERY_S; the others are counted, and the next record audited says how many.

    The audit keeps 256 MiB and drops its oldest records first. A worker that sent a held
    report for each of its tasks once wrote 3,600 records a second: its own workers could push
    every operator's record out of the audit in two minutes. No I/O; `now` is passed in."""

    def __init__(self, at_once: int = HELD_AUDITS_AT_ONCE, every: float = HELD_AUDIT_EVERY_S):
        self._at_once = at_once
        self._every = every
        self._room: dict[str, Allowance] = {}
        """Per tenant: the records it may still have audited."""
        self._unaudited: dict[str, int] = {}

    def admit(self, tenant: str, now: float) -> int | None:
        """None if this held report of `tenant` is not to be audited (it is counted); else
        how many held before it were not."""
        room = self._room.get(tenant)
        if room is None:
            room = self._room[tenant] = Allowance(self._at_once, self._every)
        if not room.take(now):
            self._unaudited[tenant] = self._unaudited.get(tenant, 0) + 1
            return None
        return self._unaudited.pop(tenant, 0)


def report_limits(config: Config) -> dict[str, int]:
    """Per tenant with a budget: the most tokens one report may say (its max_report_share)."""
    return {
        name: int(tenant.daily_token_budget * tenant.max_report_share)
        for name, tenant in config.tenants.items()
        if tenant.daily_token_budget is not None
    }


class NatsUsageSource:
    def __init__(
        self,
        nc: Client,
        config: Config,
        clock: Any,
        *,
        bad: BadMessages | None = None,
        on_held: Callable[[HeldReport], Awaitable[None]] | None = None,
        connections: Mapping[str, Client] | None = None,
    ) -> None:
        self._nc = nc
        self._connections = connections
        """Per tenant, the connection its reports arrive on (else `nc`)."""
        self._config = config
        self._clock = clock
        self.ledger = TokenLedger(config)
        self._subs: list[PacedReports] = []
        self.bad = bad or BadMessages()
        self._limits = report_limits(config)
        self.on_held = on_held
        """Told of the reports held that HeldAudits admits (awaited: a flood waits for it)."""
        self._audits = HeldAudits()

    async def start(self) -> None:
        self._subs = await subscribe_reports(
            self._nc, USAGE_SUBJECT, self._on_report, self._config, self.bad, self._connections
        )

    async def _on_report(self, msg: Msg) -> None:
        report = check_report(msg.data, msg.subject, self._config)
        # Said by subject, a tenant's own (subscribe_reports takes no wildcard): whose workers
        # are wrong, and one tenant's junk keeps no other's out of the log.
        if isinstance(report, str):
            self.bad.drop("usage", f"{msg.subject}: {report}", about=msg.subject)
        elif report.tokens > self._limits.get(report.tenant, report.tokens):
            held = HeldReport(msg.subject, report, self._limits[report.tenant])
            self.bad.drop("usage", f"{msg.subject}: held: {held.detail}", about=msg.subject)
            unaudited = self._audits.admit(report.tenant, self._clock())
            if self.on_held is not None and unaudited is not None:
                await self.on_held(replace(held, unaudited=unaudited))
        else:
            self.ledger.add(report, self._clock())

    def usage(self, now: float) -> Usage:
        return self.ledger.usage(now)


class NatsBusySource:
    """The busy reports, into a BusyPods ledger that the actuator reads on a scale-down. Its
    own subscription, so it works whichever source the token usage comes from."""

    def __init__(
        self,
        nc: Client,
        config: Config,
        clock: Any,
        *,
        bad: BadMessages | None = None,
        ledger: BusyPods | None = None,
        connections: Mapping[str, Client] | None = None,
    ) -> None:
        self._nc = nc
        self._connections = connections
        """Per tenant, the connection its reports arrive on (else `nc`)."""
        self._config = config
        self._clock = clock
        self.ledger = ledger or BusyPods(config)
        self.bad = bad or BadMessages()

    async def start(self) -> None:
        await subscribe_reports(
            self._nc, BUSY_SUBJECT, self._on_report, self._config, self.bad, self._connections
        )

    async def _on_report(self, msg: Msg) -> None:
        report = check_busy(msg.data, msg.subject, self._config)
        if isinstance(report, str):
            self.bad.drop("busy", f"{msg.subject}: {report}", about=msg.subject)
        else:
            self.ledger.report(report.pool, report.pod, report.busy, self._clock())

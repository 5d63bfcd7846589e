"""Talking to the Kubernetes API: one client, one budget, bounded retries, a deadline.

Every request goes through `KubeApi`: it waits for its turn in the client's budget (a
controller with many pools must not flood the API server; controller.actuators.kubernetes.budget
serves the waiting calls by what they are for, the lease first), retries what may succeed
when asked again (429, 5xx, timeouts, dropped connections) with exponential backoff and
jitter, and turns every other answer into an `ApiFailure` whose text says what was asked and
what the server said (its status, and Retry-After if it asked for a pause).

A call ends by its deadline, whatever happens: waiting for its turn, each try and each
backoff all count against it. A leader's lease must still hold when its last write lands,
and a call that outlives the lease could land after another process has taken over. A call
cancelled from outside (`asyncio.wait_for`, a cancelled task) stops at once: no detached
task retries it, and aiohttp aborts a request in flight by closing its connection.

Never a blind write: a write (PATCH, POST, PUT, DELETE) goes out only with at least a round
trip of its deadline left (`RoundTrip`, measured on the answers); otherwise it is not sent,
and its failure says so (`sent` is False): the API never saw it. A write that was sent and
got no answer by the deadline may have been applied: its failure is `in_doubt`, and the
caller must read the object back before it decides again. (A PATCH whose bytes had already
reached the server may still be applied there; it was sent before the deadline, so a leader
that starts a call only while `now + deadline < valid_until` of its lease, whose safety
margin covers the server's own processing, stays fenced.)

Requests use the official client's `*_without_preload_content` methods and read the JSON
themselves: the controller works on the objects as the API sends them, and a status code is
the client's to judge, not the generated models'.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import random
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes.aio import client as k8s
from kubernetes.aio import config as k8s_config

from controller.actuators.kubernetes.budget import (
    DISCOVERY,
    READ,
    Priority,
    PriorityBucket,
    RoundTrip,
    Turn,
)
from controller.actuators.kubernetes.failure import (
    NO_ANSWER,
    ApiFailure,
    Tries,
    failure_of,
    no_answer,
)
from controller.actuators.kubernetes.kubeconfig import (
    KubeConfigError,
    check_kubeconfig,
    kubeconfig_files,
)
from controller.actuators.kubernetes.refusals import Refusals
from controller.core.bad_messages import BadMessages

__all__ = ["ApiFailure", "KubeApi", "KubeConfigError", "RetryPolicy", "connect_client"]

log = logging.getLogger("agentdash.kube")

Request = Callable[..., Awaitable[aiohttp.ClientResponse]]


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    attempts: int = 4
    """Tries in all, the first included."""
    base_s: float = 0.2
    cap_s: float = 5.0

    def delay(self, attempt: int, jitter: float, retry_after: float | None) -> float:
        """Wait before try `attempt + 1`: exponential, with half of it random so that many
        controllers failing together do not retry together; at least what the server asked."""
        ceiling = min(self.cap_s, self.base_s * 2.0 ** (attempt - 1))
        wait = ceiling / 2 + ceiling / 2 * jitter
        if retry_after is not None:
            wait = max(wait, min(retry_after, self.cap_s))
        return wait


class KubeApi:
    def __init__(
        self,
        client: k8s.ApiClient,
        *,
        qps: float = 5.0,
        burst: int = 10,
        timeout_s: float = 10.0,
        deadline_s: float = 3.0,
        retry: RetryPolicy | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
        jitter: Callable[[], float] = random.random,
        round_trip: RoundTrip | None = None,
        bad: BadMessages | None = None,
    ) -> None:
        self.client = client
        self.apps = k8s.AppsV1Api(client)
        self.core = k8s.CoreV1Api(client)
        self.autoscaling = k8s.AutoscalingV2Api(client)
        self.custom = k8s.CustomObjectsApi(client)
        self.coordination = k8s.CoordinationV1Api(client)
        self.timeout_s = timeout_s
        """The longest one try may take."""
        self.deadline_s = deadline_s
        """The longest one call may take, every try, backoff and wait for its turn included."""
        self.retry = retry or RetryPolicy()
        self.budget = PriorityBucket(qps, burst)
        """Shared by every call made through this client (the lease's too, if it shares it)."""
        self.bad = bad or BadMessages()
        """Counts the lines of a watch that are no event (`kubernetes`)."""
        self.round_trip = round_trip or RoundTrip()
        """How long answers take now: a write needs at least this much of its deadline."""
        self._sleep = sleep
        self._jitter = jitter
        self.refusals = Refusals()
        """The rights the API server refused, until granted (what /healthz lists)."""

    def _failed(
        self, request: Request, failure: ApiFailure, watch: bool, scope: tuple[str, ...]
    ) -> ApiFailure:
        if failure.status == 403:
            self.refusals.refuse(request, failure.message, watch, scope)
        return failure

    def deadline(self) -> float:
        """When a call started now must end, on the event loop's clock."""
        return asyncio.get_running_loop().time() + self.deadline_s

    async def call(
        self,
        what: str,
        request: Request,
        *args: Any,
        retry: bool = True,
        deadline: float | None = None,
        priority: Priority | Turn = READ,
        at_turn: Callable[[], tuple[Any, ...]] | None = None,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One request's JSON answer, retried within the policy's bounds and by `deadline`
        (the loop's clock; `deadline()` if not given), when an ApiFailure is raised at the
        latest. `retry=False` for a request that must not be repeated blindly (a create).
        `priority`: its place in the budget's queue (a `Turn` can be moved while it waits).
        `at_turn`: called when a try's turn comes, just before it is sent: the positional
        arguments as they stand then (instead of `args`); what it raises ends the call, and
        nothing is sent."""
        loop = asyncio.get_running_loop()
        end = self.deadline() if deadline is None else deadline
        verb = _verb(request)
        tries = Tries(
            what=what,
            end=end,
            span=end - loop.time(),
            write=verb in ("patch", "create", "replace", "delete"),
            one=verb != "list",
        )
        turn = priority if isinstance(priority, Turn) else Turn(priority)
        attempt = 1
        while True:
            left = tries.end - loop.time()
            if left <= 0:
                raise tries.cut()
            try:
                async with asyncio.timeout_at(tries.end):  # the wait for a turn counts too
                    return await self._once(request, args, kwargs, tries, turn, at_turn)
            except TimeoutError:
                raise tries.cut() from None
            except ApiFailure as failure:
                if failure.status is not None:
                    tries.answered = failure
                if failure.message == NO_ANSWER and left <= self.timeout_s:
                    raise tries.cut() from None  # this try was cut short by the deadline
                if not failure.sent:  # too late for this try: an earlier answer says more
                    raise tries.last(tries.answered or failure) from None
                if not retry or not failure.retryable or attempt >= self.retry.attempts:
                    raise tries.last(failure) from None
                delay = self.retry.delay(attempt, self._jitter(), failure.retry_after)
                if loop.time() + delay >= tries.end:
                    raise tries.last(failure) from None  # no time for another: this says most
                # At debug: a call that keeps failing is told once by the loop's health, with
                # a counter; at info, a lasting 500 would be three lines every 2 s for ever.
                log.debug(
                    "%s; try %d of %d in %.2f s", failure, attempt + 1, self.retry.attempts, delay
                )
            await self._sleep(delay)
            attempt += 1

    async def _once(
        self,
        request: Request,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        tries: Tries,
        turn: Turn,
        at_turn: Callable[[], tuple[Any, ...]] | None,
    ) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        await self.budget.take(turn)
        sent_at = loop.time()
        left = tries.end - sent_at
        try:
            if tries.write and left < self.round_trip.estimate():
                raise tries.too_late(left, self.round_trip.estimate())
            if at_turn is not None:
                args = at_turn()
        except BaseException:
            self.budget.refund()  # nothing was sent
            raise
        tries.sent = tries.in_flight = True
        what = tries.what
        try:
            response = await request(*args, _request_timeout=min(self.timeout_s, left), **kwargs)
            async with response:
                body = await response.read()
        except (aiohttp.ClientError, OSError) as exc:
            tries.in_flight = False
            # Refused before it was sent: nothing to doubt. Any other break may follow the
            # server's reading of it.
            tries.unanswered |= not isinstance(exc, aiohttp.ClientConnectorError)
            raise ApiFailure(what, None, no_answer(exc)) from exc
        tries.in_flight = False
        if tries.one:  # a list's answer grows with the namespace: it says little of a write's
            self.round_trip.record(loop.time() - sent_at)
        scope = _scope(args, kwargs)
        if response.status >= 300:
            raise self._failed(request, failure_of(what, response, body), False, scope)
        self.refusals.grant(request, scope=scope)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            raise ApiFailure(what, response.status, "the answer is not JSON") from None
        except RecursionError:  # deeper than json.loads follows: no object the API sends
            raise ApiFailure(what, response.status, "the answer is JSON nested too deep") from None
        return parsed if isinstance(parsed, dict) else {}

    async def watch(
        self, what: str, request: Request, timeout_s: float, **kwargs: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The events of one watch request until the server ends it. Failing to open it raises
        ApiFailure; a connection lost later just ends the events (the caller resumes from the
        last resourceVersion it saw, as it does when the server ends a watch on time); so does
        a line that is not JSON (a proxy's page), said and counted."""
        await self.budget.take(Turn(DISCOVERY))
        try:
            # The client-side timeout outlasts the server's, which ends the watch first.
            response = await request(
                watch=True,
                timeout_seconds=int(timeout_s),
                _request_timeout=timeout_s + 30,
                **kwargs,
            )
        except (aiohttp.ClientError, OSError) as exc:
            raise ApiFailure(what, None, no_answer(exc)) from exc
        try:
            if response.status >= 300:
                failure = failure_of(what, response, await response.read())
                raise self._failed(request, failure, True, _scope((), kwargs))
            self.refusals.grant(request, watch=True, scope=_scope((), kwargs))
            while True:
                try:
                    line = await response.content.readline()
                except (aiohttp.ClientError, OSError) as exc:
                    log.debug("%s: connection ended (%s); resuming", what, no_answer(exc))
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except (ValueError, RecursionError):
                    log.warning("%s: not an event: %.200r; resuming", what, line)
                    self.bad.count("kubernetes")
                    return
                if isinstance(event, dict):
                    yield event
        finally:
            response.close()


def _verb(request: Request) -> str:
    """What this client method does: `patch`, `list`, ... (the official client names each by
    its verb first)."""
    name = getattr(request, "__name__", None) or getattr(
        getattr(request, "func", None), "__name__", ""
    )
    return str(name).split("_", 1)[0]


def in_cluster(kubeconfig: str | None, context: str | None) -> bool:
    """Whether the credentials are the pod's service account: running in a cluster, with
    neither a kubeconfig nor a context asked for."""
    return (
        kubeconfig is None and context is None and bool(os.environ.get("KUBERNETES_SERVICE_HOST"))
    )


def check_credentials(kubeconfig: str | None = None, context: str | None = None) -> None:
    """The kubeconfig `connect_client` would load, found and checked now, with no network:
    a process checks it before it contacts anything else. Raises KubeConfigError."""
    if not in_cluster(kubeconfig, context):  # a service account's files are read at connect
        check_kubeconfig(kubeconfig_files(kubeconfig, context), context)


async def connect_client(
    kubeconfig: str | None = None, context: str | None = None
) -> k8s.ApiClient:
    """An ApiClient from the pod's service account when running in a cluster and neither a
    kubeconfig nor a context was asked for; otherwise from the kubeconfig (this path, else
    $KUBECONFIG, else ~/.kube/config) with this context, else its current one. Raises
    KubeConfigError, one line, if there is none or it cannot be used."""
    configuration = k8s.Configuration()
    # Blocking, like the loader's own reads: once, at start-up, before anything else runs.
    if in_cluster(kubeconfig, context):
        where = "in-cluster config"
        try:
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        except (k8s_config.ConfigException, OSError) as exc:
            raise KubeConfigError(f"{where}: {_one_line(exc)}") from None
    else:
        paths = kubeconfig_files(kubeconfig, context)
        check_kubeconfig(paths, context)
        where = f"kubeconfig {os.pathsep.join(paths)}"
        await _load_kube_config(where, paths, context, configuration)
    try:
        return k8s.ApiClient(configuration)  # reads the CA and the client's key pair
    except OSError as exc:  # ssl.SSLError too: base64 that decodes to no certificate
        raise KubeConfigError(
            f"{where}: its certificates cannot be used: {_one_line(exc)}"
        ) from None


async def _load_kube_config(
    where: str, paths: list[str], context: str | None, configuration: k8s.Configuration
) -> None:
    try:
        await k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
            config_file=os.pathsep.join(paths),  # those checked, not $KUBECONFIG as on import
            context=context,
            client_configuration=configuration,
            persist_config=False,
        )
    except Exception as exc:
        # Past the check, what the loader still raises (a CA file it cannot open, an exec
        # plugin that fails, a shape no check foresaw) is still about this file: one line.
        said = _one_line(exc)
        if not isinstance(exc, k8s_config.ConfigException | OSError):
            said = f"{type(exc).__name__}: {said}"
        raise KubeConfigError(f"{where}: {said}") from None


def _one_line(exc: Exception) -> str:
    return " ".join(str(exc).split())  # the library's texts span lines


def _scope(args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> tuple[str, ...]:
    """What a request was made on, as RBAC grants it: its namespace and the object it names
    (the client's string arguments: `name, namespace` of a scale PATCH, `namespace=` of a
    list). A Role names namespaces, and with resourceNames objects: granted on one, a right
    may still be refused on another."""
    named = tuple(arg for arg in args if isinstance(arg, str))
    namespace = kwargs.get("namespace")
    return (*named, namespace) if isinstance(namespace, str) else named

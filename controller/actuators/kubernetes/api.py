"""Talking to the Kubernetes API: one client, one rate limiter, bounded retries, a deadline.

Every request goes through `KubeApi`: it waits for the limiter (a controller with many pools
must not flood the API server), retries what may succeed when asked again (429, 5xx,
timeouts, dropped connections) with exponential backoff and jitter, and turns every other
answer into an `ApiFailure` whose text says what was asked and what the server said.

A call ends by its deadline, whatever happens: waiting for the limiter, each try and each
backoff all count against it. A leader's lease must still hold when its last write lands,
and a call that outlives the lease could land after another process has taken over. A call
cancelled from outside (`asyncio.wait_for`, a cancelled task) stops at once: no detached
task retries it, and aiohttp aborts a request in flight by closing its connection. A PATCH
whose bytes had already reached the server may still be applied there; it was sent before
the deadline, so a leader that starts a call only while `now + deadline < valid_until` of
its lease (whose safety margin covers the server's own processing) stays fenced.

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
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
import yaml
from aiolimiter import AsyncLimiter
from kubernetes.aio import client as k8s
from kubernetes.aio import config as k8s_config

log = logging.getLogger("agentdash.kube")

RETRYABLE = frozenset({429, 500, 502, 503, 504})
"""429: the API server's own flow control; 5xx: passing. Not 409: it refuses a write fenced
by a resourceVersion that is no longer current (or a name taken), and the same request asked
again gets the same answer; the caller must read again and decide again."""

Request = Callable[..., Awaitable[aiohttp.ClientResponse]]

NO_ANSWER = "no answer in time"


class KubeConfigError(Exception):
    """The kubeconfig or in-cluster credentials could not be loaded (a user mistake)."""


class ApiFailure(Exception):
    """An API request that did not succeed. `status` is None when no answer came at all."""

    def __init__(
        self, what: str, status: int | None, message: str, retry_after: float | None = None
    ) -> None:
        self.what = what
        self.status = status
        self.message = message
        self.retry_after = retry_after
        code = f"{status} " if status is not None else ""
        super().__init__(f"{what}: {code}{message}")

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in RETRYABLE

    @property
    def forbidden(self) -> bool:
        return self.status == 403

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def conflict(self) -> bool:
        return self.status == 409


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
        """The longest one call may take, every try, backoff and wait for the limiter included."""
        self.retry = retry or RetryPolicy()
        # A bucket of `burst` requests that refills at `qps` a second.
        self._limiter = AsyncLimiter(burst, burst / qps)
        self._sleep = sleep
        self._jitter = jitter

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
        **kwargs: Any,
    ) -> dict[str, Any]:
        """One request's JSON answer, retried within the policy's bounds and by `deadline`
        (the loop's clock; `deadline()` if not given), when an ApiFailure is raised at the
        latest. `retry=False` for a request that must not be repeated blindly (a create)."""
        loop = asyncio.get_running_loop()
        end = self.deadline() if deadline is None else deadline
        attempt = 1
        while True:
            left = end - loop.time()
            if left <= 0:
                raise self._late(what)
            try:
                async with asyncio.timeout_at(end):  # the limiter's wait counts too
                    return await self._once(what, request, args, kwargs, min(self.timeout_s, left))
            except TimeoutError:
                raise self._late(what) from None
            except ApiFailure as failure:
                if failure.message == NO_ANSWER and left <= self.timeout_s:
                    raise self._late(what) from None  # this try was cut short by the deadline
                if not retry or not failure.retryable or attempt >= self.retry.attempts:
                    raise
                delay = self.retry.delay(attempt, self._jitter(), failure.retry_after)
                if loop.time() + delay >= end:
                    raise  # the next try could not end in time: the last answer says most
                log.info(
                    "%s; try %d of %d in %.2f s", failure, attempt + 1, self.retry.attempts, delay
                )
            await self._sleep(delay)
            attempt += 1

    def _late(self, what: str) -> ApiFailure:
        return ApiFailure(what, None, f"no answer within the {self.deadline_s:g} s deadline")

    async def _once(
        self,
        what: str,
        request: Request,
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
        timeout_s: float,
    ) -> dict[str, Any]:
        # A call cancelled while it waits here gives its place up without using the budget:
        # the limiter counts a request only once it has let it through.
        async with self._limiter:
            try:
                response = await request(*args, _request_timeout=timeout_s, **kwargs)
                async with response:
                    body = await response.read()
            except (aiohttp.ClientError, OSError) as exc:
                raise ApiFailure(what, None, _no_answer(exc)) from exc
        if response.status >= 300:
            raise _failure(what, response, body)
        try:
            parsed = json.loads(body) if body else {}
        except ValueError:
            raise ApiFailure(what, response.status, "the answer is not JSON") from None
        return parsed if isinstance(parsed, dict) else {}

    async def watch(
        self, what: str, request: Request, timeout_s: float, **kwargs: Any
    ) -> AsyncGenerator[dict[str, Any], None]:
        """The events of one watch request until the server ends it. Failing to open it raises
        ApiFailure; a connection lost later just ends the events (the caller resumes from the
        last resourceVersion it saw, as it does when the server ends a watch on time)."""
        async with self._limiter:
            try:
                # The client-side timeout outlasts the server's, which ends the watch first.
                response = await request(
                    watch=True,
                    timeout_seconds=int(timeout_s),
                    _request_timeout=timeout_s + 30,
                    **kwargs,
                )
            except (aiohttp.ClientError, OSError) as exc:
                raise ApiFailure(what, None, _no_answer(exc)) from exc
        try:
            if response.status >= 300:
                raise _failure(what, response, await response.read())
            while True:
                try:
                    line = await response.content.readline()
                except (aiohttp.ClientError, OSError) as exc:
                    log.debug("%s: connection ended (%s); resuming", what, _no_answer(exc))
                    return
                if not line:
                    return
                if not line.strip():
                    continue
                try:
                    event = json.loads(line)
                except ValueError:
                    log.warning("%s: not an event: %.200r; resuming", what, line)
                    return
                if isinstance(event, dict):
                    yield event
        finally:
            response.close()


def _no_answer(exc: BaseException) -> str:
    if isinstance(exc, TimeoutError):  # aiohttp's timeouts are TimeoutErrors too
        return NO_ANSWER
    return f"cannot reach the API server ({exc or type(exc).__name__})"


def _failure(what: str, response: aiohttp.ClientResponse, body: bytes) -> ApiFailure:
    message = response.reason or "error"
    try:
        parsed = json.loads(body)
    except ValueError:
        parsed = None
    if isinstance(parsed, dict) and parsed.get("message"):
        message = str(parsed["message"])
    elif body:
        message = body[:200].decode("utf-8", "replace").strip() or message
    return ApiFailure(what, response.status, message, _seconds(response.headers.get("Retry-After")))


def _seconds(value: str | None) -> float | None:
    try:
        return float(value) if value is not None else None
    except ValueError:
        return None  # an HTTP date: rare from the API server, and the backoff covers it


async def connect_client(
    kubeconfig: str | None = None, context: str | None = None
) -> k8s.ApiClient:
    """An ApiClient from the pod's service account when running in a cluster and neither a
    kubeconfig nor a context was asked for; otherwise from the kubeconfig (this path, else
    $KUBECONFIG, else ~/.kube/config) with this context, else its current one."""
    configuration = k8s.Configuration()
    # Blocking, like the loader's own reads: once, at start-up, before anything else runs.
    if kubeconfig is not None and not os.path.isfile(kubeconfig):  # noqa: ASYNC240
        raise KubeConfigError(f"kubeconfig {kubeconfig}: no such file")
    try:
        if kubeconfig is None and context is None and os.environ.get("KUBERNETES_SERVICE_HOST"):
            k8s_config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
        else:
            await k8s_config.load_kube_config(  # type: ignore[no-untyped-call]
                config_file=kubeconfig,
                context=context,
                client_configuration=configuration,
                persist_config=False,
            )
    except (k8s_config.ConfigException, OSError, yaml.YAMLError) as exc:
        where = f"kubeconfig {kubeconfig}" if kubeconfig else "the default kubeconfig"
        message = " ".join(str(exc).split())  # the library's texts span lines
        raise KubeConfigError(f"{where}: {message}") from None
    return k8s.ApiClient(configuration)

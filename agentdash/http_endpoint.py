"""The daemon's HTTP endpoint: `/metrics`, `/healthz` and `/livez` (aiohttp), held to a header
timeout and a connection cap, so that a client that opens connections and never finishes a
request can neither keep them nor starve the probes or the process of file handles.

aiohttp has no header timeout nor a connection cap of its own: each connection's protocol is
wrapped (`TrackedProtocol`) and a middleware tells `ConnectionGuard` when a request is being
served, so that the guard knows which connections are waiting for a request's headers.
Malformed requests are one warning an interval (`BadRequestLog`), each counted
(`CountedBadRequests`).
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError

from controller.core.bad_messages import BadMessages
from controller.core.printable import printable

HEADER_TIMEOUT = 10.0
"""Seconds a connection has to finish a request's headers, counted from when it opened or its
last response went out; then it is closed. An idle keep-alive connection is closed the same
way (Prometheus opens another at its next scrape)."""
MAX_CONNECTIONS = 100
"""Open connections at most. One more closes the connection that has waited longest for its
headers (a slow client's, never a request being served), so that `/healthz` and `/livez` still
answer while someone holds every slot; if all are being served, the new one is closed."""
ACCEPT_ERROR_INTERVAL = 10.0
"""Seconds between two log lines about connections that cannot be accepted for want of file
handles or memory (asyncio retries such an accept many times a second, each with a traceback);
the next line says how many were not logged."""
SHOWN_CHARS = 200
"""What a bad request's log line quotes of what was wrong with it."""
OUT_OF_RESOURCES = frozenset({errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM})

log = logging.getLogger("agentdash.http")
AIOHTTP_SERVER = "aiohttp.server"

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True)
class HttpLimits:
    header_timeout: float = HEADER_TIMEOUT
    max_connections: int = MAX_CONNECTIONS
    accept_error_interval: float = ACCEPT_ERROR_INTERVAL


DEFAULT_LIMITS = HttpLimits()


class ConnectionGuard:
    """The open connections: those waiting for a request's headers, oldest first, each with
    its deadline, and those being served."""

    def __init__(self, limits: HttpLimits) -> None:
        self.limits = limits
        self.waiting: dict[asyncio.BaseTransport, asyncio.TimerHandle] = {}
        self.serving: set[asyncio.BaseTransport] = set()

    def opened(self, transport: asyncio.BaseTransport) -> None:
        if len(self.waiting) + len(self.serving) >= self.limits.max_connections:
            oldest = next(iter(self.waiting), None)
            self.drop(oldest if oldest is not None else transport)
            if oldest is None:
                return
        self.wait(transport)

    def wait(self, transport: asyncio.BaseTransport) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.call_later(self.limits.header_timeout, self.drop, transport)
        self.waiting[transport] = deadline

    def serve(self, transport: asyncio.BaseTransport) -> None:
        deadline = self.waiting.pop(transport, None)
        if deadline is not None:
            deadline.cancel()
        self.serving.add(transport)

    def served(self, transport: asyncio.BaseTransport) -> None:
        self.serving.discard(transport)
        if not transport.is_closing():
            self.wait(transport)  # for the next request on this keep-alive connection

    def closed(self, transport: asyncio.BaseTransport) -> None:
        deadline = self.waiting.pop(transport, None)
        if deadline is not None:
            deadline.cancel()
        self.serving.discard(transport)

    def drop(self, transport: asyncio.BaseTransport) -> None:
        """Closed at once, whatever is unsent: a client that does not send does not read."""
        self.closed(transport)
        if isinstance(transport, asyncio.Transport):
            transport.abort()
        else:
            transport.close()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        transport = request.transport
        if transport is None:  # the client has gone already
            return await handler(request)
        self.serve(transport)
        try:
            return await handler(request)
        finally:
            self.served(transport)


class TrackedProtocol(asyncio.Protocol):
    """aiohttp's protocol for one connection, with the guard told when it opens and closes."""

    def __init__(self, guard: ConnectionGuard, inner: asyncio.Protocol) -> None:
        self.guard = guard
        self.inner = inner
        self.transport: asyncio.BaseTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport
        self.inner.connection_made(transport)
        self.guard.opened(transport)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.transport is not None:
            self.guard.closed(self.transport)
        self.inner.connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        self.inner.data_received(data)

    def eof_received(self) -> bool | None:
        return self.inner.eof_received()

    def pause_writing(self) -> None:
        self.inner.pause_writing()

    def resume_writing(self) -> None:
        self.inner.resume_writing()


class AcceptErrorLog:
    """The event loop's exception handler while the endpoint serves: an error for want of file
    handles or memory (an accept that fails, mostly) is logged once per `interval`, with how
    many were not; anything else goes to the handler that was there before."""

    def __init__(
        self,
        interval: float,
        previous: Callable[[asyncio.AbstractEventLoop, dict[str, Any]], object] | None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.interval = interval
        self.previous = previous
        self.clock = clock
        self.logged_at: float | None = None
        self.unlogged = 0

    def __call__(self, loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        exc = context.get("exception")
        if not (isinstance(exc, OSError) and exc.errno in OUT_OF_RESOURCES):
            if self.previous is not None:
                self.previous(loop, context)
            else:
                loop.default_exception_handler(context)
            return
        now = self.clock()
        if self.logged_at is not None and now - self.logged_at < self.interval:
            self.unlogged += 1
            return
        more = f" ({self.unlogged} more since the last line)" if self.unlogged else ""
        log.error("cannot accept an HTTP connection: %s%s", os.strerror(exc.errno), more)
        self.logged_at = now
        self.unlogged = 0


class BadRequestLog(logging.Filter):
    """On aiohttp's server logger while the endpoint serves. aiohttp logs each request a
    client got wrong (a malformed line or header, answered 400) at error, without saying
    what was wrong: anyone who can reach the port could fill the log with errors. Such lines
    are said once per `interval` at warning, with the reason and how many were not; anything
    else (a handler that failed) passes as it is."""

    def __init__(self, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__()
        self.interval = interval
        self.clock = clock
        self.logged_at: float | None = None
        self.unlogged = 0

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, HttpProcessingError):
            return True
        now = self.clock()
        if self.logged_at is not None and now - self.logged_at < self.interval:
            self.unlogged += 1
            return False
        remote = record.args[0] if isinstance(record.args, tuple) and record.args else "?"
        why = printable(exc.message[:SHOWN_CHARS])
        more = f" ({self.unlogged} more since the last line)" if self.unlogged else ""
        log.warning("bad HTTP request from %s, answered %d: %s%s", remote, exc.code, why, more)
        self.logged_at = now
        self.unlogged = 0
        return False


class CountedBadRequests(logging.LoggerAdapter):  # type: ignore[type-arg]
    """aiohttp's server logger as the endpoint's request handlers call it: each request they
    refuse as malformed (answered 400) is counted in `bad`
    (`agentdash_bad_messages_total{source="http"}`) whatever the log level, since aiohttp says
    bytes that are no HTTP at all (a TLS handshake, a scanner's) at debug only. What reaches
    the log is BadRequestLog's to say."""

    def __init__(self, bad: BadMessages) -> None:
        super().__init__(logging.getLogger(AIOHTTP_SERVER), {})
        self.bad = bad

    def log(self, level: int, msg: object, *args: object, **kwargs: Any) -> None:
        if isinstance(kwargs.get("exc_info"), HttpProcessingError):
            self.bad.count("http")
        super().log(level, msg, *args, **kwargs)


@dataclass
class HttpEndpoint:
    runner: web.AppRunner
    server: asyncio.Server
    accept_errors: AcceptErrorLog
    bad_requests: BadRequestLog

    @property
    def port(self) -> int:
        port: int = self.server.sockets[0].getsockname()[1]
        return port

    async def close(self) -> None:
        self.server.close()  # no new connections; aiohttp closes the open ones
        await self.runner.cleanup()
        await self.server.wait_closed()
        asyncio.get_running_loop().set_exception_handler(self.accept_errors.previous)
        logging.getLogger(AIOHTTP_SERVER).removeFilter(self.bad_requests)


async def listen_guarded(
    app: web.Application,
    host: str | None,
    port: int,
    limits: HttpLimits,
    bad: BadMessages | None = None,
) -> HttpEndpoint:
    """`app` served on host:port under `limits` (host None: every address, IPv4 and IPv6);
    OSError if it cannot listen there. `bad` counts the requests refused as malformed."""
    guard = ConnectionGuard(limits)
    app.middlewares.append(guard.middleware)
    logger = CountedBadRequests(bad or BadMessages())
    runner = web.AppRunner(app, access_log=None, logger=logger)
    await runner.setup()
    aiohttp_server = runner.server
    assert aiohttp_server is not None  # set up above

    def protocol() -> TrackedProtocol:
        return TrackedProtocol(guard, aiohttp_server())

    loop = asyncio.get_running_loop()
    try:
        server = await loop.create_server(protocol, host, port)
    except OSError:
        await runner.cleanup()
        raise
    accept_errors = AcceptErrorLog(limits.accept_error_interval, loop.get_exception_handler())
    loop.set_exception_handler(accept_errors)
    bad_requests = BadRequestLog(limits.accept_error_interval)
    logging.getLogger(AIOHTTP_SERVER).addFilter(bad_requests)
    return HttpEndpoint(runner, server, accept_errors, bad_requests)

"""The daemon's HTTP endpoint against clients that open connections and never finish a request:
each is closed after the header timeout, the cap keeps room for the probes, and running out of
file handles is one log line, not a flood; malformed requests are one line an interval, and
each is counted. Real sockets, the daemon's own endpoint."""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import resource
import socket
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest
import yaml
from aiohttp import web

from agentdash.daemon import METRICS_EVERY_S, parse_listen, serve_http
from agentdash.http_endpoint import (
    ACCEPT_ERROR_INTERVAL,
    AcceptErrorLog,
    HttpLimits,
    listen_guarded,
)
from agentdash.nats_server import NatsServer
from agentdash.opening import RuntimeOptions
from agentdash.runtime import Runtime, start
from controller.core.config import load_config
from tests.support import FakeClock, eventually, free_port
from tests.support.cli import EXAMPLE
from tests.support.daemon import Daemon

HALF_A_REQUEST = b"GET /livez HTTP/1.1\r\nHost: agentdash\r\nX-Slow: "


@pytest.fixture
async def runtime(tmp_path: Path, nats_server: NatsServer) -> AsyncIterator[Runtime]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": nats_server.url}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    running = await start(load_config(path), RuntimeOptions(nats_server.url, cluster="simulated"))
    try:
        yield running
    finally:
        await running.stop()


class SlowClient:
    """A connection that sent part of a request and waits."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int, sent: bytes = HALF_A_REQUEST) -> SlowClient:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(sent)
        await writer.drain()
        return cls(reader, writer)

    async def closed_by_server(self, timeout: float = 10) -> bool:
        """Whether the server closed it (end of stream) before `timeout`; what it sent is read."""
        try:
            async with asyncio.timeout(timeout):
                while await self.reader.read(65536):
                    pass
        except TimeoutError:
            return False
        except ConnectionResetError:
            pass
        return True

    def close(self) -> None:
        self.writer.close()


async def livez(port: int) -> int:
    async with (
        aiohttp.ClientSession() as http,
        http.get(f"http://127.0.0.1:{port}/livez", timeout=aiohttp.ClientTimeout(total=10)) as r,
    ):
        return r.status


async def test_a_connection_that_never_finishes_its_headers_is_closed(runtime: Runtime) -> None:
    endpoint = await serve_http(runtime, f"127.0.0.1:{free_port()}", HttpLimits(header_timeout=0.5))
    try:
        slow = [await SlowClient.open(endpoint.port) for _ in range(5)]
        silent = await SlowClient.open(endpoint.port, sent=b"")
        for client in [*slow, silent]:
            assert await client.closed_by_server()
        assert await livez(endpoint.port) == 200  # a request that is finished is served
    finally:
        await endpoint.close()


async def test_a_keep_alive_connection_that_stalls_in_its_next_request_is_closed(
    runtime: Runtime,
) -> None:
    endpoint = await serve_http(runtime, f"127.0.0.1:{free_port()}", HttpLimits(header_timeout=0.5))
    try:
        client = await SlowClient.open(
            endpoint.port, sent=b"GET /livez HTTP/1.1\r\nHost: agentdash\r\n\r\n" + HALF_A_REQUEST
        )
        answer = await client.reader.readuntil(b"\r\n\r\n")
        assert answer.startswith(b"HTTP/1.1 200")
        assert await client.closed_by_server()
    finally:
        await endpoint.close()


async def test_with_every_slot_held_by_slow_clients_the_probes_still_answer(
    runtime: Runtime,
) -> None:
    cap = 5
    endpoint = await serve_http(
        runtime, f"127.0.0.1:{free_port()}", HttpLimits(header_timeout=3600, max_connections=cap)
    )
    try:
        slow = [await SlowClient.open(endpoint.port) for _ in range(cap)]
        assert await livez(endpoint.port) == 200
        assert await slow[0].closed_by_server()  # the one that waited longest made room
        for client in slow[1:]:  # the others are still there, and served when they finish
            client.writer.write(b"1\r\nConnection: close\r\n\r\n")
            answer = await client.reader.read()
            assert answer.startswith(b"HTTP/1.1 200"), answer
    finally:
        await endpoint.close()


def has_ipv6_loopback() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.mark.skipif(not has_ipv6_loopback(), reason="no IPv6 loopback on this machine")
async def test_a_listen_address_without_a_host_answers_on_ipv4_and_ipv6() -> None:
    """`--http :9090`, as deploy/ runs the daemon, listened on 0.0.0.0 alone: on an IPv6-only
    or IPv6-first cluster the kubelet's probes found nothing there, and the pod was never
    ready (nor scraped)."""

    async def ok(_: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_get("/livez", ok)
    host, port = parse_listen(f":{free_port()}")
    endpoint = await listen_guarded(app, host, port, HttpLimits())
    try:
        for address in ("127.0.0.1", "[::1]"):
            async with (
                aiohttp.ClientSession() as http,
                http.get(f"http://{address}:{port}/livez") as response,
            ):
                assert response.status == 200, address
    finally:
        await endpoint.close()


async def test_scrapes_within_a_second_share_one_rendering(runtime: Runtime) -> None:
    """Each scrape rendered every metric on the loop: twenty clients scraping a fleet of
    2,000 pools in a loop left no time for a tick for 20 s, and the leader lost its lease."""
    clock = FakeClock()
    renders = 0
    render = runtime.metrics.render

    def counted() -> bytes:
        nonlocal renders
        renders += 1
        return render()

    runtime.metrics.render = counted  # type: ignore[method-assign]
    endpoint = await serve_http(runtime, f"127.0.0.1:{free_port()}", clock=clock)
    url = f"http://127.0.0.1:{endpoint.port}/metrics"
    try:
        async with aiohttp.ClientSession() as http:

            async def scrape() -> str:
                async with http.get(url) as response:
                    return await response.text()

            first = await asyncio.gather(*(scrape() for _ in range(20)))
            runtime.metrics.leader.set(1)  # what changes between two ticks
            assert await scrape() == first[0]
            clock.advance(METRICS_EVERY_S)
            assert "agentdash_leader 1.0" in await scrape()
        assert renders == 2
    finally:
        await endpoint.close()


def resource_error(code: int) -> dict[str, Any]:
    return {
        "message": "socket.accept() out of system resource",
        "exception": OSError(code, os.strerror(code)),
    }


def test_running_out_of_file_handles_is_logged_once_per_interval_with_a_count(
    clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    passed_on: list[dict[str, Any]] = []
    handler = AcceptErrorLog(10, previous=lambda _, c: passed_on.append(c), clock=clock)
    loop = asyncio.new_event_loop()
    try:
        with caplog.at_level(logging.ERROR, logger="agentdash.http"):
            for _ in range(1000):
                handler(loop, resource_error(errno.EMFILE))
            clock.advance(10)
            handler(loop, resource_error(errno.ENFILE))
            other = {"message": "something else", "exception": ValueError("no")}
            handler(loop, other)
    finally:
        loop.close()
    assert [r.getMessage() for r in caplog.records] == [
        "cannot accept an HTTP connection: Too many open files",
        "cannot accept an HTTP connection: Too many open files in system"
        " (999 more since the last line)",
    ]
    assert passed_on == [other]


async def test_bad_requests_are_one_warning_an_interval_saying_why_never_an_error_each(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """aiohttp logged each at error, as 'Error handling request from 127.0.0.1' and no more:
    200 requests without a Host header were 200 error lines in the daemon's log."""

    async def alive(_: web.Request) -> web.Response:
        return web.Response(text="alive")

    app = web.Application()
    app.router.add_get("/livez", alive)
    limits = HttpLimits(accept_error_interval=3600)
    endpoint = await listen_guarded(app, "127.0.0.1", free_port(), limits)
    try:
        with caplog.at_level(logging.DEBUG):
            for sent in [b"GET /livez HTTP/1.1\r\n\r\n"] * 50 + [b"\x1b[2J\r\n\r\n"]:
                client = await SlowClient.open(endpoint.port, sent=sent)
                assert (await client.reader.read()).startswith(b"HTTP/1.0 400")
                client.close()
            assert await livez(endpoint.port) == 200
    finally:
        await endpoint.close()
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING] == [
        "bad HTTP request from 127.0.0.1, answered 400: Missing 'Host' header in request."
    ]


@pytest.mark.parametrize("level", [logging.WARNING, logging.DEBUG])
async def test_bad_requests_are_counted_on_the_metrics_the_endpoint_serves(
    runtime: Runtime, caplog: pytest.LogCaptureFixture, level: int
) -> None:
    """Three without a Host header and one of bytes that are no HTTP, which aiohttp says at
    debug only: four, at any log level."""
    caplog.set_level(level)
    endpoint = await serve_http(runtime, f"127.0.0.1:{free_port()}")
    try:
        for sent in [b"GET /metrics HTTP/1.1\r\n\r\n"] * 3 + [b"\x1b[2J\r\n\r\n"]:
            client = await SlowClient.open(endpoint.port, sent=sent)
            assert (await client.reader.read()).startswith(b"HTTP/1.0 400")
            client.close()
        async with (
            aiohttp.ClientSession() as http,
            http.get(f"http://127.0.0.1:{endpoint.port}/metrics") as response,
        ):
            exposed = await response.text()
    finally:
        await endpoint.close()
    assert 'agentdash_bad_messages_total{source="http"} 4.0' in exposed.splitlines()
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert said == [
        "bad HTTP request from 127.0.0.1, answered 400: Missing 'Host' header in request."
    ]


@pytest.fixture
def daemon(tmp_path: Path, nats_server: NatsServer) -> Iterator[Daemon]:
    data = yaml.safe_load(EXAMPLE.read_text())
    data["nats"] = {"url": nats_server.url}
    path = tmp_path / "agentdash.yaml"
    path.write_text(yaml.safe_dump(data))
    started = Daemon(path)
    yield started
    if started.process.poll() is None:
        started.process.kill()
        started.process.wait()


def accept_errors(daemon: Daemon) -> list[dict[str, Any]]:
    return [
        line
        for line in daemon.read()
        if line["type"] == "log" and "accept" in line["message"].lower()
    ]


async def test_a_daemon_out_of_file_handles_logs_it_once_and_answers_when_they_are_back(
    daemon: Daemon,
) -> None:
    await daemon.wait_health(lambda h: h["ticks"] > 0)
    pid = daemon.process.pid
    in_use = len(os.listdir(f"/proc/{pid}/fd"))
    _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (in_use + 5, hard))
    clients = [socket.create_connection(("127.0.0.1", daemon.port)) for _ in range(40)]
    started = time.monotonic()
    try:
        await eventually(lambda: bool(accept_errors(daemon)), timeout=15)
    finally:
        for client in clients:
            client.close()
    await daemon.wait_health(lambda h: h["ticks"] > 0)  # the endpoint answers again
    elapsed = time.monotonic() - started
    logged = accept_errors(daemon)
    assert len(logged) <= 1 + elapsed // ACCEPT_ERROR_INTERVAL, logged[:3]
    assert logged[0]["message"] == "cannot accept an HTTP connection: Too many open files"

"""An HTTP proxy in front of the real API server that can hold chosen requests back and let
them through late: a network that delays one PATCH past the sender's lease.

The client speaks plain HTTP to the proxy (a kubeconfig with `url` and a token); the proxy
speaks TLS to the API server and streams every answer back (watches included). A held request
is forwarded on `release()` whether or not its sender is still waiting for it (a request that
left the sender arrives, late, all the same), and the API server's answer is kept in
`answers`.
"""

from __future__ import annotations

import asyncio
import contextlib
import ssl
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp
import yaml
from aiohttp import web

# Hop-by-hop, or set again by the side that sends.
DROPPED = frozenset({"host", "content-length", "transfer-encoding", "connection"})


@dataclass(frozen=True, slots=True)
class Answer:
    method: str
    path: str
    sent: bytes
    """The request's body, as its sender sent it."""
    status: int
    body: str
    """The API server's answer."""


@dataclass(slots=True)
class StallingProxy:
    upstream: str
    """The API server's URL (https://...)."""
    ca_file: Path
    url: str = ""
    """Where the proxy listens (http://127.0.0.1:PORT), once started."""
    answers: list[Answer] = field(default_factory=list)
    """The API server's answers to the requests held, in the order they were let through."""
    _hold: tuple[str, str] | None = None
    _held: list[asyncio.Task[Answer]] = field(default_factory=list)
    _released: asyncio.Event = field(default_factory=asyncio.Event)
    _session: aiohttp.ClientSession | None = None

    def hold(self, method: str, path_suffix: str) -> None:
        """From now on, hold every request of this method whose path ends so."""
        self._hold = (method, path_suffix)
        self._released.clear()

    @property
    def holding(self) -> int:
        """Requests held and not yet let through."""
        return sum(1 for task in self._held if not task.done())

    async def release(self) -> list[Answer]:
        """Let every held request through, and wait for the API server's answers."""
        self._hold = None
        self._released.set()
        return list(await asyncio.gather(*self._held))

    def kubeconfig(self, path: Path, token: str) -> Path:
        path.write_text(
            yaml.safe_dump(
                {
                    "apiVersion": "v1",
                    "kind": "Config",
                    "current-context": "proxied",
                    "clusters": [{"name": "proxied", "cluster": {"server": self.url}}],
                    "users": [{"name": "agentdash", "user": {"token": token}}],
                    "contexts": [
                        {"name": "proxied", "context": {"cluster": "proxied", "user": "agentdash"}}
                    ],
                }
            )
        )
        return path

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        assert self._session is not None
        body = await request.read()
        headers = {k: v for k, v in request.headers.items() if k.lower() not in DROPPED}
        held = self._hold is not None and (
            request.method == self._hold[0] and request.path.endswith(self._hold[1])
        )
        if held:
            # A task of its own: it goes on when the sender has given up and gone.
            late = asyncio.create_task(self._late(request.method, request.path_qs, headers, body))
            self._held.append(late)
            answer = await asyncio.shield(late)
            response = web.StreamResponse(status=answer.status)
            with contextlib.suppress(ConnectionResetError):  # its sender may have gone
                await response.prepare(request)
                await response.write(answer.body.encode())
                await response.write_eof()
            return response
        async with self._session.request(
            request.method, self.upstream + request.path_qs, headers=headers, data=body
        ) as upstream:
            response = web.StreamResponse(
                status=upstream.status,
                headers={k: v for k, v in upstream.headers.items() if k.lower() not in DROPPED},
            )
            with contextlib.suppress(ConnectionResetError):  # a watch its client closed
                await response.prepare(request)
                async for chunk in upstream.content.iter_any():
                    await response.write(chunk)
                await response.write_eof()
            return response

    async def _late(
        self, method: str, path_qs: str, headers: dict[str, str], body: bytes
    ) -> Answer:
        await self._released.wait()
        assert self._session is not None
        async with self._session.request(
            method, self.upstream + path_qs, headers=headers, data=body
        ) as upstream:
            answer = Answer(method, path_qs, body, upstream.status, await upstream.text())
        self.answers.append(answer)
        return answer


@asynccontextmanager
async def stalling_proxy(upstream: str, ca_file: Path) -> AsyncIterator[StallingProxy]:
    proxy = StallingProxy(upstream, ca_file)
    context = ssl.create_default_context(cafile=str(ca_file))
    proxy._session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(ssl=context), auto_decompress=False
    )
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", proxy._handle)
    # A watch whose client has gone waits on the API server: cancelled, not waited for.
    runner = web.AppRunner(app, handler_cancellation=True, shutdown_timeout=1.0)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    proxy.url = f"http://127.0.0.1:{port}"
    try:
        yield proxy
    finally:
        proxy._released.set()  # nothing stays held past the test
        for task in proxy._held:
            task.cancel()
        await runner.cleanup()
        await proxy._session.close()

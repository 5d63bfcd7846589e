"""A TCP relay in front of a real nats-server that stops passing a client's bytes on once it
sends a JetStream request: a server that took the connection, then stalled (as under SIGSTOP,
but only after the handshake, so the client is connected when it meets it)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

STALL_ON = b"$JS.API."


@asynccontextmanager
async def stalling_relay(upstream_port: int) -> AsyncIterator[str]:
    """The relay's nats:// URL while in the block."""
    held: list[asyncio.StreamWriter] = []

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, stall: bool) -> None:
        while chunk := await src.read(65536):
            if stall and STALL_ON in chunk:
                return  # the request and all after it go nowhere; the connection stays open
            dst.write(chunk)
            await dst.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        held.extend((writer, up_writer))
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        server.close()
        for writer in held:
            writer.close()

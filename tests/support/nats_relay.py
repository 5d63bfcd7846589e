"""TCP relays in front of a real nats-server. `stalling_relay` fails a client once it sends a
JetStream request: the server took the connection, then stalled (as under SIGSTOP, but only
after the handshake, so the client is connected when it meets it), or died (the connection
open is reset, the first opened again too, as it met the dying process, and the next are
refused). `watching_relay` tells a test when a client sends a request, so that it kills the
server with the client mid-way. `distant_relay` delays each answer, as a NATS across a
network does."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Literal

STALL_ON = b"$JS.API."


def _reset(writer: asyncio.StreamWriter) -> None:
    """Close with a TCP reset, as a host whose process died mid-connection may."""
    sock = writer.get_extra_info("socket")
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


@asynccontextmanager
async def stalling_relay(
    upstream_port: int, then: Literal["stall", "reset"] = "stall", on: bytes = STALL_ON
) -> AsyncIterator[str]:
    """The relay's nats:// URL while in the block; it fails the client at its first request
    whose subject starts with `on`."""
    held: list[asyncio.StreamWriter] = []
    dead = asyncio.Event()

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, watch: bool) -> None:
        while chunk := await src.read(65536):
            if watch and on in chunk:
                if then == "reset":
                    dead.set()
                    for writer in held:
                        _reset(writer)
                return  # the request and all after it go nowhere
            dst.write(chunk)
            await dst.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if dead.is_set():  # taken as the process died, reset; refused from then on
            _reset(writer)
            listening.close()
            return
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        held.extend((writer, up_writer))
        with contextlib.suppress(ConnectionError):
            await asyncio.gather(pump(reader, up_writer, True), pump(up_reader, writer, False))

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        listening.close()
        for writer in held:
            writer.close()


@asynccontextmanager
async def watching_relay(
    upstream_port: int, on: bytes, when_seen: Callable[[], None]
) -> AsyncIterator[tuple[str, asyncio.Event]]:
    """The relay's nats:// URL while in the block, and an event set once a client has sent a
    request whose subject starts with `on`; `when_seen` is called just before that request
    is passed on (a test stops the server there: the request lands unread). How the server's
    end of a connection closes, the client's closes too: a reset as a reset. Once the server
    is gone, the relay refuses connections, as the server's own port would."""
    seen = asyncio.Event()

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, watch: bool) -> None:
        while chunk := await src.read(65536):
            if watch and on in chunk and not seen.is_set():
                when_seen()
                seen.set()
            dst.write(chunk)
            await dst.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        except OSError:  # the server is gone
            _reset(writer)
            return
        sending = asyncio.ensure_future(pump(reader, up_writer, True))
        try:
            await pump(up_reader, writer, False)
            writer.close()  # the server closed its end
        except ConnectionError:
            _reset(writer)
        listening.close()  # it is gone: refused from now on
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        up_writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"nats://127.0.0.1:{port}", seen
    finally:
        listening.close()


@asynccontextmanager
async def distant_relay(upstream_port: int, answer_s: float) -> AsyncIterator[str]:
    """The relay's nats:// URL while in the block; what the server sends reaches the client
    `answer_s` late (a round trip's length: questions asked one after the other wait one each,
    questions asked together wait about one)."""

    async def pump(src: asyncio.StreamReader, dst: asyncio.StreamWriter, late: bool) -> None:
        while chunk := await src.read(65536):
            if late:
                await asyncio.sleep(answer_s)
            dst.write(chunk)
            await dst.drain()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", upstream_port)
        sending = asyncio.ensure_future(pump(reader, up_writer, False))
        with contextlib.suppress(ConnectionError):
            await pump(up_reader, writer, True)
        writer.close()
        sending.cancel()
        await asyncio.gather(sending, return_exceptions=True)
        up_writer.close()

    listening = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = listening.sockets[0].getsockname()[1]
    try:
        yield f"nats://127.0.0.1:{port}"
    finally:
        listening.close()

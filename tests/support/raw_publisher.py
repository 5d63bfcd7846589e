"""A publisher that writes NATS's protocol by hand, as a client in any language may: each
message encoded once, then sent as fast as the socket takes it. nats.py encodes a message's
headers at each publish, and at ten messages a second it is no flood."""

from __future__ import annotations

import json
import select
import socket
import threading
import time


def header_block(lines: int) -> bytes:
    """A message's headers, `lines` short ones (`h0: x`), as the protocol carries them."""
    return b"NATS/1.0\r\n" + b"".join(b"h%d: x\r\n" % n for n in range(lines)) + b"\r\n"


def publish_for(
    port: int, user: str, password: str, subject: str, headers: bytes, seconds: float
) -> int:
    """Publish `headers` and an empty JSON object on `subject` for `seconds`; how many were
    sent. Blocking: run it in a thread. The server's pings are answered between messages."""
    body = b"{}"
    size = len(headers) + len(body)
    frame = b"HPUB %s %d %d\r\n" % (subject.encode(), len(headers), size) + headers + body + b"\r\n"
    # protocol 1: the server takes headers only from a client that says so.
    connect = {"user": user, "pass": password, "headers": True, "verbose": False, "protocol": 1}
    with socket.create_connection(("127.0.0.1", port)) as sock:
        sock.recv(4096)  # the server's INFO
        sock.sendall(b"CONNECT " + json.dumps(connect).encode() + b"\r\nPING\r\n")
        pings = Pings()
        stop = threading.Event()
        reading = threading.Thread(target=pings.count, args=(sock, stop), daemon=True)
        reading.start()
        sent, until = 0, time.monotonic() + seconds
        try:
            while time.monotonic() < until:
                sock.sendall(frame)
                sent += 1
                # Answered here, never by the reading thread: a PONG written in the middle
                # of a message would garble it, and the server would close the connection.
                for _ in range(pings.take()):
                    sock.sendall(b"PONG\r\n")
        finally:
            stop.set()
            reading.join(timeout=5)
    return sent


class Pings:
    """The server's PINGs read and not answered yet."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._waiting = 0

    def count(self, sock: socket.socket, stop: threading.Event) -> None:
        # select, not a timeout on the socket: that would cut the other thread's sends short.
        while not stop.is_set():
            if not select.select([sock], [], [], 0.2)[0]:
                continue
            try:
                data = sock.recv(65536)
            except OSError:
                return
            if not data:
                return
            with self._lock:
                self._waiting += data.count(b"PING\r\n")

    def take(self) -> int:
        with self._lock:
            waiting, self._waiting = self._waiting, 0
        return waiting

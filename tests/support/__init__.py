"""Test support: an injected clock, polling with a deadline instead of sleeping, and the
benchmark scripts as modules."""

from __future__ import annotations

import asyncio
import importlib.util
import inspect
import socket
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import ModuleType

BENCHMARKS = Path(__file__).parents[2] / "benchmarks"


class FakeClock:
    """Time that moves only when a test says so."""

    def __init__(self, start: float = 1_000_000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


async def eventually(
    check: Callable[[], bool | Awaitable[bool]], timeout: float = 10.0, every: float = 0.005
) -> None:
    """Poll `check` (plain or async) until it holds, with a deadline (never a fixed sleep)."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if await result if inspect.isawaitable(result) else result:
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout:g} s")
        await asyncio.sleep(every)


@contextmanager
def benchmark_script(name: str) -> Iterator[ModuleType]:
    """benchmarks/NAME.py as a module (benchmarks/ is no package), with benchmarks/ on the path
    as when it runs (the scripts import each other by name). It and the scripts it imports are
    registered while in use (their dataclasses need that), and forgotten after."""
    before = set(sys.modules)
    spec = importlib.util.spec_from_file_location(name, BENCHMARKS / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    sys.path.insert(0, str(BENCHMARKS))
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.path.remove(str(BENCHMARKS))
        for loaded in set(sys.modules) - before:
            if Path(getattr(sys.modules[loaded], "__file__", None) or "/").parent == BENCHMARKS:
                del sys.modules[loaded]


def free_port() -> int:
    """A TCP port free on loopback now (for a server a test starts)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

"""The type of the `make_app` fixture (tests/snapshots/conftest.py)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from textual.pilot import Pilot

from agentdash.tui.app import AgentDashApp

AppFactory = Callable[..., AgentDashApp]
Before = Callable[[Pilot[None]], Awaitable[None]]


def pressing(*keys: str, first: Callable[[Pilot[None]], Awaitable[None]] | None = None) -> Before:
    """A `run_before` that presses `keys` (after `first`), then waits for the work they
    started: describe and a pod's page read the cluster's Events in a worker, and the
    snapshot must not depend on whether that read was done in time."""

    async def before(pilot: Pilot[None]) -> None:
        if first is not None:
            await first(pilot)
        await pilot.pause()
        await pilot.press(*keys)
        await pilot.app.workers.wait_for_complete()
        await pilot.pause()

    return before

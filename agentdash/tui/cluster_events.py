"""The cluster's Events about one object, at the foot of describe and of a pod's page, where
`kubectl describe` ends: the Deployment controller's scales, the scheduler's
FailedScheduling, the kubelet's BackOff, agentdash's own AgentdashRescale.

They are read when the page opens and every EVERY_S while it stays open, never by the loop:
one list call an object on the API's budget, after the lease, the watches and the scales.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.widgets import Static

from agentdash.tui.render import age
from controller.core.model import ClusterEvent, SourceError
from controller.core.printable import printable

EVERY_S = 5.0
"""How often an open page reads its object's Events again."""

Reader = Callable[[], Awaitable[Sequence[ClusterEvent] | None]]
"""Reads one object's Events, oldest first; None where the cluster keeps none."""


class ClusterEvents(Static):
    """One object's Events, newest first, aged against the dashboard's clock."""

    def __init__(self, read: Reader, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._read = read
        self._read_once = False
        self._events: Sequence[ClusterEvent] | None = ()
        self._error: str | None = None
        self._now: float | None = None

    def on_mount(self) -> None:
        self.fetch()
        self.set_interval(EVERY_S, self.fetch)

    def fetch(self) -> None:
        self.run_worker(self._fetch(), exclusive=True, group="cluster-events")

    async def _fetch(self) -> None:
        try:
            self._events, self._error = await self._read(), None
        except SourceError as error:  # what was read before stays: the error says how old
            self._error = str(error)
        self._read_once = True
        self._draw()

    def at(self, now: float) -> None:
        """Ages as of the dashboard's clock (a snapshot's time)."""
        self._now = now
        self._draw()

    def _draw(self) -> None:
        if self._now is not None:
            said = None if self._read_once else "reading…"
            self.update(events_view(self._events, self._error or said, self._now))


def events_view(events: Sequence[ClusterEvent] | None, said: str | None, now: float) -> Group:
    parts: list[RenderableType] = [Text("\nEvents, newest first", style="bold underline")]
    if said is not None:
        parts.append(Text(printable(said), style="red" if said != "reading…" else "dim"))
    if events is None:
        parts.append(Text("none: this cluster keeps no Events", style="dim"))
    elif not events and said is None:
        parts.append(Text("<none>", style="dim"))
    elif events:
        parts.append(events_table(events, now))
    return Group(*parts)


def events_table(events: Sequence[ClusterEvent], now: float) -> Table:
    table = Table(box=None, padding=(0, 1), show_edge=False, header_style="bold")
    for column in ("TYPE", "REASON", "AGE", "FROM"):
        table.add_column(column, no_wrap=True)
    table.add_column("MESSAGE", overflow="fold")
    for event in reversed(events):
        seen = age(now - event.last_seen) + (f" (x{event.count})" if event.count > 1 else "")
        table.add_row(
            Text(printable(event.type), style="yellow" if event.type == "Warning" else ""),
            Text(printable(event.reason)),
            seen,
            Text(printable(event.source)),
            Text(printable(event.message)),
        )
    return table

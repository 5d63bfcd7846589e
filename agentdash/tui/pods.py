"""The Pods screen: the pods of one pool, or of every pool, with their phase, age and task. It
renders a FleetSnapshot when the app hands it one (agentdash.tui.live); it never reads a source
or sleeps."""

from __future__ import annotations

import operator
from collections.abc import Sequence

from textual.app import ComposeResult
from textual.binding import Binding
from textual.widgets import Static

from agentdash.tui.columns import Column
from agentdash.tui.footer import KeyBar
from agentdash.tui.live import LiveScreen
from agentdash.tui.render import age
from agentdash.tui.table import KeyedTable
from controller.core.events import Event
from controller.core.model import Pod
from controller.runtime.snapshot import FleetSnapshot


class PodsScreen(LiveScreen):
    AUTO_FOCUS = "#pods"
    BINDINGS = [
        Binding("escape", "app.go_back", "Back"),
        Binding("a", "all", "All pools"),
        Binding("enter", "app.pod", "Pod detail"),
    ]

    def __init__(self, pool: str | None) -> None:
        super().__init__(name="pods")
        self.pool = pool
        self.now = 0.0
        self._pods: Sequence[Pod] = ()

    @property
    def selected_pool(self) -> str | None:  # type: ignore[override]
        """The pool shown, or with all pools shown, the selected pod's."""
        pod = self.selected_pod
        return self.pool or (pod.pool if pod else None)

    @property
    def selected_pod(self) -> Pod | None:
        name = self.query_one("#pods", KeyedTable).selected
        return next((p for p in self._pods if p.name == name), None)

    def on_data_table_row_selected(self) -> None:
        self.app.action_pod()  # type: ignore[attr-defined]

    def compose(self) -> ComposeResult:
        yield Static(id="title")
        yield KeyedTable(
            [
                Column("POD", 23, priority=10, sort="N"),
                # POOL goes first where the room is short: the title names the pool, or the
                # pod's name starts with its Deployment's; a cut phase or task says nothing.
                Column("POOL", 17, priority=2),
                Column("PHASE", 16, min_width=13, priority=6),  # ImagePullBackOff, Unschedulable
                Column("AGE", 5, priority=7, render=self._age, sort_value=operator.neg),
                Column("RDY", 3, priority=4),
                Column("TASK", None, min_width=10, priority=3),  # "t000335 +1": 2 in hand
            ],
            id="pods",
            enter="Pod detail",
        )
        yield KeyBar()

    def show(self, snapshot: FleetSnapshot, log: Sequence[Event]) -> None:
        self.now = snapshot.ts
        if self.pool is None:
            pods: Sequence[Pod] = snapshot.pods  # pool by pool, as the controller lists them
        else:
            pods = sorted(
                (p for p in snapshot.pods if p.pool == self.pool),
                key=lambda p: (p.started_at, p.name),
            )
        self._pods = snapshot.pods
        where = f"pool {self.pool}" if self.pool else "all pools"
        ready = sum(p.ready for p in pods)
        said = f"{len(pods)}, {ready} ready"
        feed = self.app.feed  # type: ignore[attr-defined]
        if not pods and snapshot.leader is not None and feed.simulated_cluster:
            said = "in the leader's process (--cluster simulated)"
        self.query_one("#title", Static).update(f"Pods of {where}: {said}")
        # AGE holds the start time and is drawn for the rows on screen alone (see _age).
        self.query_one("#pods", KeyedTable).sync(
            [
                (
                    p.name,
                    (
                        p.name,
                        p.pool,
                        p.waiting or p.phase,  # as k9s's STATUS: ImagePullBackOff, not Pending
                        p.started_at,
                        "yes" if p.ready else "no",
                        p.task or "-",
                    ),
                )
                for p in pods
            ]
        )

    def _age(self, started_at: float) -> str:
        return age(self.now - started_at)

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        # `a` with every pool shown did nothing, and the footer still offered it.
        return action != "all" or self.pool is not None

    def action_all(self) -> None:
        self.pool = None
        self.refresh_bindings()
        self.app.refresh_feed()  # type: ignore[attr-defined]

"""The operator's actions on the fleet: pin, unpin, pause a tenant, a pool or the controller,
and dry-run. Each asks first, in a dialog over the screen it was asked on, then writes the
override through the feed's store and says in a toast what was done. They live apart from the
app, which owns the screens and the refresh: what an action asks and writes is its own matter,
and the command palette reaches them the same way as the keys do."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from textual.app import App
from textual.screen import Screen

from agentdash.tui.feed import Feed
from agentdash.tui.modals import ConfirmationModal, PinModal
from agentdash.tui.pause import PauseChoice, PausePoolModal, held, pause_question
from agentdash.tui.tenants import TenantsScreen
from agentdash.tui.wrapping import toast_text
from controller.coordination.overrides import ReadOnlyError
from controller.core.events import ActionEvent
from controller.core.printable import printable
from controller.core.wording import plural, span_words


def select_a_pool(screen: Screen[Any]) -> str:
    """What to say when an action on a pool is asked with none selected."""
    if isinstance(screen, TenantsScreen):
        return "That acts on a pool: enter lists this tenant's pools, then select one"
    return "Select a pool first"


def done_text(event: ActionEvent) -> str:
    """What the toast says was done: "pin acme-research: 3 replicas for 600 s, by alice",
    "pause controller by alice" (the controller's actions name it already)."""
    target = "" if event.target in event.action else f" {event.target}"
    what = f"{event.action}{target}: {event.detail}," if event.detail else f"{event.action}{target}"
    return printable(f"{what} by {event.who}")


class OperatorActions:
    """Runs an operator action by name on what the app's top screen has selected."""

    def __init__(
        self,
        app: App[Any],
        feed: Callable[[], Feed],
        refresh: Callable[[], None],
        *,
        read_only: bool,
    ) -> None:
        """`feed` gives the app's feed once it has one; `refresh` shows a change at once."""
        self.app = app
        self._feed = feed
        self._refresh = refresh
        self.read_only = read_only

    @property
    def feed(self) -> Feed:
        return self._feed()

    def run(self, name: str) -> None:
        if self.read_only:  # every operator action changes the fleet
            self.app.notify("Refused: agentdash runs --read-only", severity="error")
            return
        pool = getattr(self.app.screen, "selected_pool", None)
        tenant = getattr(self.app.screen, "selected_tenant", None)
        store, overrides = self.feed.store, self.feed.store.current()
        if name in ("pin", "unpin", "pause_pool") and pool is None:
            self.app.notify(select_a_pool(self.app.screen), severity="warning")
            return
        if name == "pause_tenant" and tenant is None:
            if pool is None:
                self.app.notify("Select a pool or a tenant first", severity="warning")
                return
            tenant = self.feed.config.pools[pool].tenant
        if name == "pin":
            assert pool is not None
            current = overrides.pins.get(pool)
            limit = self.feed.config.pools[pool].max_replicas
            self.app.push_screen(
                PinModal(pool, current.replicas if current else None, limit),
                lambda result: self._pin(pool, result),
            )
        elif name == "unpin":
            assert pool is not None
            if pool not in overrides.pins:
                self.app.notify(f"{pool} is not pinned")
                return
            self._confirm(f"Unpin {pool}?", "Unpin", lambda: store.unpin(pool))
        elif name == "pause_tenant":
            assert tenant is not None
            paused = tenant in overrides.paused_tenants
            verb = "Resume" if paused else "Pause"
            what = "its pools scale back up" if paused else "its pools go to 0; queues are kept"
            self._confirm(
                f"{verb} tenant {tenant}? ({what})",
                verb,
                lambda: store.pause_tenant(tenant, not paused),
            )
        elif name == "pause_pool":
            assert pool is not None
            self._pause_pool(pool)
        elif name == "pause_controller":
            if overrides.paused:
                question = "Resume the controller? (every pool scales to its demand again)"
            else:
                question = "Pause the controller? (replicas stay where they are until resumed)"
            verb = "Resume" if overrides.paused else "Pause"
            self._confirm(question, verb, lambda: store.pause_controller(not overrides.paused))
        elif name == "dry_run":
            state = "off" if overrides.dry_run else "on"
            self._confirm(
                f"Turn dry-run {state}?",
                f"Dry-run {state}",
                lambda: store.set_dry_run(not overrides.dry_run),
            )

    def _pin(self, pool: str, result: tuple[int, float | None] | None) -> None:
        if result is None:
            self._cancelled("Pin")
            return
        replicas, span = result
        when = f" for {span_words(span)}" if span else " until unpinned"
        self._confirm(
            f"Pin {pool} at {plural(replicas, 'warm replica')}{when}?",
            "Pin",
            lambda: self.feed.store.pin(pool, replicas, span),
        )

    def _pause_pool(self, pool: str) -> None:
        """`x`: pause the pool (hold, or to N, for some minutes), or resume it if paused."""
        store = self.feed.store
        if pool in store.current().paused_pools:
            self._confirm(
                f"Resume pool {pool}? (its queue scales it again)",
                "Resume",
                lambda: store.resume_pool(pool),
            )
            return
        row = next((p for p in self.feed.snapshot().pools if p.name == pool), None)
        replicas = row.replicas if row is not None else 0

        def chosen(choice: PauseChoice | None) -> None:
            if choice is None:
                self._cancelled("Pause")
            else:
                self._confirm(
                    pause_question(pool, replicas, choice),
                    "Pause",
                    lambda: store.pause_pool(pool, held(replicas, choice), choice[1]),
                )

        limit = self.feed.config.pools[pool].max_replicas
        self.app.push_screen(PausePoolModal(pool, replicas, limit), chosen)

    def _cancelled(self, label: str) -> None:
        """A dialog left with nothing done says so, as a cancelled confirmation does; not
        while agentdash quits (ctrl+c in a dialog quits)."""
        if not getattr(self.app, "quitting", False):
            self.app.notify(f"{label} cancelled: nothing changed", markup=False)

    def _confirm(self, question: str, label: str, act: Callable[[], ActionEvent]) -> None:
        def done(confirmed: bool | None) -> None:
            if not confirmed:
                # Cancel has the focus, so a second enter lands here: say so, or an operator
                # who meant to confirm believes it done.
                self.app.notify(f"{label} cancelled: nothing changed", markup=False)
                return
            if getattr(self.app, "quitting", False):  # ctrl+c over the dialog came first
                self.app.notify(f"{label} not done, as agentdash quits", markup=False)
                return
            try:
                event = act()
            except ReadOnlyError as exc:  # the store refuses, whatever the screen allowed
                self.app.notify(str(exc), severity="error")
                return
            self.feed.announce(event)
            self.app.notify(toast_text(done_text(event), self.app.size.width), markup=False)
            self._refresh()

        self.app.push_screen(ConfirmationModal(question, label), done)

"""The pause-pool dialog (`x`): KEDA's paused-replicas for one pool, from the dashboard.

Hold the pool's replicas where they are (replicas left blank) or scale it to a number, for
some minutes (blank: until resumed). Like the pin dialog, it only asks: the app confirms
(Cancel first) before anything changes.
"""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

PauseChoice = tuple[int | None, float | None]
"""(replicas, or None to hold them where they are; seconds, or None until resumed)."""


class PausePoolModal(ModalScreen[PauseChoice | None]):
    DEFAULT_CSS = """
    PausePoolModal {
        align: center middle;
        background: $background 60%;
    }
    """
    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, pool: str, replicas: int) -> None:
        super().__init__()
        self.pool = pool
        self.replicas = replicas

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Pause [b]{self.pool}[/b]: its queue no longer scales it",
                        id="question")  # fmt: skip
            with Grid(id="fields"):
                yield Label("replicas")
                yield Input("", id="replicas", type="integer",
                            placeholder=f"blank: hold at {self.replicas}")  # fmt: skip
                yield Label("minutes")
                yield Input("", id="minutes", placeholder="blank: until resumed", type="number")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Pause", id="pause", variant="warning")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False
        self.query_one("#replicas", Input).focus()

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pause":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        choice = parse_pause(self.query_one("#replicas", Input).value,
                             self.query_one("#minutes", Input).value)  # fmt: skip
        if choice is None:
            self.query_one("#error", Static).update(
                "replicas: blank (hold) or a whole number >= 0; minutes: blank or > 0"
            )
            return
        self.dismiss(choice)

    def action_cancel(self) -> None:
        self.dismiss(None)


def parse_pause(replicas: str, minutes: str) -> PauseChoice | None:
    """The dialog's fields as a choice, or None if either is not valid."""
    replicas, minutes = replicas.strip(), minutes.strip()
    try:
        count = int(replicas) if replicas else None
        span = float(minutes) * 60 if minutes else None
    except ValueError:
        return None
    if (count is not None and count < 0) or (span is not None and not 0 < span < 1e9):
        return None
    return count, span


def pause_question(pool: str, replicas: int, choice: PauseChoice) -> str:
    """What the confirmation asks, in the operator's terms."""
    count, span = choice
    what = f"hold it at {replicas} replicas" if count is None else f"scale it to {count}"
    when = f" for {span / 60:g} min" if span else " until resumed"
    return f"Pause pool {pool} ({what}){when}? Its queue keeps every task."

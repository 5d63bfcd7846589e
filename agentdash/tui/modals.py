"""Modal screens: confirmation before any action, the pin dialog, and help."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static


class ConfirmationModal(ModalScreen[bool]):
    """Ask before doing anything to the fleet. Cancel has the focus: enter alone does nothing."""

    BINDINGS = [Binding("escape", "cancel", "Cancel"), Binding("y", "confirm", "Yes", show=False)]

    def __init__(self, question: str, confirm: str = "Confirm") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(self.question, id="question")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel", variant="default")
                yield Button(self.confirm_label, id="confirm", variant="warning")

    def on_mount(self) -> None:
        self.query_one("#cancel", Button).focus()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        self.dismiss(event.button.id == "confirm")

    def action_cancel(self) -> None:
        self.dismiss(False)

    def action_confirm(self) -> None:
        self.dismiss(True)


class PinModal(ModalScreen[tuple[int, float | None] | None]):
    """How many warm replicas, and for how long (blank: until unpinned)."""

    BINDINGS = [Binding("escape", "cancel", "Cancel")]

    def __init__(self, pool: str, current: int | None) -> None:
        super().__init__()
        self.pool = pool
        self.current = current

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Label(f"Pin [b]{self.pool}[/b] warm: keep at least N replicas", id="question")
            with Grid(id="fields"):
                yield Label("replicas")
                yield Input(str(self.current or 1), id="replicas", type="integer")
                yield Label("minutes")
                yield Input("", id="minutes", placeholder="blank: until unpinned", type="number")
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Pin", id="pin", variant="warning")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False
        self.query_one("#replicas", Input).focus()

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "pin":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        replicas = self.query_one("#replicas", Input).value.strip()
        minutes = self.query_one("#minutes", Input).value.strip()
        try:
            count = int(replicas)
            span = float(minutes) * 60 if minutes else None
        except ValueError:
            count, span = -1, None
        if count < 0 or (span is not None and span <= 0):
            self.query_one("#error", Static).update("replicas: a whole number >= 0; minutes > 0")
            return
        self.dismiss((count, span))

    def action_cancel(self) -> None:
        self.dismiss(None)


HELP = """\
[b]Screens[/b]
  f  fleet          p  pods          t  tenants       e  events
  enter  why this pool scaled        esc  back
[b]Operator actions[/b] (each asks first; hidden with --read-only)
  w  pin a pool warm (N replicas, optionally for M minutes)
  u  unpin the pool
  s  pause / resume the pool's tenant (its pools go to 0, the queue is kept)
  S  pause / resume the whole controller (replicas held where they are)
  d  dry-run on / off (decide and log, never scale)
[b]Anywhere[/b]
  :  or ctrl+p  command palette (every screen and action; themes)
  /  filter the table       ?  this help       q  quit
"""


class HelpScreen(ModalScreen[None]):
    BINDINGS = [Binding("escape,question_mark,q", "dismiss", "Close")]

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield Static(HELP, id="help")
            yield Label("esc to close", id="hint")

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)

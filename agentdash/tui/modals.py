"""Modal screens: confirmation before any action, the pin dialog, and help."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import replace
from typing import ClassVar, TypeVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual import events
from textual.app import App, ComposeResult
from textual.binding import Binding
from textual.containers import Grid, Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Static

from agentdash.tui.wrapping import KeptStatic

QUIT = Binding("ctrl+c", "app.quit", "Quit", show=False)
"""Ctrl-C quits over a dialog too: a modal screen hides the app's own keys. (In a text field
with text selected it copies it: the field's ctrl+c comes first.)"""

QUIT_HELP = "Quit (^c copies selected text instead, in a text field too)"
QUIT_KEYS = ("q", "ctrl+c", "ctrl+q")

MAX_MINUTES = 525_600
"""A year: a pin or a pause longer than that is one with no end (leave the field blank)."""
MINUTES = (
    "minutes: blank (no end), or from 1 s up to 365 d (a year): minutes, "
    "or a number with s, m, h or d (90s, 1.5h, 2d)"
)
_WHOLE = re.compile(r"[0-9]+")
_SPAN = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+) ?([smhd]?)")
_UNIT_S = {"s": 1, "m": 60, "": 60, "h": 3600, "d": 86400}


def count_of(text: str) -> int:
    """A replicas field as a whole number, written in ASCII digits; ValueError otherwise.
    Python's int() also takes `٣` (3), `1_0` (10) and spaces, which the confirmation then
    showed as a number the operator never typed."""
    if not _WHOLE.fullmatch(text):
        raise ValueError(text)
    return int(text)


def minutes_of(text: str) -> float | None:
    """Seconds for a minutes field, None when blank: minutes, or a number with its unit (s,
    m, h, d: `1d` was read as 1 minute, the field dropping the `d`); ValueError if it is not
    a time: ASCII digits, at least a second (`1e-300` made a pause that ended as it began),
    at most a year."""
    if not text:
        return None
    found = _SPAN.fullmatch(text)
    if found is None:
        raise ValueError(text)
    seconds = float(found[1]) * _UNIT_S[found[2]]
    if not 1 <= seconds <= MAX_MINUTES * 60:
        raise ValueError(text)
    return seconds


T = TypeVar("T")

SHORT = 20
"""A terminal fewer rows high than this draws dialogs without the fields' and buttons'
borders, and without the space around them: at 40x10 the pin dialog's minutes field and
buttons were off the screen. The screens under them give up room too (styles/app.tcss)."""


class FitsShortTerminals(ModalScreen[T]):
    """A dialog that fits in a short terminal (ssh from a phone, a split tmux pane)."""

    def on_resize(self, event: events.Resize) -> None:
        # The screen's class -short comes with the app's VERTICAL_BREAKPOINTS; a widget's
        # compact is not a style, and is set here.
        short = event.size.height < SHORT
        for widget in self.query("Input, Button"):
            assert isinstance(widget, Input | Button)
            widget.compact = short


class ConfirmationModal(FitsShortTerminals[bool]):
    """Ask before doing anything to the fleet. Cancel has the focus: enter alone does nothing."""

    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("y", "confirm", "Yes", show=False),
        QUIT,
    ]

    def __init__(self, question: str, confirm: str = "Confirm") -> None:
        super().__init__()
        self.question = question
        self.confirm_label = confirm

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            yield KeptStatic(self.question, id="question")
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


class Field(Input):
    """An Input whose own keys (backspace, arrows, enter...) act in the order the keys came.
    Input runs them as bindings, when the key has bubbled up to the app: by then a key typed
    after them in the same burst may already be in the field ("BSpace 3 Tab 2" lost the 2)."""

    KEYS: ClassVar[dict[str, str]] = {
        binding.key: binding.action for binding in Binding.make_bindings(Input.BINDINGS)
    }

    async def _on_key(self, event: events.Key) -> None:
        action = self.KEYS.get(event.key)
        # ctrl+c copies only a selection: with none, it goes on to the dialog's quit (QUIT)
        if action is None or (action == "copy" and not self.selected_text):
            await super()._on_key(event)
            return
        event.stop()
        event.prevent_default()
        await self.run_action(action)


class ReplicasModal(FitsShortTerminals[T | None]):
    """A dialog of two fields, replicas and minutes, that only asks: the app confirms (Cancel
    first) before anything changes. Subclasses say what the fields mean and how to read them."""

    # Tab moves the focus as the app reads the key, before it hands on the next: keys that
    # arrive in one burst (one SSH packet, "3 Tab 2") each land in the field they were typed
    # for, not the one that had the focus when the burst came.
    BINDINGS = [
        Binding("escape", "cancel", "Cancel"),
        Binding("tab", "app.focus_next", "Next field", show=False, priority=True),
        Binding("shift+tab", "app.focus_previous", "Previous field", show=False, priority=True),
        QUIT,
    ]
    confirm = "OK"
    invalid = "replicas: a whole number from 0 to {limit}; " + MINUTES

    def __init__(
        self, question: str, replicas: str, replicas_hint: str, minutes_hint: str, limit: int
    ) -> None:
        super().__init__()
        self.question = question
        self.fields = (replicas, replicas_hint, minutes_hint)
        self.limit = limit
        """The pool's max_replicas: no more can be asked for."""

    def compose(self) -> ComposeResult:
        replicas, replicas_hint, minutes_hint = self.fields
        with Vertical(id="dialog"):
            yield KeptStatic(self.question, id="question")
            with Grid(id="fields"):
                yield Label("replicas")
                yield Field(replicas, id="replicas", type="integer", placeholder=replicas_hint)
                yield Label("minutes")
                # text, not a number: a number field drops the unit of `2d` as it is typed
                yield Field("", id="minutes", placeholder=minutes_hint)
            yield Static("", id="error")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button(self.confirm, id="confirm", variant="warning")

    def on_mount(self) -> None:
        for field in self.query(Input):
            field.cursor_blink = False
        self.query_one("#replicas", Input).focus()

    def on_input_submitted(self) -> None:
        self._submit()

    def on_button_pressed(self, event: Button.Pressed) -> None:
        if event.button.id == "confirm":
            self._submit()
        else:
            self.dismiss(None)

    def _submit(self) -> None:
        choice = self.parse(
            self.query_one("#replicas", Input).value.strip(),
            self.query_one("#minutes", Input).value.strip(),
        )
        if choice is None:
            self.query_one("#error", Static).update(self.invalid.format(limit=self.limit))
            return
        self.dismiss(choice)

    def parse(self, replicas: str, minutes: str) -> T | None:
        """The fields as the dialog's answer, or None if either is not valid."""
        raise NotImplementedError

    def action_cancel(self) -> None:
        self.dismiss(None)


class PinModal(ReplicasModal[tuple[int, float | None]]):
    """How many warm replicas, and for how long (blank: until unpinned)."""

    confirm = "Pin"
    invalid = (
        "replicas: a whole number from 1 to {limit} (a pin of 0 keeps nothing warm); " + MINUTES
    )

    def __init__(self, pool: str, current: int | None, limit: int) -> None:
        super().__init__(
            f"Pin [b]{pool}[/b] warm: keep at least N replicas",
            str(current or 1),
            "",
            "blank: until unpinned",
            limit,
        )
        self.pool = pool

    def parse(self, replicas: str, minutes: str) -> tuple[int, float | None] | None:
        try:
            count, span = count_of(replicas.strip()), minutes_of(minutes.strip())
        except ValueError:
            return None
        return (count, span) if 1 <= count <= self.limit else None


Section = tuple[str, list[Binding]]


def bindings_of(cls: type, *, only_ours: bool = False) -> list[Binding]:
    """The key bindings a class declares and inherits, merged as Textual merges them (a
    subclass's binding of a key wins). `only_ours` leaves out what Textual's classes declare."""
    found: dict[str, Binding] = {}
    mro = list(cls.__mro__)
    # A class declared with inherit_bindings=False starts afresh, as Textual has it.
    fresh = next(
        (i for i, k in enumerate(mro) if k.__dict__.get("_inherit_bindings") is False), None
    )
    for klass in reversed(mro if fresh is None else mro[: fresh + 1]):
        if only_ours and not klass.__module__.startswith("agentdash"):
            continue
        for binding in Binding.make_bindings(klass.__dict__.get("BINDINGS", [])):
            found[binding.key] = binding
    return list(found.values())


def quit_said_once(bindings: Sequence[Binding]) -> list[Binding]:
    """The keys that work anywhere, with ctrl+c on one line: Textual's screens bind it to copy
    selected text (the copy, when nothing is selected, gives way to our quit), which would be a
    line of its own beside the quit, and Textual's ctrl+q has words of its own. Every key that
    quits carries the one line that says both, q first."""
    kept = [b for b in bindings if (b.key, b.action) != ("ctrl+c", "screen.copy_text")]
    quits = [replace(b, tooltip=QUIT_HELP) for b in kept if b.action.removeprefix("app.") == "quit"]
    quits.sort(key=lambda b: QUIT_KEYS.index(b.key) if b.key in QUIT_KEYS else len(QUIT_KEYS))
    return [b for b in kept if b.action.removeprefix("app.") != "quit"] + quits


HELP_COLUMNS = 2
HELP_KEY_WIDTH = 10
HELP_TEXT_WIDTH = 21
HELP_TWO_COLUMNS_FROM = 71
"""The terminal width from which the help has room for two columns of keys: 2 x (10 + 21)
cells and their gaps, in the dialog's border, padding and scroll bar. Narrower, the grid
shrank every column and cut key names (`shift+t…`): one column then."""


def help_table(app: App[object], sections: Sequence[Section], columns: int = HELP_COLUMNS) -> Group:
    """Every key of every section, generated from the bindings so the help cannot drift from
    them: keys doing the same thing share a line, and a screen does not list again what the
    first section (keys that work anywhere) has. Bindings with a tooltip (operator actions)
    get a line each to explain themselves."""
    anywhere: set[tuple[str, str]] = set()
    parts: list[RenderableType] = []
    for title, bindings in sections:
        listed = set(anywhere)
        actions: dict[str, list[Binding]] = {}
        for binding in bindings:
            action = binding.action.removeprefix("app.")
            if binding.system or (binding.key, action) in listed:
                continue
            listed.add((binding.key, action))
            actions.setdefault(action, []).append(binding)
        anywhere = anywhere or listed
        if not actions:
            continue
        entries = [
            (" ".join(app.get_key_display(b) for b in same), same[0]) for same in actions.values()
        ]
        short = [(keys, b.description) for keys, b in entries if not b.tooltip]
        grid = Table.grid(padding=(0, 1))
        for _ in range(columns):
            grid.add_column(style="bold", no_wrap=True, width=HELP_KEY_WIDTH)
            grid.add_column(width=HELP_TEXT_WIDTH)
        for row in range(0, len(short), columns):
            grid.add_row(*(cell for entry in short[row : row + columns] for cell in entry))
        long = Table.grid(padding=(0, 1))
        long.add_column(style="bold", no_wrap=True, width=HELP_KEY_WIDTH)
        long.add_column()
        for keys, binding in entries:
            if binding.tooltip:
                long.add_row(keys, binding.tooltip)
        parts += [Text(title, style="bold underline"), grid, long]
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    """Every key, by where it works (the app hands in its sections)."""

    BINDINGS = [
        Binding("escape,question_mark,q", "dismiss", "Close"),
        QUIT,
        Binding("j", "scroll(1)", "Scroll down", show=False),  # as in every table
        Binding("k", "scroll(-1)", "Scroll up", show=False),
    ]

    def __init__(self, sections: Sequence[Section]) -> None:
        super().__init__()
        self.sections = sections

    def compose(self) -> ComposeResult:
        with Vertical(id="dialog"):
            with VerticalScroll(id="help-body"):
                yield Static(self._table(), id="help")
            yield Label("esc to close · j k ↑ ↓ to scroll", id="hint")

    def _table(self) -> Group:
        columns = HELP_COLUMNS if self.app.size.width >= HELP_TWO_COLUMNS_FROM else 1
        return help_table(self.app, self.sections, columns)

    def on_resize(self) -> None:
        self.query_one("#help", Static).update(self._table())

    def action_dismiss(self, result: None = None) -> None:  # type: ignore[override]
        self.dismiss(None)

    def action_scroll(self, lines: int) -> None:
        self.query_one("#help-body", VerticalScroll).scroll_relative(y=lines, animate=False)

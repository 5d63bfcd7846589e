"""The key bar at the foot of every screen: the keys that work here, drawn as one line.

It looks and acts as Textual's Footer: a key runs when clicked, a disabled one is dim and rings
the bell, the wheel scrolls keys that do not fit, the command palette's key sits on the right.
It is one widget, redrawn only when the keys change, because Footer's widget per key is costly
to build and style and it rebuilds them all on every focus change: opening a screen over SSH
would spend most of its CPU on this one row (benchmarks/screen_open.py)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, NamedTuple

from rich.cells import cell_len
from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen

DIM = Style(dim=True)


class ShownKey(NamedTuple):
    """One key in the bar: what it runs (`key`, pressed as if typed) and what it says."""

    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str


class Placed(NamedTuple):
    """The columns [start, end) a key takes in the bar."""

    start: int
    end: int
    shown: ShownKey


class KeyBar(Widget, can_focus=False):
    ALLOW_SELECT = False
    COMPONENT_CLASSES = {
        "keybar--key",
        "keybar--description",
        "keybar--hover",
        "keybar--separator",
    }
    DEFAULT_CSS = """
    KeyBar {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        & > .keybar--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .keybar--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .keybar--hover { background: $block-hover-background; }
        & > .keybar--separator { color: $foreground 20%; }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._keys: tuple[ShownKey, ...] = ()
        self._palette: ShownKey | None = None
        self._first = 0
        """The first key shown: the wheel moves it when the keys do not all fit."""
        self._hovered: ShownKey | None = None

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        # As Footer: while the terminal is not focused the bindings are not the ones to draw.
        if not self.app.app_focus:
            return
        keys, palette = self._read(screen)
        if (keys, palette) != (self._keys, self._palette):
            self._keys, self._palette, self._first = keys, palette, 0
            self.refresh()

    def _read(self, screen: Screen[object]) -> tuple[tuple[ShownKey, ...], ShownKey | None]:
        """The keys to show, one per action as Footer shows them, and the palette's apart."""
        by_action: dict[str, ShownKey] = {}
        palette = None
        for active in screen.active_bindings.values():
            binding = active.binding
            shown = ShownKey(
                key=binding.key,
                display=self.app.get_key_display(binding),
                description=binding.description,
                enabled=active.enabled,
                tooltip=active.tooltip,
            )
            if binding.key == self.app.COMMAND_PALETTE_BINDING:
                if self.app.ENABLE_COMMAND_PALETTE:
                    palette = shown._replace(tooltip=binding.tooltip or binding.description)
            elif binding.show:
                by_action.setdefault(binding.action, shown)
        return tuple(by_action.values()), palette

    def _layout(self) -> list[Placed]:
        """Where each key shown goes at the bar's width, the palette's last."""
        return layout(self._keys[self._first :], self._palette, self.size.width)

    def render(self) -> Text:
        line = Text(no_wrap=True, overflow="crop", end="")
        for placed in self._layout():
            line.pad_right(placed.start - line.cell_len)
            text = self._drawn(placed.shown, palette=placed.shown is self._palette)
            text.truncate(placed.end - placed.start)
            line.append_text(text)
        return line

    def _drawn(self, shown: ShownKey, palette: bool) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        description_style = self.get_component_rich_style("keybar--description")
        if shown == self._hovered:
            hover = self.get_component_rich_style("keybar--hover")
            key_style, description_style = key_style + hover, description_style + hover
        if not shown.enabled:
            key_style, description_style = key_style + DIM, description_style + DIM
        if palette:
            separator = self.get_component_rich_style("keybar--separator")
            return Text.assemble(
                ("▏", separator),
                (shown.display, key_style),
                (f" {shown.description} ", description_style),
            )
        if not shown.description:
            return Text(f" {shown.display} ", key_style)
        return Text.assemble(
            (f" {shown.display} ", key_style), (f"{shown.description} ", description_style)
        )

    def _at(self, x: int) -> ShownKey | None:
        return next((p.shown for p in self._layout() if p.start <= x < p.end), None)

    def _hover(self, shown: ShownKey | None) -> None:
        if shown != self._hovered:
            self._hovered = shown
            self.tooltip = shown.tooltip if shown is not None and shown.tooltip else None
            self.refresh()

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._hover(self._at(event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._hover(None)

    def on_mouse_down(self, event: events.MouseDown) -> None:
        shown = self._at(event.x)
        if shown is None:
            return
        if shown.enabled:
            self.app.simulate_key(shown.key)
        else:
            self.app.bell()

    def on_resize(self, event: events.Resize) -> None:
        first = min(self._first, self._last_first(event.size.width))
        if first != self._first:  # wider: the keys scrolled away come back
            self._first = first
            self.refresh()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """The wheel brings keys that did not fit into view, one at a time."""
        self._scroll(event, min(self._first + 1, self._last_first(self.size.width)))

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        self._scroll(event, max(self._first - 1, 0))

    def _scroll(self, event: events.MouseEvent, first: int) -> None:
        event.stop()
        if first != self._first:
            self._first = first
            self._hover(None)  # the key under the mouse is another one now
            self.refresh()

    def _last_first(self, columns: int) -> int:
        """The first key shown when scrolled to the end: the last keys fit from there, or, on a
        bar too narrow for them, the last key is shown alone."""
        room = columns - (width(self._palette) if self._palette else 0)
        first = len(self._keys)
        while first > 0 and width(self._keys[first - 1]) <= room:
            room -= width(self._keys[first - 1])
            first -= 1
        return min(first, max(len(self._keys) - 1, 0))


def layout(keys: Sequence[ShownKey], palette: ShownKey | None, columns: int) -> list[Placed]:
    """The keys left to right, each whole, as many as fit before the palette's key (the rest
    come with the wheel: a key cut short, "e ▏", read as a key of its own), and the palette's
    key at the right end. Only a first key wider than the room is cut, as it is the one key."""
    room = max(columns - (width(palette) if palette else 0), 0)
    placed: list[Placed] = []
    start = 0
    for shown in keys:
        end = start + width(shown)
        if end > room and (placed or room == 0):
            break
        placed.append(Placed(start=start, end=min(end, room), shown=shown))
        start = end
    if palette is not None:
        placed.append(Placed(start=room, end=max(columns, room), shown=palette))
    return placed


def width(shown: ShownKey) -> int:
    """The cells a key takes: the key between two spaces, then its description and a space (the
    palette's: a bar, the key, then its description between two spaces)."""
    pads = 3 if shown.description else 2
    return cell_len(shown.display) + cell_len(shown.description) + pads

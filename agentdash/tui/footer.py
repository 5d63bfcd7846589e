"""The key bar at the foot of every screen: the keys that work here, drawn as one line.

It looks and acts as Textual's Footer (a key runs when clicked, a disabled one is dim and rings
the bell, the wheel scrolls keys that do not fit, the command palette's key sits on the right),
but it is one widget, redrawn only when the keys change. Footer builds a styled widget per key
and rebuilt the row on every focus change: opening a screen over SSH cost about half a second
of CPU, most of it that row."""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

from rich.style import Style
from rich.text import Text
from textual import events
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.screen import Screen


class ShownKey(NamedTuple):
    key: str
    display: str
    description: str
    enabled: bool
    tooltip: str


class Placed(NamedTuple):
    """Where a key was drawn on the last render, to find what the mouse is over."""

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
        self._placed: list[Placed] = []
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
                palette = shown if self.app.ENABLE_COMMAND_PALETTE else None
            elif binding.show:
                by_action.setdefault(binding.action, shown)
        return tuple(by_action.values()), palette

    def render(self) -> Text:
        width = self.size.width
        line = Text(no_wrap=True, overflow="crop", end="")
        self._placed = []
        tail = self._palette_text()
        for shown in self._keys[self._first :]:
            start = len(line)
            line.append_text(self._styled(shown, f" {shown.display} ", f"{shown.description} "))
            if len(line) > width - len(tail):
                line.truncate(width - len(tail))
                break
            self._placed.append(Placed(start=start, end=len(line), shown=shown))
        if tail and self._palette is not None:
            line.pad_right(width - len(tail) - len(line))
            self._placed.append(Placed(start=len(line) + 1, end=width, shown=self._palette))
            line.append_text(tail)
        return line

    def _palette_text(self) -> Text:
        if self._palette is None:
            return Text()
        separator = Text("▏", style=self.get_component_rich_style("keybar--separator"))
        palette = self._palette
        return separator + self._styled(palette, palette.display, f" {palette.description} ")

    def _styled(self, shown: ShownKey, key: str, description: str) -> Text:
        key_style = self.get_component_rich_style("keybar--key")
        description_style = self.get_component_rich_style("keybar--description")
        if shown is self._hovered:
            hover = self.get_component_rich_style("keybar--hover")
            key_style, description_style = key_style + hover, description_style + hover
        if not shown.enabled:
            key_style, description_style = key_style + DIM, description_style + DIM
        return Text.assemble((key, key_style), (description, description_style))

    def _at(self, x: int) -> ShownKey | None:
        return next((p.shown for p in self._placed if p.start <= x < p.end), None)

    def on_mouse_move(self, event: events.MouseMove) -> None:
        hovered = self._at(event.x)
        if hovered is not self._hovered:
            self._hovered = hovered
            self.tooltip = hovered.tooltip if hovered is not None and hovered.tooltip else None
            self.refresh()

    def on_leave(self, event: events.Leave) -> None:
        self._hovered = None
        self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        shown = self._at(event.x)
        if shown is None:
            return
        if shown.enabled:
            self.app.simulate_key(shown.key)
        else:
            self.app.bell()

    def on_mouse_scroll_down(self, event: events.MouseScrollDown) -> None:
        """The wheel brings keys that did not fit into view, one at a time."""
        if not self._fits_from(self._first):
            self._first += 1
            self.refresh()

    def _fits_from(self, first: int) -> bool:
        """Whether the keys from `first` on fit beside the palette's key."""
        widths = (len(k.display) + len(k.description) + 3 for k in self._keys[first:])
        palette = self._palette
        room = self.size.width - (
            len(palette.display) + len(palette.description) + 3 if palette else 0
        )
        return sum(widths) <= room

    def on_mouse_scroll_up(self, event: events.MouseScrollUp) -> None:
        if self._first > 0:
            self._first -= 1
            self.refresh()


def _width(shown: ShownKey) -> int:
    """The columns a key takes: its key and description, and three spaces or a bar and two."""
    return len(shown.display) + len(shown.description) + 3


DIM = Style(dim=True)

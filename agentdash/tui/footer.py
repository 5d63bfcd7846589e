"""The key bar at the foot of every screen: Textual's Footer, rebuilt only when the keys it shows
change.

Textual's Footer rebuilds all its keys each time the screen says its bindings were updated, and a
screen says so on every focus change and mount, mostly with the same keys. One key costs about a
dozen milliseconds to build and style, so opening a screen took half a second of CPU over SSH,
most of it rebuilding the same row."""

from __future__ import annotations

from typing import TYPE_CHECKING

from textual.widgets import Footer

if TYPE_CHECKING:
    from textual.binding import Binding
    from textual.screen import Screen

Shown = tuple[tuple["Binding", bool, str], ...]


class KeyFooter(Footer):
    """A Footer that skips a rebuild when the keys, their state and their tooltips are as drawn."""

    def __init__(self) -> None:
        super().__init__()
        self._drawn: Shown | None = None

    def bindings_changed(self, screen: Screen[object]) -> None:
        shown = _shown(screen)
        if shown == self._drawn:
            return
        super().bindings_changed(screen)
        # Footer rebuilds only for its own screen, and only while the app has focus; any other
        # time the row must be rebuilt on the next signal, so nothing is remembered.
        if screen.app.app_focus and self.is_attached and screen is self.screen:
            self._drawn = shown


def _shown(screen: Screen[object]) -> Shown:
    return tuple(
        (active.binding, active.enabled, active.tooltip)
        for active in screen.active_bindings.values()
    )

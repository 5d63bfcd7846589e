"""Keys that arrive in one burst (typed quickly, pasted, one SSH packet, tmux's send-keys), each
read as it would be alone.

`esc` then a key: a terminal sends `esc` as the byte that also starts Alt: `esc` followed at
once by `t` is the same `\\x1bt` as Alt+T, and Textual reads it as `alt+t`, which nothing
binds. An operator who leaves Pods with `esc` and opens Tenants with `t` saw nothing happen.
The dashboard binds no Alt key, so an Alt+letter (or digit) that nothing binds is read as what
it was typed as: `esc`, then the key.

`:` then words: the palette opens as the app reads the `:`, and the words go to its field.

An operator's key then values (`w3`): the keys after it wait until the key has been read in
its turn (the dialog opened), and the values go to its fields.
"""

from __future__ import annotations

from collections.abc import Collection
from functools import partial

from textual import events
from textual.app import App
from textual.widgets import Input

from agentdash.tui.live import LiveScreen

ALT = "alt+"
SHIFT = "shift+"
HOLD_S = 1.0
"""The most the keys after an operator's key wait for it: one that never comes back to the app
(a widget took it) lets them go to the screen as they would have gone."""


def escape_then_key(event: events.Key, bound: Collection[str]) -> list[events.Key] | None:
    """`esc` and the key for an unbound Alt+letter or digit; None for any other key."""
    if not event.key.startswith(ALT) or event.key in bound:
        return None
    rest = event.key.removeprefix(ALT)
    # Alt+S arrives as alt+shift+s; the key typed after esc is S.
    typed = rest.removeprefix(SHIFT).upper() if rest.startswith(SHIFT) else rest
    if len(typed) != 1 or not typed.isalnum():
        return None  # a named key (alt+up, alt+backspace): the terminal sent a real Alt
    return [events.Key("escape", "\x1b"), events.Key(typed, typed)]


class BurstKeys(App[None]):
    """The app's side: `esc` then a key, and `:` then the words to look for."""

    _operator: events.Key | None = None
    """An operator's key on its way to the app's bindings (the screen reads it first)."""
    _held: list[events.Key] = []
    """The keys read after it, in order: they go to its dialog once it has opened."""

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if self._operator is not None:
                self._held.append(event)
                return
            if event.key == "colon" and self._palette_now():
                return
            if self._opens_dialog(event.key):
                self._hold_after(event)
            split = escape_then_key(event, self.screen.active_bindings)
            if split is not None:
                escape, event = split
                # esc's binding runs at once, so that the key after it reaches the screen
                # esc leaves it on (forwarded, both would go to the widget focused now: the
                # field of a dialog esc closes took the key typed after it).
                if not await self._escape_now():
                    await super().on_event(escape)
        await super().on_event(event)

    async def _on_key(self, event: events.Key) -> None:
        # Textual calls each class's handler in turn, App's (the bindings) after this one;
        # the keys let go are read after it too, in the app's queue.
        if event is self._operator:
            self._let_go(event)

    def _palette_now(self) -> bool:
        """`:` on a screen opens the palette as the app reads the key, as ctrl+p does (a
        priority key): `:pods` typed in one burst went to the table, letter by letter, before
        the palette opened, and it opened empty. In a text field `:` is a letter."""
        if not isinstance(self.screen, LiveScreen) or isinstance(self.focused, Input):
            return False
        if not self.check_action("command_palette", ()):
            return False
        self.action_command_palette()
        return True

    def _opens_dialog(self, key: str) -> bool:
        """Whether `key` is an operator's key (pin, pause...) on a live screen."""
        if not isinstance(self.screen, LiveScreen) or isinstance(self.focused, Input):
            return False
        bound = self.screen.active_bindings.get(key)
        return bound is not None and bound.enabled and "operator(" in bound.binding.action

    def _hold_after(self, key: events.Key) -> None:
        """Hold the keys read after an operator's key until its binding has run. Bound on the
        app, it runs once the key has gone by the table: the keys typed after it in the same
        burst (`w3`: pin 3) went to the table, lost, before the dialog opened. Not run ahead
        of its turn either: `down` then `w` in one burst pinned the pool above the one
        chosen, the cursor not moved yet."""
        self._operator, self._held = key, []
        self.set_timer(HOLD_S, partial(self._let_go, key))

    def _let_go(self, key: events.Key) -> None:
        """The keys held after `key`, read again in order (to its dialog, if it opened)."""
        if self._operator is not key:
            return  # let go already
        held, self._operator, self._held = self._held, None, []
        for event in held:
            self.post_message(event)

    async def _escape_now(self) -> bool:
        """Run what esc is bound to on the top screen; False where nothing ran (a maximized
        table, which Textual restores as it reads the key)."""
        if self.screen.maximized is not None:
            return False
        return await self._check_bindings("escape", priority=True) or await self._check_bindings(
            "escape"
        )

"""Keys that arrive in one burst (typed quickly, pasted, one SSH packet, tmux's send-keys), each
read as it would be alone.

`esc` then a key: a terminal sends `esc` as the byte that also starts Alt: `esc` followed at
once by `t` is the same `\\x1bt` as Alt+T, and Textual reads it as `alt+t`, which nothing
binds. An operator who leaves Pods with `esc` and opens Tenants with `t` saw nothing happen.
The dashboard binds no Alt key, so an Alt+letter (or digit) that nothing binds is read as what
it was typed as: `esc`, then the key.

`:` then words: the palette opens as the app reads the `:`, and the words go to its field.

An operator's key then values (`w3`): the dialog opens as the app reads the key, and the
values go to its fields.
"""

from __future__ import annotations

from collections.abc import Collection

from textual import events
from textual.app import App
from textual.widgets import Input

from agentdash.tui.live import LiveScreen

ALT = "alt+"
SHIFT = "shift+"


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

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, events.Key) and not event.is_forwarded:
            if event.key == "colon" and self._palette_now():
                return
            if await self._dialog_now(event.key):
                return
            split = escape_then_key(event, self.screen.active_bindings)
            if split is not None:
                escape, event = split
                # esc's binding runs at once, so that the key after it reaches the screen
                # esc leaves it on (forwarded, both would go to the widget focused now: the
                # field of a dialog esc closes took the key typed after it).
                if not await self._escape_now():
                    await super().on_event(escape)
        await super().on_event(event)

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

    async def _dialog_now(self, key: str) -> bool:
        """An operator's key (pin, pause...) opens its dialog as the app reads the key, as `:`
        opens the palette: bound on the app, its action ran only once the key had gone by
        the table, and the keys typed after it in the same burst (`w3`: pin 3) went to the
        table, lost, before the dialog opened."""
        if not isinstance(self.screen, LiveScreen) or isinstance(self.focused, Input):
            return False
        bound = self.screen.active_bindings.get(key)
        if bound is None or not bound.enabled or "operator(" not in bound.binding.action:
            return False
        return await self._check_bindings(key)

    async def _escape_now(self) -> bool:
        """Run what esc is bound to on the top screen; False where nothing ran (a maximized
        table, which Textual restores as it reads the key)."""
        if self.screen.maximized is not None:
            return False
        return await self._check_bindings("escape", priority=True) or await self._check_bindings(
            "escape"
        )

"""`esc` then a key, pressed quickly or sent in one burst (one SSH packet, tmux's send-keys).

A terminal sends `esc` as the byte that also starts Alt: `esc` followed at once by `t` is the
same `\\x1bt` as Alt+T, and Textual reads it as `alt+t`, which nothing binds. An operator who
leaves Pods with `esc` and opens Tenants with `t` saw nothing happen. The dashboard binds no
Alt key, so an Alt+letter (or digit) that nothing binds is read as what it was typed as: `esc`,
then the key.
"""

from __future__ import annotations

from collections.abc import Collection

from textual import events

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

"""The command palette (`:` or ctrl+p): every screen and every operator action."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from functools import partial
from typing import Protocol

from textual.app import SystemCommand
from textual.command import DiscoveryHit, Hit, Hits, Provider


class Palette(Protocol):
    """What the palette needs of the app (it does not import the app, which imports it)."""

    read_only: bool

    def action_show(self, name: str) -> None: ...

    def run_operator_action(self, name: str) -> None: ...


SCREENS = [
    ("Fleet", "the pools, their lag and replicas, recent scale events", "fleet"),
    ("Pods", "pods of the selected pool", "pods"),
    ("Tenants", "tokens against budgets, burn rate, pods against caps", "tenants"),
    ("Events", "the full scale-event log, with a filter", "events"),
    ("Why", "the last decision for the selected pool, step by step", "why"),
    ("Describe", "the selected pool: config, Deployment, last decisions, pins", "describe"),
    ("Attention", "what needs an operator now, and every override in force", "attention"),
    ("Help", "keys and what they do", "help"),
]
ACTIONS = [
    ("Pin pool warm", "keep at least N replicas of the selected pool", "pin"),
    ("Unpin pool", "drop the selected pool's pin", "unpin"),
    (
        "Pause or resume tenant",
        "the selected tenant, or the selected pool's: its pools to 0, queue kept",
        "pause_tenant",
    ),
    (
        "Pause or resume pool",
        "hold the selected pool's replicas, or set them to N, for a while or until resumed",
        "pause_pool",
    ),
    ("Pause or resume controller", "hold every replica where it is", "pause_controller"),
    ("Toggle dry-run", "decide and log, never scale", "dry_run"),
]


class AgentDashCommands(Provider):
    def _entries(self) -> list[tuple[str, str, Callable[[], object]]]:
        app: Palette = self.app  # type: ignore[assignment]
        entries: list[tuple[str, str, Callable[[], object]]] = [
            (name, help, partial(app.action_show, target)) for name, help, target in SCREENS
        ]
        for name, help, action in ACTIONS:
            if app.read_only:
                help = "refused: agentdash runs --read-only"
            entries.append((name, help, partial(app.run_operator_action, action)))
        return entries

    async def discover(self) -> Hits:
        for name, help, callback in self._entries():
            yield DiscoveryHit(name, callback, help=help)

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for name, help, callback in self._entries():
            score = matcher.match(name)
            if score > 0:
                yield Hit(score, matcher.highlight(name), callback, help=help)


def system_commands(textuals: Iterable[SystemCommand]) -> Iterator[SystemCommand]:
    """Textual's own commands (Theme, Screenshot, Quit, Maximize) but its Keys: that panel
    told the keys a second time, beside `?` help, took 30 columns from the screens, so that
    at 80 the header lost its numbers, and esc did not close it (only the palette again)."""
    return (command for command in textuals if command.title != "Keys")

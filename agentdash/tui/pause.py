"""The pause-pool dialog (`x`): KEDA's paused-replicas for one pool, from the dashboard.

Hold the pool's replicas where they are (replicas left blank) or scale it to a number, for
some minutes (blank: until resumed). Like the pin dialog, it only asks: the app confirms
(Cancel first) before anything changes.
"""

from __future__ import annotations

from agentdash.tui.modals import MINUTES, ReplicasModal, count_of, minutes_of
from controller.core.wording import plural, span_words

PauseChoice = tuple[int | None, float | None]
"""(replicas, or None to hold them where they are; seconds, or None until resumed)."""


class PausePoolModal(ReplicasModal[PauseChoice]):
    confirm = "Pause"
    invalid = "replicas: blank (hold) or a whole number from 0 to {limit}; " + MINUTES

    def __init__(self, pool: str, replicas: int, limit: int) -> None:
        super().__init__(
            f"Pause [b]{pool}[/b]: its queue no longer scales it",
            "",
            f"blank: hold at {replicas}",
            "blank: until resumed",
            limit,
        )
        self.pool = pool
        self.replicas = replicas

    def parse(self, replicas: str, minutes: str) -> PauseChoice | None:
        return parse_pause(replicas, minutes, self.limit)


def parse_pause(replicas: str, minutes: str, limit: int) -> PauseChoice | None:
    """The dialog's fields as a choice, or None if either is not valid."""
    try:
        count = count_of(replicas.strip()) if replicas.strip() else None
        span = minutes_of(minutes.strip())
    except ValueError:
        return None
    return None if count is not None and not 0 <= count <= limit else (count, span)


def pause_question(pool: str, replicas: int, choice: PauseChoice) -> str:
    """What the confirmation asks, in the operator's terms. A hold names the replicas the
    dialog showed: that number is what the pause keeps (`held`), even if the pool moved
    while the operator read."""
    count, span = choice
    what = f"hold it at {plural(replicas, 'replica')}" if count is None else f"scale it to {count}"
    when = f" for {span_words(span)}" if span else " until resumed"
    return f"Pause pool {pool} ({what}){when}? Its queue keeps every task."


def held(replicas: int, choice: PauseChoice) -> int:
    """The replicas the pause keeps: the number asked for, or the one the dialog showed."""
    count, _ = choice
    return replicas if count is None else count

"""Small text renderings shared by the screens: sparklines, budget bars, ages, times."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from rich.text import Text

BLOCKS = " ▁▂▃▄▅▆▇█"
GAP = "·"


def sparkline(values: Sequence[int | None], width: int) -> str:
    """The last `width` values as block characters, scaled to their own maximum; a value
    not known (None: the data was stale) is a gap, `·`."""
    points = list(values)[-width:]
    if not points:
        return " " * width
    top = max((v for v in points if v is not None), default=0) or 1
    line = "".join(GAP if v is None else BLOCKS[min(8, round(v / top * 8))] for v in points)
    return line.rjust(width)


def budget_bar(used: int, budget: int | None, warn_at: float, width: int = 20) -> Text:
    """Tokens used against the budget, with the warning line marked `│`."""
    if budget is None:
        return Text("unlimited".ljust(width), style="dim")
    share = min(1.0, used / budget)
    filled = round(share * width)
    mark = min(width - 1, round(warn_at * width))
    # Bold: without color, the fill is drawn as readable as a word (no_color.DRAWING).
    style = "bold " + ("red" if used >= budget else ("yellow" if share >= warn_at else "green"))
    bar = Text()
    for i in range(width):
        if i == mark:
            bar.append("│", style="bold")
        elif i < filled:
            bar.append("█", style=style)
        else:
            bar.append("░", style="dim")
    return bar


def age(seconds: float) -> str:
    seconds = max(0, int(seconds))
    if seconds < 120:
        return f"{seconds}s"
    if seconds < 7200:
        return f"{seconds // 60}m"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class Wait(NamedTuple):
    """How long a pool's (or a tenant's) oldest task has waited for a worker, against its
    tier's target: a WAIT cell's raw value."""

    seconds: float | None
    """None: no task waits, or (`unknown`) how long is not known yet."""
    target: float | None = None
    unknown: bool = False

    @property
    def over(self) -> bool:
        return self.seconds is not None and self.target is not None and self.seconds > self.target

    def text(self) -> Text:
        """`45s`, `3m!` (over the target, in red), `-` (none waits) or `?` (not known)."""
        if self.seconds is None:
            return Text("?" if self.unknown else "-", style="dim")
        if self.over:
            return Text(f"{age(self.seconds)}!", style="red bold")
        return Text(age(self.seconds))

    def order(self) -> float:
        return -1.0 if self.seconds is None else self.seconds

    def said(self) -> str:
        """After "Waiting:": `16s for the oldest task, over its tier's 10 s target`."""
        if self.seconds is None:
            return "tasks wait; for how long is not known yet" if self.unknown else "none"
        said = f"{age(self.seconds)} for the oldest task"
        if self.target is None:
            return said + " (its tier sets no target)"
        return f"{said}, {'over' if self.over else 'within'} its tier's {self.target:g} s target"


def clock(ts: float) -> str:
    """A stamp of something just seen (an event, a snapshot): its time of day."""
    return time.strftime("%H:%M:%S", time.gmtime(ts))


def duration(seconds: float | None) -> str:
    """A time left (a budget's, a pin's) in at most five cells, rounded as the Attention
    screen says it: `26s`, `43m`, `2.0h`, `3d`; `spent` at none."""
    if seconds is None:
        return "-"
    if seconds <= 0:
        return "spent"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 3600:
        return f"{seconds / 60:.0f}m"
    if seconds < 86400 * 2:
        return f"{seconds / 3600:.1f}h"
    return f"{seconds / 86400:.0f}d"


def share(used: int, budget: int) -> str:
    """The part of a budget used, in whole percent rounded down: 99.87% is not yet `100%`."""
    return f"{used * 100 // budget}%"


def tokens(n: int) -> str:
    if n >= 1_000_000:
        return f"{n / 1_000_000:.2f}M"
    if n >= 10_000:
        return f"{n / 1000:.0f}k"
    return f"{n:,}"


def fit(text: str, width: int) -> str:
    """Cut to `width` characters, marking the cut with an ellipsis."""
    return text if len(text) <= width else text[: max(0, width - 1)] + "…"


def room(total: int, fixed: Sequence[int], minimum: int = 20) -> int:
    """Width left for a last, free column after `fixed` columns (each padded by 1 a side)."""
    return max(minimum, total - sum(fixed) - 2 * (len(fixed) + 1) - 2)

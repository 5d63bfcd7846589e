"""A tenant's tokens and tasks today, kept by the minute of its budget day, so that two counts
of one day can be merged without counting a report twice.

A process counts the reports it receives from when it starts. A successor started today has
not seen the morning; the leader it takes over from (its count saved to NATS KV,
controller.coordination.usage_handover) did not see the last seconds. A count saved before
this one began is of other reports: the two are added. One saved since was counting beside
this one: each saw every report of the minutes it was up for whole, so the merged day takes,
minute by minute, the larger of the two, exact but for the minute this count began in. A
report the two received on either side of a minute's edge counts twice then: an error on the
side of the cap.
"""

from __future__ import annotations

MINUTE_S = 60.0


class TokensToday:
    """One tenant's budget day, by the minute since its start: (tokens, tasks) per minute."""

    __slots__ = ("_added", "_minutes", "since", "start", "tasks", "tokens")

    def __init__(self, start: float, since: float) -> None:
        self.start = start
        """When the budget day began (epoch seconds)."""
        self.since = since
        """When this count began: the day's start, or later for a process started today."""
        self._added: float | None = None
        """When the count added to this one was made (merged again, it is not added again)."""
        self._minutes: dict[int, tuple[int, int]] = {}
        self.tokens = 0
        self.tasks = 0

    def add(self, tokens: int, at: float) -> None:
        minute = max(0, int((at - self.start) // MINUTE_S))
        had_tokens, had_tasks = self._minutes.get(minute, (0, 0))
        self._minutes[minute] = (had_tokens + tokens, had_tasks + 1)
        self.tokens += tokens
        self.tasks += 1

    def earlier(self, tokens: int) -> None:
        """Tokens spent before anything here counted them, no task told (the demo's morning):
        kept with the day's first minute."""
        had_tokens, had_tasks = self._minutes.get(0, (0, 0))
        self._minutes[0] = (had_tokens + tokens, had_tasks)
        self.tokens += tokens

    def minutes(self) -> dict[int, tuple[int, int]]:
        """Each minute's (tokens, tasks), minutes counted from `start`."""
        return dict(self._minutes)

    def merge(self, minutes: dict[int, tuple[int, int]], at: float) -> None:
        """Another count of the same day, as of `at`: added if it was made before this one
        began, else per minute whichever counted more tokens."""
        if at == self._added:
            return
        adding = at <= self.since and self._added is None
        if adding:
            self._added = at
        for minute, (tokens, tasks) in minutes.items():
            mine = self._minutes.get(minute, (0, 0))
            if adding:
                now = (mine[0] + tokens, mine[1] + tasks)
            elif tokens > mine[0]:
                now = (tokens, tasks)
            else:
                continue
            self._minutes[minute] = now
            self.tokens += now[0] - mine[0]
            self.tasks += now[1] - mine[1]

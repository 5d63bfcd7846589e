"""Candidates of `agentdash tune` replayed side by side, in forked worker processes when there
are cores and fork, else in this process. The trace and the config are set before the workers
are forked, so each inherits them rather than receiving a copy with every candidate."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from typing import Any

from controller.core.config import Config
from controller.simulate.behavior_grid import Candidate, Group, configure
from controller.simulate.trace import Trace
from controller.simulate.tradeoff import Outcome, replay
from controller.simulate.workers import forked_pool, forks


@contextlib.contextmanager
def replaying(
    config: Config, tuned: Sequence[Group], trace: Trace, horizon: float, workers: int
) -> Iterator[Replays]:
    """Up to `workers` workers that replay candidates for the `tuned` groups of `config` over
    `trace` until `horizon`."""
    global _against
    _against = (config, tuple(tuned), trace, horizon)
    try:
        with Replays(workers) as replays:
            yield replays
    finally:
        _against = None


_against: tuple[Config, tuple[Group, ...], Trace, float] | None = None
"""What the forked workers replay against: set before they are forked, inherited by them."""


def _replay_candidate(candidate: Candidate) -> Outcome:
    assert _against is not None
    config, tuned, trace, horizon = _against
    return replay(configure(config, tuned, candidate), trace, horizon)


class Replays:
    """Forked worker processes when there are cores and fork, else this process."""

    def __init__(self, workers: int) -> None:
        self.forking = forked_pool(workers) if workers > 1 and forks() else None
        self.executor: ProcessPoolExecutor | None = None

    def map(self, candidates: Sequence[Candidate]) -> list[Outcome]:
        """Each candidate's outcome, in order."""
        if self.executor is None or len(candidates) == 1:
            return [_replay_candidate(candidate) for candidate in candidates]
        return list(self.executor.map(_replay_candidate, candidates))

    def __enter__(self) -> Replays:
        if self.forking is not None:
            self.executor = self.forking.__enter__()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.forking is not None:
            self.forking.__exit__(*exc)

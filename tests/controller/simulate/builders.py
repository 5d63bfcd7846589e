"""Small builders for the backtest's tests: a trace from readable rows, a run to the end."""

from __future__ import annotations

from controller.config import Config
from controller.simulate.cluster import Cluster
from controller.simulate.engine import Autoscaler, run
from controller.simulate.trace import Trace


def trace(cfg: Config, *rows: tuple[float, str, float, int]) -> Trace:
    """A trace from (t, pool name, work_s, tokens) rows."""
    index = {name: i for i, name in enumerate(cfg.pools)}
    return Trace.build(
        cfg.pools, [(t, index[pool], work, tokens) for t, pool, work, tokens in rows]
    )


def replay(cfg: Config, tasks: Trace, scaler: Autoscaler, drain: float = 3600.0) -> Cluster:
    return run(cfg, tasks, scaler, tasks.duration + drain)

"""A fleet whose scale-down wastes pods, and the traffic to tune it on."""

from __future__ import annotations

import yaml

from controller.core.config import Config, parse_config
from controller.simulate.trace import Trace

WASTEFUL = """\
cluster: {max_pods: 40}
tiers: {enterprise: {priority: 1000}, starter: {priority: 100}}
tenants:
  acme: {tier: enterprise}
  initech: {tier: starter}
pools:
  hoarder:                      # keeps its pods an hour after every burst
    tenant: acme
    deployment: {name: hoarder}
    queue: {stream: AGENT_TASKS, consumer: hoarder}
    max_replicas: 10
    cooldown_seconds: 3600
    cold_start_seconds: 20
    behavior:
      scale_down: {stabilization_seconds: 3600}
  steady:
    tenant: initech
    deployment: {name: steady}
    queue: {stream: AGENT_TASKS, consumer: steady}
    max_replicas: 4
    target_lag_per_replica: 2
"""


def wasteful() -> Config:
    return parse_config(yaml.safe_load(WASTEFUL))


def workload(
    config: Config, hours: float = 8.0, tail_factor: int = 1, tail_bursts_every: int = 7200
) -> Trace:
    """`hoarder`: ten one-minute tasks at once every two hours; `steady`: one task a minute.
    In the last 30% of the time, `tail_factor` times as many of each, and the hoarder's bursts
    every `tail_bursts_every` seconds (a pod kept an hour then serves the next)."""
    rows: list[tuple[float, int, float, int]] = []
    end, cut = hours * 3600, hours * 3600 * 0.7
    start = 0
    while start < end:
        many = 10 * (tail_factor if start >= cut else 1)
        rows += [(float(start) + 5, 0, 60.0, 100)] * many
        start += 7200 if start < cut else tail_bursts_every
    for t in range(0, int(end), 60):
        rows += [(float(t), 1, 20.0, 50)] * (tail_factor if t >= cut else 1)
    return Trace.build(config.pools, rows)

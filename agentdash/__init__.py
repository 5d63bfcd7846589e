"""agentdash: autoscale AI-agent worker fleets from queue lag, token budgets and tier
priorities, and see why."""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("agentdash")
except PackageNotFoundError:  # run from a checkout that was never installed
    __version__ = "0+unknown"

"""agentdash: autoscale AI-agent worker fleets from queue lag, token budgets and tier
priorities, and see why."""


def __getattr__(name: str) -> str:
    # Looked up when asked for, not on import: `agentdash` starts by importing this package,
    # and the metadata machinery is most of what that would cost.
    if name != "__version__":
        raise AttributeError(f"module 'agentdash' has no attribute {name!r}")
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("agentdash")
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "0+unknown"

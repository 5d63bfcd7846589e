"""The live loop and what it tells: the asyncio shell around the core's engine (read the
sources, feed the engine, act, publish), the fleet snapshot the dashboard draws, and
agentdash's own Prometheus metrics."""

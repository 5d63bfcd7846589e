"""The live loop and what it tells: the asyncio shell around the core's engine (read the
sources, feed the engine, act, publish), the fleet snapshot the dashboard draws, and
agentdash's own Prometheus metrics. `loop.Reconciler` orchestrates; each of its pieces has a
module: `schedule` (when to tick), `health` (what fails, which pools are held),
`engine_feed` (what the engine is told), `actuation` (the scale calls), `snapshot`."""

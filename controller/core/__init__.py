"""The pure core: the config, the plain values that flow through the brain, the policy, the
shared ceilings, the time rules' history and the reconcile engine. Nothing here talks to NATS,
Kubernetes or Prometheus, and nothing reads the clock to decide: every decision takes `now`,
so the live loop, the tests and the backtest run exactly this code. (The config loader reads
its file; the event bus is an in-process queue.) It imports nothing of the layers around it
(an import-linter contract in `make test`)."""
